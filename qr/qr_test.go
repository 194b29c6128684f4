package qr

import (
	"bytes"
	"errors"
	"fmt"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/airlock-offline/airlock/internal/armor"
	"github.com/makiuchi-d/gozxing"
	zxdecoder "github.com/makiuchi-d/gozxing/qrcode/decoder"
)

func TestLevel(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Level
	}{{"M", LevelM}, {"m", LevelM}, {" Q ", LevelQ}, {"q", LevelQ}} {
		l, err := ParseLevel(c.in)
		if err != nil || l != c.want {
			t.Errorf("ParseLevel(%q) = %v, %v; want %v", c.in, l, err, c.want)
		}
	}
	for _, bad := range []string{"", "L", "H", "MQ", "medium"} {
		if _, err := ParseLevel(bad); err == nil {
			t.Errorf("ParseLevel(%q) succeeded", bad)
		}
	}
	if LevelM.String() != "M" || LevelQ.String() != "Q" {
		t.Errorf("String: %s %s", LevelM, LevelQ)
	}
	var l Level
	if b, _ := LevelQ.MarshalText(); string(b) != "Q" || l.UnmarshalText(b) != nil || l != LevelQ {
		t.Errorf("text round trip: %q -> %v", b, l)
	}
	if _, err := Level(7).MarshalText(); err == nil {
		t.Error("Level(7).MarshalText succeeded")
	}
}

// alnumVersion is the smallest version holding text as one alphanumeric
// segment, computed from gozxing's version table: an independent check of
// the encoder's choice of mode.
func alnumVersion(t testing.TB, text string, l Level) int {
	t.Helper()
	ec := zxdecoder.ErrorCorrectionLevel_M
	if l == LevelQ {
		ec = zxdecoder.ErrorCorrectionLevel_Q
	}
	n := len(text)
	for v := 1; v <= 40; v++ {
		cc := 9
		if v >= 27 {
			cc = 13
		} else if v >= 10 {
			cc = 11
		}
		bits := 4 + cc + 11*(n/2) + 6*(n%2)
		ver, err := zxdecoder.Version_GetVersionForNumber(v)
		if err != nil {
			t.Fatal(err)
		}
		data := ver.GetTotalCodewords() - ver.GetECBlocksForLevel(ec).GetTotalECCodewords()
		if bits <= 8*data {
			return v
		}
	}
	return 0
}

// segmentModes parses the data codewords of a decoded code and returns the
// mode of each segment: "N", "A", "B", "K", "E" (ECI) and so on.
func segmentModes(t testing.TB, raw []byte, version int) []string {
	t.Helper()
	pos := 0
	read := func(n int) int {
		v := 0
		for range n {
			if pos >= 8*len(raw) {
				return -1
			}
			v = v<<1 | int(raw[pos/8]>>(7-pos%8)&1)
			pos++
		}
		return v
	}
	class := 0
	if version >= 27 {
		class = 2
	} else if version >= 10 {
		class = 1
	}
	ccBits := map[int][3]int{1: {10, 12, 14}, 2: {9, 11, 13}, 4: {8, 16, 16}, 8: {8, 10, 12}}
	var modes []string
	for {
		if 8*len(raw)-pos < 4 {
			return modes
		}
		m := read(4)
		switch m {
		case 0:
			return modes
		case 1, 2, 4, 8:
			n := read(ccBits[m][class])
			switch m {
			case 1:
				modes = append(modes, "N")
				read(10*(n/3) + []int{0, 4, 7}[n%3])
			case 2:
				modes = append(modes, "A")
				read(11*(n/2) + 6*(n%2))
			case 4:
				modes = append(modes, "B")
				read(8 * n)
			case 8:
				modes = append(modes, "K")
				read(13 * n)
			}
		default:
			t.Fatalf("unexpected mode indicator %04b", m)
		}
	}
}

