package qr

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"io"

	"github.com/airlock-offline/airlock/internal/armor"
	"github.com/makiuchi-d/gozxing"
	multiqr "github.com/makiuchi-d/gozxing/multi/qrcode"
	zxqr "github.com/makiuchi-d/gozxing/qrcode"
)

// Limits on the images DecodeImage reads.
const (
	// MaxImageBytes is the largest image file DecodeImage reads.
	MaxImageBytes = 20 << 20
	// MaxImageSide is the largest width or height DecodeImage accepts.
	MaxImageSide = 8000
)

// Errors from DecodeImage. Every error it returns matches one of them with
// errors.Is.
var (
	// ErrNotFound means the image was read but no QR code was decoded.
	ErrNotFound = errors.New("qr: no readable QR code in the image")
	// ErrImageFormat means the input is not a PNG or JPEG image.
	ErrImageFormat = errors.New("qr: not a PNG or JPEG image")
	// ErrImageTooLarge means the file or its dimensions exceed
	// MaxImageBytes or MaxImageSide.
	ErrImageTooLarge = errors.New("qr: image too large")
	// ErrBadImage means the image is a PNG or JPEG that cannot be decoded.
	ErrBadImage = errors.New("qr: damaged image")
)

var (
	pngMagic  = []byte("\x89PNG\r\n\x1a\n")
	jpegMagic = []byte{0xff, 0xd8, 0xff}
)

// DecodeImage reads a PNG or JPEG (told apart by content, not by name) and
// returns the text of every QR code found in it, at least one. It reads
// clean renderings and photos of a screen (scaled, slightly rotated,
// blurred, noisy, in mild perspective), with light or dark modules.
//
// The input is limited to MaxImageBytes and MaxImageSide pixels a side,
// checked before the image is decoded. Errors match ErrNotFound,
// ErrImageFormat, ErrImageTooLarge or ErrBadImage.
func DecodeImage(r io.Reader) ([]string, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxImageBytes+1))
	if err != nil {
		return nil, fmt.Errorf("qr: cannot read the image: %w", err)
	}
	if len(data) > MaxImageBytes {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrImageTooLarge, MaxImageBytes)
	}
	g, err := readGray(data)
	if err != nil {
		return nil, err
	}
	texts := decodeAll(g)
	if len(texts) == 0 {
		return nil, ErrNotFound
	}
	return texts, nil
}

// decodeAll reads every code in g. While what it has read are parts of a
// message with parts missing, it blanks the codes found and looks again:
// gozxing's multiple-code reader misses codes that a second look finds.
func decodeAll(g *gray) []string {
	res, scale, _ := decodeScaled(g, false)
	var texts []string
	seen := map[string]bool{}
	var quads [][4][2]float64
	add := func(res []*gozxing.Result, scale float64) int {
		n := 0
		for _, r := range res {
			t := r.GetText()
			if seen[t] {
				continue
			}
			seen[t] = true
			texts = append(texts, t)
			n++
			if q, ok := quad(r, scale); ok {
				quads = append(quads, q)
			}
		}
		return n
	}
	add(res, scale)
	for range 2 * armor.MaxParts {
		if len(texts) == 0 || complete(texts) {
			break
		}
		m := g
		if len(quads) > 0 {
			m = g.clone()
			for _, q := range quads {
				m.fillQuad(q)
			}
		}
		// A perfect rendering of several codes is read as one (the
		// PURE_BARCODE path sees them as one): skip it on a second look.
		res, scale, _ := decodeScaled(m, true)
		if add(res, scale) == 0 {
			break
		}
	}
	return texts
}

// complete reports whether texts hold a whole message or every part of
// the message of the first part among them; text that is not airlock's
// counts as complete (there is no telling what else to look for).
func complete(texts []string) bool {
	var kind armor.Kind
	var total int
	var id string
	have := map[int]bool{}
	for _, t := range texts {
		k, i, n, pid, ok := armor.PartOf(t)
		if !ok {
			continue
		}
		if total == 0 {
			kind, total, id = k, n, pid
		}
		if k == kind && n == total && pid == id {
			have[i] = true
		}
	}
	return total == 0 || len(have) == total
}

