package dongle

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestCommandEncode(t *testing.T) {
	tests := []struct {
		name string
		cmd  command
		want string
		err  bool
	}{
		{"case 1", command{0x00, 0x20, 0x00, 0x80, nil, noLe}, "00200080", false},
		{"case 2", command{0x00, 0xCA, 0x00, 0x4F, nil, 256}, "00CA004F00", false},
		{"case 2 Le 16", command{0x00, 0xC0, 0x00, 0x00, nil, 16}, "00C0000010", false},
		{"case 3", command{0x00, 0x20, 0x00, 0x82, []byte("123456"), noLe}, "0020008206313233343536", false},
		{"case 4", command{0x00, 0xA4, 0x04, 0x00, aidOpenPGP, 256}, "00A4040006D2760001240100", false},
		{"read key", command{0x00, 0x47, 0x81, 0x00, []byte{0xA4, 0x00}, 256}, "0047810002A40000", false},
		{"255 bytes", command{0x00, 0x88, 0x00, 0x00, make([]byte, 255), noLe}, "00880000FF" + strings.Repeat("00", 255), false},
		{"256 bytes", command{0x00, 0x88, 0x00, 0x00, make([]byte, 256), noLe}, "", true},
		{"Le 0", command{0x00, 0xCA, 0x00, 0x4F, nil, 0}, "", true},
		{"Le 257", command{0x00, 0xCA, 0x00, 0x4F, nil, 257}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.cmd.encode()
			if (err != nil) != tt.err {
				t.Fatalf("err = %v, want error %v", err, tt.err)
			}
			if err == nil && fmt.Sprintf("%X", got) != tt.want {
				t.Fatalf("got %X, want %s", got, tt.want)
			}
		})
	}
}

func TestParseResponse(t *testing.T) {
	for _, short := range [][]byte{nil, {}, {0x90}} {
		if _, _, err := parseResponse(short); !errors.Is(err, ErrRemoved) {
			t.Errorf("parseResponse(%X) = %v, want ErrRemoved (vpcd's answer for a vanished card)", short, err)
		}
	}
	data, sw, err := parseResponse([]byte{1, 2, 3, 0x90, 0x00})
	if err != nil || sw != swOK || !bytes.Equal(data, []byte{1, 2, 3}) {
		t.Fatalf("got %X %04X %v", data, sw, err)
	}
	data, sw, err = parseResponse([]byte{0x63, 0xC2})
	if err != nil || sw != 0x63C2 || len(data) != 0 {
		t.Fatalf("got %X %04X %v", data, sw, err)
	}
}

