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

	"github.com/chromedp/chromedp"
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