// quad returns the corners of a detected code, in the original image's
// pixels, with its quiet zone: the three finder pattern centres are 3.5
// modules in from the corners, the fourth corner completes the
// parallelogram, and the quiet zone adds 4 modules more.
func quad(r *gozxing.Result, scale float64) ([4][2]float64, bool) {
	pts := r.GetResultPoints()
	if len(pts) < 3 {
		return [4][2]float64{}, false
	}
	// ZXing's order: bottom left, top left, top right.
	bl := [2]float64{pts[0].GetX() * scale, pts[0].GetY() * scale}
	tl := [2]float64{pts[1].GetX() * scale, pts[1].GetY() * scale}
	tr := [2]float64{pts[2].GetX() * scale, pts[2].GetY() * scale}
	dim := 21.0
	if v, err := Version(r.GetText(), LevelM); err == nil {
		dim = float64(17 + 4*v)
	}
	// Unit vectors along the code's sides, in modules.
	ux := [2]float64{(tr[0] - tl[0]) / (dim - 7), (tr[1] - tl[1]) / (dim - 7)}
	uy := [2]float64{(bl[0] - tl[0]) / (dim - 7), (bl[1] - tl[1]) / (dim - 7)}
	const out = 3.5 + 4 // finder centre to the outer edge of the quiet zone
	at := func(ax, ay float64) [2]float64 {
		return [2]float64{tl[0] + ax*ux[0] + ay*uy[0], tl[1] + ax*ux[1] + ay*uy[1]}
	}
	far := dim - 7 + out
	return [4][2]float64{at(-out, -out), at(far, -out), at(far, far), at(-out, far)}, true
}

func (g *gray) clone() *gray {
	return &gray{w: g.w, h: g.h, pix: append([]byte(nil), g.pix...)}
}

// fillQuad paints the convex quadrilateral q white.
func (g *gray) fillQuad(q [4][2]float64) {
	minY, maxY := q[0][1], q[0][1]
	for _, p := range q {
		minY, maxY = min(minY, p[1]), max(maxY, p[1])
	}
	for y := max(int(minY), 0); y <= min(int(maxY), g.h-1); y++ {
		fy := float64(y) + 0.5
		lo, hi := float64(g.w), -1.0
		for i := range 4 {
			a, b := q[i], q[(i+1)%4]
			if (a[1] <= fy) == (b[1] <= fy) {
				continue
			}
			x := a[0] + (fy-a[1])*(b[0]-a[0])/(b[1]-a[1])
			lo, hi = min(lo, x), max(hi, x)
		}
		for x := max(int(lo), 0); x <= min(int(hi), g.w-1); x++ {
			g.pix[y*g.w+x] = 255
		}
	}
}

// readGray sniffs, bounds and decodes an image into luminance.
func readGray(data []byte) (g *gray, err error) {
	var (
		config func(io.Reader) (image.Config, error)
		decode func(io.Reader) (image.Image, error)
	)
	switch {
	case bytes.HasPrefix(data, pngMagic):
		config, decode = png.DecodeConfig, png.Decode
	case bytes.HasPrefix(data, jpegMagic):
		config, decode = jpeg.DecodeConfig, jpeg.Decode
	default:
		return nil, ErrImageFormat
	}
	defer func() {
		if r := recover(); r != nil {
			g, err = nil, fmt.Errorf("%w: decoder failed", ErrBadImage)
		}
	}()
	cfg, err := config(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadImage, err)
	}
	if cfg.Width > MaxImageSide || cfg.Height > MaxImageSide {
		return nil, fmt.Errorf("%w: %dx%d pixels, the limit is %dx%d", ErrImageTooLarge, cfg.Width, cfg.Height, MaxImageSide, MaxImageSide)
	}
	if cfg.Width < 1 || cfg.Height < 1 {
		return nil, fmt.Errorf("%w: empty image", ErrBadImage)
	}
	img, err := decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadImage, err)
	}
	return toGray(img), nil
}

// gray is an 8-bit luminance image, row-major, no padding.
type gray struct {
	w, h int
	pix  []byte
}

