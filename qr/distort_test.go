package qr

import (
	"bytes"
	"flag"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airlock-offline/airlock/internal/armor"
)

// A photo of a screen, simulated: the transforms below are applied to a
// clean rendering and the result must still decode.

// fimg is a grey image with float pixels, 0 black .. 255 white.
type fimg struct {
	w, h int
	p    []float64
}

func newFimg(w, h int, v float64) *fimg {
	f := &fimg{w: w, h: h, p: make([]float64, w*h)}
	for i := range f.p {
		f.p[i] = v
	}
	return f
}

func fromImage(img image.Image) *fimg {
	g := toGray(img)
	f := &fimg{w: g.w, h: g.h, p: make([]float64, len(g.pix))}
	for i, v := range g.pix {
		f.p[i] = float64(v)
	}
	return f
}

func (f *fimg) at(x, y int, bg float64) float64 {
	if x < 0 || y < 0 || x >= f.w || y >= f.h {
		return bg
	}
	return f.p[y*f.w+x]
}

// bilinear samples at (x, y) in pixel-centre coordinates.
func (f *fimg) bilinear(x, y, bg float64) float64 {
	x, y = x-0.5, y-0.5
	x0, y0 := math.Floor(x), math.Floor(y)
	fx, fy := x-x0, y-y0
	ix, iy := int(x0), int(y0)
	top := f.at(ix, iy, bg)*(1-fx) + f.at(ix+1, iy, bg)*fx
	bot := f.at(ix, iy+1, bg)*(1-fx) + f.at(ix+1, iy+1, bg)*fx
	return top*(1-fy) + bot*fy
}

func (f *fimg) scaleNearest(s float64) *fimg {
	w, h := int(float64(f.w)*s), int(float64(f.h)*s)
	out := newFimg(w, h, 0)
	for y := range h {
		for x := range w {
			out.p[y*w+x] = f.at(int((float64(x)+0.5)/s), int((float64(y)+0.5)/s), 255)
		}
	}
	return out
}

func (f *fimg) scaleBilinear(s float64) *fimg {
	w, h := int(float64(f.w)*s), int(float64(f.h)*s)
	out := newFimg(w, h, 0)
	for y := range h {
		for x := range w {
			out.p[y*w+x] = f.bilinear((float64(x)+0.5)/s, (float64(y)+0.5)/s, 255)
		}
	}
	return out
}

// mat3 is a 3×3 projective transform, row-major.
type mat3 [9]float64

func (a mat3) mul(b mat3) mat3 {
	var c mat3
	for i := range 3 {
		for j := range 3 {
			for k := range 3 {
				c[3*i+j] += a[3*i+k] * b[3*k+j]
			}
		}
	}
	return c
}

func (a mat3) inv() mat3 {
	det := a[0]*(a[4]*a[8]-a[5]*a[7]) - a[1]*(a[3]*a[8]-a[5]*a[6]) + a[2]*(a[3]*a[7]-a[4]*a[6])
	return mat3{
		(a[4]*a[8] - a[5]*a[7]) / det, (a[2]*a[7] - a[1]*a[8]) / det, (a[1]*a[5] - a[2]*a[4]) / det,
		(a[5]*a[6] - a[3]*a[8]) / det, (a[0]*a[8] - a[2]*a[6]) / det, (a[2]*a[3] - a[0]*a[5]) / det,
		(a[3]*a[7] - a[4]*a[6]) / det, (a[1]*a[6] - a[0]*a[7]) / det, (a[0]*a[4] - a[1]*a[3]) / det,
	}
}

func (a mat3) apply(x, y float64) (float64, float64) {
	w := a[6]*x + a[7]*y + a[8]
	return (a[0]*x + a[1]*y + a[2]) / w, (a[3]*x + a[4]*y + a[5]) / w
}

func translate(dx, dy float64) mat3 { return mat3{1, 0, dx, 0, 1, dy, 0, 0, 1} }

func rotation(deg float64) mat3 {
	s, c := math.Sincos(deg * math.Pi / 180)
	return mat3{c, -s, 0, s, c, 0, 0, 0, 1}
}

// keystone tilts the image away: px, py are the perspective terms (a few
// 1e-4 per pixel is a phone held slightly off-axis).
func keystone(px, py float64) mat3 { return mat3{1, 0, 0, 0, 1, 0, px, py, 1} }