// decodePNG decodes a clean PNG with gozxing and checks what the symbol
// says about itself: version (from the image size), level, alphanumeric
// mode only.
func decodePNG(t testing.TB, data []byte, c Code, ppm int) string {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if side := img.Bounds().Dx(); side != (17+4*c.Version+2*QuietZone)*ppm || img.Bounds().Dy() != side {
		t.Fatalf("image is %v, want version %d at %d px per module", img.Bounds(), c.Version, ppm)
	}
	g := toGray(img)
	r := single(g, false, pureHints)
	if r == nil {
		t.Fatalf("gozxing with PURE_BARCODE could not read a clean version %d-%s code", c.Version, c.Level)
	}
	md := r.GetResultMetadata()
	if lv := md[gozxing.ResultMetadataType_ERROR_CORRECTION_LEVEL]; lv != c.Level.String() {
		t.Errorf("decoded level %v, want %s", lv, c.Level)
	}
	if _, ok := md[gozxing.ResultMetadataType_BYTE_SEGMENTS]; ok {
		t.Error("the code has byte segments")
	}
	if m := segmentModes(t, r.GetRawBytes(), c.Version); !slices.Equal(m, []string{"A"}) {
		t.Errorf("segments %v, want one alphanumeric segment", m)
	}
	return r.GetText()
}

type sizeClass struct {
	name string
	size int // payload bytes
}

// Size classes, from a tiny message to ones that need 2 to 6 parts.
var sizeClasses = []sizeClass{
	{"tiny", 8},
	{"request", 320},
	{"license", 370},
	{"600", 600},
	{"900", 900},
	{"2parts", 1150},
	{"3parts", 1700},
	{"4parts", 2300},
	{"5parts", 2700},
	{"6parts", 3300},
}