// toGray converts img to luminance, compositing transparency over white.
func toGray(img image.Image) *gray {
	b := img.Bounds()
	g := &gray{w: b.Dx(), h: b.Dy(), pix: make([]byte, b.Dx()*b.Dy())}
	switch m := img.(type) {
	case *image.Gray:
		for y := range g.h {
			copy(g.pix[y*g.w:(y+1)*g.w], m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):])
		}
	case *image.YCbCr:
		for y := range g.h {
			copy(g.pix[y*g.w:(y+1)*g.w], m.Y[m.YOffset(b.Min.X, b.Min.Y+y):])
		}
	case *image.RGBA:
		for y := range g.h {
			row := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):]
			for x := range g.w {
				p := row[4*x : 4*x+4]
				// Premultiplied: composite over white.
				l := (int(p[0]) + 2*int(p[1]) + int(p[2])) / 4
				g.pix[y*g.w+x] = byte(min(l+255-int(p[3]), 255))
			}
		}
	case *image.NRGBA:
		for y := range g.h {
			row := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):]
			for x := range g.w {
				p := row[4*x : 4*x+4]
				l := (int(p[0]) + 2*int(p[1]) + int(p[2])) / 4
				a := int(p[3])
				g.pix[y*g.w+x] = byte((l*a + 255*(255-a)) / 255)
			}
		}
	default:
		var lut []byte
		if p, ok := img.(*image.Paletted); ok {
			lut = make([]byte, 256)
			for i, c := range p.Palette {
				lut[i] = luma(c.RGBA())
			}
			for y := range g.h {
				row := p.Pix[p.PixOffset(b.Min.X, b.Min.Y+y):]
				for x := range g.w {
					g.pix[y*g.w+x] = lut[row[x]]
				}
			}
			break
		}
		for y := range g.h {
			for x := range g.w {
				g.pix[y*g.w+x] = luma(img.At(b.Min.X+x, b.Min.Y+y).RGBA())
			}
		}
	}
	return g
}

// luma is gozxing's luminance, over white for transparent pixels.
func luma(r, g, b, a uint32) byte {
	l := (r + 2*g + b) / 4           // 0..0xffff, premultiplied
	l += 0xffff - a                  // composite over white
	return byte(min(l, 0xffff) >> 8) // 0..255
}

// Work bounds: every strategy (decodeFull) runs on images of at most
// fullSide pixels a side; a larger photo is reduced to at most shrinkSide
// for them, and then decodeOne alone runs on at most two larger reductions,
// none over quickSide. A failed decode of the largest image allowed takes
// about a second on one core.
const (
	fullSide   = 1600
	shrinkSide = 1200
	quickSide  = 2400
	// originalSide is the largest photo also tried at full resolution.
	originalSide = 4096
)

// decodeGray runs the decoding strategies from the cheapest to the most
// forgiving and returns the results of the first that finds anything, and
// its name (for tests).
func decodeGray(g *gray) ([]*gozxing.Result, string) {
	res, _, how := decodeScaled(g, false)
	return res, how
}

// decodeScaled is decodeGray that also returns the scale of the image the
// results were found in (original pixels per pixel of it), and can skip
// the PURE_BARCODE path.
func decodeScaled(g *gray, skipPure bool) ([]*gozxing.Result, float64, string) {
	side := max(g.w, g.h)
	if side <= fullSide {
		res, sc, how := decodeFull(g, "", skipPure)
		return res, sc, how
	}
	f := (side + shrinkSide - 1) / shrinkSide
	small := g.shrink(f)
	if !small.mayHoldCode() {
		// Nothing like a finder pattern, even at the scale where a small
		// code's modules are a few pixels: no code. A photo without one
		// is turned down here, in a fraction of the time the strategies
		// below take to fail.
		fq := (side + quickSide - 1) / quickSide
		mid := g
		if fq > 1 {
			mid = g.shrink(fq)
		}
		if !mid.mayHoldCode() {
			return nil, 0, ""
		}
	}
	if res, sc, how := decodeFull(small, fmt.Sprintf("shrunk 1/%d, ", f), skipPure); len(res) > 0 {
		return res, sc * float64(f), how
	}
	// A small code in a large photo may need more pixels than that, and
	// box shrinking can alias module edges at one factor and not at
	// another: try the next factor down, and the one for quickSide.
	tried := map[int]bool{f: true}
	for _, f := range []int{f - 1, (side + quickSide - 1) / quickSide} {
		if f < 1 || tried[f] {
			continue
		}
		tried[f] = true
		img, name := g, "original"
		if f > 1 {
			img, name = g.shrink(f), fmt.Sprintf("shrunk 1/%d", f)
		}
		if res, how := decodeOne(img, skipPure); len(res) > 0 {
			return res, float64(f), name + ", " + how
		}
	}
	// Last, a small code in a phone-sized photo (up to 4096 pixels a
	// side) at full resolution: every shrink costs it its module edges.
	if side <= originalSide {
		if res, how := decodeOne(g, skipPure); len(res) > 0 {
			return res, 1, "original, " + how
		}
	}
	return nil, 0, ""
}