// warp maps f through the forward transform m about its centre onto a
// canvas margin pixels larger on each side, filled with bg.
func (f *fimg) warp(m mat3, margin int, bg float64) *fimg {
	w, h := f.w+2*margin, f.h+2*margin
	cx, cy := float64(f.w)/2, float64(f.h)/2
	fwd := translate(float64(w)/2, float64(h)/2).mul(m).mul(translate(-cx, -cy))
	back := fwd.inv()
	out := newFimg(w, h, bg)
	for y := range h {
		for x := range w {
			sx, sy := back.apply(float64(x)+0.5, float64(y)+0.5)
			out.p[y*w+x] = f.bilinear(sx, sy, bg)
		}
	}
	return out
}

func (f *fimg) boxBlur(r int) *fimg {
	tmp, out := newFimg(f.w, f.h, 0), newFimg(f.w, f.h, 0)
	n := float64(2*r + 1)
	for y := range f.h {
		for x := range f.w {
			s := 0.0
			for d := -r; d <= r; d++ {
				s += f.at(min(max(x+d, 0), f.w-1), y, 0)
			}
			tmp.p[y*f.w+x] = s / n
		}
	}
	for y := range f.h {
		for x := range f.w {
			s := 0.0
			for d := -r; d <= r; d++ {
				s += tmp.at(x, min(max(y+d, 0), f.h-1), 0)
			}
			out.p[y*f.w+x] = s / n
		}
	}
	return out
}

// noise adds Gaussian noise of standard deviation sigma.
func (f *fimg) noise(r *rand.Rand, sigma float64) *fimg {
	out := newFimg(f.w, f.h, 0)
	for i, v := range f.p {
		out.p[i] = v + r.NormFloat64()*sigma
	}
	return out
}

// light maps black to lo and white to hi, with a left-to-right fall-off of
// the brightness (uneven lighting, screen glare).
func (f *fimg) light(lo, hi, falloff float64) *fimg {
	out := newFimg(f.w, f.h, 0)
	for y := range f.h {
		for x := range f.w {
			gain := 1 - falloff*float64(x)/float64(f.w)
			out.p[y*f.w+x] = (lo + (hi-lo)*f.p[y*f.w+x]/255) * gain
		}
	}
	return out
}

func (f *fimg) image() *image.Gray {
	img := image.NewGray(image.Rect(0, 0, f.w, f.h))
	for i, v := range f.p {
		img.Pix[i] = uint8(math.Round(min(max(v, 0), 255)))
	}
	return img
}

func (f *fimg) jpeg(t testing.TB, quality int) []byte {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, f.image(), &jpeg.Options{Quality: quality}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func (f *fimg) png(t testing.TB) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, f.image()); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

type distortion struct {
	name string
	f    func(f *fimg, ppm int, r *rand.Rand) *fimg
	jpeg int // JPEG quality; 0: PNG
}

var distortions = []distortion{
	{"nearest 0.8x", func(f *fimg, _ int, _ *rand.Rand) *fimg { return f.scaleNearest(0.8) }, 0},
	{"nearest 1.37x", func(f *fimg, _ int, _ *rand.Rand) *fimg { return f.scaleNearest(1.37) }, 0},
	{"bilinear 0.6x", func(f *fimg, _ int, _ *rand.Rand) *fimg { return f.scaleBilinear(0.6) }, 0},
	{"bilinear 1.7x", func(f *fimg, _ int, _ *rand.Rand) *fimg { return f.scaleBilinear(1.7) }, 0},
	{"rotate 3°", func(f *fimg, _ int, _ *rand.Rand) *fimg { return f.warp(rotation(3), 40, 255) }, 0},
	{"rotate -7°", func(f *fimg, _ int, _ *rand.Rand) *fimg { return f.warp(rotation(-7), 40, 255) }, 0},
	{"rotate 90°", func(f *fimg, _ int, _ *rand.Rand) *fimg { return f.warp(rotation(90), 20, 255) }, 0},
	{"box blur r1", func(f *fimg, _ int, _ *rand.Rand) *fimg { return f.boxBlur(1) }, 0},
	{"box blur r2", func(f *fimg, _ int, _ *rand.Rand) *fimg { return f.boxBlur(2) }, 0},
	{"noise σ20", func(f *fimg, _ int, r *rand.Rand) *fimg { return f.noise(r, 20) }, 0},
	{"noise σ40", func(f *fimg, _ int, r *rand.Rand) *fimg { return f.noise(r, 40) }, 0},
	{"perspective 8%", func(f *fimg, _ int, _ *rand.Rand) *fimg {
		half := float64(f.w) / 2
		return f.warp(keystone(0.08/(2*half), -0.05/(2*half)), 60, 255)
	}, 0},
	{"low contrast, uneven light", func(f *fimg, _ int, _ *rand.Rand) *fimg { return f.light(70, 190, 0.35) }, 0},
	{"jpeg q50", func(f *fimg, _ int, _ *rand.Rand) *fimg { return f }, 50},
	{"inverted (light on dark)", func(f *fimg, _ int, _ *rand.Rand) *fimg { return f.light(255, 0, 0) }, 0},
	{"photo of a screen", photo, 80},
}

