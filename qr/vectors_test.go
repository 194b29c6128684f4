package qr

import (
	"bytes"
	"errors"
	"flag"
	"image"
	"image/draw"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/airlock-offline/airlock/internal/armor"
)

var update = flag.Bool("qr.update", false, "rewrite the images in testdata/")

// Test vectors: images in testdata/ with the texts they hold in a .txt
// file of the same name, one line per code, in the order DecodeImage
// returns them. Any QR decoder can run them.
//
//	request-v15.png     a typical request, 4 pixels per module
//	license-q.png       a typical license at level Q, 3 pixels per module
//	terminal-dark.png   Code.Terminal as a dark-background terminal shows it
//	photo-license.jpg   a simulated phone photo of a typical license
//	two-parts.png       two parts of one message side by side in one image
func TestVectors(t *testing.T) {
	if *update {
		writeVectors(t)
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "*.txt"))
	if len(files) == 0 {
		t.Fatal("no test vectors in testdata/")
	}
	var images []extImage
	for _, txt := range files {
		base := strings.TrimSuffix(txt, ".txt")
		t.Run(filepath.Base(base), func(t *testing.T) {
			want, err := os.ReadFile(txt)
			if err != nil {
				t.Fatal(err)
			}
			imgs, _ := filepath.Glob(base + ".*")
			imgs = slices.DeleteFunc(imgs, func(p string) bool { return p == txt })
			if len(imgs) != 1 {
				t.Fatalf("%d images for %s", len(imgs), txt)
			}
			data, err := os.ReadFile(imgs[0])
			if err != nil {
				t.Fatal(err)
			}
			texts, err := DecodeImage(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			wantTexts := strings.Fields(string(want))
			slices.Sort(texts)
			slices.Sort(wantTexts)
			if !slices.Equal(texts, wantTexts) {
				t.Fatalf("decoded %q, want %q", texts, wantTexts)
			}
			var a armor.Assembler
			for _, text := range texts {
				if _, err := a.Add([]byte(text)); err != nil {
					t.Fatal(err)
				}
			}
			if len(wantTexts) == 1 && strings.HasSuffix(imgs[0], ".png") {
				images = append(images, extImage{name: filepath.Base(imgs[0]), text: wantTexts[0], data: data})
			}
		})
	}
	runExternal(t, images)
}