func randomPayload(r *rand.Rand, size int) []byte {
	b := make([]byte, size)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// checkPlan asserts Plan's invariants for one message.
func checkPlan(t *testing.T, k armor.Kind, payload []byte, opt Options, codes []Code) {
	t.Helper()
	limit, grow := opt.MaxVersion, opt.MaxVersion == 0
	if grow {
		limit = DefaultMaxVersion(k)
	}
	if len(codes) < 1 || len(codes) > armor.MaxParts {
		t.Fatalf("%d codes", len(codes))
	}
	for i, c := range codes {
		if c.Version != codes[0].Version {
			t.Errorf("code %d is version %d, code 1 is %d", i+1, c.Version, codes[0].Version)
		}
		if c.Level != opt.Level {
			t.Errorf("code %d level %s, want %s", i+1, c.Level, opt.Level)
		}
		if len(c.Text) > armor.MaxPartText {
			t.Errorf("code %d has %d characters", i+1, len(c.Text))
		}
	}
	// need[n-1] is the version n parts need, by an independent count.
	var need [armor.MaxParts]int
	for n := 1; n <= armor.MaxParts; n++ {
		parts, err := armor.Split(k, payload, n)
		if err != nil {
			continue
		}
		for _, p := range parts {
			if len(p) > armor.MaxPartText {
				need[n-1] = 0
				break
			}
			need[n-1] = maxInt(need[n-1], alnumVersion(t, p, opt.Level))
		}
	}
	v := codes[0].Version
	if need[len(codes)-1] != v {
		t.Errorf("planned version %d, the largest of %d parts needs %d", v, len(codes), need[len(codes)-1])
	}
	for n := 1; n < len(codes); n++ {
		if need[n-1] != 0 && need[n-1] <= limit {
			t.Errorf("%d codes planned but %d fit version %d", len(codes), n, limit)
		}
	}
	if v > limit {
		if !grow {
			t.Errorf("version %d over the cap %d", v, limit)
		}
		for n, nv := range need {
			if nv != 0 && nv < v {
				t.Errorf("version %d planned, %d parts fit version %d", v, n+1, nv)
			}
		}
	}
}

func maxInt(a, b int) int {
	if a > b {
		return a
	}
	return b
}

// message is one random message of the property test.
type message struct {
	name    string
	kind    armor.Kind
	level   Level
	payload []byte
	ppm     int   // pixels per module
	order   []int // the order in which its codes are scanned
}

// corpus returns the property test's messages: random payloads of every
// size class, for every kind at both levels, with a random scale. It is
// deterministic, so TestRoundTrip and TestExternalDecoders see the same
// images.
func corpus() []message {
	r := rand.New(rand.NewPCG(1, 2))
	var out []message
	for _, sc := range sizeClasses {
		for _, k := range []armor.Kind{armor.Request, armor.License, armor.Receipt} {
			for _, l := range []Level{LevelM, LevelQ} {
				for i := range 2 {
					size := max(sc.size+r.IntN(sc.size/8+1)-sc.size/16, 1)
					out = append(out, message{
						name: fmt.Sprintf("%s/%s/%s/%d", sc.name, k, l, i), kind: k, level: l,
						payload: randomPayload(r, size), ppm: 2 + r.IntN(3), order: r.Perm(armor.MaxParts),
					})
				}
			}
		}
	}
	return out
}

// TestRoundTrip is the property test: random payloads of every size class,
// every kind and both levels, planned, rendered to PNG, decoded by gozxing
// (and, in TestExternalDecoders, by zbar and ZXing-C++), and reassembled in
// a random order.
func TestRoundTrip(t *testing.T) {
	seen := map[string]int{} // "license/M/3" -> messages planned as 3 codes
	for _, m := range corpus() {
		t.Run(m.name, func(t *testing.T) {
			n := roundTrip(t, m)
			seen[fmt.Sprintf("%s/%s/%d", m.kind, m.level, n)]++
		})
	}
	for _, k := range []armor.Kind{armor.Request, armor.License} {
		for n := 1; n <= armor.MaxParts; n++ {
			if key := fmt.Sprintf("%s/M/%d", k, n); seen[key] == 0 {
				t.Errorf("no %s planned as %d codes at level M", k, n)
			}
		}
	}
	t.Logf("messages by kind/level/codes: %v", seen)
}

// roundTrip plans, renders, decodes and reassembles one message and returns
// the number of codes.
func roundTrip(t *testing.T, m message) int {
	t.Helper()
	opt := Options{Level: m.level, PixelsPerModule: m.ppm}
	codes, err := Plan(m.kind, m.payload, opt)
	if err != nil {
		t.Fatal(err)
	}
	checkPlan(t, m.kind, m.payload, Options{Level: m.level}, codes)
	var a armor.Assembler
	for _, i := range m.order {
		if i >= len(codes) {
			continue
		}
		c := codes[i]
		data, err := c.PNG(opt)
		if err != nil {
			t.Fatal(err)
		}
		if got := decodePNG(t, data, c, opt.PixelsPerModule); got != c.Text {
			t.Fatalf("gozxing read %q, want %q", got, c.Text)
		}
		texts, err := DecodeImage(bytes.NewReader(data))
		if err != nil || len(texts) != 1 || texts[0] != c.Text {
			t.Fatalf("DecodeImage = %q, %v", texts, err)
		}
		if _, err := a.Add([]byte(texts[0])); err != nil {
			t.Fatal(err)
		}
	}
	gk, gp, err := a.Result()
	if err != nil || gk != m.kind || !bytes.Equal(gp, m.payload) {
		t.Fatalf("reassembled %v, %d bytes, %v", gk, len(gp), err)
	}
	return len(codes)
}

func TestPlanParts(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, c := range []struct {
		k     armor.Kind
		size  int
		opt   Options
		parts int
	}{
		{armor.Request, 214, Options{}, 1},
		{armor.Request, 360, Options{}, 1},
		{armor.Request, 400, Options{}, 2},
		{armor.License, 600, Options{}, 1},
		{armor.License, 700, Options{}, 2},
		{armor.License, 1300, Options{}, 3},
		{armor.License, 2000, Options{}, 4},
		{armor.License, 400, Options{MaxVersion: 10}, 3},
		{armor.License, 400, Options{MaxVersion: 40}, 1},
		{armor.License, 400, Options{Level: LevelQ}, 1},
		{armor.Request, 1900, Options{}, 6},  // a request with a PIV attestation: 6 codes under the cap
		{armor.Request, 2400, Options{}, 6},  // grows past the default cap
		{armor.SecretKey, 100, Options{}, 1}, // one code, never parts
	} {
		p := randomPayload(r, c.size)
		codes, err := Plan(c.k, p, c.opt)
		if err != nil {
			t.Errorf("%s %d bytes %+v: %v", c.k, c.size, c.opt, err)
			continue
		}
		if len(codes) != c.parts {
			t.Errorf("%s %d bytes %+v: %d codes, want %d", c.k, c.size, c.opt, len(codes), c.parts)
		}
		t.Logf("%s %d bytes level %s cap %d: %d code(s) of version %d, %d characters each", c.k, c.size, c.opt.Level, c.opt.MaxVersion, len(codes), codes[0].Version, len(codes[0].Text))
	}
}

func TestPlanErrors(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	var se *SizeError
	_, err := Plan(armor.License, randomPayload(r, 4000), Options{})
	// 6 parts of at most 1000 characters, 9 of them the part's header:
	// 5946 base32 characters, 3716 bytes.
	if !errors.As(err, &se) || se.Bytes != 4000 || se.MaxVersion != 40 || se.Max != 3716 ||
		!strings.Contains(err.Error(), "4000 bytes is too large for QR codes: at most 3716 bytes fit in 6 codes") {
		t.Errorf("4000 bytes: %v", err)
	}
	if _, err := Plan(armor.License, randomPayload(r, se.Max), Options{}); err != nil {
		t.Errorf("%d bytes, the limit reported, do not fit: %v", se.Max, err)
	}
	_, err = Plan(armor.Request, randomPayload(r, 2400), Options{MaxVersion: 15})
	if !errors.As(err, &se) || se.MaxVersion != 15 || se.Max < 2000 || se.Max >= 2400 {
		t.Errorf("explicit cap: %v", err)
	} else if _, err := Plan(armor.Request, randomPayload(r, se.Max), Options{MaxVersion: 15}); err != nil {
		t.Errorf("%d bytes, the limit reported at version 15, do not fit: %v", se.Max, err)
	}
	_, err = Plan(armor.SecretKey, randomPayload(r, 700), Options{})
	if !errors.As(err, &se) {
		t.Errorf("secret key too large for one code: %v", err)
	}
	_, err = Plan(armor.License, randomPayload(r, armor.MaxPayload+1), Options{})
	if !errors.As(err, &se) {
		t.Errorf("over MaxPayload: %v", err)
	}
	for name, f := range map[string]func() error{
		"kind":       func() error { _, err := Plan(0, []byte{1}, Options{}); return err },
		"empty":      func() error { _, err := Plan(armor.Request, nil, Options{}); return err },
		"level":      func() error { _, err := Plan(armor.Request, []byte{1}, Options{Level: 5}); return err },
		"version 41": func() error { _, err := Plan(armor.Request, []byte{1}, Options{MaxVersion: 41}); return err },
		"version -1": func() error { _, err := Plan(armor.Request, []byte{1}, Options{MaxVersion: -1}); return err },
		"pixels":     func() error { _, err := Plan(armor.Request, []byte{1}, Options{PixelsPerModule: -1}); return err },
		"png pixels": func() error {
			_, err := (Code{Text: "AR1AE", Level: LevelM}).PNG(Options{PixelsPerModule: 41})
			return err
		},
		"png empty": func() error { _, err := (Code{}).PNG(Options{}); return err },
		"png small": func() error {
			_, err := (Code{Text: strings.Repeat("A", 100), Version: 1}).PNG(Options{})
			return err
		},
		"plan text": func() error { _, err := PlanText([]byte("AX1AAAA"), Options{}); return err },
	} {
		if f() == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestPlanText(t *testing.T) {
	p := randomPayload(rand.New(rand.NewPCG(7, 8)), 200)
	want, err := Plan(armor.Request, p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, text := range [][]byte{armor.Encode(armor.Request, p), []byte(strings.ToLower(armor.Text(armor.Request, p)) + "\r\n")} {
		got, err := PlanText(text, Options{})
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("PlanText = %v, %v", got, err)
		}
	}
}

func TestPNG(t *testing.T) {
	c := Code{Text: "AR1" + strings.Repeat("ABCDEFGH", 10), Level: LevelM}
	for _, ppm := range []int{1, 4, 8} {
		data, err := c.PNG(Options{PixelsPerModule: ppm})
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		v, _ := Version(c.Text, LevelM)
		n := 17 + 4*v + 2*QuietZone
		if img.Bounds().Dx() != n*ppm {
			t.Fatalf("%d px per module: width %d, want %d", ppm, img.Bounds().Dx(), n*ppm)
		}
		// Quiet zone white, finder pattern corner black, every module
		// a uniform ppm×ppm square of pure black or white.
		g := toGray(img)
		for y := range g.h {
			for x := range g.w {
				v := g.pix[y*g.w+x]
				if v != 0 && v != 255 {
					t.Fatalf("grey pixel %d at %d,%d", v, x, y)
				}
				if v != g.pix[(y/ppm*ppm)*g.w+x/ppm*ppm] {
					t.Fatalf("module at %d,%d is not uniform", x/ppm, y/ppm)
				}
				inQuiet := x < QuietZone*ppm || y < QuietZone*ppm || x >= (n-QuietZone)*ppm || y >= (n-QuietZone)*ppm
				if inQuiet && v != 255 {
					t.Fatalf("dark pixel in the quiet zone at %d,%d", x, y)
				}
			}
		}
		if g.pix[QuietZone*ppm*g.w+QuietZone*ppm] != 0 {
			t.Error("finder pattern corner is not black")
		}
		// gozxing reads even one pixel per module (zbar needs two).
		if got, err := DecodeImage(bytes.NewReader(data)); err != nil || got[0] != c.Text {
			t.Errorf("%d px per module: DecodeImage = %q, %v", ppm, got, err)
		}
	}
	// Default scale.
	data, _ := c.PNG(Options{})
	img, _ := png.Decode(bytes.NewReader(data))
	v, _ := Version(c.Text, LevelM)
	if img.Bounds().Dx() != (17+4*v+8)*DefaultPixelsPerModule {
		t.Errorf("default scale: width %d", img.Bounds().Dx())
	}
}

func TestWritePNGs(t *testing.T) {
	dir := t.TempDir()
	p := randomPayload(rand.New(rand.NewPCG(9, 10)), 1300)
	codes, err := Plan(armor.License, p, Options{})
	if err != nil || len(codes) != 3 {
		t.Fatalf("Plan: %d codes, %v", len(codes), err)
	}
	paths, err := WritePNGs(filepath.Join(dir, "license.png"), codes, Options{PixelsPerModule: 2})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"license-1of3.png", "license-2of3.png", "license-3of3.png"}
	for i, path := range paths {
		if filepath.Base(path) != want[i] {
			t.Errorf("path %d = %s, want %s", i, path, want[i])
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		texts, err := DecodeImage(f)
		f.Close()
		if err != nil || len(texts) != 1 || texts[0] != codes[i].Text {
			t.Errorf("%s: %q, %v", path, texts, err)
		}
	}
	one := codes[:1]
	one[0].Version = 0
	paths, err = WritePNGs(filepath.Join(dir, "req"), one, Options{})
	if err != nil || len(paths) != 1 || paths[0] != filepath.Join(dir, "req") {
		t.Errorf("one code: %v, %v", paths, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 4 {
		t.Errorf("%d files in the directory, want 4 (no temporary files)", len(entries))
	}
	// Failure: nothing written.
	if _, err := WritePNGs(filepath.Join(dir, "missing", "x.png"), codes, Options{}); err == nil {
		t.Error("writing into a missing directory succeeded")
	}
	bad := append(slices.Clone(codes), Code{})
	if _, err := WritePNGs(filepath.Join(dir, "bad.png"), bad, Options{}); err == nil {
		t.Error("an invalid code was written")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 4 {
		t.Errorf("failed writes left files: %d entries", len(entries))
	}
	if _, err := WritePNGs("x.png", nil, Options{}); err == nil {
		t.Error("no codes: no error")
	}
}

func TestPartPath(t *testing.T) {
	for _, c := range []struct {
		base string
		i, n int
		want string
	}{
		{"a.png", 0, 1, "a.png"},
		{"a.png", 0, 3, "a-1of3.png"},
		{"dir.d/lic", 1, 2, "dir.d/lic-2of2"},
		{"x.tar.png", 3, 4, "x.tar-4of4.png"},
	} {
		if got := PartPath(c.base, c.i, c.n); got != filepath.FromSlash(c.want) && got != c.want {
			t.Errorf("PartPath(%q, %d, %d) = %q, want %q", c.base, c.i, c.n, got, c.want)
		}
	}
}

func BenchmarkPlan(b *testing.B) {
	p := randomPayload(rand.New(rand.NewPCG(11, 12)), 370)
	for b.Loop() {
		if _, err := Plan(armor.License, p, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPNG(b *testing.B) {
	p := randomPayload(rand.New(rand.NewPCG(11, 12)), 370)
	codes, _ := Plan(armor.License, p, Options{})
	for b.Loop() {
		if _, err := codes[0].PNG(Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeImage(b *testing.B) {
	p := randomPayload(rand.New(rand.NewPCG(11, 12)), 370)
	codes, _ := Plan(armor.License, p, Options{})
	data, _ := codes[0].PNG(Options{PixelsPerModule: 4})
	for b.Loop() {
		if _, err := DecodeImage(bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}
