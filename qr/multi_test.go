package qr_test

import (
	"bytes"
	"fmt"
	"image"
	"image/draw"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/airlock-offline/airlock/internal/armor"
	"github.com/airlock-offline/airlock/internal/testrig/qrphoto"
	"github.com/airlock-offline/airlock/qr"
)

// screenshot draws codes side by side on white, as a screen shows all the
// parts of a message at once.
func screenshot(t testing.TB, codes []qr.Code, ppm int) []byte {
	var imgs []image.Image
	w, h := 0, 0
	for _, c := range codes {
		img, err := c.Image(qr.Options{PixelsPerModule: ppm})
		if err != nil {
			t.Fatal(err)
		}
		imgs = append(imgs, img)
		w += img.Bounds().Dx() + 10
		h = max(h, img.Bounds().Dy())
	}
	out := image.NewGray(image.Rect(0, 0, w+40, h+60))
	draw.Draw(out, out.Bounds(), image.White, image.Point{}, draw.Src)
	x := 20
	for _, img := range imgs {
		draw.Draw(out, img.Bounds().Add(image.Pt(x, 30)), img, image.Point{}, draw.Src)
		x += img.Bounds().Dx() + 10
	}
	var b bytes.Buffer
	png.Encode(&b, out)
	return b.Bytes()
}

// Every code in one image is read: one screenshot or photo of all parts.
func TestSeveralCodesInOneImage(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	for _, n := range []int{2, 3, 4, 6} {
		payload := make([]byte, 180*n)
		for i := range payload {
			payload[i] = byte(r.UintN(256))
		}
		codes, err := qr.Plan(armor.License, payload, qr.Options{MaxVersion: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(codes) != n {
			t.Fatalf("%d codes, want %d", len(codes), n)
		}
		var want []string
		for _, c := range codes {
			want = append(want, c.Text)
		}
		slices.Sort(want)
		photo, err := qrphoto.MakeSeveral(codes, qrphoto.Params{Scale: 0.7, Rotate: 4, TiltX: 0.03, Blur: 0.6, Noise: 4, JPEG: 80, Seed: uint64(n)})
		if err != nil {
			t.Fatal(err)
		}
		for name, img := range map[string][]byte{"screenshot": screenshot(t, codes, 4), "photo": photo} {
			t.Run(fmt.Sprintf("%d codes/%s", n, name), func(t *testing.T) {
				got, err := qr.DecodeImage(bytes.NewReader(img))
				slices.Sort(got)
				if err != nil || !slices.Equal(got, want) {
					if dir := os.Getenv("QR_DUMP"); dir != "" {
						os.WriteFile(filepath.Join(dir, fmt.Sprintf("several-%d-%s.img", n, name)), img, 0o644)
					}
					t.Fatalf("read %d of %d codes (%v)", len(got), n, err)
				}
				for _, d := range []qrphoto.Decoder{qrphoto.Zbarimg, qrphoto.ZXingReader} {
					if !d.Available() {
						t.Logf("%s not installed (apt-get install %s): cross-check skipped", d.Name, d.Package)
						continue
					}
					f := filepath.Join(t.TempDir(), "img")
					os.WriteFile(f, img, 0o644)
					texts, _ := d.Decode(f)
					slices.Sort(texts)
					t.Logf("%s reads %d of %d", d.Name, len(texts), n)
					if name == "screenshot" && d.Name == "zbarimg" && !slices.Equal(texts, want) {
						t.Errorf("zbarimg reads %d of the %d codes of the screenshot", len(texts), n)
					}
				}
			})
		}
	}
}
