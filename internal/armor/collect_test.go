package armor_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/airlock-offline/airlock/internal/armor"
)

// checkFor stands in for a signature: it accepts exactly payload.
func checkFor(payload []byte) func(armor.Kind, []byte) error {
	return func(_ armor.Kind, p []byte) error {
		if !bytes.Equal(p, payload) {
			return errors.New("bad signature")
		}
		return nil
	}
}

func randomBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.UintN(256))
	}
	return b
}

// feed writes in to a new Collector in chunks of size n (0: all at once)
// and reports whether it finished before Close.
func feed(t *testing.T, in string, n int, want armor.Kind, payload []byte) (*armor.Collector, []armor.Event, bool) {
	t.Helper()
	c := &armor.Collector{Want: want, Check: checkFor(payload)}
	var ev []armor.Event
	if n == 0 {
		n = len(in)
	}
	for i := 0; i < len(in) && !c.Done(); i += n {
		c.Write([]byte(in[i:min(i+n, len(in))]))
		ev = append(ev, c.Events()...)
	}
	early := c.Done()
	c.Close()
	ev = append(ev, c.Events()...)
	return c, ev, early
}

func TestCollector(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	payload := randomBytes(r, 700)
	other := randomBytes(r, 700)
	parts, err := armor.Split(armor.License, payload, 3)
	if err != nil {
		t.Fatal(err)
	}
	foreign, _ := armor.Split(armor.License, other, 3)
	text := armor.Text(armor.License, payload)
	file := string(armor.Encode(armor.License, payload))
	body := strings.Join(strings.Split(strings.TrimSpace(file), "\n")[1:], "\n")
	body = strings.TrimSuffix(body, "-----END AIRLOCK LICENSE-----")

	cases := []struct {
		name  string
		in    string
		early bool // finishes by itself, before the input ends
	}{
		{"one part a line, LF", parts[2] + "\n" + parts[0] + "\n" + parts[1] + "\n", true},
		{"CRLF", parts[1] + "\r\n" + parts[0] + "\r\n" + parts[2] + "\r\n", true},
		{"CR", parts[1] + "\r" + parts[2] + "\r" + parts[0] + "\r", true},
		{"Tab", parts[0] + "\t" + parts[1] + "\t" + parts[2] + "\t", true},
		{"no line ends", parts[2] + parts[1] + parts[0], true},
		{"no line ends, lower case, spaces", " " + strings.ToLower(parts[2]) + "  " + parts[0] + " " + strings.ToLower(parts[1]), true},
		{"whole message, one line", text + "\n", true},
		{"whole message, no line end", text, true},
		{"armored file", file, true},
		{"armored file, CRLF", strings.ReplaceAll(file, "\n", "\r\n"), true},
		{"armored file, CR", strings.ReplaceAll(file, "\n", "\r"), true},
		{"64-column lines, no armor", body, true},
		{"64-column lines, lower case, Tab", strings.ToLower(strings.ReplaceAll(body, "\n", "\t")), true},
		{"mix: part, file, part", parts[0] + "\n" + file, true},
		{"same part twice", parts[0] + "\n" + parts[0] + "\n" + parts[2] + "\n" + parts[1] + "\n", true},
		{"foreign part first", foreign[0] + "\n" + parts[0] + "\n" + parts[1] + "\n" + foreign[1] + "\n" + parts[2] + "\n", true},
		{"request first, then license", armor.Text(armor.Request, other) + "\n" + text + "\n", true},
		{"garbage lines", "hello!\n\n" + parts[0] + "\nAL9\n" + parts[1] + "\n" + parts[2] + "\n", true},
		{"start over", parts[0] + "\n" + foreign[1] + "\n0\n" + parts[2] + parts[1] + "\n" + parts[0] + "\n", true},
	}
	for _, tc := range cases {
		for _, n := range []int{0, 1, 7, 64} {
			t.Run(fmt.Sprintf("%s/chunk %d", tc.name, n), func(t *testing.T) {
				c, ev, early := feed(t, tc.in, n, armor.License, payload)
				k, p, l, err := c.Result()
				if err != nil || k != armor.License || !bytes.Equal(p, payload) || l != armor.US {
					t.Fatalf("got %v %d bytes %v %v; events %v", k, len(p), l, err, ev)
				}
				if early != tc.early {
					t.Errorf("finished before the end of input: %v, want %v", early, tc.early)
				}
				foreigns := 0
				for _, e := range ev {
					if e.Type == armor.Foreign {
						foreigns++
					}
				}
				if strings.HasPrefix(tc.name, "foreign") && foreigns != 1 {
					t.Errorf("%d Foreign events, want 1: %v", foreigns, ev)
				}
			})
		}
	}
}

