package armor_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/airlock-offline/airlock/internal/armor"
	"github.com/airlock-offline/airlock/internal/testrig/vectors"
)

func TestRoundTrip(t *testing.T) {
	for _, k := range []armor.Kind{armor.Request, armor.License, armor.Receipt, armor.SecretKey, armor.Checkpoint, armor.UsageReport} {
		for _, n := range []int{1, 2, 5, 39, 40, 41, 300, 1000} {
			p := bytes.Repeat([]byte{0x5a, 0x01, 0xff}, n)[:n]
			enc := armor.Encode(k, p)
			for _, line := range strings.Split(strings.TrimSpace(string(enc)), "\n") {
				if len(line) > armor.Columns && !strings.HasPrefix(line, "-----") {
					t.Fatalf("line longer than %d columns: %d", armor.Columns, len(line))
				}
			}
			gk, gp, err := armor.Decode(enc)
			if err != nil || gk != k || !bytes.Equal(gp, p) {
				t.Fatalf("%v/%d: got %v %x %v", k, n, gk, gp, err)
			}
			gk, gp, err = armor.Decode([]byte(armor.Text(k, p)))
			if err != nil || gk != k || !bytes.Equal(gp, p) {
				t.Fatalf("bare text %v/%d: %v", k, n, err)
			}
		}
	}
}

