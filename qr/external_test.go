package qr

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// The independent decoders from Debian: zbar (package zbar-tools) and
// ZXing-C++ (package zxing-cpp-tools). `make test` installs them; without
// them these tests skip and say why.
var externalDecoders = []struct {
	name, pkg string
	args      func(file string) []string
	parse     func(t *testing.T, out []byte) (text, level string)
}{
	{
		name: "zbarimg", pkg: "zbar-tools",
		// -Sdisable -Sqrcode.enable: only QR codes (zbar otherwise finds
		// bogus interleaved 2 of 5 codes inside some QR codes).
		args: func(f string) []string { return []string{"--nodbus", "-q", "--raw", "-Sdisable", "-Sqrcode.enable", f} },
		parse: func(t *testing.T, out []byte) (string, string) {
			return strings.TrimSuffix(string(out), "\n"), ""
		},
	},
	{
		name: "ZXingReader", pkg: "zxing-cpp-tools",
		// Output (1.4.0): a block of "Key:   value" lines per symbol, with
		// Text: "..." and EC Level: M among them.
		args: func(f string) []string { return []string{"-format", "QRCode", f} },
		parse: func(t *testing.T, out []byte) (text, level string) {
			n := 0
			for _, line := range strings.Split(string(out), "\n") {
				k, v, ok := strings.Cut(line, ":")
				if !ok {
					continue
				}
				v = strings.TrimSpace(v)
				switch k {
				case "Text":
					n++
					if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
						t.Errorf("ZXingReader Text line %q is not quoted", v)
						return "", ""
					}
					text = v[1 : len(v)-1]
				case "EC Level":
					level = v
				}
			}
			if n != 1 {
				t.Errorf("ZXingReader found %d symbols:\n%s", n, out)
			}
			return text, level
		},
	},
}

type extImage struct {
	name, text string
	level      string // "M" or "Q"; "" when not checked
	data       []byte
}

// runExternal decodes every image with every external decoder and checks
// the text (and, where the tool says it, the level).
func runExternal(t *testing.T, images []extImage) {
	dir := t.TempDir()
	for i := range images {
		p := filepath.Join(dir, fmt.Sprintf("%03d.png", i))
		if err := os.WriteFile(p, images[i].data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range externalDecoders {
		t.Run(d.name, func(t *testing.T) {
			path, err := exec.LookPath(d.name)
			if err != nil {
				t.Skipf("%s is not installed (apt-get install %s): %v", d.name, d.pkg, err)
			}
			// Run the tool on every image, a few at a time.
			var ok atomic.Int64
			work := make(chan int)
			var wg sync.WaitGroup
			for range runtime.NumCPU() {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range work {
						if checkExternal(t, path, d.args, d.parse, filepath.Join(dir, fmt.Sprintf("%03d.png", i)), images[i]) {
							ok.Add(1)
						}
					}
				}()
			}
			for i := range images {
				work <- i
			}
			close(work)
			wg.Wait()
			t.Logf("%s decoded %d of %d images", d.name, ok.Load(), len(images))
		})
	}
}

func checkExternal(t *testing.T, tool string, args func(string) []string, parse func(*testing.T, []byte) (string, string), file string, img extImage) bool {
	var stderr bytes.Buffer
	cmd := exec.Command(tool, args(file)...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	name := filepath.Base(tool)
	if err != nil {
		t.Errorf("%s: %s failed: %v\n%s", img.name, name, err, stderr.Bytes())
		return false
	}
	text, level := parse(t, out)
	if text != img.text {
		t.Errorf("%s: %s read %q, want %q", img.name, name, text, img.text)
		return false
	}
	if level != "" && img.level != "" && level != img.level {
		t.Errorf("%s: %s says level %s, want %s", img.name, name, level, img.level)
		return false
	}
	return true
}

// TestExternalDecoders decodes the property test's images with zbar and
// ZXing-C++: they must read exactly the text gozxing reads.
func TestExternalDecoders(t *testing.T) {
	var images []extImage
	for _, m := range corpus() {
		if strings.HasPrefix(m.name, "5parts/") || strings.HasPrefix(m.name, "6parts/") {
			continue // codes of the versions the classes below already check
		}
		codes, err := Plan(m.kind, m.payload, Options{Level: m.level})
		if err != nil {
			t.Fatal(err)
		}
		for i, c := range codes {
			data, err := c.PNG(Options{PixelsPerModule: m.ppm})
			if err != nil {
				t.Fatal(err)
			}
			images = append(images, extImage{name: fmt.Sprintf("%s/part%d", m.name, i+1), text: c.Text, level: c.Level.String(), data: data})
		}
	}
	runExternal(t, images)
}
