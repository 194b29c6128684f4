// Package browser drives Debian's Chromium headless for the consoles'
// tests, through the DevTools protocol (chromedp). It is a test rig: no
// binary links it.
package browser

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Path is where Debian's chromium package puts the browser.
const Path = "/usr/bin/chromium"

type config struct {
	camera     string
	ignoreCert bool
	timeout    time.Duration
}

// Option changes how the browser is started.
type Option func(*config)

// FakeCamera gives the page a camera that shows the Y4M video at path
// (see WriteY4M), and grants camera access without asking.
func FakeCamera(path string) Option { return func(c *config) { c.camera = path } }

// IgnoreCertErrors accepts the server's self-signed certificate.
func IgnoreCertErrors() Option { return func(c *config) { c.ignoreCert = true } }

// Timeout bounds everything the test does in the browser (default 90 s).
func Timeout(d time.Duration) Option { return func(c *config) { c.timeout = d } }

// New starts a headless Chromium with an empty profile and returns a tab's
// context; the browser is closed when the test ends. Without Chromium the
// test fails: `make test` installs it.
func New(t testing.TB, opts ...Option) context.Context {
	t.Helper()
	if _, err := os.Stat(Path); err != nil {
		t.Fatalf("%s is missing (apt-get install chromium; make test installs it)", Path)
	}
	c := config{timeout: 90 * time.Second}
	for _, o := range opts {
		o(&c)
	}
	flags := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(Path),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true), // tests run as root
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.WindowSize(1280, 1000),
	}
	if c.camera != "" {
		flags = append(flags,
			chromedp.Flag("use-fake-ui-for-media-stream", true),
			chromedp.Flag("use-fake-device-for-media-stream", true),
			chromedp.Flag("use-file-for-fake-video-capture", c.camera))
	}
	if c.ignoreCert {
		flags = append(flags, chromedp.Flag("ignore-certificate-errors", true))
	}
	ctx, cancelT := context.WithTimeout(context.Background(), c.timeout)
	actx, cancelA := chromedp.NewExecAllocator(ctx, flags...)
	tab, cancelB := chromedp.NewContext(actx, chromedp.WithErrorf(func(string, ...any) {}))
	t.Cleanup(func() { cancelB(); cancelA(); cancelT() })
	if err := chromedp.Do(tab); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return tab
}

// Screenshot writes a PNG of the whole page to path.
func Screenshot(ctx context.Context, path string) error {
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		return err
	}
	return os.WriteFile(path, png, 0o644)
}

// WriteY4M writes a video of frames copies of img (YUV 4:2:0, 5 frames a
// second, as Chromium's fake camera reads it; it plays the file in a
// loop). Odd sizes are padded with white.
func WriteY4M(path string, img image.Image, frames int) error {
	if frames < 1 {
		return errors.New("browser: at least one frame")
	}
	b := img.Bounds()
	w, h := (b.Dx()+1)&^1, (b.Dy()+1)&^1
	y := make([]byte, w*h)
	u := make([]byte, w*h/4)
	v := make([]byte, w*h/4)
	at := func(px, py int) color.Color {
		if px >= b.Dx() || py >= b.Dy() {
			return color.White
		}
		return img.At(b.Min.X+px, b.Min.Y+py)
	}
	for py := range h {
		for px := range w {
			r, g, bl, _ := at(px, py).RGBA()
			yy, cb, cr := color.RGBToYCbCr(uint8(r>>8), uint8(g>>8), uint8(bl>>8))
			y[py*w+px] = yy
			if px%2 == 0 && py%2 == 0 {
				u[(py/2)*(w/2)+px/2] = cb
				v[(py/2)*(w/2)+px/2] = cr
			}
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(f)
	fmt.Fprintf(bw, "YUV4MPEG2 W%d H%d F5:1 Ip A1:1 C420jpeg\n", w, h)
	for range frames {
		bw.WriteString("FRAME\n")
		bw.Write(y)
		bw.Write(u)
		bw.Write(v)
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Installed reports whether Chromium is there, for a TestMain that wants
// to say so once.
func Installed() bool {
	_, err := exec.LookPath(Path)
	return err == nil
}