func TestScannerTyped(t *testing.T) {
	p := []byte("the quick brown fox jumps over the lazy dog, twice over")
	text := armor.Text(armor.License, p)
	variants := map[string]string{
		"lower case":         strings.ToLower(text),
		"CRLF":               text[:20] + "\r\n" + text[20:] + "\r\n",
		"CR":                 text[:20] + "\r" + text[20:] + "\r",
		"tabs and spaces":    " \t" + text[:10] + "  " + text[10:30] + "\t" + text[30:] + "  \n",
		"armor, CRLF, lower": strings.ToLower(strings.ReplaceAll(string(armor.Encode(armor.License, p)), "\n", "\r\n")),
		"armor, spaced":      strings.ReplaceAll(string(armor.Encode(armor.License, p)), "\n", " \n  "),
		"blank lines":        "\n\n" + text + "\n\n\n",
	}
	for name, in := range variants {
		k, got, err := armor.Decode([]byte(in))
		if err != nil || k != armor.License || !bytes.Equal(got, p) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestRejects(t *testing.T) {
	p := []byte("payload bytes")
	text := armor.Text(armor.Request, p)
	enc := string(armor.Encode(armor.Request, p))
	cases := map[string]struct {
		in, reason string
		line       int
	}{
		"empty":             {"", "empty", 0},
		"only space":        {" \r\n\t", "empty", 0},
		"unknown tag":       {"ZZ1" + text[3:], "unknown tag", 1},
		"bad character":     {text[:10] + "#" + text[11:], "column 11", 1},
		"base64 character":  {text[:10] + "+" + text[11:], "character not allowed", 1},
		"truncated":         {text[:len(text)-1], "base32", 1},
		"no END":            {strings.Replace(enc, "-----END AIRLOCK REQUEST-----\n", "", 1), "missing END", 2},
		"END without BEGIN": {"-----END AIRLOCK REQUEST-----\n" + text, "END line without BEGIN", 1},
		"mismatched END":    {strings.Replace(enc, "END AIRLOCK REQUEST", "END AIRLOCK LICENSE", 1), "does not match", 3},
		"tag vs BEGIN":      {strings.Replace(enc, "BEGIN AIRLOCK REQUEST", "BEGIN AIRLOCK LICENSE", 1), "", 0},
		"unknown label":     {strings.Replace(enc, "BEGIN AIRLOCK REQUEST", "BEGIN AIRLOCK THING", 1), "malformed BEGIN", 1},
		"text before":       {"hello\n" + enc, "", 0},
		"text after":        {enc + "thanks\n", "", 0},
		"armor only":        {"-----BEGIN AIRLOCK REQUEST-----\n-----END AIRLOCK REQUEST-----\n", "no content", 0},
		"tag only":          {"AR1", "empty", 1},
		"too large":         {strings.Repeat("A", armor.MaxText+1), "larger than", 0},
	}
	for name, c := range cases {
		_, _, err := armor.Decode([]byte(c.in))
		var pe *armor.ParseError
		if !errors.As(err, &pe) {
			t.Errorf("%s: got %v, want a *armor.ParseError", name, err)
			continue
		}
		if c.reason != "" && !strings.Contains(pe.Error(), c.reason) {
			t.Errorf("%s: %q does not say %q", name, pe.Error(), c.reason)
		}
		if c.line != 0 && pe.Line != c.line {
			t.Errorf("%s: line %d, want %d", name, pe.Line, c.line)
		}
	}
}

func TestNonCanonicalBase32(t *testing.T) {
	// "AR1" + "ME" decodes to one byte 0x61 with zero trailing bits; "MF"
	// sets a trailing bit that canonical base32 never has.
	if _, _, err := armor.Decode([]byte("AR1ME")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := armor.Decode([]byte("AR1MF")); err == nil {
		t.Fatal("non-canonical base32 accepted")
	}
}

func TestErrorsCarryNoInput(t *testing.T) {
	secret := "SUPERSECRETPASSWORDXYZ"
	_, _, err := armor.Decode([]byte("ZZ1" + secret))
	if err == nil || strings.Contains(err.Error(), secret) {
		t.Fatalf("error %v", err)
	}
}

func TestDecodeDoesNotModifyInput(t *testing.T) {
	in := []byte(strings.ToLower(armor.Text(armor.Request, []byte("abc"))) + " \r\n")
	orig := bytes.Clone(in)
	if _, _, err := armor.Decode(in); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(in, orig) {
		t.Fatal("Decode modified its input")
	}
}

func TestDecodeKind(t *testing.T) {
	if _, err := armor.DecodeKind(armor.Encode(armor.License, []byte("x")), armor.Request); err == nil || !strings.Contains(err.Error(), "not a request") {
		t.Fatalf("got %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	texts, _ := vectors.Seeds(f)
	for _, s := range texts {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		k, p, err := armor.Decode(in)
		if err != nil {
			var pe *armor.ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("untyped error %T", err)
			}
			return
		}
		enc := armor.Encode(k, p)
		k2, p2, err := armor.Decode(enc)
		if err != nil || k2 != k || !bytes.Equal(p2, p) {
			t.Fatalf("re-encoded text does not decode to the same message: %v", err)
		}
		if !bytes.Equal(armor.Encode(k2, p2), enc) {
			t.Fatal("encoding is not stable")
		}
	})
}

func TestParts(t *testing.T) {
	for _, size := range []int{10, 100, 377, 640, 1500} {
		p := make([]byte, size)
		for i := range p {
			p[i] = byte(i*7 + size)
		}
		for n := 1; n <= armor.MaxParts; n++ {
			parts, err := armor.Split(armor.License, p, n)
			if tooLong := n > 1 && (size*8+4)/5/n+9 > armor.MaxPartText; tooLong != (err != nil) {
				t.Fatalf("size %d in %d parts: error %v, want one: %v", size, n, err, tooLong)
			}
			if err != nil {
				continue
			}
			if len(parts) != n {
				t.Fatalf("%d parts, want %d", len(parts), n)
			}
			for _, q := range parts {
				if d := len(q) - len(parts[0]); d < -1 || d > 1 {
					t.Fatalf("parts of unequal length: %d vs %d", len(q), len(parts[0]))
				}
			}
			// Any order, lower case, CRLF, with one part scanned twice.
			shuffled := append([]string(nil), parts...)
			for i := range shuffled {
				j := (i*3 + 1) % len(shuffled)
				shuffled[i], shuffled[j] = shuffled[j], shuffled[i]
			}
			if n > 1 {
				shuffled = append(shuffled, shuffled[0])
			}
			in := strings.ToLower(strings.Join(shuffled, "\r\n")) + "\r\n"
			k, got, err := armor.Decode([]byte(in))
			if err != nil || k != armor.License || !bytes.Equal(got, p) {
				t.Fatalf("size %d, %d parts: %v", size, n, err)
			}
			// Interactive: the assembler reports what is missing.
			var a armor.Assembler
			for i, q := range parts {
				st, err := a.Add([]byte(" " + q + "\n"))
				if err != nil {
					t.Fatal(err)
				}
				if len(st.Have) != i+1 || st.Total != n || len(st.Missing) != n-i-1 {
					t.Fatalf("status after %d: %+v", i+1, st)
				}
			}
			if !a.Done() {
				t.Fatal("not done")
			}
			if _, got, err := a.Result(); err != nil || !bytes.Equal(got, p) {
				t.Fatalf("assembler result: %v", err)
			}
		}
	}
}

func TestPartErrors(t *testing.T) {
	p := bytes.Repeat([]byte("airlock"), 60)
	q := bytes.Repeat([]byte("AIRLOCK"), 60)
	a3, _ := armor.Split(armor.Request, p, 3)
	b3, _ := armor.Split(armor.Request, q, 3)
	l3, _ := armor.Split(armor.License, p, 3)
	cases := map[string]struct {
		in     string
		reason string
	}{
		"missing part":     {a3[0] + "\n" + a3[2], "parts missing: 2 of 3"},
		"other message":    {a3[0] + "\n" + b3[1] + "\n" + a3[2], "belongs to another message"},
		"other kind":       {a3[0] + "\n" + l3[1], "belongs to another message"},
		"bad number":       {"AR905" + a3[0][5:], "invalid part number"},
		"over the limit":   {"AR977" + a3[0][5:], "invalid part number"},
		"index over total": {"AR942" + a3[0][5:], "invalid part number"},
		"conflicting":      {a3[0] + "\n" + a3[0][:20] + "A" + a3[0][21:], "scanned twice with different content"},
		"too long":         {"AR912ABCD" + strings.Repeat("A", 1000), "longer than"},
		"forged id":        {a3[0][:5] + "AAAA" + a3[0][9:] + "\n" + a3[1][:5] + "AAAA" + a3[1][9:] + "\n" + a3[2][:5] + "AAAA" + a3[2][9:], "do not belong together"},
	}
	for name, c := range cases {
		_, _, err := armor.Decode([]byte(c.in))
		if err == nil || !strings.Contains(err.Error(), c.reason) {
			t.Errorf("%s: got %v, want %q", name, err, c.reason)
		}
	}
	if _, err := armor.Split(armor.Request, p, armor.MaxParts+1); err == nil {
		t.Errorf("%d parts accepted", armor.MaxParts+1)
	}
}
