// Package qrphoto makes simulated phone photos of QR codes for tests and
// benchmarks: a code on a white screen or sheet, photographed at a scale,
// an angle and a tilt, out of focus, noisy, unevenly lit, in front of a
// grey or cluttered background, saved as JPEG. Every photo is determined by
// its Params, so a corpus is reproducible from its seed.
package qrphoto

import (
	"bytes"
	"fmt"
	"image"
	"image/jpeg"
	"math"
	"math/rand/v2"

	"github.com/airlock-offline/airlock/internal/armor"
	"github.com/airlock-offline/airlock/qr"
)

// Params are the settings of one photo.
type Params struct {
	Version int     // QR version of the code (its text is random)
	Scale   float64 // 0.4..1: the code at this fraction of 8 pixels a module
	Rotate  float64 // degrees
	TiltX   float64 // perspective: how much larger one edge looks than the other, 0..0.1
	TiltY   float64
	Barrel  float64 // lens distortion at the picture's corners, -0.04..0.04
	Blur    float64 // Gaussian sigma in pixels
	Noise   float64 // sensor noise sigma, 0..255 scale
	JPEG    int     // quality
	Clutter bool    // cluttered background, else plain grey
	Seed    uint64
	// W, H, if set, are the size of the photo (e.g. 4000×3000, a 12 MP
	// phone photo); else the code fills most of it.
	W, H int
}

func (p Params) String() string {
	bg := "grey"
	if p.Clutter {
		bg = "clutter"
	}
	return fmt.Sprintf("v%d scale %.0f%% rot %+.1f° tilt %.0f%%/%.0f%% lens %+.0f%% blur %.1f noise %.0f jpeg %d %s",
		p.Version, p.Scale*100, p.Rotate, p.TiltX*100, p.TiltY*100, p.Barrel*100, p.Blur, p.Noise, p.JPEG, bg)
}

// Random draws photo settings from the whole range: versions 10 to 20,
// scale 40–100 %, rotation up to 15°, tilt up to 10 %, lens distortion up
// to 4 %, blur up to 1.5 pixels, noise up to 15, JPEG quality 50–90, grey or
// cluttered background.
func Random(r *rand.Rand) Params {
	return Params{
		Version: 10 + r.IntN(11),
		Scale:   0.4 + 0.6*r.Float64(),
		Rotate:  (2*r.Float64() - 1) * 15,
		TiltX:   (2*r.Float64() - 1) * 0.10,
		TiltY:   (2*r.Float64() - 1) * 0.10,
		Blur:    1.5 * r.Float64(),
		Noise:   15 * r.Float64(),
		JPEG:    50 + r.IntN(41),
		Clutter: r.IntN(2) == 1,
		Seed:    r.Uint64(),
		Barrel:  (2*r.Float64() - 1) * 0.04,
	}
}

// Corpus returns n photo settings from seed.
func Corpus(seed uint64, n int) []Params {
	r := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	out := make([]Params, n)
	for i := range out {
		out[i] = Random(r)
	}
	return out
}

// Text returns a random license text (tag and base32) that needs exactly
// version v at level M.
func Text(r *rand.Rand, v int) (string, error) {
	lo, hi := 1, 3000 // payload bytes: Version(lo) <= v < Version(hi)
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if got, err := qr.Version(armor.Text(armor.License, make([]byte, mid)), qr.LevelM); err == nil && got <= v {
			lo = mid
		} else {
			hi = mid
		}
	}
	b := make([]byte, lo)
	for i := range b {
		b[i] = byte(r.UintN(256))
	}
	text := armor.Text(armor.License, b)
	if got, err := qr.Version(text, qr.LevelM); err != nil || got != v {
		return "", fmt.Errorf("qrphoto: no text of version %d", v)
	}
	return text, nil
}

// Photo is one code as photographed, with the text it holds.
type Photo struct {
	Params
	Text  string
	JPEG  []byte
	W, H  int
	Codes int // codes in the photo
}

// Make renders the photo p describes.
func Make(p Params) (*Photo, error) {
	r := rand.New(rand.NewPCG(p.Seed, 1))
	text, err := Text(r, p.Version)
	if err != nil {
		return nil, err
	}
	return makeCode(qr.Code{Text: text, Version: p.Version}, p, r)
}

// MakeCode renders a photo of c; p.Version is not used.
func MakeCode(c qr.Code, p Params) (*Photo, error) {
	return makeCode(c, p, rand.New(rand.NewPCG(p.Seed, 1)))
}

