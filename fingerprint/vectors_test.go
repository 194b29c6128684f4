package fingerprint

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

type vector struct {
	name, expect string
	product      string
	vendorKeyID  [8]byte
	components   []Raw
	env          string
	key          string
	digests      []string
	id           string
	binary       []byte
}

// readVectors parses testdata/fingerprint/vectors.txt (format in its header).
func readVectors(t testing.TB) []vector {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtures, "vectors.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var vs []vector
	for n, block := range strings.Split(string(b), "\n\n") {
		var v vector
		for line := range strings.Lines(block) {
			line = strings.TrimRight(line, "\n")
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			k, val, ok := strings.Cut(line, ": ")
			if !ok && strings.HasSuffix(line, ":") {
				k, ok = strings.TrimSuffix(line, ":"), true
			}
			if !ok {
				t.Fatalf("vectors.txt block %d: bad line %q", n+1, line)
			}
			switch k {
			case "name":
				v.name = val
			case "expect":
				v.expect = val
			case "product":
				v.product = val
			case "vendor-key-id":
				if _, err := hex.Decode(v.vendorKeyID[:], []byte(val)); err != nil || len(val) != 16 {
					t.Fatalf("%s: vendor-key-id %q", v.name, val)
				}
			case "component":
				idS, valS, _ := strings.Cut(val, " ")
				id, err1 := strconv.Atoi(idS)
				raw, err2 := hex.DecodeString(valS)
				if err1 != nil || err2 != nil || id < 1 || id > 255 {
					t.Fatalf("%s: component %q", v.name, val)
				}
				v.components = append(v.components, Raw{ID: ComponentID(id), Available: true, value: raw})
			case "env":
				v.env = val
			case "key":
				v.key = val
			case "digest":
				v.digests = append(v.digests, val)
			case "id":
				v.id = val
			case "binary":
				if v.binary, err = hex.DecodeString(val); err != nil {
					t.Fatalf("%s: binary: %v", v.name, err)
				}
			default:
				t.Fatalf("%s: unknown field %q", v.name, k)
			}
		}
		if v.name != "" {
			vs = append(vs, v)
		}
	}
	if len(vs) == 0 {
		t.Fatal("no vectors")
	}
	return vs
}

func TestVectors(t *testing.T) {
	for _, v := range readVectors(t) {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			switch v.expect {
			case "malformed":
				var f Fingerprint
				err := f.UnmarshalBinary(v.binary)
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("UnmarshalBinary = %v, want ErrMalformed", err)
				}
				return
			case "ok":
			default:
				t.Fatalf("unknown expect %q", v.expect)
			}
			env, err := ParseEnv(v.env)
			if err != nil {
				t.Fatal(err)
			}
			if got := hex.EncodeToString(key(v.product, v.vendorKeyID)); got != v.key {
				t.Errorf("key = %s, want %s", got, v.key)
			}
			r := &Report{Components: v.components, Env: env}
			fp := r.Hash(v.product, v.vendorKeyID)
			var digests []string
			for _, d := range fp.Components {
				digests = append(digests, d.String())
			}
			if !slices.Equal(digests, v.digests) {
				t.Errorf("digests = %q, want %q", digests, v.digests)
			}
			if fp.String() != v.id {
				t.Errorf("ID = %s, want %s", fp, v.id)
			}
			bin, err := fp.MarshalBinary()
			if err != nil || !bytes.Equal(bin, v.binary) {
				t.Errorf("MarshalBinary = %x, %v; want %x", bin, err, v.binary)
			}
			var back Fingerprint
			if err := back.UnmarshalBinary(v.binary); err != nil || !back.Equal(fp) {
				t.Errorf("UnmarshalBinary = %v, %v; want %v", back, err, fp)
			}
			if !back.CheckID(v.product, v.vendorKeyID) {
				t.Error("CheckID false for the vector")
			}
			// JSON round trip.
			j, err := fp.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			var fromJSON Fingerprint
			if err := fromJSON.UnmarshalJSON(j); err != nil || !fromJSON.Equal(fp) {
				t.Errorf("JSON %s round trip = %v, %v", j, fromJSON, err)
			}
		})
	}
}