// decodeFull tries the image as it is, enlarged if small, smoothed,
// thresholded locally, and inverted.
func decodeFull(g *gray, prefix string, skipPure bool) ([]*gozxing.Result, float64, string) {
	type variant struct {
		name  string
		img   func() *gray
		scale float64
	}
	variants := []variant{{"original", func() *gray { return g }, 1}}
	side := max(g.w, g.h)
	if side < 1000 {
		// Small modules: interpolation gives the binarizer more to work
		// with; smoothing first takes out sensor and JPEG noise.
		variants = append(variants,
			variant{"enlarged 2x", g.grow2, 0.5},
			variant{"smoothed, enlarged 2x", func() *gray { return g.smooth().grow2() }, 0.5})
	} else {
		variants = append(variants, variant{"smoothed", g.smooth, 1})
	}
	variants = append(variants,
		variant{"local mean threshold", func() *gray { return g.meanThreshold(max(8, side/64), 4) }, 1},
		variant{"inverted", g.inverted, 1})
	for _, v := range variants {
		if res, how := decodeOne(v.img(), skipPure); len(res) > 0 {
			return res, v.scale, prefix + v.name + ", " + how
		}
	}
	return nil, 0, ""
}

// decodeOne tries one luminance image: as a pure rendering, then by
// detection (several codes, then one, then sampled through every
// alignment pattern, see refined), with two binarizers, then with a
// global Otsu threshold.
func decodeOne(g *gray, skipPure bool) ([]*gozxing.Result, string) {
	if !skipPure {
		if r := single(g, false, pureHints); r != nil {
			return []*gozxing.Result{r}, "pure"
		}
	}
	if res := multiple(g, false); len(res) > 0 {
		return res, "multi"
	}
	if r := refined(g, false); r != nil {
		return []*gozxing.Result{r}, "refined grid"
	}
	if r := single(g, false, hardHints); r != nil {
		return []*gozxing.Result{r}, "hybrid"
	}
	if r := single(g, true, hardHints); r != nil {
		return []*gozxing.Result{r}, "global"
	}
	if r := refined(g, true); r != nil {
		return []*gozxing.Result{r}, "global, refined grid"
	}
	t := g.otsu()
	if !skipPure {
		if r := single(t, true, pureHints); r != nil {
			return []*gozxing.Result{r}, "otsu pure"
		}
	}
	if r := single(t, true, hardHints); r != nil {
		return []*gozxing.Result{r}, "otsu"
	}
	return nil, ""
}

var (
	pureHints = map[gozxing.DecodeHintType]interface{}{gozxing.DecodeHintType_PURE_BARCODE: true}
	hardHints = map[gozxing.DecodeHintType]interface{}{gozxing.DecodeHintType_TRY_HARDER: true}
)

func (g *gray) bitmap(global bool) (*gozxing.BinaryBitmap, error) {
	src, err := gozxing.NewPlanarYUVLuminanceSource(g.pix, g.w, g.h, 0, 0, g.w, g.h, false)
	if err != nil {
		return nil, err
	}
	if global {
		return gozxing.NewBinaryBitmap(gozxing.NewGlobalHistgramBinarizer(src))
	}
	return gozxing.NewBinaryBitmap(gozxing.NewHybridBinarizer(src))
}

// single decodes one code; a failure or a panic inside gozxing gives nil.
func single(g *gray, global bool, hints map[gozxing.DecodeHintType]interface{}) (res *gozxing.Result) {
	defer func() {
		if recover() != nil {
			res = nil
		}
	}()
	bm, err := g.bitmap(global)
	if err != nil {
		return nil
	}
	r, err := zxqr.NewQRCodeReader().Decode(bm, hints)
	if err != nil || r == nil || r.GetText() == "" {
		return nil
	}
	return r
}

// multiple decodes every code it detects, without duplicates.
func multiple(g *gray, global bool) (out []*gozxing.Result) {
	defer func() {
		if recover() != nil {
			out = nil
		}
	}()
	bm, err := g.bitmap(global)
	if err != nil {
		return nil
	}
	res, _ := multiqr.NewQRCodeMultiReader().DecodeMultiple(bm, hardHints)
	seen := map[string]bool{}
	for _, r := range res {
		if r == nil || r.GetText() == "" || seen[r.GetText()] {
			continue
		}
		seen[r.GetText()] = true
		out = append(out, r)
	}
	return out
}