func makeCode(c qr.Code, p Params, r *rand.Rand) (*Photo, error) {
	text := c.Text
	img, err := c.Image(qr.Options{PixelsPerModule: 1})
	if err != nil {
		return nil, err
	}
	n := img.Bounds().Dx()
	mods := make([]bool, n*n)
	for i, c := range img.Pix {
		mods[i] = c == 1
	}
	ppm := 8 * p.Scale
	side := float64(n) * ppm
	w := int(side*1.6) + 80
	h := int(side*1.3) + 80
	cx, cy := float64(w)/2+(r.Float64()-0.5)*40, float64(h)/2+(r.Float64()-0.5)*40
	if p.W > 0 && p.H > 0 {
		w, h = p.W, p.H
		cx = side + r.Float64()*(float64(w)-2*side)
		cy = side + r.Float64()*(float64(h)-2*side)
	}
	s := newScene(w, h, p, r)
	s.place(mods, n, ppm, cx, cy, p)
	data, err := s.finish(p, r)
	if err != nil {
		return nil, err
	}
	return &Photo{Params: p, Text: text, JPEG: data, W: w, H: h, Codes: 1}, nil
}

// Empty renders a w×h photo of the background p describes, with no code.
func Empty(p Params, w, h int) ([]byte, error) {
	r := rand.New(rand.NewPCG(p.Seed, 3))
	return newScene(w, h, p, r).finish(p, r)
}

// MakeSeveral renders codes side by side in one photo, as a screen showing
// all parts of a message at once. Each code is drawn with p's distortions.
func MakeSeveral(codes []qr.Code, p Params) ([]byte, error) {
	r := rand.New(rand.NewPCG(p.Seed, 2))
	ppm := 8 * p.Scale
	var mods [][]bool
	var sides []int
	maxSide := 0
	for _, c := range codes {
		img, err := c.Image(qr.Options{PixelsPerModule: 1})
		if err != nil {
			return nil, err
		}
		n := img.Bounds().Dx()
		m := make([]bool, n*n)
		for i, v := range img.Pix {
			m[i] = v == 1
		}
		mods, sides = append(mods, m), append(sides, n)
		maxSide = max(maxSide, n)
	}
	cols := min(len(codes), 3)
	rows := (len(codes) + cols - 1) / cols
	cell := float64(maxSide)*ppm + 20
	w := int(cell*float64(cols)) + 120
	h := int(cell*float64(rows)) + 120
	s := newScene(w, h, p, r)
	for i := range codes {
		cx := 60 + cell*(float64(i%cols)+0.5)
		cy := 60 + cell*(float64(i/cols)+0.5)
		s.place(mods[i], sides[i], ppm, cx, cy, p)
	}
	return s.finish(p, r)
}

type scene struct {
	w, h int
	pix  []float64
}

func newScene(w, h int, p Params, r *rand.Rand) *scene {
	s := &scene{w: w, h: h, pix: make([]float64, w*h)}
	base := 90 + 80*r.Float64()
	for i := range s.pix {
		s.pix[i] = base
	}
	if p.Clutter {
		// Rectangles, bars and lines of random greys: a desk, a keyboard.
		for range 60 * max(1, w*h/1_000_000) {
			x0, y0 := r.IntN(w), r.IntN(h)
			x1, y1 := x0+5+r.IntN(w/4), y0+2+r.IntN(h/6)
			v := 255 * r.Float64()
			for y := y0; y < min(y1, h); y++ {
				for x := x0; x < min(x1, w); x++ {
					s.pix[y*w+x] = v
				}
			}
		}
		for range 400 * max(1, w*h/1_000_000) { // small dark marks: printed text
			x0, y0 := r.IntN(w), r.IntN(h)
			for y := y0; y < min(y0+3+r.IntN(6), h); y++ {
				for x := x0; x < min(x0+2+r.IntN(6), w); x++ {
					s.pix[y*w+x] = 30 * r.Float64()
				}
			}
		}
	}
	return s
}

