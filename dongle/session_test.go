package dongle

import (
	"bytes"
	"crypto"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airlock-offline/airlock/internal/testrig/cardemu"
)

const (
	readerA = "Fake Reader A 00 00"
	readerB = "Fake Reader B 00 01"
)

func openFake(t *testing.T, f *fakeSystem, opt Options) *Session {
	t.Helper()
	s, err := open(opt, f.establish)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func proofCards(t *testing.T) map[string]cardemu.Config {
	return map[string]cardemu.Config{
		"openpgp ed25519": {OpenPGP: &cardemu.OpenPGPConfig{Manufacturer: 0xFFFE, Serial: 1, AuthKey: testEd25519("s")}},
		"openpgp p256":    {OpenPGP: &cardemu.OpenPGPConfig{Manufacturer: 0xFFFE, Serial: 2, AuthKey: testP256(t, "s")}},
		"piv p256":        {PIV: &cardemu.PIVConfig{Serial: 3, Key: testP256(t, "s")}},
		"piv ed25519":     {PIV: &cardemu.PIVConfig{Serial: 4, Key: testEd25519("s")}},
	}
}

func TestSessionProve(t *testing.T) {
	for name, cfg := range proofCards(t) {
		t.Run(name, func(t *testing.T) {
			f := newFakeSystem(readerA, readerB)
			card := cardemu.New(cfg)
			f.insert(readerB, card)
			p := &pinPrompt{pin: "123456"}
			s := openFake(t, f, Options{PIN: p.prompt})
			id, err := s.Identify("")
			if err != nil {
				t.Fatal(err)
			}
			if id.Reader != readerB || !id.CanProve {
				t.Fatalf("identity %v", id)
			}
			ch, _ := Challenge(nil, []byte(name))
			kind, alg, sig, err := s.Prove("", ch)
			if err != nil {
				t.Fatal(err)
			}
			if kind != id.Kind || alg != id.Algorithm {
				t.Fatalf("prove gave %v %v, identify %v %v", kind, alg, id.Kind, id.Algorithm)
			}
			if err := VerifyProof(alg, id.PublicKey, ch, sig); err != nil {
				t.Fatal(err)
			}
			if got := p.calls(); !slices.Equal(got, []int{3}) {
				t.Fatalf("prompt saw tries %v, want [3]", got)
			}
			// The card was told to forget the PIN, so no reset was needed.
			p2 := "82"
			if kind == KindPIV {
				p2 = "80"
			}
			if log := card.Log(); !slices.Contains(log, "0020FF"+p2) {
				t.Fatalf("no VERIFY FF in %v", log)
			}
			if r := f.slot(readerB).resets; r != 0 {
				t.Fatalf("%d resets", r)
			}
			// ProveWith the recorded kind gives the same.
			if _, _, sig, err := s.ProveWith(id.Reader, id.Kind, ch); err != nil || VerifyProof(alg, id.PublicKey, ch, sig) != nil {
				t.Fatalf("ProveWith: %v", err)
			}
		})
	}
}

func TestSessionProveWithKind(t *testing.T) {
	f := newFakeSystem(readerA)
	f.insert(readerA, cardemu.New(cardemu.Config{
		OpenPGP: &cardemu.OpenPGPConfig{Serial: 1, AuthKey: testEd25519("both")},
		PIV:     &cardemu.PIVConfig{Serial: 2, Key: testP256(t, "both")}}))
	s := openFake(t, f, Options{PIN: (&pinPrompt{pin: "123456"}).prompt})
	ch, _ := Challenge(nil, nil)
	kind, alg, sig, err := s.ProveWith(readerA, KindPIV, ch)
	if err != nil || kind != KindPIV || alg != AlgP256 {
		t.Fatalf("%v %v %v", kind, alg, err)
	}
	if err := VerifyProof(alg, p256Point(t, testP256(t, "both")), ch, sig); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := s.ProveWith(readerA, KindGeneric, ch); !errors.Is(err, ErrUnsupportedCard) {
		t.Fatalf("generic: %v", err)
	}
}

func TestSessionWrongPINNeverLocks(t *testing.T) {
	for _, kind := range []Kind{KindOpenPGP, KindPIV} {
		t.Run(kind.String(), func(t *testing.T) {
			cfg := cardemu.Config{OpenPGP: &cardemu.OpenPGPConfig{Serial: 1, AuthKey: testEd25519("pin"), PIN: "246810", Tries: 3}}
			if kind == KindPIV {
				cfg = cardemu.Config{PIV: &cardemu.PIVConfig{Serial: 1, Key: testP256(t, "pin"), PIN: "246810", Tries: 3}}
			}
			card := cardemu.New(cfg)
			tries := func() int {
				if kind == KindPIV {
					return card.PIVTriesLeft()
				}
				return card.TriesLeft()
			}
			f := newFakeSystem(readerA)
			f.insert(readerA, card)
			p := &pinPrompt{pin: "987654"}
			s := openFake(t, f, Options{PIN: p.prompt})
			ch, _ := Challenge(nil, nil)
			for want := 2; want >= 1; want-- {
				_, _, _, err := s.Prove(readerA, ch)
				var pe *PINError
				if !errors.As(err, &pe) || pe.TriesLeft != want || !errors.Is(err, ErrWrongPIN) {
					t.Fatalf("err %v, want a *PINError with %d tries left", err, want)
				}
				var e *Error
				if !errors.As(err, &e) || !strings.Contains(e.Hint, fmt.Sprint(want)) {
					t.Fatalf("hint %q does not give the tries left", e.Hint)
				}
				if strings.Contains(err.Error(), "987654") || strings.Contains(e.Hint, "987654") {
					t.Fatal("the PIN is in the error")
				}
			}
			_, _, _, err := s.Prove(readerA, ch)
			if !errors.Is(err, ErrTooFewTries) {
				t.Fatalf("third try: %v, want ErrTooFewTries", err)
			}
			if got := p.calls(); !slices.Equal(got, []int{3, 2}) {
				t.Fatalf("prompt calls %v: it must not be asked when the try is refused", got)
			}
			if n := tries(); n != 1 {
				t.Fatalf("card has %d tries left, want 1", n)
			}
			// The right PIN, allowed on the last try, restores the counter.
			p.pin = "246810"
			s.opt.MinTriesLeft = 1
			if _, _, _, err := s.Prove(readerA, ch); err != nil {
				t.Fatal(err)
			}
			if n := tries(); n != 3 {
				t.Fatalf("card has %d tries left after the right PIN, want 3", n)
			}
		})
	}
}

func TestSessionBlockedPIN(t *testing.T) {
	card := cardemu.New(cardemu.Config{OpenPGP: &cardemu.OpenPGPConfig{Serial: 1, AuthKey: testEd25519("b"), Tries: 1}})
	f := newFakeSystem(readerA)
	f.insert(readerA, card)
	p := &pinPrompt{pin: "000000"}
	s := openFake(t, f, Options{PIN: p.prompt, MinTriesLeft: 1})
	ch, _ := Challenge(nil, nil)
	_, _, _, err := s.Prove(readerA, ch)
	if !errors.Is(err, ErrWrongPIN) || !errors.Is(err, ErrPINBlocked) {
		t.Fatalf("last try wrong: %v", err)
	}
	_, _, _, err = s.Prove(readerA, ch)
	var e *Error
	if !errors.Is(err, ErrPINBlocked) || errors.Is(err, ErrWrongPIN) || !errors.As(err, &e) || !strings.Contains(e.Hint, "unblock") {
		t.Fatalf("blocked: %v", err)
	}
	if got := p.calls(); len(got) != 1 {
		t.Fatalf("prompt calls %v", got)
	}
}

func TestSessionPINPromptProblems(t *testing.T) {
	card := cardemu.New(cardemu.Config{PIV: &cardemu.PIVConfig{Serial: 1, Key: testP256(t, "p")}})
	f := newFakeSystem(readerA)
	f.insert(readerA, card)
	ch, _ := Challenge(nil, nil)

	s := openFake(t, f, Options{})
	card.ResetLog()
	if _, _, _, err := s.Prove(readerA, ch); !errors.Is(err, ErrNoPINPrompt) {
		t.Fatalf("no prompt: %v", err)
	}
	cancelled := errors.New("user cancelled")
	s = openFake(t, f, Options{PIN: (&pinPrompt{err: cancelled}).prompt})
	if _, _, _, err := s.Prove(readerA, ch); !errors.Is(err, cancelled) {
		t.Fatalf("cancelled prompt: %v", err)
	}
	s = openFake(t, f, Options{PIN: (&pinPrompt{pin: "123456789"}).prompt})
	if _, _, _, err := s.Prove(readerA, ch); !errors.Is(err, ErrInvalidPIN) {
		t.Fatalf("long PIN: %v", err)
	}
	for _, h := range card.Log() {
		if strings.HasPrefix(h, "0087") {
			t.Fatalf("GENERAL AUTHENTICATE sent: %v", card.Log())
		}
	}
	if card.PIVTriesLeft() != 3 {
		t.Fatal("a try was spent")
	}
	for _, bad := range [][]byte{nil, make([]byte, MaxChallenge+1)} {
		if _, _, _, err := s.Prove(readerA, bad); err == nil {
			t.Fatalf("challenge of %d bytes accepted", len(bad))
		}
	}
}

func TestSessionGenericCannotProve(t *testing.T) {
	f := newFakeSystem(readerA)
	f.insert(readerA, cardemu.New(cardemu.Config{UID: []byte{1, 2, 3, 4, 5, 6, 7}}))
	p := &pinPrompt{pin: "123456"}
	s := openFake(t, f, Options{PIN: p.prompt})
	id, err := s.Identify(readerA)
	if err != nil || id.Kind != KindGeneric || id.CanProve || id.WirePublicKey() != nil {
		t.Fatalf("%v %v", id, err)
	}
	ch, _ := Challenge(nil, nil)
	if _, _, _, err := s.Prove(readerA, ch); !errors.Is(err, ErrUnsupportedCard) {
		t.Fatalf("prove: %v", err)
	}
	if len(p.calls()) != 0 {
		t.Fatal("prompted for a card that cannot prove")
	}
}

func TestSessionReaders(t *testing.T) {
	f := newFakeSystem(readerA, readerB)
	s := openFake(t, f, Options{})
	rs, err := s.Readers()
	if err != nil || len(rs) != 2 || rs[0].CardPresent || rs[1].CardPresent {
		t.Fatalf("%v %v", rs, err)
	}
	for _, r := range []string{"", readerA} {
		if _, err := s.Identify(r); !errors.Is(err, ErrNoCard) {
			t.Fatalf("Identify(%q) with no card: %v", r, err)
		}
	}
	var e *Error
	if _, err := s.Identify("No Such Reader"); !errors.Is(err, ErrNoReader) || !errors.As(err, &e) || e.Reader != "No Such Reader" || e.Op != "identify" {
		t.Fatalf("unknown reader: %#v", err)
	}
	f.insert(readerB, cardemu.New(cardemu.Config{UID: []byte{1, 2, 3, 4}}))
	rs, _ = s.Readers()
	if rs[0].CardPresent || !rs[1].CardPresent {
		t.Fatalf("%v", rs)
	}
	if id, err := s.Identify(""); err != nil || id.Reader != readerB {
		t.Fatalf("%v %v", id, err)
	}

	empty := newFakeSystem()
	s = openFake(t, empty, Options{})
	if _, err := s.Readers(); !errors.Is(err, ErrNoReader) {
		t.Fatalf("no readers: %v", err)
	}
	if _, err := s.Identify(""); !errors.Is(err, ErrNoReader) {
		t.Fatalf("no readers: %v", err)
	}
}

func TestSessionFind(t *testing.T) {
	f := newFakeSystem(readerA, readerB)
	f.insert(readerA, cardemu.New(cardemu.Config{OpenPGP: &cardemu.OpenPGPConfig{Manufacturer: 0xFFFE, Serial: 1, AuthKey: testEd25519("1")}}))
	f.insert(readerB, cardemu.New(cardemu.Config{OpenPGP: &cardemu.OpenPGPConfig{Manufacturer: 0xFFFE, Serial: 2, AuthKey: testEd25519("2")}}))
	s := openFake(t, f, Options{})
	id, err := s.Find(KindOpenPGP, []byte{0xFF, 0xFE, 0, 0, 0, 2})
	if err != nil || id.Reader != readerB {
		t.Fatalf("%v %v", id, err)
	}
	_, err = s.Find(KindOpenPGP, []byte{0xFF, 0xFE, 0, 0, 0, 3})
	var e *Error
	if !errors.Is(err, ErrNoCard) || !errors.As(err, &e) || !strings.Contains(e.Hint, "FFFE 00000003") {
		t.Fatalf("%v", err)
	}
	f.slot(readerA).exclusive = true
	if _, err := s.Find(KindOpenPGP, []byte{0xFF, 0xFE, 0, 0, 0, 1}); !errors.Is(err, ErrSharingViolation) {
		t.Fatalf("held reader: %v", err)
	}
}

func TestSessionNoService(t *testing.T) {
	f := newFakeSystem(readerA)
	f.noService = true
	_, err := open(Options{}, f.establish)
	var e *Error
	if !errors.Is(err, ErrNoService) || !errors.As(err, &e) || e.Op != "open" || !strings.Contains(e.Hint, "pcscd") {
		t.Fatalf("%v", err)
	}

	// The service goes away mid-session and comes back.
	f.noService = false
	f.insert(readerA, cardemu.New(cardemu.Config{UID: []byte{1, 2, 3, 4}}))
	s := openFake(t, f, Options{})
	f.mu.Lock()
	f.noService = true
	f.mu.Unlock()
	if _, err := s.Identify(""); !errors.Is(err, ErrNoService) {
		t.Fatalf("service gone: %v", err)
	}
	if _, err := s.Identify(""); !errors.Is(err, ErrNoService) {
		t.Fatalf("service still gone: %v", err)
	}
	f.mu.Lock()
	f.noService = false
	f.mu.Unlock()
	if _, err := s.Identify(""); err != nil {
		t.Fatalf("service back: %v", err)
	}
	waitFor(t, func() bool { est, rel := f.counts(); return est == 2 && rel == 1 })
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSessionSharingViolation(t *testing.T) {
	f := newFakeSystem(readerA)
	f.insert(readerA, cardemu.New(cardemu.Config{UID: []byte{1, 2, 3, 4}}))
	f.slot(readerA).exclusive = true
	s := openFake(t, f, Options{})
	_, err := s.Identify("")
	var e *Error
	if !errors.Is(err, ErrSharingViolation) || !errors.As(err, &e) {
		t.Fatalf("%v", err)
	}
	for _, want := range []string{`gpg-connect-agent "SCD KILLSCD" /bye`, "fuser -v /dev/bus/usb/*/*", "lsof | grep pcscd", "scdaemon"} {
		if !strings.Contains(e.Hint, want) {
			t.Errorf("hint %q lacks %q", e.Hint, want)
		}
	}
}

func TestSessionTimeout(t *testing.T) {
	f := newFakeSystem(readerA)
	f.insert(readerA, cardemu.New(cardemu.Config{UID: []byte{1, 2, 3, 4}}))
	block := make(chan struct{})
	f.slot(readerA).block = block
	const timeout = 200 * time.Millisecond
	s := openFake(t, f, Options{Timeout: timeout})
	start := time.Now()
	_, err := s.Identify(readerA)
	took := time.Since(start)
	var e *Error
	if !errors.Is(err, ErrTimeout) || !errors.As(err, &e) || !strings.Contains(e.Hint, "200ms") {
		t.Fatalf("%v", err)
	}
	if took < timeout || took > timeout+time.Second {
		t.Fatalf("took %v with a %v deadline", took, timeout)
	}
	// While the other program holds its transaction, every call times out
	// on a fresh context; none hangs.
	for range 2 {
		start = time.Now()
		if _, err := s.Identify(readerA); !errors.Is(err, ErrTimeout) || time.Since(start) > timeout+time.Second {
			t.Fatalf("%v after %v", err, time.Since(start))
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Once it lets go, the stuck calls return and their contexts are
	// released.
	f.mu.Lock()
	f.slots[readerA].block = nil
	f.mu.Unlock()
	close(block)
	waitFor(t, func() bool { est, rel := f.counts(); return est == 3 && rel == 3 })

	s = openFake(t, f, Options{Timeout: timeout})
	if _, err := s.Identify(readerA); err != nil {
		t.Fatal(err)
	}
}

func TestSessionRemovedMidCommand(t *testing.T) {
	f := newFakeSystem(readerA)
	card := cardemu.New(cardemu.Config{OpenPGP: &cardemu.OpenPGPConfig{Serial: 1, AuthKey: testEd25519("r")}})
	f.insert(readerA, card)
	n := 0
	f.slot(readerA).hook = func(cmd []byte) ([]byte, error, bool) {
		n++
		if n == 2 { // the card vanishes: vpcd answers nothing, without an error
			f.slots[readerA].card = nil
			return nil, nil, true
		}
		return nil, nil, false
	}
	s := openFake(t, f, Options{Timeout: time.Second})
	_, err := s.Identify(readerA)
	var e *Error
	if !errors.Is(err, ErrRemoved) || !errors.As(err, &e) || e.Hint == "" {
		t.Fatalf("%v", err)
	}
	if r := f.slot(readerA).reconnects; r != 1 {
		t.Fatalf("%d reconnects, want 1", r)
	}
	if _, err := s.Identify(readerA); !errors.Is(err, ErrNoCard) {
		t.Fatalf("after removal: %v", err)
	}
}

func TestSessionResetRecovered(t *testing.T) {
	f := newFakeSystem(readerA)
	card := cardemu.New(cardemu.Config{PIV: &cardemu.PIVConfig{Serial: 1, Key: testP256(t, "reset")}})
	f.insert(readerA, card)
	// Another program resets the card once, in the middle of the proof,
	// right before GENERAL AUTHENTICATE: the card forgets the applet and
	// the PIN, and PC/SC says so.
	resetDone := false
	f.slot(readerA).hook = func(cmd []byte) ([]byte, error, bool) {
		if !resetDone && len(cmd) > 1 && cmd[1] == 0x87 {
			resetDone = true
			card.Reset()
			return nil, cause(ErrRemoved, errors.New("fake: Card was reset.")), true
		}
		return nil, nil, false
	}
	p := &pinPrompt{pin: "123456"}
	s := openFake(t, f, Options{PIN: p.prompt})
	ch, _ := Challenge(nil, nil)
	_, alg, sig, err := s.Prove(readerA, ch)
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyProof(alg, p256Point(t, testP256(t, "reset")), ch, sig); err != nil {
		t.Fatal(err)
	}
	if r := f.slot(readerA).reconnects; r != 1 || len(p.calls()) != 1 {
		t.Fatalf("%d reconnects, %d prompts", r, len(p.calls()))
	}

	// A card reset on every try fails after one reconnect.
	f.slot(readerA).hook = func(cmd []byte) ([]byte, error, bool) {
		return nil, cause(ErrRemoved, errors.New("fake: Card was reset.")), true
	}
	if _, err := s.Identify(readerA); !errors.Is(err, ErrRemoved) {
		t.Fatalf("%v", err)
	}
	if r := f.slot(readerA).reconnects; r != 2 {
		t.Fatalf("%d reconnects", r)
	}
}

func TestSessionLibraryPanic(t *testing.T) {
	f := newFakeSystem(readerA)
	f.insert(readerA, cardemu.New(cardemu.Config{UID: []byte{1}}))
	f.slot(readerA).hook = func([]byte) ([]byte, error, bool) { panic("winscard.dll not found") }
	s := openFake(t, f, Options{})
	if _, err := s.Identify(readerA); !errors.Is(err, ErrPCSC) {
		t.Fatalf("%v", err)
	}
}

func TestSessionClosed(t *testing.T) {
	f := newFakeSystem(readerA)
	s := openFake(t, f, Options{})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Identify(""); !errors.Is(err, ErrClosed) {
		t.Fatalf("%v", err)
	}
	if _, err := s.Readers(); !errors.Is(err, ErrClosed) {
		t.Fatalf("%v", err)
	}
	var nilSession *Session // what a failed Open returns
	want := ErrClosed
	if !builtIn {
		want = ErrNotBuiltIn
	}
	if _, err := nilSession.Identify(""); !errors.Is(err, want) {
		t.Fatalf("%v", err)
	}
	if _, rel := f.counts(); rel != 1 {
		t.Fatalf("released %d", rel)
	}
}

func TestSessionConcurrent(t *testing.T) {
	f := newFakeSystem(readerA, readerB)
	f.insert(readerA, cardemu.New(cardemu.Config{OpenPGP: &cardemu.OpenPGPConfig{Serial: 1, AuthKey: testEd25519("c")}}))
	f.insert(readerB, cardemu.New(cardemu.Config{PIV: &cardemu.PIVConfig{Serial: 2, Key: testP256(t, "c")}}))
	s := openFake(t, f, Options{PIN: (&pinPrompt{pin: "123456"}).prompt})
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 8 {
		wg.Go(func() {
			r := []string{readerA, readerB}[i%2]
			id, err := s.Identify(r)
			if err != nil {
				errs <- err
				return
			}
			ch, _ := Challenge(nil, []byte{byte(i)})
			_, alg, sig, err := s.Prove(r, ch)
			if err == nil {
				err = VerifyProof(alg, id.PublicKey, ch, sig)
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
}

// A card with the same serial but another key: the proof does not verify.
func TestSessionClonedSerial(t *testing.T) {
	f := newFakeSystem(readerA)
	f.insert(readerA, cardemu.New(cardemu.Config{OpenPGP: &cardemu.OpenPGPConfig{Manufacturer: 0xFFFE, Serial: 42, AuthKey: testEd25519("real")}}))
	s := openFake(t, f, Options{PIN: (&pinPrompt{pin: "123456"}).prompt})
	enrolled, err := s.Identify(readerA)
	if err != nil {
		t.Fatal(err)
	}
	f.insert(readerA, cardemu.New(cardemu.Config{OpenPGP: &cardemu.OpenPGPConfig{Manufacturer: 0xFFFE, Serial: 42, AuthKey: testEd25519("clone")}}))
	clone, err := s.Identify(readerA)
	if err != nil || !bytes.Equal(clone.Serial, enrolled.Serial) {
		t.Fatalf("%v %v", clone, err)
	}
	ch, _ := Challenge(nil, nil)
	_, alg, sig, err := s.Prove(readerA, ch)
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyProof(alg, enrolled.PublicKey, ch, sig); !errors.Is(err, ErrProof) {
		t.Fatalf("clone's proof: %v, want ErrProof", err)
	}
}

var _ crypto.Signer = testEd25519("")