func writeVectors(t *testing.T) {
	req, lic := typical(t, false)
	write := func(name string, data []byte, texts ...string) {
		if err := os.WriteFile(filepath.Join("testdata", name), data, 0o644); err != nil {
			t.Fatal(err)
		}
		txt := strings.TrimSuffix(name, filepath.Ext(name)) + ".txt"
		if err := os.WriteFile(filepath.Join("testdata", txt), []byte(strings.Join(texts, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	must := func(codes []Code, err error) []Code {
		if err != nil {
			t.Fatal(err)
		}
		return codes
	}
	os.MkdirAll("testdata", 0o755)

	rc := must(Plan(armor.Request, req.Bytes, Options{}))[0]
	data, _ := rc.PNG(Options{PixelsPerModule: 4})
	write("request-v15.png", data, rc.Text)

	lq := must(Plan(armor.License, lic.Bytes, Options{Level: LevelQ}))[0]
	data, _ = lq.PNG(Options{PixelsPerModule: 3})
	write("license-q.png", data, lq.Text)

	var b bytes.Buffer
	png.Encode(&b, screen(t, rc.Terminal(), 3, 230, 20, 4))
	write("terminal-dark.png", b.Bytes(), rc.Text)

	lc := must(Plan(armor.License, lic.Bytes, Options{}))[0]
	data, _ = lc.PNG(Options{PixelsPerModule: 4})
	img, _ := png.Decode(bytes.NewReader(data))
	var best []byte // the smallest photo among a few seeds that decodes
	for seed := range 20 {
		jpg := photo(fromImage(img), 4, rand.New(rand.NewPCG(uint64(seed), 7))).jpeg(t, 50)
		if texts, err := DecodeImage(bytes.NewReader(jpg)); err == nil && texts[0] == lc.Text && (best == nil || len(jpg) < len(best)) {
			best = jpg
		}
	}
	write("photo-license.jpg", best, lc.Text)

	parts := must(Plan(armor.License, lic.Bytes, Options{MaxVersion: 10}))[:2]
	a, _ := parts[0].Image(Options{PixelsPerModule: 3})
	c, _ := parts[1].Image(Options{PixelsPerModule: 3})
	both := image.NewGray(image.Rect(0, 0, a.Bounds().Dx()+c.Bounds().Dx()+30, a.Bounds().Dy()+40))
	draw.Draw(both, both.Bounds(), image.White, image.Point{}, draw.Src)
	draw.Draw(both, a.Bounds().Add(image.Pt(0, 0)), a, image.Point{}, draw.Src)
	draw.Draw(both, c.Bounds().Add(image.Pt(a.Bounds().Dx()+30, 40)), c, image.Point{}, draw.Src)
	b.Reset()
	png.Encode(&b, both)
	write("two-parts.png", b.Bytes(), parts[0].Text, parts[1].Text)
}

// FuzzDecodeImage: DecodeImage never panics and its errors are typed.
func FuzzDecodeImage(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "*.png"))
	for _, c := range []Code{{Text: "AR1AE", Level: LevelM}, {Text: "AL9213ABCDAAAAAAAA", Level: LevelQ}} {
		data, err := c.PNG(Options{PixelsPerModule: 1})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
		f.Add(data[:len(data)/2])
		img, _ := png.Decode(bytes.NewReader(data))
		f.Add(fromImage(img).jpeg(f, 90))
	}
	if len(seeds) == 0 {
		f.Fatal("no seed images in testdata/")
	}
	for _, s := range seeds {
		if data, err := os.ReadFile(s); err == nil && len(data) < 64<<10 {
			f.Add(data)
		}
	}
	f.Add([]byte("\x89PNG\r\n\x1a\n"))
	f.Add([]byte{0xff, 0xd8, 0xff, 0xe0})
	f.Add([]byte("GIF89a"))
	f.Fuzz(func(t *testing.T, data []byte) {
		texts, err := DecodeImage(bytes.NewReader(data))
		if err != nil {
			if texts != nil {
				t.Error("texts with an error")
			}
			for _, e := range []error{ErrNotFound, ErrImageFormat, ErrImageTooLarge, ErrBadImage} {
				if errors.Is(err, e) {
					return
				}
			}
			t.Fatalf("untyped error %v", err)
		}
		if len(texts) == 0 {
			t.Fatal("no texts and no error")
		}
	})
}

func TestDecodeImageErrors(t *testing.T) {
	big := make([]byte, MaxImageBytes+10)
	copy(big, pngMagic)
	// A PNG header declaring 9000×10 pixels.
	var b bytes.Buffer
	png.Encode(&b, image.NewGray(image.Rect(0, 0, 9000, 10)))
	for _, c := range []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, ErrImageFormat},
		{"gif", []byte("GIF89a......"), ErrImageFormat},
		{"text", []byte("AR1AAAA"), ErrImageFormat},
		{"truncated png", []byte("\x89PNG\r\n\x1a\n\x00\x00"), ErrBadImage},
		{"truncated jpeg", []byte{0xff, 0xd8, 0xff, 0xe0, 0, 16}, ErrBadImage},
		{"too many bytes", big, ErrImageTooLarge},
		{"too wide", b.Bytes(), ErrImageTooLarge},
		{"no code", blankPNG(t), ErrNotFound},
	} {
		texts, err := DecodeImage(bytes.NewReader(c.data))
		if !errors.Is(err, c.want) || texts != nil {
			t.Errorf("%s: %q, %v; want %v", c.name, texts, err, c.want)
		}
	}
}

func blankPNG(t *testing.T) []byte {
	var b bytes.Buffer
	img := image.NewGray(image.Rect(0, 0, 300, 200))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 7)
	}
	png.Encode(&b, img)
	return b.Bytes()
}