// place draws a code of n×n modules (quiet zone included), centred at cx,
// cy, on a white sheet two modules larger on each side.
func (s *scene) place(mods []bool, n int, ppm, cx, cy float64, p Params) {
	half := float64(n)/2 + 2 // sheet half-size in modules
	sinA, cosA := math.Sincos(p.Rotate * math.Pi / 180)
	// Forward map from module coordinates (centred) u, v to the image:
	// scale, rotate, then a keystone about the centre.
	kx := p.TiltX / (2 * half * ppm)
	ky := p.TiltY / (2 * half * ppm)
	fwd := func(u, v float64) (float64, float64) {
		x, y := u*ppm, v*ppm
		x, y = x*cosA-y*sinA, x*sinA+y*cosA
		d := 1 + kx*x + ky*y
		return cx + x/d, cy + y/d
	}
	// Inverse of the keystone and rotation, for sampling.
	inv := func(X, Y float64) (float64, float64) {
		X, Y = X-cx, Y-cy
		// X = x/d, Y = y/d, d = 1 + kx x + ky y  =>  x = X d, y = Y d
		// d = 1 + kx X d + ky Y d  =>  d = 1 / (1 - kx X - ky Y)
		d := 1 / (1 - kx*X - ky*Y)
		x, y := X*d, Y*d
		x, y = x*cosA+y*sinA, -x*sinA+y*cosA
		return x / ppm, y / ppm
	}
	// Bounding box of the sheet.
	minX, minY, maxX, maxY := math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)
	for _, c := range [][2]float64{{-half, -half}, {half, -half}, {-half, half}, {half, half}} {
		x, y := fwd(c[0], c[1])
		minX, minY, maxX, maxY = min(minX, x), min(minY, y), max(maxX, x), max(maxY, y)
	}
	// Lens distortion about the picture's centre: a point seen at
	// radius r (relative to the half diagonal) comes from radius
	// r·(1 + k·r²) of the undistorted scene.
	ox, oy := float64(s.w)/2, float64(s.h)/2
	hd2 := ox*ox + oy*oy
	lens := func(X, Y float64) (float64, float64) {
		dx, dy := X-ox, Y-oy
		f := 1 + p.Barrel*(dx*dx+dy*dy)/hd2
		return ox + dx*f, oy + dy*f
	}
	if p.Barrel != 0 { // the bounding box, distorted: grow it a little
		grow := math.Abs(p.Barrel) * math.Max(float64(s.w), float64(s.h))
		minX, minY, maxX, maxY = minX-grow, minY-grow, maxX+grow, maxY+grow
	}
	const ss = 3 // supersampling per axis
	for y := max(int(minY)-1, 0); y <= min(int(maxY)+1, s.h-1); y++ {
		for x := max(int(minX)-1, 0); x <= min(int(maxX)+1, s.w-1); x++ {
			sum, in := 0.0, 0
			for sy := range ss {
				for sx := range ss {
					u, v := inv(lens(float64(x)+(float64(sx)+0.5)/ss, float64(y)+(float64(sy)+0.5)/ss))
					if math.Abs(u) > half || math.Abs(v) > half {
						continue
					}
					in++
					mx, my := int(math.Floor(u+float64(n)/2)), int(math.Floor(v+float64(n)/2))
					if mx >= 0 && my >= 0 && mx < n && my < n && mods[my*n+mx] {
						sum += 0
					} else {
						sum += 1
					}
				}
			}
			if in == 0 {
				continue
			}
			// Paper/screen: white 225, black 35; mixed with what is
			// behind at the sheet's edge.
			val := 35 + 190*sum/float64(in)
			f := float64(in) / (ss * ss)
			s.pix[y*s.w+x] = f*val + (1-f)*s.pix[y*s.w+x]
		}
	}
}

func (s *scene) finish(p Params, r *rand.Rand) ([]byte, error) {
	pix := s.pix
	if p.Blur > 0.05 {
		pix = gaussian(pix, s.w, s.h, p.Blur)
	}
	// Uneven light: a linear fall-off across the picture.
	ang := r.Float64() * 2 * math.Pi
	gx, gy := math.Cos(ang), math.Sin(ang)
	amount := 0.25 * r.Float64()
	img := image.NewGray(image.Rect(0, 0, s.w, s.h))
	for y := range s.h {
		for x := range s.w {
			t := (gx*(float64(x)/float64(s.w)-0.5) + gy*(float64(y)/float64(s.h)-0.5))
			v := pix[y*s.w+x]*(1-amount*t) + r.NormFloat64()*p.Noise
			img.Pix[y*s.w+x] = uint8(math.Round(min(max(v, 0), 255)))
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: p.JPEG}); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func gaussian(src []float64, w, h int, sigma float64) []float64 {
	rad := int(math.Ceil(3 * sigma))
	k := make([]float64, 2*rad+1)
	sum := 0.0
	for i := range k {
		d := float64(i - rad)
		k[i] = math.Exp(-d * d / (2 * sigma * sigma))
		sum += k[i]
	}
	for i := range k {
		k[i] /= sum
	}
	tmp := make([]float64, len(src))
	out := make([]float64, len(src))
	for y := range h {
		for x := range w {
			v := 0.0
			for i, kv := range k {
				xx := min(max(x+i-rad, 0), w-1)
				v += kv * src[y*w+xx]
			}
			tmp[y*w+x] = v
		}
	}
	for y := range h {
		for x := range w {
			v := 0.0
			for i, kv := range k {
				yy := min(max(y+i-rad, 0), h-1)
				v += kv * tmp[yy*w+x]
			}
			out[y*w+x] = v
		}
	}
	return out
}