// shrink averages f×f blocks.
func (g *gray) shrink(f int) *gray {
	w, h := g.w/f, g.h/f
	s := &gray{w: w, h: h, pix: make([]byte, w*h)}
	for y := range h {
		for x := range w {
			sum := 0
			for dy := range f {
				row := g.pix[(y*f+dy)*g.w+x*f:]
				for dx := range f {
					sum += int(row[dx])
				}
			}
			s.pix[y*w+x] = byte(sum / (f * f))
		}
	}
	return s
}

// grow2 doubles the size with bilinear interpolation.
func (g *gray) grow2() *gray {
	w, h := 2*g.w, 2*g.h
	s := &gray{w: w, h: h, pix: make([]byte, w*h)}
	at := func(x, y int) int {
		x = min(max(x, 0), g.w-1)
		y = min(max(y, 0), g.h-1)
		return int(g.pix[y*g.w+x])
	}
	for y := range h {
		// Source coordinate of the pixel centre, in quarters.
		sy := 2*y - 1 // (y+0.5)/2-0.5 = (2y-1)/4
		y0, fy := floorDiv(sy, 4), mod(sy, 4)
		for x := range w {
			sx := 2*x - 1
			x0, fx := floorDiv(sx, 4), mod(sx, 4)
			top := at(x0, y0)*(4-fx) + at(x0+1, y0)*fx
			bot := at(x0, y0+1)*(4-fx) + at(x0+1, y0+1)*fx
			s.pix[y*w+x] = byte((top*(4-fy) + bot*fy + 8) / 16)
		}
	}
	return s
}

func floorDiv(a, b int) int {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

func mod(a, b int) int { return a - floorDiv(a, b)*b }

func (g *gray) inverted() *gray {
	s := &gray{w: g.w, h: g.h, pix: make([]byte, len(g.pix))}
	for i, v := range g.pix {
		s.pix[i] = 255 - v
	}
	return s
}

// otsu thresholds the whole image at Otsu's level.
func (g *gray) otsu() *gray {
	var hist [256]int
	for _, v := range g.pix {
		hist[v]++
	}
	total := len(g.pix)
	sum := 0
	for i, n := range hist {
		sum += i * n
	}
	var sumB, wB int
	best, level := -1.0, 128
	for t := range 256 {
		wB += hist[t]
		if wB == 0 {
			continue
		}
		wF := total - wB
		if wF == 0 {
			break
		}
		sumB += t * hist[t]
		mB := float64(sumB) / float64(wB)
		mF := float64(sum-sumB) / float64(wF)
		between := float64(wB) * float64(wF) * (mB - mF) * (mB - mF)
		if between > best {
			best, level = between, t
		}
	}
	s := &gray{w: g.w, h: g.h, pix: make([]byte, len(g.pix))}
	for i, v := range g.pix {
		if int(v) > level {
			s.pix[i] = 255
		}
	}
	return s
}

// smooth is a 3×3 box filter: it takes out noise before binarizing.
func (g *gray) smooth() *gray {
	w, h := g.w, g.h
	s := &gray{w: w, h: h, pix: make([]byte, w*h)}
	for y := range h {
		for x := range w {
			sum, n := 0, 0
			for yy := max(y-1, 0); yy <= min(y+1, h-1); yy++ {
				for xx := max(x-1, 0); xx <= min(x+1, w-1); xx++ {
					sum += int(g.pix[yy*w+xx])
					n++
				}
			}
			s.pix[y*w+x] = byte(sum / n)
		}
	}
	return s
}

// meanThreshold binarizes each pixel against the mean of the square of
// radius r around it, less c: a local threshold that follows uneven
// lighting with a window larger than the hybrid binarizer's.
func (g *gray) meanThreshold(r, c int) *gray {
	w, h := g.w, g.h
	ii := make([]int, (w+1)*(h+1)) // integral image
	for y := range h {
		row := 0
		for x := range w {
			row += int(g.pix[y*w+x])
			ii[(y+1)*(w+1)+x+1] = ii[y*(w+1)+x+1] + row
		}
	}
	s := &gray{w: w, h: h, pix: make([]byte, w*h)}
	for y := range h {
		y0, y1 := max(y-r, 0), min(y+r+1, h)
		for x := range w {
			x0, x1 := max(x-r, 0), min(x+r+1, w)
			sum := ii[y1*(w+1)+x1] - ii[y0*(w+1)+x1] - ii[y1*(w+1)+x0] + ii[y0*(w+1)+x0]
			n := (x1 - x0) * (y1 - y0)
			if int(g.pix[y*w+x])*n > sum-c*n {
				s.pix[y*w+x] = 255
			}
		}
	}
	return s
}
