package dongle

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/airlock-offline/airlock/internal/testrig/cardemu"
)

func edPub(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }

// signCards: cards whose signing key is testEd25519("sign "+name).
func signCards(t *testing.T) map[string]cardemu.Config {
	return map[string]cardemu.Config{
		"openpgp": {OpenPGP: &cardemu.OpenPGPConfig{Manufacturer: 0xFFFE, Serial: 1, AuthKey: testP256(t, "a"), SignKey: testEd25519("sign openpgp")}},
		"piv":     {PIV: &cardemu.PIVConfig{Serial: 2, Key: testP256(t, "a"), SignKey: testEd25519("sign piv")}},
	}
}

func message(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + n)
	}
	return b
}

func TestIdentifySigning(t *testing.T) {
	sig := testEd25519("sig")
	other := testEd25519("other")
	p := testP256(t, "p")
	tests := []struct {
		name   string
		cfg    cardemu.Config
		want   Kind
		kind   Kind
		serial string
		pub    ed25519.PublicKey
		why    string // for a card without a usable key: part of the message
	}{
		{"openpgp", cardemu.Config{OpenPGP: &cardemu.OpenPGPConfig{Manufacturer: 0xFFFE, Serial: 9, SignKey: sig}},
			0, KindOpenPGP, "FFFE00000009", edPub(sig), ""},
		{"openpgp beside auth key", cardemu.Config{OpenPGP: &cardemu.OpenPGPConfig{Serial: 9, AuthKey: other, SignKey: sig}},
			KindOpenPGP, KindOpenPGP, "000000000009", edPub(sig), ""},
		{"piv 9C", cardemu.Config{PIV: &cardemu.PIVConfig{Serial: 5, Key: p, SignKey: sig}},
			0, KindPIV, "00000005", edPub(sig), ""},
		{"openpgp without, piv with", cardemu.Config{OpenPGP: &cardemu.OpenPGPConfig{Serial: 1, AuthKey: other}, PIV: &cardemu.PIVConfig{Serial: 5, SignKey: sig}},
			0, KindPIV, "00000005", edPub(sig), ""},
		{"both: openpgp first", cardemu.Config{OpenPGP: &cardemu.OpenPGPConfig{Serial: 1, SignKey: other}, PIV: &cardemu.PIVConfig{Serial: 5, SignKey: sig}},
			0, KindOpenPGP, "000000000001", edPub(other), ""},
		{"both: piv asked for", cardemu.Config{OpenPGP: &cardemu.OpenPGPConfig{Serial: 1, SignKey: other}, PIV: &cardemu.PIVConfig{Serial: 5, SignKey: sig}},
			KindPIV, KindPIV, "00000005", edPub(sig), ""},
		{"openpgp P-256 signature key", cardemu.Config{OpenPGP: &cardemu.OpenPGPConfig{Serial: 1, SignKey: p}},
			0, 0, "", nil, "openpgp: the signature key is ECDSA P-256; no PIV applet"},
		{"openpgp blank", cardemu.Config{OpenPGP: &cardemu.OpenPGPConfig{Serial: 1}},
			KindOpenPGP, 0, "", nil, "openpgp: the signature key is RSA"},
		{"openpgp empty slot", cardemu.Config{OpenPGP: &cardemu.OpenPGPConfig{Serial: 1, AuthKey: other}},
			KindOpenPGP, 0, "", nil, "openpgp: the signature key slot is empty"},
		{"piv 9C P-256", cardemu.Config{PIV: &cardemu.PIVConfig{Serial: 5, SignKey: p}},
			0, 0, "", nil, "no OpenPGP applet; piv: slot 9C holds an ECDSA P-256 key"},
		{"piv 9C empty", cardemu.Config{PIV: &cardemu.PIVConfig{Serial: 5, Key: sig}},
			KindPIV, 0, "", nil, "piv: no certificate in slot 9C"},
		{"piv 9C certificate of garbage", cardemu.Config{PIV: &cardemu.PIVConfig{Serial: 5, SignKey: sig, SignCert: []byte{0x30, 0x00}}},
			KindPIV, 0, "", nil, "piv: slot 9C's certificate is not for an Ed25519 key"},
		{"piv asked for, openpgp only", cardemu.Config{OpenPGP: &cardemu.OpenPGPConfig{Serial: 1, SignKey: sig}},
			KindPIV, 0, "", nil, "(no PIV applet)"},
		{"generic", cardemu.Config{UID: []byte{1, 2, 3, 4}},
			0, 0, "", nil, "no OpenPGP applet; no PIV applet"},
		{"generic asked for", cardemu.Config{UID: []byte{1, 2, 3, 4}},
			KindGeneric, 0, "", nil, "a generic card holds no key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info, err := identifySigning(emuTransport{cardemu.New(tt.cfg)}, tt.want)
			if tt.why != "" {
				var ns *noSigningKeyError
				if !errors.Is(err, ErrUnsupportedCard) || !errors.As(err, &ns) || !strings.Contains(err.Error(), tt.why) ||
					!strings.HasPrefix(err.Error(), "the card has no Ed25519 signing key") {
					t.Fatalf("err %v, want ErrUnsupportedCard saying %q", err, tt.why)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			id := info.identity("r")
			if id.Kind != tt.kind || fmt.Sprintf("%X", id.Serial) != tt.serial || id.Algorithm != AlgEd25519 ||
				!bytes.Equal(id.PublicKey, tt.pub) || !id.CanProve || id.Attestation != nil {
				t.Fatalf("got %v serial %X alg %v pub %X", id.Kind, id.Serial, id.Algorithm, id.PublicKey)
			}
		})
	}
}

// The pieces of a chained command, byte for byte.
func TestTransceiveChained(t *testing.T) {
	data := message(600)
	hexOf := func(b []byte) string { return fmt.Sprintf("%X", b) }
	ok := unhex(t, "9000")
	t.Run("three pieces", func(t *testing.T) {
		s := &scripted{tb: t, steps: []step{
			{cmd: "102A9E9AFF" + hexOf(data[:255]), resp: ok},
			{cmd: "102A9E9AFF" + hexOf(data[255:510]), resp: ok},
			{cmd: "002A9E9A5A" + hexOf(data[510:]) + "00", resp: unhex(t, "0102 6102")},
			{cmd: "00C0000002", resp: unhex(t, "0304 9000")},
		}}
		got, sw, err := transceiveChained(s, command{0x00, 0x2A, 0x9E, 0x9A, data, 256})
		s.done()
		if err != nil || sw != swOK || hexOf(got) != "01020304" {
			t.Fatalf("%X %04X %v", got, sw, err)
		}
	})
	t.Run("255 bytes: one APDU", func(t *testing.T) {
		s := &scripted{tb: t, steps: []step{{cmd: "002A9E9AFF" + hexOf(data[:255]) + "00", resp: ok}}}
		if _, sw, err := transceiveChained(s, command{0x00, 0x2A, 0x9E, 0x9A, data[:255], 256}); err != nil || sw != swOK {
			t.Fatal(sw, err)
		}
		s.done()
	})
	t.Run("256 bytes: two", func(t *testing.T) {
		s := &scripted{tb: t, steps: []step{
			{cmd: "10879C9AFF" + hexOf(data[:255]), resp: ok},
			{cmd: "00879C9A01" + hexOf(data[255:256]) + "00", resp: ok},
		}}
		if _, sw, err := transceiveChained(s, command{0x00, 0x87, 0x9C, 0x9A, data[:256], 256}); err != nil || sw != swOK {
			t.Fatal(sw, err)
		}
		s.done()
	})
	t.Run("piece refused", func(t *testing.T) {
		s := &scripted{tb: t, steps: []step{{resp: ok}, {resp: unhex(t, "6884")}}}
		_, sw, err := transceiveChained(s, command{0x00, 0x2A, 0x9E, 0x9A, data, 256})
		s.done()
		if err != nil || sw != swNoChaining {
			t.Fatalf("%04X %v", sw, err)
		}
	})
	t.Run("6Cxx is final", func(t *testing.T) {
		s := &scripted{tb: t, steps: []step{{resp: ok}, {resp: ok}, {resp: unhex(t, "6C40")}}}
		_, sw, err := transceiveChained(s, command{0x00, 0x2A, 0x9E, 0x9A, data, 256})
		s.done()
		if err != nil || sw != 0x6C40 {
			t.Fatalf("%04X %v", sw, err)
		}
	})
	t.Run("card gone mid-chain", func(t *testing.T) {
		s := &scripted{tb: t, steps: []step{{resp: ok}, {resp: nil}}}
		_, _, err := transceiveChained(s, command{0x00, 0x2A, 0x9E, 0x9A, data, 256})
		s.done()
		if !errors.Is(err, ErrRemoved) {
			t.Fatalf("%v, want ErrRemoved", err)
		}
	})
}

func TestCardSigner(t *testing.T) {
	for name, cfg := range signCards(t) {
		t.Run(name, func(t *testing.T) {
			key := testEd25519("sign " + name)
			card := cardemu.New(cfg)
			f := newFakeSystem(readerA, readerB)
			f.insert(readerB, card)
			p := &pinPrompt{pin: "123456"}
			s := openFake(t, f, Options{PIN: p.prompt})
			id, err := s.SigningKey("", 0)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(id.PublicKey, edPub(key)) || id.Reader != readerB {
				t.Fatalf("signing key %v %X", id, id.PublicKey)
			}
			cs, err := s.Signer("", id.Kind, ed25519.PublicKey(id.PublicKey))
			if err != nil {
				t.Fatal(err)
			}
			if !cs.Public().Equal(edPub(key)) {
				t.Fatal("Public")
			}
			for _, n := range []int{1, 255, 256, 300, 4000, MaxSignData} {
				msg := message(n)
				card.ResetLog()
				sig, err := cs.Sign(msg)
				if err != nil {
					t.Fatalf("%d bytes: %v", n, err)
				}
				if !ed25519.Verify(edPub(key), msg, sig) {
					t.Fatalf("%d bytes: signature does not verify", n)
				}
				// VERIFY before the signature, chaining for longer data,
				// VERIFY FF after it.
				log := card.Log()
				ref, ins := "0020008"+map[string]string{"openpgp": "1", "piv": "0"}[name], map[string]string{"openpgp": "2A9E9A", "piv": "87E09C"}[name]
				chained := 0
				for _, h := range log {
					if h == "10"+ins {
						chained++
					}
				}
				if want := (n - 1) / 255; name == "openpgp" && chained != want {
					t.Fatalf("%d bytes: %d chained pieces, want %d: %v", n, chained, want, log)
				}
				iv := slices.Index(log, ref)
				is := slices.Index(log, "00"+ins)
				if iv < 0 || is < iv || log[len(log)-1] != "0020FF"+ref[6:] {
					t.Fatalf("%d bytes: APDUs %v", n, log)
				}
			}
			if got := p.calls(); !slices.Equal(got, []int{3}) {
				t.Fatalf("prompt calls %v, want one", got)
			}
			if r := f.slot(readerB).resets; r != 0 {
				t.Fatalf("%d resets: the card did not forget the PIN", r)
			}
			pin := cs.pin
			if err := cs.Close(); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(pin, make([]byte, len(pin))) || cs.pin != nil {
				t.Fatalf("PIN not zeroed at Close: %q", pin)
			}
			if _, err := cs.Sign([]byte("x")); !errors.Is(err, ErrClosed) {
				t.Fatalf("Sign after Close: %v", err)
			}
			if err := cs.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestCardSignerAPDUs(t *testing.T) {
	card := cardemu.New(signCards(t)["openpgp"])
	f := newFakeSystem(readerA)
	f.insert(readerA, card)
	s := openFake(t, f, Options{PIN: (&pinPrompt{pin: "123456"}).prompt})
	cs, err := s.Signer(readerA, KindOpenPGP, edPub(testEd25519("sign openpgp")))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"00A40400", "00CA006E", "00478100", // find the key; the tries come with 6E
		"00A40400", "00478100", "00CA00C4", "00CA00F9", "00200081", "0020FF81"} // check the PIN (no KDF-DO: as it is)
	if log := card.Log(); !slices.Equal(log, want) {
		t.Fatalf("Signer: APDUs %v, want %v", log, want)
	}
	card.ResetLog()
	if _, err := cs.Sign(message(600)); err != nil {
		t.Fatal(err)
	}
	want = []string{"00A40400", "00478100", "00CA00C4", "00CA00F9", "00200081", "102A9E9A", "102A9E9A", "002A9E9A", "0020FF81"}
	if log := card.Log(); !slices.Equal(log, want) {
		t.Fatalf("Sign: APDUs %v, want %v", log, want)
	}
}

func TestSignerFindsTheKey(t *testing.T) {
	right, wrong := testEd25519("right"), testEd25519("wrong")
	f := newFakeSystem(readerA, readerB)
	s := openFake(t, f, Options{PIN: (&pinPrompt{pin: "123456"}).prompt})
	if _, err := s.Signer("", 0, edPub(right)); !errors.Is(err, ErrNoCard) {
		t.Fatalf("no card: %v", err)
	}
	other := cardemu.New(cardemu.Config{OpenPGP: &cardemu.OpenPGPConfig{Manufacturer: 0xFFFE, Serial: 7, SignKey: wrong}})
	f.insert(readerA, other)
	_, err := s.Signer("", 0, edPub(right))
	var e *Error
	if !errors.Is(err, ErrKeyNotFound) || !errors.As(err, &e) || e.Hint != ErrKeyNotFound.Hint ||
		!strings.Contains(err.Error(), "openpgp card FFFE 00000007: another Ed25519 signing key") {
		t.Fatalf("other key only: %v", err)
	}
	if other.TriesLeft() != 3 || slices.Contains(other.Log(), "00200081") {
		t.Fatal("the PIN went to a card without the key")
	}
	f.insert(readerB, cardemu.New(cardemu.Config{OpenPGP: &cardemu.OpenPGPConfig{Serial: 8, AuthKey: right},
		PIV: &cardemu.PIVConfig{Serial: 9, SignKey: right}}))
	cs, err := s.Signer("", 0, edPub(right))
	if err != nil || cs.reader != readerB || cs.kind != KindPIV {
		t.Fatalf("%+v %v", cs, err)
	}
	defer cs.Close()
	if _, err := s.Signer(readerB, KindOpenPGP, edPub(right)); !errors.Is(err, ErrKeyNotFound) ||
		!strings.Contains(err.Error(), "the signature key slot is empty") {
		t.Fatalf("the OpenPGP applet only: %v", err)
	}
	if _, err := s.Signer(readerA, 0, edPub(right)); !errors.Is(err, ErrKeyNotFound) {
		t.Fatalf("the reader with the other card: %v", err)
	}
	if _, err := s.Signer("", 0, edPub(right)[:31]); !errors.Is(err, ErrBadPublicKey) {
		t.Fatalf("short key: %v", err)
	}
	// A reader that cannot be read hides the key that may be in it.
	f.slot(readerB).exclusive = true
	if _, err := s.Signer("", 0, edPub(right)); !errors.Is(err, ErrSharingViolation) {
		t.Fatalf("held reader: %v", err)
	}
}

func TestSigningKeyHint(t *testing.T) {
	f := newFakeSystem(readerA)
	f.insert(readerA, cardemu.New(cardemu.Config{OpenPGP: &cardemu.OpenPGPConfig{Serial: 1, AuthKey: testEd25519("a"), SignKey: testP256(t, "p")}}))
	s := openFake(t, f, Options{})
	_, err := s.SigningKey(readerA, 0)
	var e *Error
	if !errors.Is(err, ErrUnsupportedCard) || !errors.As(err, &e) || e.Op != "read signing key" ||
		!strings.Contains(e.Hint, "ykman piv keys generate -a ED25519 9c") || !strings.Contains(e.Hint, "key-attr") {
		t.Fatalf("%v (hint %q)", err, e.Hint)
	}
	want := `dongle: read signing key (reader "Fake Reader A 00 00"): the card has no Ed25519 signing key (openpgp: the signature key is ECDSA P-256; no PIV applet)`
	if err.Error() != want {
		t.Fatalf("message\n%s\nwant\n%s", err, want)
	}
	// The proof key is still there for Identify and Prove.
	if id, err := s.Identify(readerA); err != nil || id.Algorithm != AlgEd25519 {
		t.Fatalf("Identify: %v %v", id, err)
	}
}

func TestSignerWrongPIN(t *testing.T) {
	for _, kind := range []Kind{KindOpenPGP, KindPIV} {
		t.Run(kind.String(), func(t *testing.T) {
			key := testEd25519("pin")
			cfg := cardemu.Config{OpenPGP: &cardemu.OpenPGPConfig{Serial: 1, SignKey: key, PIN: "246810", Tries: 3}}
			if kind == KindPIV {
				cfg = cardemu.Config{PIV: &cardemu.PIVConfig{Serial: 1, SignKey: key, PIN: "246810", Tries: 3}}
			}
			card := cardemu.New(cfg)
			tries := card.TriesLeft
			if kind == KindPIV {
				tries = card.PIVTriesLeft
			}
			f := newFakeSystem(readerA)
			f.insert(readerA, card)
			p := &pinPrompt{pin: "987654"}
			s := openFake(t, f, Options{PIN: p.prompt})
			for want := 2; want >= 1; want-- {
				cs, err := s.Signer(readerA, kind, edPub(key))
				var pe *PINError
				var e *Error
				if cs != nil || !errors.As(err, &pe) || pe.TriesLeft != want || !errors.As(err, &e) ||
					e.Op != "open signer" || !strings.Contains(e.Hint, fmt.Sprint(want)) {
					t.Fatalf("%v, want a *PINError with %d tries left", err, want)
				}
				if strings.Contains(err.Error()+e.Hint, "987654") {
					t.Fatal("the PIN is in the error")
				}
			}
			if _, err := s.Signer(readerA, kind, edPub(key)); !errors.Is(err, ErrTooFewTries) {
				t.Fatalf("third try: %v, want ErrTooFewTries", err)
			}
			if got := p.calls(); !slices.Equal(got, []int{3, 2}) {
				t.Fatalf("prompt calls %v: no prompt when the try is refused", got)
			}
			if n := tries(); n != 1 {
				t.Fatalf("%d tries left, want 1", n)
			}
			p.pin = "246810"
			s.opt.MinTriesLeft = 1
			cs, err := s.Signer(readerA, kind, edPub(key))
			if err != nil {
				t.Fatal(err)
			}
			defer cs.Close()
			if n := tries(); n != 3 {
				t.Fatalf("%d tries left after the right PIN, want 3", n)
			}
			if _, err := cs.Sign([]byte("after the right PIN")); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// Tries lost while a signer is open (someone typed wrong PINs elsewhere):
// the signer stops before the card could lock.
func TestCardSignerRefusesBeforeLock(t *testing.T) {
	key := testEd25519("lock")
	card := cardemu.New(cardemu.Config{OpenPGP: &cardemu.OpenPGPConfig{Serial: 1, SignKey: key, Tries: 3}})
	f := newFakeSystem(readerA)
	f.insert(readerA, card)
	s := openFake(t, f, Options{PIN: (&pinPrompt{pin: "123456"}).prompt})
	cs, err := s.Signer(readerA, 0, edPub(key))
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	card.Transmit(unhex(t, "00A4040006D27600012401"))
	for range 2 {
		card.Transmit(unhex(t, "0020008206303030303030"))
	}
	card.ResetLog()
	_, err = cs.Sign([]byte("m"))
	var e *Error
	if !errors.Is(err, ErrTooFewTries) || !errors.As(err, &e) || e.Op != "sign" {
		t.Fatalf("%v, want ErrTooFewTries", err)
	}
	if slices.Contains(card.Log(), "00200081") || card.TriesLeft() != 1 {
		t.Fatalf("a PIN was sent: %v, %d tries left", card.Log(), card.TriesLeft())
	}
}

// The PIN changed while the signer was open: the card refuses it once,
// and the signer never sends it again.
func TestCardSignerPINChanged(t *testing.T) {
	key := testEd25519("changed")
	card := cardemu.New(cardemu.Config{PIV: &cardemu.PIVConfig{Serial: 1, SignKey: key}})
	f := newFakeSystem(readerA)
	f.insert(readerA, card)
	s := openFake(t, f, Options{PIN: (&pinPrompt{pin: "123456"}).prompt})
	cs, err := s.Signer(readerA, KindPIV, edPub(key))
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	verifies := 0
	f.slot(readerA).hook = func(cmd []byte) ([]byte, error, bool) {
		if len(cmd) > 5 && cmd[1] == 0x20 && cmd[2] == 0x00 {
			verifies++
			return unhex(t, "63C2"), nil, true
		}
		return nil, nil, false
	}
	_, err = cs.Sign([]byte("m"))
	var pe *PINError
	if !errors.As(err, &pe) || pe.TriesLeft != 2 {
		t.Fatalf("%v, want a *PINError with 2 tries left", err)
	}
	_, err = cs.Sign([]byte("m"))
	if !errors.Is(err, ErrWrongPIN) || !strings.Contains(err.Error(), "open a new signer") || verifies != 1 {
		t.Fatalf("%v after %d VERIFY", err, verifies)
	}
}

func TestCardSignerBadCardAnswers(t *testing.T) {
	for _, tc := range []struct {
		name, kind string
		answer     string // hex, to the last piece of the signature command
		want       error
		text       string
	}{
		{"garbage signature", "openpgp", strings.Repeat("5A", 64) + "9000", ErrBadCardSignature, "does not verify under its public key"},
		{"short signature", "openpgp", strings.Repeat("5A", 63) + "9000", ErrUnsupportedCard, "malformed ed25519 signature of 63 bytes"},
		{"piv garbage", "piv", "7C42 8240" + strings.Repeat("5A", 64) + "9000", ErrBadCardSignature, ""},
		{"piv no signature", "piv", "7C02 8200 9000", ErrUnsupportedCard, ""},
		{"too long for the card", "openpgp", "6700", ErrUnsupportedCard, "may not take messages this long"},
		{"reset under us", "openpgp", "6982", ErrRemoved, "forgot the PIN verification"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			card := cardemu.New(signCards(t)[tc.kind])
			f := newFakeSystem(readerA)
			f.insert(readerA, card)
			s := openFake(t, f, Options{PIN: (&pinPrompt{pin: "123456"}).prompt})
			cs, err := s.Signer(readerA, 0, edPub(testEd25519("sign "+tc.kind)))
			if err != nil {
				t.Fatal(err)
			}
			defer cs.Close()
			f.slot(readerA).hook = func(cmd []byte) ([]byte, error, bool) {
				if cmd[0] == 0x00 && (cmd[1] == 0x2A || cmd[1] == 0x87) {
					return unhex(t, tc.answer), nil, true
				}
				return nil, nil, false
			}
			sig, err := cs.Sign(message(300))
			if sig != nil || !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("%X %v, want %v", sig, err, tc.want)
			}
			t.Log(err)
		})
	}
}

// The card in the reader was swapped for another after the signer opened:
// its PIN is not sent to the other card.
func TestCardSignerSwapped(t *testing.T) {
	key := testEd25519("swap")
	f := newFakeSystem(readerA)
	f.insert(readerA, cardemu.New(cardemu.Config{OpenPGP: &cardemu.OpenPGPConfig{Serial: 1, SignKey: key}}))
	s := openFake(t, f, Options{PIN: (&pinPrompt{pin: "123456"}).prompt})
	cs, err := s.Signer(readerA, 0, edPub(key))
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	other := cardemu.New(cardemu.Config{OpenPGP: &cardemu.OpenPGPConfig{Serial: 1, SignKey: testEd25519("clone")}})
	f.insert(readerA, other)
	if _, err := cs.Sign([]byte("m")); !errors.Is(err, ErrKeyNotFound) {
		t.Fatalf("%v, want ErrKeyNotFound", err)
	}
	if slices.Contains(other.Log(), "00200081") {
		t.Fatalf("the PIN went to the other card: %v", other.Log())
	}
}

func TestCardSignerRemovedMidChain(t *testing.T) {
	key := testEd25519("sign piv")
	card := cardemu.New(signCards(t)["piv"])
	f := newFakeSystem(readerA)
	f.insert(readerA, card)
	s := openFake(t, f, Options{PIN: (&pinPrompt{pin: "123456"}).prompt})
	cs, err := s.Signer(readerA, 0, edPub(key))
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	pieces := 0
	f.slot(readerA).hook = func(cmd []byte) ([]byte, error, bool) {
		if cmd[0] == 0x10 {
			if pieces++; pieces == 3 { // the card vanishes: vpcd answers nothing
				f.slots[readerA].card = nil
				return nil, nil, true
			}
		}
		return nil, nil, false
	}
	_, err = cs.Sign(message(MaxSignData))
	var e *Error
	if !errors.Is(err, ErrRemoved) || !errors.As(err, &e) || e.Hint == "" {
		t.Fatalf("%v", err)
	}
	if r := f.slot(readerA).reconnects; r != 1 {
		t.Fatalf("%d reconnects, want 1", r)
	}
	if card.PIVTriesLeft() != 3 {
		t.Fatal("a try was lost")
	}
}

// A reset by another program between VERIFY and the signature: reconnect,
// VERIFY again with the PIN kept, sign.
func TestCardSignerResetRecovered(t *testing.T) {
	key := testEd25519("sign openpgp")
	card := cardemu.New(signCards(t)["openpgp"])
	f := newFakeSystem(readerA)
	f.insert(readerA, card)
	p := &pinPrompt{pin: "123456"}
	s := openFake(t, f, Options{PIN: p.prompt})
	cs, err := s.Signer(readerA, 0, edPub(key))
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	resetDone := false
	f.slot(readerA).hook = func(cmd []byte) ([]byte, error, bool) {
		if !resetDone && cmd[1] == 0x2A {
			resetDone = true
			card.Reset()
			return nil, cause(ErrRemoved, errors.New("fake: Card was reset.")), true
		}
		return nil, nil, false
	}
	msg := message(1000)
	sig, err := cs.Sign(msg)
	if err != nil || !ed25519.Verify(edPub(key), msg, sig) {
		t.Fatalf("%v", err)
	}
	if r := f.slot(readerA).reconnects; r != 1 || len(p.calls()) != 1 {
		t.Fatalf("%d reconnects, %d prompts", r, len(p.calls()))
	}
}

func TestCardSignerLimits(t *testing.T) {
	key := testEd25519("sign openpgp")
	card := cardemu.New(signCards(t)["openpgp"])
	f := newFakeSystem(readerA)
	f.insert(readerA, card)
	s := openFake(t, f, Options{PIN: (&pinPrompt{pin: "123456"}).prompt})
	cs, err := s.Signer(readerA, 0, edPub(key))
	if err != nil {
		t.Fatal(err)
	}
	card.ResetLog()
	for _, n := range []int{0, MaxSignData + 1} {
		if _, err := cs.Sign(make([]byte, n)); err == nil {
			t.Fatalf("%d bytes accepted", n)
		}
	}
	if len(card.Log()) != 0 {
		t.Fatalf("commands sent: %v", card.Log())
	}
	// Concurrent signatures take turns.
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Go(func() {
			msg := message(100 + i)
			sig, err := cs.Sign(msg)
			if err == nil && !ed25519.Verify(edPub(key), msg, sig) {
				err = errors.New("bad signature")
			}
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// The session closed under the signer.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.Sign([]byte("m")); !errors.Is(err, ErrClosed) {
		t.Fatalf("%v", err)
	}
	// No prompt, no signer.
	s = openFake(t, f, Options{})
	if _, err := s.Signer(readerA, 0, edPub(key)); !errors.Is(err, ErrNoPINPrompt) {
		t.Fatalf("%v", err)
	}
	var nilSession *Session
	if _, err := nilSession.Signer("", 0, edPub(key)); err == nil {
		t.Fatal("nil session")
	}
	if _, err := nilSession.SigningKey("", 0); err == nil {
		t.Fatal("nil session")
	}
}

// The desk's signing key on a real YubiKey: its applets take at most
// 3070 (OpenPGP, as its DO 7F66 says) or 3072 (PIV) bytes of command data
// after chaining. Messages up to that sign; a longer one is refused by the
// card, and the signer says so in terms of the message's length rather
// than failing obscurely. (Ed25519 signs the message itself: there is no
// digest to send instead.)
func TestCardSignerYubiKeyBuffers(t *testing.T) {
	for name, tc := range map[string]struct {
		cfg     cardemu.Config
		fits    int // the longest message the card takes
		tooLong int
	}{
		"openpgp": {cardemu.Config{OpenPGP: &cardemu.OpenPGPConfig{Manufacturer: 6, Serial: 1, SignKey: testEd25519("sign openpgp")},
			YubiKey: &cardemu.YubiKeyConfig{Serial: 1}}, 3070, 3071},
		// GENERAL AUTHENTICATE wraps the message: 7C 82 LL LL { 82 00, 81 82 LL LL msg }
		"piv": {cardemu.Config{PIV: &cardemu.PIVConfig{Serial: 2, SignKey: testEd25519("sign piv")},
			YubiKey: &cardemu.YubiKeyConfig{Serial: 2}}, 3072 - 10, 3072 - 9},
	} {
		t.Run(name, func(t *testing.T) {
			key := testEd25519("sign " + name)
			f := newFakeSystem(readerA)
			f.insert(readerA, cardemu.New(tc.cfg))
			s := openFake(t, f, Options{PIN: (&pinPrompt{pin: "123456"}).prompt})
			cs, err := s.Signer(readerA, 0, edPub(key))
			if err != nil {
				t.Fatal(err)
			}
			defer cs.Close()
			for _, n := range []int{600, 2048, tc.fits} {
				sig, err := cs.Sign(message(n))
				if err != nil || !ed25519.Verify(edPub(key), message(n), sig) {
					t.Fatalf("%d bytes: %v", n, err)
				}
			}
			_, err = cs.Sign(message(tc.tooLong))
			if !errors.Is(err, ErrUnsupportedCard) || !strings.Contains(err.Error(), fmt.Sprintf("a message of %d bytes", tc.tooLong)) {
				t.Fatalf("%d bytes: %v", tc.tooLong, err)
			}
		})
	}
}
