package qrphoto

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/airlock-offline/airlock/qr"
)

// A Decoder reads the texts of the QR codes in an image file.
type Decoder struct {
	Name    string
	Package string // Debian package of an external tool
	Decode  func(file string) ([]string, error)
}

// Airlock is airlock's own decoder, qr.DecodeImage.
var Airlock = Decoder{Name: "airlock", Decode: func(file string) ([]string, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return qr.DecodeImage(f)
}}

// Zbarimg is zbar's command-line reader (Debian zbar-tools), QR codes only.
var Zbarimg = Decoder{Name: "zbarimg", Package: "zbar-tools", Decode: func(file string) ([]string, error) {
	out, err := exec.Command("zbarimg", "--nodbus", "-q", "--raw", "-Sdisable", "-Sqrcode.enable", file).Output()
	if err != nil && len(out) == 0 {
		return nil, err
	}
	return strings.Fields(string(out)), nil
}}

// ZXingReader is ZXing-C++'s reader (Debian zxing-cpp-tools).
var ZXingReader = Decoder{Name: "ZXingReader", Package: "zxing-cpp-tools", Decode: func(file string) ([]string, error) {
	out, err := exec.Command("ZXingReader", "-format", "QRCode", file).Output()
	if err != nil && len(out) == 0 {
		return nil, err
	}
	var texts []string
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(line, "Text:"); ok {
			texts = append(texts, strings.Trim(strings.TrimSpace(v), `"`))
		}
	}
	return texts, nil
}}

// Available reports whether d can run here (external tools installed).
func (d Decoder) Available() bool {
	if d.Package == "" {
		return true
	}
	_, err := exec.LookPath(d.Name)
	return err == nil
}

// Score is how one decoder did on a corpus.
type Score struct {
	Decoder string
	OK, Of  int
	Time    time.Duration // total wall time of the decodes
	Failed  []int         // indexes of the photos not read
}

func (s Score) String() string {
	return fmt.Sprintf("%-12s %3d/%d read (%5.1f %%), %6.0f ms/photo", s.Decoder, s.OK, s.Of, 100*float64(s.OK)/float64(max(s.Of, 1)), float64(s.Time.Milliseconds())/float64(max(s.Of, 1)))
}

// Compare writes the photos to dir and has each decoder read them, one
// photo at a time per decoder (photos in parallel on every core): a photo
// counts as read when its text is among what the decoder returned.
func Compare(dir string, photos []*Photo, decoders []Decoder) ([]Score, error) {
	files := make([]string, len(photos))
	for i, p := range photos {
		files[i] = filepath.Join(dir, fmt.Sprintf("photo%04d.jpg", i))
		if err := os.WriteFile(files[i], p.JPEG, 0o644); err != nil {
			return nil, err
		}
	}
	var scores []Score
	for _, d := range decoders {
		s := Score{Decoder: d.Name, Of: len(photos)}
		ok := make([]bool, len(photos))
		var wg sync.WaitGroup
		work := make(chan int)
		var mu sync.Mutex
		for range runtime.GOMAXPROCS(0) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range work {
					t := time.Now()
					texts, _ := d.Decode(files[i])
					el := time.Since(t)
					mu.Lock()
					s.Time += el
					mu.Unlock()
					for _, x := range texts {
						if x == photos[i].Text {
							ok[i] = true
						}
					}
				}
			}()
		}
		for i := range photos {
			work <- i
		}
		close(work)
		wg.Wait()
		for i, v := range ok {
			if v {
				s.OK++
			} else {
				s.Failed = append(s.Failed, i)
			}
		}
		scores = append(scores, s)
	}
	return scores, nil
}

// MakeAll renders every photo of a corpus, in parallel.
func MakeAll(ps []Params) ([]*Photo, error) {
	out := make([]*Photo, len(ps))
	errs := make([]error, len(ps))
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for i, p := range ps {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			out[i], errs[i] = Make(p)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}
