package qr

import (
	"math"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/common"
	"github.com/makiuchi-d/gozxing/qrcode/decoder"
	"github.com/makiuchi-d/gozxing/qrcode/detector"
)

// Grid sampling through every alignment pattern.
//
// gozxing (like ZXing) maps the whole code with one perspective transform
// fixed by the three finder patterns and one alignment pattern. A photo
// of a large code (version 10 and up) is rarely one plane seen through a
// perfect lens: the modules drift off that grid in the middle, and the
// code fails its checksums although every module is sharp. zbar instead
// locates every alignment pattern the version has and maps each cell
// between four of them on its own. refined does the same on top of
// gozxing's finder pattern search and its decoder.

// refined finds the finder patterns in g, then every alignment pattern, and
// decodes the grid sampled cell by cell. Any failure (or panic inside
// gozxing) gives nil.
func refined(g *gray, global bool) (res *gozxing.Result) {
	defer func() {
		if recover() != nil {
			res = nil
		}
	}()
	bm, err := g.bitmap(global)
	if err != nil {
		return nil
	}
	img, err := bm.GetBlackMatrix()
	if err != nil {
		return nil
	}
	info, err := detector.NewFinderPatternFinder(img, nil).Find(hardHints)
	if err != nil {
		return nil
	}
	tl, tr, bl := info.GetTopLeft(), info.GetTopRight(), info.GetBottomLeft()
	ms := (tl.GetEstimatedModuleSize() + tr.GetEstimatedModuleSize() + bl.GetEstimatedModuleSize()) / 3
	if ms < 1 {
		return nil
	}
	d1 := math.Round(dist(tl, tr) / ms)
	d2 := math.Round(dist(tl, bl) / ms)
	dim := int(d1+d2)/2 + 7
	switch dim % 4 {
	case 0:
		dim++
	case 2:
		dim--
	case 3:
		dim -= 2
	}
	// The estimate may be off by a version either way.
	for _, d := range []int{dim, dim + 4, dim - 4} {
		if r := sampleRefined(img, tl, tr, bl, ms, d); r != nil {
			return r
		}
	}
	return nil
}

func dist(a, b gozxing.ResultPoint) float64 { return math.Hypot(a.GetX()-b.GetX(), a.GetY()-b.GetY()) }

type pt struct{ x, y float64 }

