package qr

// A quick look for finder patterns, so that a large photo without a QR
// code is turned down in a fraction of the time the decoding strategies
// take to fail.

// mayHoldCode reports whether g shows three places of a similar size, at
// the corners of a right isosceles triangle, that look like the middle of
// a finder pattern: five runs of alternating shade in the proportions
// 1:1:3:1:1 and of clear contrast along a row, confirmed along the column
// through their centre, in either polarity. The pixels are compared with
// the mean of a window around them (uneven light), and the tolerances are
// looser than gozxing's own, so that every code gozxing can find passes.
func (g *gray) mayHoldCode() bool {
	b := g.binary(max(8, max(g.w, g.h)/48))
	type hit struct{ x, y, size, n int }
	var hits []hit // one a place: hits close together are merged
	runs := make([]int, 0, 64)
	for y := 0; y < g.h; y += 2 {
		row := b[y*g.w : (y+1)*g.w]
		runs = runs[:0]
		start := 0
		for x := 1; x <= g.w; x++ {
			if x == g.w || row[x] != row[start] {
				runs = append(runs, x-start)
				start = x
			}
		}
		x := 0
		for i := 0; i+5 <= len(runs); i++ {
			if ratio(runs[i:i+5]) && contrast(g.pix[y*g.w+x:], runs[i:i+5]) {
				cx := x + runs[i] + runs[i+1] + runs[i+2]/2
				total := runs[i] + runs[i+1] + runs[i+2] + runs[i+3] + runs[i+4]
				if g.vertical(b, cx, y, total) {
					merged := false
					for k := range hits {
						h := &hits[k]
						if abs(h.x-cx) < h.size/2 && abs(h.y-y) < h.size/2+2 {
							h.n++
							merged = true
							break
						}
					}
					if !merged && len(hits) < 1000 {
						hits = append(hits, hit{cx, y, total, 1})
					}
				}
			}
			x += runs[i]
		}
	}
	// Three places of similar size, each seen on two rows or more, at
	// the corners of a right isosceles triangle (within what tilt and
	// perspective do to one): the finder patterns of a code.
	var c []hit
	for _, h := range hits {
		if h.n >= 2 && h.size >= 9 {
			c = append(c, h)
		}
	}
	if len(c) > 200 {
		c = c[:200]
	}
	d2 := func(a, b hit) float64 {
		dx, dy := float64(a.x-b.x), float64(a.y-b.y)
		return dx*dx + dy*dy
	}
	for i := range c {
		for j := range c {
			if j == i || !similar(c[i].size, c[j].size) || d2(c[i], c[j]) < float64(4*c[i].size*c[i].size) {
				continue
			}
			for k := j + 1; k < len(c); k++ {
				if k == i || !similar(c[i].size, c[k].size) {
					continue
				}
				// c[i] is the corner: its two sides about as long, the
				// hypotenuse about √2 times a side.
				a, b, h := d2(c[i], c[j]), d2(c[i], c[k]), d2(c[j], c[k])
				if b < 0.5*a || b > 2*a || h < 1.3*(a+b)/2 || h > 2.8*(a+b)/2 {
					continue
				}
				return true
			}
		}
	}
	return false
}

func abs(a int) int { return max(a, -a) }

// similar reports whether two finder pattern sizes are within a factor of
// 1.5 (a tilted photo shrinks the far ones).
func similar(a, b int) bool { return 2*a <= 3*b && 2*b <= 3*a }

// contrast reports whether the pixels of the five runs starting at row[0]
// alternate by at least 2·gateContrast on average: a printed or displayed
// pattern, not noise around the local mean.
func contrast(row []byte, runs []int) bool {
	var sum [2]int
	var n [2]int
	x := 0
	for i, r := range runs {
		for _, v := range row[x : x+r] {
			sum[i%2] += int(v)
		}
		n[i%2] += r
		x += r
	}
	d := sum[0]*n[1] - sum[1]*n[0] // (mean0 - mean1)·n0·n1
	return abs(d) >= 2*gateContrast*n[0]*n[1]
}

// ratio reports whether five runs are near 1:1:3:1:1.
func ratio(r []int) bool {
	total := r[0] + r[1] + r[2] + r[3] + r[4]
	if total < 7 {
		return false
	}
	m := float64(total) / 7
	v := 0.75 * m
	for _, i := range []int{0, 1, 3, 4} {
		if d := float64(r[i]) - m; d > v || d < -v {
			return false
		}
	}
	d := float64(r[2]) - 3*m
	return d <= 3*v && d >= -3*v
}

// vertical checks the column through (x, y) for the same pattern, of a
// similar size.
func (g *gray) vertical(b []bool, x, y, total int) bool {
	c := b[y*g.w+x]
	// Walk up and down through the centre run, then two runs each way.
	var r [5]int
	yy := y
	for yy >= 0 && b[yy*g.w+x] == c {
		r[2]++
		yy--
	}
	for k, want := 1, !c; k <= 2; k, want = k+1, !want {
		for yy >= 0 && b[yy*g.w+x] == want {
			r[2-k]++
			yy--
		}
	}
	yy = y + 1
	for yy < g.h && b[yy*g.w+x] == c {
		r[2]++
		yy++
	}
	for k, want := 1, !c; k <= 2; k, want = k+1, !want {
		for yy < g.h && b[yy*g.w+x] == want {
			r[2+k]++
			yy++
		}
	}
	vt := r[0] + r[1] + r[2] + r[3] + r[4]
	return ratio(r[:]) && similar(vt, total)
}

// gateContrast is how much darker than its surroundings a pixel must be to
// count as dark in binary: noise in a flat area is well below it, a finder
// pattern on any readable photo well above.
const gateContrast = 12

// binary thresholds g against the mean of the square of radius r around
// each pixel: true for dark.
func (g *gray) binary(r int) []bool {
	w, h := g.w, g.h
	ii := make([]int32, (w+1)*(h+1))
	for y := range h {
		var row int32
		for x := range w {
			row += int32(g.pix[y*w+x])
			ii[(y+1)*(w+1)+x+1] = ii[y*(w+1)+x+1] + row
		}
	}
	out := make([]bool, w*h)
	for y := range h {
		y0, y1 := max(y-r, 0), min(y+r+1, h)
		for x := range w {
			x0, x1 := max(x-r, 0), min(x+r+1, w)
			sum := ii[y1*(w+1)+x1] - ii[y0*(w+1)+x1] - ii[y1*(w+1)+x0] + ii[y0*(w+1)+x0]
			n := int32((x1 - x0) * (y1 - y0))
			// Dark only if clearly darker than around it: flat, noisy
			// areas stay light instead of turning into random runs.
			out[y*w+x] = (int32(g.pix[y*w+x])+gateContrast)*n < sum
		}
	}
	return out
}
