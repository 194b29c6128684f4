package browser

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// TestFakeCamera shows a page the fake camera and reads back a frame: the
// video file this package writes is what Chromium's camera plays.
func TestFakeCamera(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium")
	}
	dir := t.TempDir()
	img := image.NewRGBA(image.Rect(0, 0, 320, 240))
	for y := range 240 {
		for x := range 320 {
			c := color.RGBA{255, 255, 255, 255}
			if x < 160 {
				c = color.RGBA{0, 0, 0, 255}
			}
			img.Set(x, y, c)
		}
	}
	y4m := filepath.Join(dir, "cam.y4m")
	if err := WriteY4M(y4m, img, 3); err != nil {
		t.Fatal(err)
	}
	var got []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/":
			w.Write([]byte(`<!doctype html><title>cam</title><video autoplay muted playsinline></video><script src="/cam.js"></script>`))
		case "/cam.js":
			w.Header().Set("Content-Type", "text/javascript")
			w.Write([]byte(`navigator.mediaDevices.getUserMedia({video:true}).then(function(s){var v=document.querySelector("video");v.srcObject=s;v.onplaying=function(){var c=document.createElement("canvas");c.width=v.videoWidth;c.height=v.videoHeight;c.getContext("2d").drawImage(v,0,0);c.toBlob(function(b){fetch("/frame",{method:"POST",body:b}).then(function(){document.title="sent"})},"image/png")}})`))
		case "/frame":
			var b bytes.Buffer
			b.ReadFrom(r.Body)
			got = b.Bytes()
		}
	}))
	defer srv.Close()
	ctx := New(t, FakeCamera(y4m))
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/")); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.title === "sent"`)); err != nil {
		t.Fatal(err)
	}
	frame, err := png.Decode(bytes.NewReader(got))
	if err != nil {
		t.Fatalf("the frame is no PNG: %v", err)
	}
	if frame.Bounds().Dx() != 320 || frame.Bounds().Dy() != 240 {
		t.Fatalf("frame %v, want 320x240", frame.Bounds())
	}
	l, _, _, _ := frame.At(40, 120).RGBA()
	r, _, _, _ := frame.At(280, 120).RGBA()
	if l>>8 > 40 || r>>8 < 215 {
		t.Fatalf("the camera shows left %d right %d, want black and white", l>>8, r>>8)
	}
	shot := filepath.Join(dir, "page.png")
	if err := Screenshot(ctx, shot); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(shot); !strings.HasPrefix(string(b), "\x89PNG") {
		t.Fatal("the screenshot is no PNG")
	}
}

// TestAudit checks that Audit and TabTo find what they are for, on a page
// with the faults and on one without.
func TestAudit(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium")
	}
	pages := map[string]string{
		"/bad":  `<!doctype html><html><title> </title><input id=q><button></button><img src="data:,"><div style="width:2000px">wide</div>`,
		"/good": `<!doctype html><html lang=en><title>Good</title><h1>Good</h1><label for=q>Query</label><input id=q><a href="/x">first</a><form method=post action="/done"><button id=go>Go</button></form>`,
		"/done": `<!doctype html><html lang=en><title>Done</title><h1>Done</h1>`,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(pages[r.URL.Path])) }))
	defer srv.Close()
	ctx := New(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/bad")); err != nil {
		t.Fatal(err)
	}
	probs, err := Audit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(probs) != 6 { // title, lang, h1, label, button name, alt
		t.Fatalf("found %d problems, want 6: %q", len(probs), probs)
	}
	if Zoom200(ctx) == nil {
		t.Fatal("a 2000-pixel-wide page fits at 200 %")
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/good")); err != nil {
		t.Fatal(err)
	}
	if probs, err := Audit(ctx); err != nil || len(probs) != 0 {
		t.Fatalf("good page: %q %v", probs, err)
	}
	if err := Zoom200(ctx); err != nil {
		t.Fatal(err)
	}
	if err := Zoom100(ctx); err != nil {
		t.Fatal(err)
	}
	n, err := TabTo(ctx, "#go", 10)
	if err != nil || n != 3 {
		t.Fatalf("Tab reached #go after %d presses (%v), want 3", n, err)
	}
	if err := chromedp.Do(ctx, chromedp.KeyEvent(kb.Enter)); err != nil {
		t.Fatal(err)
	}
	if err := WaitFor(ctx, `document.title === "Done"`, 10*time.Second); err != nil {
		t.Fatalf("Enter did not submit the form: %v", err)
	}
	if _, err := TabTo(ctx, "#nothing", 3); err == nil {
		t.Fatal("TabTo reached an element that is not there")
	}
}