func TestCollectorIncomplete(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 8))
	payload := randomBytes(r, 500)
	parts, _ := armor.Split(armor.Request, payload, 4)
	c, ev, early := feed(t, parts[3]+"\n"+parts[0]+"\n", 0, armor.Request, payload)
	if early {
		t.Fatal("done with parts missing")
	}
	_, _, _, err := c.Result()
	if err == nil || !strings.Contains(err.Error(), "parts missing: 2, 3 of 4") {
		t.Fatalf("err = %v", err)
	}
	var last armor.Status
	for _, e := range ev {
		if e.Type == armor.Progress {
			last = e.Status
		}
	}
	if fmt.Sprint(last.Have) != "[1 4]" || fmt.Sprint(last.Missing) != "[2 3]" {
		t.Errorf("last status %+v", last)
	}

	// A whole message cut short is rejected at the end, not taken.
	text := armor.Text(armor.Request, payload)
	c, ev, _ = feed(t, text[:len(text)-8], 0, armor.Request, payload)
	if c.Done() || !hasEvent(ev, armor.Rejected) {
		t.Fatalf("cut message: done %v, events %v", c.Done(), ev)
	}
}

func hasEvent(ev []armor.Event, typ armor.EventType) bool {
	for _, e := range ev {
		if e.Type == typ {
			return true
		}
	}
	return false
}

// Text typed by a scanner through a German or French keyboard layout is
// undone, and the layout is named once; the check decides.
func TestCollectorLayouts(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	var payload []byte
	var parts []string
	for { // a message whose text has Y or Z, A or Q, M and digits to map
		payload = randomBytes(r, 400)
		parts, _ = armor.Split(armor.Request, payload, 2)
		if t := strings.Join(parts, ""); strings.ContainsAny(t, "YZ") && strings.ContainsAny(t, "AQW") && strings.Contains(t, "M") {
			break
		}
	}
	text := armor.Text(armor.Request, payload)
	for _, l := range armor.Layouts {
		for name, in := range map[string]string{
			"parts": l.Type(parts[1]) + "\r\n" + l.Type(parts[0]) + "\r\n",
			"whole": l.Type(text) + "\n",
			"lower": strings.ToLower(l.Type(text)) + "\n",
		} {
			t.Run(l.String()+"/"+name, func(t *testing.T) {
				c, ev, early := feed(t, in, 0, armor.Request, payload)
				k, p, got, err := c.Result()
				if err != nil || !early || k != armor.Request || !bytes.Equal(p, payload) || got != l {
					t.Fatalf("got %v %v %v, early %v; events %v", got, k, err, early, ev)
				}
				notes := 0
				for _, e := range ev {
					if e.Type == armor.LayoutNote {
						notes++
						if e.Layout != l {
							t.Errorf("note names %v", e.Layout)
						}
					}
				}
				if notes != 1 {
					t.Errorf("%d layout notes, want 1: %v", notes, ev)
				}
				// Without a check that tells them apart, a QWERTZ whole
				// message is not guessed.
				kk, pp, ll, err := armor.DecodeLayout([]byte(in), checkFor(payload))
				if err != nil || kk != armor.Request || !bytes.Equal(pp, payload) || ll != l {
					t.Errorf("DecodeLayout: %v %v", ll, err)
				}
			})
		}
	}
	// Damage no layout explains is rejected.
	bad := strings.Replace(text, "A", "@", 1)
	c, ev, _ := feed(t, bad+"\n", 0, armor.Request, payload)
	if c.Done() || !hasEvent(ev, armor.Rejected) || hasEvent(ev, armor.LayoutNote) {
		t.Fatalf("damaged: done %v, events %v", c.Done(), ev)
	}
}

// FuzzCollector: any input, fed in any chunks, never panics, and whatever
// it completes passed the check.
func FuzzCollector(f *testing.F) {
	payload := []byte("a payload long enough to be split into a few parts, twice over")
	parts, _ := armor.Split(armor.License, payload, 3)
	f.Add(strings.Join(parts, "\n"), 3)
	f.Add(strings.Join(parts, "\t"), 1)
	f.Add(strings.Join(parts, ""), 7)
	f.Add(string(armor.Encode(armor.License, payload)), 64)
	f.Add(armor.AZERTY.Type(armor.Text(armor.License, payload)), 5)
	f.Add("0\n"+parts[0]+"\r"+armor.Text(armor.Request, payload), 2)
	f.Fuzz(func(t *testing.T, in string, chunk int) {
		if chunk < 1 {
			chunk = 1
		}
		c := &armor.Collector{Want: armor.License, Check: checkFor(payload)}
		for i := 0; i < len(in); i += chunk {
			c.Write([]byte(in[i:min(i+chunk, len(in))]))
			c.Events()
		}
		c.Close()
		if k, p, _, err := c.Result(); err == nil && (k != armor.License || !bytes.Equal(p, payload)) {
			t.Fatalf("completed with %v %q", k, p)
		}
	})
}