func unhex(tb testing.TB, s string) []byte {
	tb.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestTransceiveChaining(t *testing.T) {
	s := &scripted{tb: t, steps: []step{
		{cmd: "00CB3FFF055C035FC10500", resp: unhex(t, "0102 6100")},
		{cmd: "00C0000000", resp: append(bytes.Repeat([]byte{3}, 256), 0x61, 0x02)},
		{cmd: "00C0000002", resp: unhex(t, "0405 9000")},
	}}
	data, sw, err := transceive(s, command{0x00, 0xCB, 0x3F, 0xFF, []byte{0x5C, 0x03, 0x5F, 0xC1, 0x05}, 256})
	s.done()
	if err != nil || sw != swOK {
		t.Fatalf("sw %04X err %v", sw, err)
	}
	want := append(append([]byte{1, 2}, bytes.Repeat([]byte{3}, 256)...), 4, 5)
	if !bytes.Equal(data, want) {
		t.Fatalf("data %X, want %X", data, want)
	}
}

func TestTransceiveWrongLe(t *testing.T) {
	s := &scripted{tb: t, steps: []step{
		{cmd: "00CA00C400", resp: unhex(t, "6C07")},
		{cmd: "00CA00C407", resp: unhex(t, "007F7F7F030003 9000")},
	}}
	data, sw, err := transceive(s, command{0x00, 0xCA, 0x00, 0xC4, nil, 256})
	s.done()
	if err != nil || sw != swOK || len(data) != 7 {
		t.Fatalf("got %X %04X %v", data, sw, err)
	}
}

func TestTransceiveBounded(t *testing.T) {
	t.Run("endless chain", func(t *testing.T) {
		n := 0
		tr := transportFunc(func([]byte) ([]byte, error) { n++; return []byte{0xAA, 0x61, 0x01}, nil })
		_, _, err := transceive(tr, command{0x00, 0xCA, 0x00, 0x6E, nil, 256})
		if !errors.Is(err, ErrUnsupportedCard) || n > maxParts+1 {
			t.Fatalf("err %v after %d commands", err, n)
		}
	})
	t.Run("too long", func(t *testing.T) {
		tr := transportFunc(func([]byte) ([]byte, error) { return append(make([]byte, 4096), 0x61, 0x00), nil })
		_, _, err := transceive(tr, command{0x00, 0xCA, 0x00, 0x6E, nil, 256})
		if !errors.Is(err, ErrUnsupportedCard) {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("empty mid-chain", func(t *testing.T) {
		s := &scripted{tb: t, steps: []step{
			{resp: unhex(t, "01 6105")},
			{cmd: "00C0000005", resp: nil},
		}}
		_, _, err := transceive(s, command{0x00, 0xCA, 0x00, 0x6E, nil, 256})
		if !errors.Is(err, ErrRemoved) {
			t.Fatalf("err %v, want ErrRemoved", err)
		}
	})
	t.Run("transport error", func(t *testing.T) {
		boom := errors.New("boom")
		_, _, err := transceive(transportFunc(func([]byte) ([]byte, error) { return nil, boom }), command{0x00, 0xCA, 0x00, 0x6E, nil, 256})
		if !errors.Is(err, boom) {
			t.Fatalf("err %v", err)
		}
	})
}

type transportFunc func([]byte) ([]byte, error)

func (f transportFunc) Transmit(cmd []byte) ([]byte, error) { return f(cmd) }

func TestParseTLV(t *testing.T) {
	tests := []struct {
		in   string
		tags []uint32
		err  bool
	}{
		{"", nil, false},
		{"4F 02 0102", []uint32{0x4F}, false},
		{"5F52 00", []uint32{0x5F52}, false},
		{"7F49 03 860100 5C 01 AA", []uint32{0x7F49, 0x5C}, false},
		{"5FFF81 01 00", nil, true}, // a tag of four bytes or more
		{"5FC105 00", []uint32{0x5FC105}, false},
		{"53 81 01 00", []uint32{0x53}, false},
		{"53 82 0001 00", []uint32{0x53}, false},
		{"53 83 000001 00", []uint32{0x53}, false},
		{"53 84 00000001 00", nil, true}, // length too long
		{"53 80", nil, true},             // indefinite length
		{"53 05 0102", nil, true},        // value runs past the end
		{"53", nil, true},                // no length
		{"5F", nil, true},                // tag cut short
		{"53 81", nil, true},             // length cut short
	}
	for _, tt := range tests {
		objs, err := parseTLV(unhex(t, tt.in))
		if (err != nil) != tt.err {
			t.Errorf("parseTLV(%s): err %v, want error %v", tt.in, err, tt.err)
			continue
		}
		var tags []uint32
		for _, o := range objs {
			tags = append(tags, o.tag)
		}
		if fmt.Sprint(tags) != fmt.Sprint(tt.tags) {
			t.Errorf("parseTLV(%s): tags %X, want %X", tt.in, tags, tt.tags)
		}
	}
}

func TestFindTLV(t *testing.T) {
	ard := unhex(t, "6E 0F 4F 02 D276 73 09 C1 01 01 C3 04 16 2B0601")
	if v, ok := findTLV(ard, 0x6E, 0x73, 0xC3); !ok || fmt.Sprintf("%X", v) != "162B0601" {
		t.Fatalf("findTLV = %X %v", v, ok)
	}
	if v, ok := searchTLV(ard, 0xC3, 3); !ok || fmt.Sprintf("%X", v) != "162B0601" {
		t.Fatalf("searchTLV = %X %v", v, ok)
	}
	if _, ok := searchTLV(ard, 0xC3, 1); ok {
		t.Fatal("searchTLV went deeper than allowed")
	}
	if _, ok := findTLV(ard, 0x6E, 0xC3); ok {
		t.Fatal("findTLV found a tag off its path")
	}
}

// FuzzParseTLV: no panic; what parses re-encodes byte for byte, and nested
// searches stay bounded.
func FuzzParseTLV(f *testing.F) {
	for _, s := range tlvSeeds {
		f.Add(unhex(f, s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		objs, err := parseTLV(b)
		if err != nil {
			if !errors.Is(err, errBadTLV) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		var out []byte
		for _, o := range objs {
			out = append(out, o.encode()...)
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("round trip: %X -> %X", b, out)
		}
		searchTLV(b, 0x86, 8)
		findTLV(b, 0x7F49, 0x86)
		leafDER(b)
	})
}

var tlvSeeds = []string{
	"",
	"4F 02 0102",
	"7F49 43 86 41 04" + strings.Repeat("11", 64),
	"6E 0F 4F 02 D276 73 09 C1 01 01 C3 04 16 2B0601",
	"53 82 0004 70 00 71 00",
	"53 81 03 34 01 00",
	"7C 22 82 00 81 20" + strings.Repeat("AB", 32),
	"5FC105 00",
	"53 83 000001 00",
}

// FuzzParseResponse feeds arbitrary card answers to every parser of card
// data: no panic, typed errors only.
func FuzzParseResponse(f *testing.F) {
	for _, s := range responseSeeds {
		f.Add(unhex(f, s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		data, sw, err := parseResponse(b)
		if err != nil {
			if !errors.Is(err, ErrRemoved) || len(b) >= 2 {
				t.Fatalf("parseResponse(%X): %v", b, err)
			}
			return
		}
		if !bytes.Equal(append(bytes.Clone(data), byte(sw>>8), byte(sw)), b) {
			t.Fatal("data || SW does not give the answer back")
		}
		for _, alg := range []Algorithm{AlgEd25519, AlgP256} {
			if pub := parseOpenPGPPublicKey(alg, data); pub != nil {
				if err := checkPublicKey(alg, pub); err != nil {
					t.Fatalf("parseOpenPGPPublicKey returned a bad key: %v", err)
				}
			}
			if sig, err := parseSignature(alg, data); err == nil && len(sig) != 64 {
				t.Fatalf("signature of %d bytes", len(sig))
			} else if err != nil && !errors.Is(err, ErrUnsupportedCard) {
				t.Fatalf("untyped error %v", err)
			}
		}
		parseOpenPGPAlgorithm(data)
		if cert := parsePIVCertObject(data); len(cert) > maxCert {
			t.Fatalf("certificate of %d bytes", len(cert))
		}
		certKey(data)
		if raw, ok := derToRaw(data); ok && len(raw) != 64 {
			t.Fatal("derToRaw length")
		}
		// The whole exchange through transceive, the answer repeated.
		n := 0
		tr := transportFunc(func([]byte) ([]byte, error) { n++; return b, nil })
		if _, _, err := transceive(tr, command{0x00, 0xCA, 0x00, 0x6E, nil, 256}); err != nil && !errors.Is(err, ErrUnsupportedCard) {
			t.Fatalf("transceive: %v", err)
		}
		if n > maxParts+1 {
			t.Fatalf("%d commands for one answer", n)
		}
		// Card-level parsers on a card that always gives this answer.
		for _, kind := range []Kind{0, KindOpenPGP, KindPIV, KindGeneric} {
			info, err := identify(tr, kind, true)
			if err != nil && !errors.Is(err, ErrUnsupportedCard) {
				t.Fatalf("identify: untyped error %v", err)
			}
			if info != nil && (len(info.serial) == 0 || len(info.serial) > MaxSerial || len(info.attest) > MaxAttestation) {
				t.Fatalf("identify: bad info %+v", info)
			}
			if info != nil && info.alg != 0 {
				if _, err := authenticate(tr, info, []byte("challenge")); err != nil && !errors.Is(err, ErrUnsupportedCard) && !errors.Is(err, ErrRemoved) {
					t.Fatalf("authenticate: untyped error %v", err)
				}
			}
		}
		// The signing side: identification by signing key, the signature
		// command (chained) and its answer.
		for _, kind := range []Kind{0, KindOpenPGP, KindPIV, KindGeneric} {
			info, err := identifySigning(tr, kind)
			if err != nil && !errors.Is(err, ErrUnsupportedCard) {
				t.Fatalf("identifySigning: untyped error %v", err)
			}
			if info != nil && (info.alg != AlgEd25519 || len(info.pub) != ed25519.PublicKeySize || len(info.serial) == 0) {
				t.Fatalf("identifySigning: bad info %+v", info)
			}
			if _, _, err := matchSigningKey(tr, kind, make([]byte, 32)); err != nil && !errors.Is(err, ErrUnsupportedCard) {
				t.Fatalf("matchSigningKey: untyped error %v", err)
			}
			if sig, err := cardSignature(tr, kind, make([]byte, 600)); err == nil && len(sig) != ed25519.SignatureSize {
				t.Fatalf("cardSignature: %d bytes", len(sig))
			} else if err != nil && !errors.Is(err, ErrUnsupportedCard) && !errors.Is(err, ErrRemoved) {
				t.Fatalf("cardSignature: untyped error %v", err)
			}
		}
		pinStatus(tr, KindOpenPGP)
		pinStatus(tr, KindPIV)
		if err := verifyPIN(tr, KindPIV, []byte("123456")); err != nil {
			var pe *PINError
			if !errors.As(err, &pe) && !errors.Is(err, ErrPINBlocked) && !errors.Is(err, ErrInvalidPIN) && !errors.Is(err, ErrUnsupportedCard) {
				t.Fatalf("verifyPIN: untyped error %v", err)
			}
		}
	})
}

var responseSeeds = []string{
	"",
	"90",
	"9000",
	"6A82",
	"63C2",
	"6983",
	"6100",
	"6C07",
	"D276000124010304FFFE0A0B0C0D0000 9000",
	"7F49 22 86 20" + strings.Repeat("11", 32) + " 9000",
	"7F49 43 86 41 04" + strings.Repeat("11", 64) + " 9000",
	"6E 0F 4F 02 D276 73 09 C1 01 01 C3 04 16 2B0601 9000",
	"C3 0A 16 2B06010401DA470F01 9000",
	"7C 42 82 40" + strings.Repeat("22", 64) + " 9000",
	"30 06 02 01 01 02 01 01 9000",
	"53 0A 70 04 30020500 71 01 01 FE 00 9000",
	"007F7F7F030003 9000",
	"01020304 9000",
	"73 0A C1 0A 16 2B06010401DA470F01 9000",
	"7F49 23 86 21 40" + strings.Repeat("33", 32) + " 9000",
	"7C 42 82 40" + strings.Repeat("44", 64) + " 9000",
	"6883",
	"6884",
}

// The encoded VERIFY APDU holds the PIN: it is zeroed once sent, so no
// copy of the PIN outlives the exchange (only the caller's own buffer,
// which Close clears).
func TestVerifyAPDUZeroed(t *testing.T) {
	for _, kind := range []Kind{KindOpenPGP, KindPIV} {
		var sent [][]byte
		tr := transportFunc(func(cmd []byte) ([]byte, error) {
			if bytes.HasPrefix(cmd, []byte{0x00, 0xCA, 0x00, 0xF9}) {
				return []byte{0x6A, 0x88}, nil // no KDF-DO: the PIN goes as it is
			}
			sent = append(sent, cmd) // keep the very buffer, not a copy
			if !bytes.Contains(cmd, []byte("123456")) {
				t.Errorf("%v: the APDU does not carry the PIN while it is sent: % x", kind, cmd)
			}
			return []byte{0x90, 0x00}, nil
		})
		if err := verifyPINRef(tr, kind, pinRef(kind, false), []byte("123456")); err != nil {
			t.Fatal(err)
		}
		if len(sent) != 1 {
			t.Fatalf("%v: %d APDUs sent", kind, len(sent))
		}
		if !bytes.Equal(sent[0], make([]byte, len(sent[0]))) {
			t.Errorf("%v: the VERIFY APDU still holds % x after use", kind, sent[0])
		}
	}
}