// photoTilt is the largest perspective in photo: how much larger one edge
// of the code looks than the opposite one.
var photoTilt = 0.06

// photo combines everything: a screen in a dark bezel photographed slightly
// off-axis (photoTilt), rotated by up to 6°, rescaled so that a module is 4
// to 8 pixels, out of focus (a 3-pixel box blur), noisy (σ 6 to 14),
// unevenly lit, saved as JPEG. The amounts vary with the seed. ppm is the
// scale of the clean rendering f.
func photo(f *fimg, ppm int, r *rand.Rand) *fimg {
	rot := (r.Float64()*2 - 1) * 6 // ±6°
	scale := (4 + 4*r.Float64()) / float64(ppm)
	// keystone(p, 0) makes the edges at x = ±half differ by about 2·p·half.
	half := float64(f.w) * scale / 2
	px, py := (r.Float64()*2-1)*photoTilt/(2*half), (r.Float64()*2-1)*photoTilt/(2*half)
	lit := f.light(25, 215, 0.2+r.Float64()*0.2) // screen black is grey, white is not white
	// The screen (lit image plus a margin of screen background) sits in a
	// black bezel.
	screen := lit.warp(mat3{1, 0, 0, 0, 1, 0, 0, 0, 1}, 30, 200)
	m := keystone(px, py).mul(rotation(rot)).mul(mat3{scale, 0, 0, 0, scale, 0, 0, 0, 1})
	out := screen.warp(m, int(float64(screen.w)*scale/2)+40, 10)
	return out.boxBlur(1).noise(r, 6+r.Float64()*8)
}

// TestDistortions renders a typical request and license (see typical) as a
// screen shows them, at 4 and 5 pixels per module, and decodes them after
// each distortion.
func TestDistortions(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	type sample struct {
		name string
		c    Code
		ppm  int
	}
	req, lic := typical(t, false)
	var samples []sample
	for _, s := range []struct {
		k       armor.Kind
		payload []byte
		ppm     int
	}{{armor.Request, req.Bytes, 4}, {armor.License, lic.Bytes, 5}} {
		codes, err := Plan(s.k, s.payload, Options{})
		if err != nil || len(codes) != 1 {
			t.Fatalf("Plan: %d codes, %v", len(codes), err)
		}
		samples = append(samples, sample{fmt.Sprintf("%s v%d %dppm", s.k, codes[0].Version, s.ppm), codes[0], s.ppm})
	}
	for _, s := range samples {
		data, err := s.c.PNG(Options{PixelsPerModule: s.ppm})
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		clean := fromImage(img)
		for _, d := range distortions {
			seeds := 1
			if d.name == "photo of a screen" || d.name[:5] == "noise" {
				seeds = 3
			}
			for seed := range seeds {
				name := fmt.Sprintf("%s/%s/%d", s.name, d.name, seed)
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					r := rand.New(rand.NewPCG(uint64(seed), 99))
					out := d.f(clean, s.ppm, r)
					var file []byte
					if d.jpeg > 0 {
						file = out.jpeg(t, d.jpeg)
					} else {
						file = out.png(t)
					}
					g, err := readGray(file)
					if err != nil {
						t.Fatal(err)
					}
					res, how := decodeGray(g)
					if len(res) != 1 || res[0].GetText() != s.c.Text {
						if dir := os.Getenv("QR_DUMP"); dir != "" {
							os.WriteFile(filepath.Join(dir, strings.NewReplacer("/", "_", " ", "_").Replace(name)+".png"), out.png(t), 0o644)
						}
						t.Fatalf("%dx%d image: %d results", g.w, g.h, len(res))
					}
					t.Logf("%dx%d: decoded (%s)", g.w, g.h, how)
					texts, err := DecodeImage(bytes.NewReader(file))
					if err != nil || texts[0] != s.c.Text {
						t.Fatalf("DecodeImage: %v", err)
					}
				})
			}
		}
	}
}