func FuzzUnmarshalBinary(f *testing.F) {
	vs := readVectors(f)
	for _, v := range vs {
		f.Add(v.binary)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var fp Fingerprint
		if err := fp.UnmarshalBinary(b); err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		out, err := fp.MarshalBinary()
		if err != nil {
			t.Fatalf("decoded %x but cannot encode: %v", b, err)
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("round trip %x -> %x", b, out)
		}
		j, err := fp.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		var back Fingerprint
		if err := back.UnmarshalJSON(j); err != nil || !back.Equal(fp) {
			t.Fatalf("JSON round trip of %s: %v", j, err)
		}
	})
}

func TestTextEncodings(t *testing.T) {
	for id := range 256 {
		c := ComponentID(id)
		back, err := ParseComponentID(c.String())
		if err != nil || back != c {
			t.Errorf("ComponentID %d: %q -> %d, %v", id, c, back, err)
		}
	}
	for _, bad := range []string{"", "custom-1", "component-40", "custom-032", "custom-256", "Machine-ID", "disk "} {
		if _, err := ParseComponentID(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseComponentID(%q) = %v", bad, err)
		}
	}
	for _, e := range []Env{0, EnvVM, EnvVM | EnvContainer, EnvWSL | EnvNoMachineID | EnvCloud, EnvSharedMachineID, 1 << 9, 0xffff} {
		back, err := ParseEnv(e.String())
		if err != nil || back != e {
			t.Errorf("Env %#x: %q -> %#x, %v", uint16(e), e, uint16(back), err)
		}
	}
	if got := (EnvVM | EnvContainer).String(); got != "vm,container" {
		t.Errorf("Env string %q", got)
	}
	for _, bad := range []string{"", "vm,", "container,vm", "vm,vm", "bit1", "bit16", "VM"} {
		if _, err := ParseEnv(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseEnv(%q) = %v", bad, err)
		}
	}
	d := Digest{ID: Disk, Sum: [8]byte{0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 3}}
	text, _ := d.MarshalText()
	if string(text) != "disk:deadbeef00010203" {
		t.Errorf("Digest text %q", text)
	}
	var d2 Digest
	if err := d2.UnmarshalText(text); err != nil || d2 != d {
		t.Errorf("Digest round trip: %v %v", d2, err)
	}
	for _, bad := range []string{"disk:DEADBEEF00010203", "disk:deadbeef0001020", "disk", "nope:deadbeef00010203", "disk:deadbeef0001020g"} {
		if err := d2.UnmarshalText([]byte(bad)); !errors.Is(err, ErrMalformed) {
			t.Errorf("Digest %q: %v", bad, err)
		}
	}
	for _, bad := range []string{"", "00000000-00000000-00000000-0000000", "00000000000000000000000000000000000", "ABCDEF00-00000000-00000000-00000000", "0000000g-00000000-00000000-00000000"} {
		if _, err := ParseID(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseID(%q) = %v", bad, err)
		}
	}
	// Encoders refuse what decoders would refuse.
	if _, err := (Fingerprint{Components: []Digest{{ID: 2}, {ID: 1}}}).MarshalBinary(); !errors.Is(err, ErrMalformed) {
		t.Errorf("unsorted MarshalBinary: %v", err)
	}
	var fp Fingerprint
	for _, bad := range []string{`{"id":"x"}`, `{"id":"00000000-00000000-00000000-00000000","components":["disk:0000000000000000","cpu:0000000000000000","cpu:0000000000000000"],"env":"none"}`, `[]`} {
		if err := fp.UnmarshalJSON([]byte(bad)); !errors.Is(err, ErrMalformed) {
			t.Errorf("UnmarshalJSON(%s) = %v", bad, err)
		}
	}
}