func sampleRefined(img *gozxing.BitMatrix, tl, tr, bl gozxing.ResultPoint, ms float64, dim int) *gozxing.Result {
	ver, err := decoder.Version_GetProvisionalVersionForDimension(dim)
	if err != nil || ver.GetVersionNumber() < 2 {
		return nil
	}
	centers := ver.GetAlignmentPatternCenters()
	n := len(centers)
	// The transform from the finder patterns and the parallelogram's
	// fourth corner: the first guess of every alignment pattern.
	last := float64(dim) - 3.5
	t0 := common.PerspectiveTransform_QuadrilateralToQuadrilateral(
		3.5, 3.5, last, 3.5, last, last, 3.5, last,
		tl.GetX(), tl.GetY(), tr.GetX(), tr.GetY(),
		tr.GetX()-tl.GetX()+bl.GetX(), tr.GetY()-tl.GetY()+bl.GetY(), bl.GetX(), bl.GetY())
	apply := func(t *common.PerspectiveTransform, x, y float64) pt {
		p := []float64{x, y}
		t.TransformPoints(p)
		return pt{p[0], p[1]}
	}
	// Grid points: the alignment pattern centres (module c + 0.5), found
	// one by one, each guessed from t0 corrected by the drift of its
	// neighbours already found.
	grid := make([][]pt, n)
	drift := make([][]pt, n)
	found := make([][]bool, n)
	for i := range n {
		grid[i], drift[i], found[i] = make([]pt, n), make([]pt, n), make([]bool, n)
	}
	for j := range n { // row
		for i := range n { // column
			x, y := float64(centers[i])+0.5, float64(centers[j])+0.5
			guess := apply(t0, x, y)
			var dx, dy float64
			k := 0
			for _, nb := range [][2]int{{i - 1, j}, {i, j - 1}, {i - 1, j - 1}, {i + 1, j - 1}} {
				if nb[0] >= 0 && nb[1] >= 0 && nb[0] < n && found[nb[0]][nb[1]] {
					dx += drift[nb[0]][nb[1]].x
					dy += drift[nb[0]][nb[1]].y
					k++
				}
			}
			if k > 0 {
				guess.x += dx / float64(k)
				guess.y += dy / float64(k)
			}
			grid[i][j] = guess
			corner := (i == 0 && j == 0) || (i == 0 && j == n-1) || (i == n-1 && j == 0)
			if corner {
				// Under a finder pattern: no alignment pattern. The
				// finder patterns anchor t0 there.
				grid[i][j] = apply(t0, x, y)
				found[i][j] = true
				continue
			}
			if p, ok := findAlignment(img, guess, ms); ok {
				grid[i][j] = p
				drift[i][j] = pt{p.x - apply(t0, x, y).x, p.y - apply(t0, x, y).y}
				found[i][j] = true
			}
		}
	}
	// Sample every module through the cell of the alignment grid it lies
	// in (the outer cells extended to the edges).
	bits, err := gozxing.NewSquareBitMatrix(dim)
	if err != nil {
		return nil
	}
	cell := func(v int) int { // index of the grid cell holding module v
		for c := 1; c < n-1; c++ {
			if v < centers[c] {
				return c - 1
			}
		}
		return n - 2
	}
	var ts = make(map[[2]int]*common.PerspectiveTransform)
	for y := range dim {
		cj := cell(y)
		for x := range dim {
			ci := cell(x)
			t := ts[[2]int{ci, cj}]
			if t == nil {
				x0, x1 := float64(centers[ci])+0.5, float64(centers[ci+1])+0.5
				y0, y1 := float64(centers[cj])+0.5, float64(centers[cj+1])+0.5
				a, b, c, d := grid[ci][cj], grid[ci+1][cj], grid[ci+1][cj+1], grid[ci][cj+1]
				t = common.PerspectiveTransform_QuadrilateralToQuadrilateral(
					x0, y0, x1, y0, x1, y1, x0, y1,
					a.x, a.y, b.x, b.y, c.x, c.y, d.x, d.y)
				ts[[2]int{ci, cj}] = t
			}
			p := apply(t, float64(x)+0.5, float64(y)+0.5)
			px, py := int(p.x), int(p.y)
			if px < 0 || py < 0 || px >= img.GetWidth() || py >= img.GetHeight() {
				return nil
			}
			if img.Get(px, py) {
				bits.Set(x, y)
			}
		}
	}
	dr, err := decoder.NewDecoder().Decode(bits, hardHints)
	if err != nil || dr.GetText() == "" {
		return nil
	}
	return gozxing.NewResult(dr.GetText(), dr.GetRawBytes(), []gozxing.ResultPoint{bl, tl, tr}, gozxing.BarcodeFormat_QR_CODE)
}

// findAlignment looks for an alignment pattern within 4 modules of guess
// and returns the one nearest to it.
func findAlignment(img *gozxing.BitMatrix, guess pt, ms float64) (pt, bool) {
	r := int(4 * ms)
	x0, y0 := max(int(guess.x)-r, 0), max(int(guess.y)-r, 0)
	x1, y1 := min(int(guess.x)+r, img.GetWidth()-1), min(int(guess.y)+r, img.GetHeight()-1)
	if float64(x1-x0) < 3*ms || float64(y1-y0) < 3*ms {
		return pt{}, false
	}
	ap, err := detector.NewAlignmentPatternFinder(img, x0, y0, x1-x0, y1-y0, ms, nil).Find()
	if err != nil || ap == nil {
		return pt{}, false
	}
	p := pt{ap.GetX(), ap.GetY()}
	if math.Hypot(p.x-guess.x, p.y-guess.y) > 3*ms {
		return pt{}, false
	}
	return p, true
}