var sweep = flag.Int("qr.sweep", 0, "run TestPhotoSweep with this many seeds per setting")

// TestPhotoSweep measures how often photos of a screen decode, by decoder,
// at several amounts of perspective. It runs only with -qr.sweep=N:
//
//	go test ./qr/ -run PhotoSweep -qr.sweep=20 -v
func TestPhotoSweep(t *testing.T) {
	if *sweep == 0 {
		t.Skip("run with -qr.sweep=N")
	}
	defer func(v float64) { photoTilt = v }(photoTilt)
	req, lic := typical(t, false)
	dir := t.TempDir()
	for _, tilt := range []float64{0.03, 0.06, 0.12} {
		photoTilt = tilt
		for _, s := range []struct {
			k       armor.Kind
			payload []byte
			ppm     int
		}{{armor.Request, req.Bytes, 4}, {armor.License, lic.Bytes, 4}, {armor.License, randomPayload(rand.New(rand.NewPCG(1, 1)), 600), 4}} {
			codes, err := Plan(s.k, s.payload, Options{})
			if err != nil {
				t.Fatal(err)
			}
			c := codes[0]
			data, _ := c.PNG(Options{PixelsPerModule: s.ppm})
			img, _ := png.Decode(bytes.NewReader(data))
			clean := fromImage(img)
			ok := map[string]int{}
			for seed := range *sweep {
				file := photo(clean, s.ppm, rand.New(rand.NewPCG(uint64(seed), 1234))).jpeg(t, 80)
				if texts, err := DecodeImage(bytes.NewReader(file)); err == nil && texts[0] == c.Text {
					ok["gozxing"]++
				}
				path := filepath.Join(dir, "photo.jpg")
				os.WriteFile(path, file, 0o644)
				for _, d := range externalDecoders {
					if _, err := exec.LookPath(d.name); err != nil {
						continue
					}
					out, _ := exec.Command(d.name, d.args(path)...).Output()
					if strings.Contains(string(out), c.Text) {
						ok[d.name]++
					}
				}
			}
			t.Logf("tilt %2.0f%%, %s version %d: decoded of %d: %v", tilt*100, s.k, c.Version, *sweep, ok)
		}
	}
}

// TestLargePhoto: a code that is a small part (425 pixels across) of a
// 12-megapixel photo.
func TestLargePhoto(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	req, _ := typical(t, false)
	codes, err := Plan(armor.Request, req.Bytes, Options{})
	if err != nil {
		t.Fatal(err)
	}
	code, err := codes[0].Image(Options{PixelsPerModule: 5})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(41, 42))
	big := image.NewGray(image.Rect(0, 0, 4000, 3000))
	for i := range big.Pix {
		big.Pix[i] = uint8(40 + r.IntN(20)) // a dark, noisy room
	}
	x0, y0 := 2100, 900
	for y := range code.Bounds().Dy() {
		for x := range code.Bounds().Dx() {
			v := uint8(30 + r.IntN(16)) // screen black
			if code.ColorIndexAt(x, y) == 0 {
				v = uint8(200 + r.IntN(16)) // screen white
			}
			big.Pix[big.PixOffset(x0+x, y0+y)] = v
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, big, &jpeg.Options{Quality: 85}); err != nil {
		t.Fatal(err)
	}
	g, err := readGray(b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	res, how := decodeGray(g)
	if len(res) != 1 || res[0].GetText() != codes[0].Text {
		t.Fatalf("%d results", len(res))
	}
	t.Logf("4000x3000 JPEG of %d bytes, code %d px: decoded (%s)", b.Len(), code.Bounds().Dx(), how)
}
