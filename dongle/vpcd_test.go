//go:build cgo

package dongle

// Integration tests against the real PC/SC stack: pcscd with the vpcd
// driver, and the card emulator of internal/testrig/cardemu plugged into its first
// slot. They run when PCSC_VPCD=1 (scripts/pcsc-stack.sh start, or the
// Makefile, sets up the stack); otherwise they skip.

import (
	"crypto/ed25519"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/airlock-offline/airlock/internal/testrig/cardemu"
	"github.com/ebfe/scard"
)

// vpcdSlot is the slot the tests plug their cards into.
func vpcdSlot(tb testing.TB) cardemu.Slot {
	tb.Helper()
	cardemu.SkipUnlessStack(tb)
	return cardemu.Slots()[0]
}

// plug inserts a card built from cfg and waits until pcscd has powered it.
func plug(tb testing.TB, slot cardemu.Slot, cfg cardemu.Config) *cardemu.Card {
	tb.Helper()
	card := cardemu.New(cfg)
	if err := card.Insert(slot.Addr); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(card.Remove)
	if err := card.WaitReady(10 * time.Second); err != nil {
		tb.Fatal(err)
	}
	return card
}

// unplug removes the card and waits until pcscd has noticed.
func unplug(tb testing.TB, s *Session, slot cardemu.Slot, card *cardemu.Card) {
	tb.Helper()
	card.Remove()
	for deadline := time.Now().Add(5 * time.Second); ; {
		rs, err := s.Readers()
		if err != nil {
			tb.Fatal(err)
		}
		i := slices.IndexFunc(rs, func(r Reader) bool { return r.Name == slot.Reader })
		if i < 0 {
			tb.Fatalf("reader %q not listed: %v", slot.Reader, rs)
		}
		if !rs[i].CardPresent {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatal("pcscd still sees the card 5 s after it was pulled")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func openVPCD(tb testing.TB, opt Options) *Session {
	tb.Helper()
	s, err := Open(opt)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func TestVPCDEnrolAndProve(t *testing.T) {
	slot := vpcdSlot(t)
	cases := []struct {
		name string
		cfg  cardemu.Config
		kind Kind
		alg  Algorithm
	}{
		{"openpgp ed25519", cardemu.Config{OpenPGP: &cardemu.OpenPGPConfig{Manufacturer: 0xFFFE, Serial: 0x0A0B0C0D, AuthKey: testEd25519("vpcd")}}, KindOpenPGP, AlgEd25519},
		{"openpgp p256", cardemu.Config{OpenPGP: &cardemu.OpenPGPConfig{Manufacturer: 0xFFFE, Serial: 0x0A0B0C0E, AuthKey: testP256(t, "vpcd")}}, KindOpenPGP, AlgP256},
		{"piv p256", cardemu.Config{PIV: &cardemu.PIVConfig{Serial: 12345678, Key: testP256(t, "vpcd piv"), AttestationKey: testP256(t, "vpcd att")}}, KindPIV, AlgP256},
		{"piv ed25519", cardemu.Config{PIV: &cardemu.PIVConfig{Serial: 12345679, Key: testEd25519("vpcd piv")}}, KindPIV, AlgEd25519},
		{"generic uid", cardemu.Config{UID: []byte{0x04, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66}}, KindGeneric, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			card := plug(t, slot, tc.cfg)
			p := &pinPrompt{pin: "123456"}
			s := openVPCD(t, Options{PIN: p.prompt})
			id, err := s.Identify(slot.Reader)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("enrolled %v", id)
			if id.Kind != tc.kind || id.Algorithm != tc.alg || id.Reader != slot.Reader {
				t.Fatalf("identity %v", id)
			}
			if tc.name == "piv p256" && len(id.Attestation) == 0 {
				t.Fatal("no attestation")
			}
			ch, err := Challenge(nil, []byte("vpcd "+tc.name))
			if err != nil {
				t.Fatal(err)
			}
			kind, alg, sig, err := s.Prove(slot.Reader, ch)
			if tc.kind == KindGeneric {
				if !errors.Is(err, ErrUnsupportedCard) || len(p.calls()) != 0 {
					t.Fatalf("generic card: %v, %d prompts", err, len(p.calls()))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if kind != id.Kind || alg != id.Algorithm {
				t.Fatalf("proof by %v %v", kind, alg)
			}
			wire := id.WirePublicKey()
			walg, wpub, err := ParseWirePublicKey(wire)
			if err != nil {
				t.Fatal(err)
			}
			if err := VerifyProof(walg, wpub, ch, sig); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(p.calls(), []int{3}) {
				t.Fatalf("prompt calls %v", p.calls())
			}
			// A reset by another program between enrolment and proof
			// changes nothing: Prove selects and verifies afresh.
			card.Reset()
			if _, _, sig, err = s.Prove(slot.Reader, ch); err != nil || VerifyProof(alg, id.PublicKey, ch, sig) != nil {
				t.Fatalf("after a reset: %v", err)
			}
		})
	}
}

func TestVPCDCardPulled(t *testing.T) {
	slot := vpcdSlot(t)
	card := plug(t, slot, cardemu.Config{OpenPGP: &cardemu.OpenPGPConfig{Serial: 1, AuthKey: testEd25519("pulled")}})
	s := openVPCD(t, Options{PIN: (&pinPrompt{pin: "123456"}).prompt})
	if _, err := s.Identify(slot.Reader); err != nil {
		t.Fatal(err)
	}
	unplug(t, s, slot, card)
	_, err := s.Identify(slot.Reader)
	var e *Error
	if !errors.Is(err, ErrNoCard) || !errors.As(err, &e) || e.Hint == "" {
		t.Fatalf("%v", err)
	}
	t.Logf("%v (hint: %s)", err, e.Hint)
	ch, _ := Challenge(nil, nil)
	if _, _, _, err := s.Prove(slot.Reader, ch); !errors.Is(err, ErrNoCard) {
		t.Fatalf("prove: %v", err)
	}
}

// A card with the enrolled serial but another key cannot pass for it.
func TestVPCDClonedSerial(t *testing.T) {
	slot := vpcdSlot(t)
	orig := plug(t, slot, cardemu.Config{OpenPGP: &cardemu.OpenPGPConfig{Manufacturer: 0xFFFE, Serial: 77, AuthKey: testEd25519("real")}})
	s := openVPCD(t, Options{PIN: (&pinPrompt{pin: "123456"}).prompt})
	enrolled, err := s.Identify(slot.Reader)
	if err != nil {
		t.Fatal(err)
	}
	unplug(t, s, slot, orig)
	plug(t, slot, cardemu.Config{OpenPGP: &cardemu.OpenPGPConfig{Manufacturer: 0xFFFE, Serial: 77, AuthKey: testEd25519("clone")}})
	found, err := s.Find(KindOpenPGP, enrolled.Serial)
	if err != nil || found.Reader != slot.Reader {
		t.Fatalf("the clone's serial: %v %v", found, err)
	}
	ch, _ := Challenge(nil, []byte("clone"))
	_, alg, sig, err := s.Prove(slot.Reader, ch)
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyProof(alg, enrolled.PublicKey, ch, sig); !errors.Is(err, ErrProof) {
		t.Fatalf("clone verified: %v", err)
	}
}

func TestVPCDRemovedMidCommand(t *testing.T) {
	slot := vpcdSlot(t)
	for _, op := range []string{"identify", "prove"} {
		t.Run(op, func(t *testing.T) {
			card := plug(t, slot, cardemu.Config{OpenPGP: &cardemu.OpenPGPConfig{Serial: 5, AuthKey: testEd25519("mid")}})
			p := &pinPrompt{pin: "123456"}
			s := openVPCD(t, Options{PIN: p.prompt, Timeout: 3 * time.Second})
			ch, _ := Challenge(nil, nil)
			var err error
			start := time.Now()
			if op == "identify" {
				card.RemoveDuringNextAPDU()
				_, err = s.Identify(slot.Reader)
			} else {
				// Pull the card as the PIN is typed: it vanishes at the next command, in the VERIFY transaction.
				p2 := &pinPrompt{pin: "123456"}
				s.opt.PIN = func(r string, k Kind, n int) ([]byte, error) {
					card.RemoveDuringNextAPDU()
					return p2.prompt(r, k, n)
				}
				_, _, _, err = s.Prove(slot.Reader, ch)
			}
			took := time.Since(start)
			var e *Error
			if !errors.Is(err, ErrRemoved) || !errors.As(err, &e) || e.Hint == "" {
				t.Fatalf("%v", err)
			}
			if took > 5*time.Second {
				t.Fatalf("took %v", took)
			}
			t.Logf("%v after %v", err, took.Round(time.Millisecond))
			if card.TriesLeft() != 3 {
				t.Fatalf("tries left %d", card.TriesLeft())
			}
			// The next card must not go in before pcscd's reader thread
			// has seen this one go (it polls every 400 ms). The failed
			// reconnect already marked the reader empty, so the reader
			// list cannot tell; without the wait vpcd would report the
			// slot occupied at every poll and pcscd would never power
			// the next card.
			time.Sleep(1200 * time.Millisecond)
			unplug(t, s, slot, card)
			if _, err := s.Identify(slot.Reader); !errors.Is(err, ErrNoCard) {
				t.Fatalf("after the removal: %v", err)
			}
		})
	}
}

// holdReader connects to the reader from a second PC/SC context, as
// another program would.
func holdReader(t *testing.T, reader string, mode scard.ShareMode) (*scard.Context, *scard.Card) {
	t.Helper()
	ctx, err := scard.EstablishContext()
	if err != nil {
		t.Fatal(err)
	}
	card, err := ctx.Connect(reader, mode, scard.ProtocolAny)
	if err != nil {
		ctx.Release()
		t.Fatal(err)
	}
	return ctx, card
}

func TestVPCDSharingViolation(t *testing.T) {
	slot := vpcdSlot(t)
	plug(t, slot, cardemu.Config{PIV: &cardemu.PIVConfig{Serial: 9, Key: testP256(t, "excl")}})
	ctx, card := holdReader(t, slot.Reader, scard.ShareExclusive)
	s := openVPCD(t, Options{PIN: (&pinPrompt{pin: "123456"}).prompt})
	_, err := s.Identify(slot.Reader)
	var e *Error
	if !errors.Is(err, ErrSharingViolation) || !errors.As(err, &e) {
		t.Fatalf("%v", err)
	}
	for _, want := range []string{`gpg-connect-agent "SCD KILLSCD" /bye`, "fuser -v /dev/bus/usb/*/*", "lsof | grep pcscd"} {
		if !strings.Contains(e.Hint, want) {
			t.Errorf("hint %q lacks %q", e.Hint, want)
		}
	}
	t.Logf("%v\nhint: %s", err, e.Hint)
	ch, _ := Challenge(nil, nil)
	if _, _, _, err := s.Prove(slot.Reader, ch); !errors.Is(err, ErrSharingViolation) {
		t.Fatalf("prove: %v", err)
	}
	card.Disconnect(scard.LeaveCard)
	ctx.Release()
	if _, err := s.Identify(slot.Reader); err != nil {
		t.Fatalf("after the other program let go: %v", err)
	}
}

func TestVPCDBlockedTransaction(t *testing.T) {
	slot := vpcdSlot(t)
	plug(t, slot, cardemu.Config{OpenPGP: &cardemu.OpenPGPConfig{Serial: 11, AuthKey: testEd25519("tx")}})
	ctx, card := holdReader(t, slot.Reader, scard.ShareShared)
	if err := card.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	const timeout = 500 * time.Millisecond
	s := openVPCD(t, Options{Timeout: timeout, PIN: (&pinPrompt{pin: "123456"}).prompt})
	start := time.Now()
	_, err := s.Identify(slot.Reader)
	took := time.Since(start)
	var e *Error
	if !errors.Is(err, ErrTimeout) || !errors.As(err, &e) || !strings.Contains(e.Hint, "transaction") {
		t.Fatalf("%v", err)
	}
	if took < timeout || took > timeout+time.Second {
		t.Fatalf("took %v with a %v deadline", took, timeout)
	}
	t.Logf("%v after %v\nhint: %s", err, took.Round(time.Millisecond), e.Hint)
	card.EndTransaction(scard.LeaveCard)
	card.Disconnect(scard.LeaveCard)
	ctx.Release()
	if _, err := s.Identify(slot.Reader); err != nil {
		t.Fatalf("after the transaction ended: %v", err)
	}
}

func TestVPCDWrongPIN(t *testing.T) {
	slot := vpcdSlot(t)
	for _, kind := range []Kind{KindOpenPGP, KindPIV} {
		t.Run(kind.String(), func(t *testing.T) {
			cfg := cardemu.Config{OpenPGP: &cardemu.OpenPGPConfig{Serial: 12, AuthKey: testEd25519("pin"), PIN: "24681012", Tries: 3}}
			if kind == KindPIV {
				cfg = cardemu.Config{PIV: &cardemu.PIVConfig{Serial: 12, Key: testP256(t, "pin"), PIN: "246810", Tries: 3}}
			}
			card := plug(t, slot, cfg)
			tries := card.TriesLeft
			if kind == KindPIV {
				tries = card.PIVTriesLeft
			}
			p := &pinPrompt{pin: "11111111"}
			s := openVPCD(t, Options{PIN: p.prompt}) // MinTriesLeft: default 2
			ch, _ := Challenge(nil, nil)
			for want := 2; want >= 1; want-- {
				_, _, _, err := s.Prove(slot.Reader, ch)
				var pe *PINError
				if !errors.As(err, &pe) || pe.TriesLeft != want {
					t.Fatalf("%v, want a *PINError with %d tries left", err, want)
				}
				t.Logf("%v", err)
			}
			_, _, _, err := s.Prove(slot.Reader, ch)
			var e *Error
			if !errors.Is(err, ErrTooFewTries) || !errors.As(err, &e) {
				t.Fatalf("%v", err)
			}
			t.Logf("%v\nhint: %s", err, e.Hint)
			if n := tries(); n != 1 {
				t.Fatalf("the card has %d tries left, want 1: it must never be locked", n)
			}
			if !slices.Equal(p.calls(), []int{3, 2}) {
				t.Fatalf("prompt calls %v", p.calls())
			}
		})
	}
}

// The desk's signing key on a card: found by its public key, a PIN asked
// for once, a 300-byte and a 16 KiB message signed through pcscd.
func TestVPCDCardSign(t *testing.T) {
	slot := vpcdSlot(t)
	for _, tc := range []struct {
		name string
		cfg  cardemu.Config
		kind Kind
	}{
		{"openpgp", cardemu.Config{OpenPGP: &cardemu.OpenPGPConfig{Manufacturer: 0xFFFE, Serial: 31, AuthKey: testP256(t, "vpcd"), SignKey: testEd25519("vpcd sign openpgp")}}, KindOpenPGP},
		{"piv", cardemu.Config{PIV: &cardemu.PIVConfig{Serial: 32, Key: testP256(t, "vpcd"), SignKey: testEd25519("vpcd sign piv")}}, KindPIV},
	} {
		t.Run(tc.name, func(t *testing.T) {
			card := plug(t, slot, tc.cfg)
			p := &pinPrompt{pin: "123456"}
			s := openVPCD(t, Options{PIN: p.prompt})
			id, err := s.SigningKey(slot.Reader, 0)
			if err != nil {
				t.Fatal(err)
			}
			want := edPub(testEd25519("vpcd sign " + tc.name))
			if id.Kind != tc.kind || !want.Equal(ed25519.PublicKey(id.PublicKey)) {
				t.Fatalf("signing key %v %X", id, id.PublicKey)
			}
			cs, err := s.Signer("", 0, want)
			if err != nil {
				t.Fatal(err)
			}
			defer cs.Close()
			for _, n := range []int{300, MaxSignData} {
				msg := message(n)
				start := time.Now()
				sig, err := cs.Sign(msg)
				if err != nil {
					t.Fatalf("%d bytes: %v", n, err)
				}
				t.Logf("%d bytes signed in %v", n, time.Since(start).Round(time.Microsecond))
				if !ed25519.Verify(want, msg, sig) {
					t.Fatalf("%d bytes: the signature does not verify", n)
				}
			}
			if !slices.Equal(p.calls(), []int{3}) {
				t.Fatalf("prompt calls %v, want one", p.calls())
			}
			// A reset by another program between two signatures changes
			// nothing: each one selects and verifies afresh.
			card.Reset()
			if sig, err := cs.Sign([]byte("after a reset")); err != nil || !ed25519.Verify(want, []byte("after a reset"), sig) {
				t.Fatalf("after a reset: %v", err)
			}
		})
	}
}

func TestVPCDCardSignPulled(t *testing.T) {
	slot := vpcdSlot(t)
	key := testEd25519("vpcd pulled")
	card := plug(t, slot, cardemu.Config{OpenPGP: &cardemu.OpenPGPConfig{Serial: 33, SignKey: key}})
	s := openVPCD(t, Options{PIN: (&pinPrompt{pin: "123456"}).prompt, Timeout: 3 * time.Second})
	cs, err := s.Signer(slot.Reader, 0, edPub(key))
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	// The card vanishes after VERIFY, in the middle of the signature: at
	// the first of the 64 chained pieces of PSO:CDS.
	card.RemoveDuringAPDU("102A9E9A")
	start := time.Now()
	_, err = cs.Sign(message(MaxSignData))
	took := time.Since(start)
	var e *Error
	if !errors.Is(err, ErrRemoved) || !errors.As(err, &e) || e.Op != "sign" || e.Hint == "" {
		t.Fatalf("%v", err)
	}
	if took > 5*time.Second {
		t.Fatalf("took %v", took)
	}
	t.Logf("%v after %v", err, took.Round(time.Millisecond))
	if log := card.Log(); !slices.Contains(log, "00200081") || log[len(log)-1] != "102A9E9A" {
		t.Fatalf("the card did not vanish mid-chain: %v", log)
	}
	if card.TriesLeft() != 3 {
		t.Fatalf("tries left %d", card.TriesLeft())
	}
	// As in TestVPCDRemovedMidCommand: let pcscd's reader thread see the
	// card go before the next test plugs one in.
	time.Sleep(1200 * time.Millisecond)
	unplug(t, s, slot, card)
	if _, err := cs.Sign([]byte("m")); !errors.Is(err, ErrNoCard) {
		t.Fatalf("after the removal: %v", err)
	}
}

func TestVPCDCardSignWrongPIN(t *testing.T) {
	slot := vpcdSlot(t)
	for _, kind := range []Kind{KindOpenPGP, KindPIV} {
		t.Run(kind.String(), func(t *testing.T) {
			key := testEd25519("vpcd pin")
			cfg := cardemu.Config{OpenPGP: &cardemu.OpenPGPConfig{Serial: 34, SignKey: key, PIN: "24681012", Tries: 3}}
			if kind == KindPIV {
				cfg = cardemu.Config{PIV: &cardemu.PIVConfig{Serial: 34, SignKey: key, PIN: "246810", Tries: 3}}
			}
			card := plug(t, slot, cfg)
			tries := card.TriesLeft
			if kind == KindPIV {
				tries = card.PIVTriesLeft
			}
			p := &pinPrompt{pin: "11111111"}
			s := openVPCD(t, Options{PIN: p.prompt})
			for want := 2; want >= 1; want-- {
				_, err := s.Signer(slot.Reader, kind, edPub(key))
				var pe *PINError
				if !errors.As(err, &pe) || pe.TriesLeft != want {
					t.Fatalf("%v, want a *PINError with %d tries left", err, want)
				}
				t.Logf("%v", err)
			}
			_, err := s.Signer(slot.Reader, kind, edPub(key))
			var e *Error
			if !errors.Is(err, ErrTooFewTries) || !errors.As(err, &e) {
				t.Fatalf("%v", err)
			}
			t.Logf("%v\nhint: %s", err, e.Hint)
			if n := tries(); n != 1 {
				t.Fatalf("the card has %d tries left, want 1", n)
			}
			if !slices.Equal(p.calls(), []int{3, 2}) {
				t.Fatalf("prompt calls %v", p.calls())
			}
		})
	}
}

// No smart card service: libpcsclite finds no pcscd socket. The check runs
// in a child process whose libpcsclite looks for the socket elsewhere
// (PCSCLITE_CSOCK_NAME), so it needs no stack and disturbs none.
func TestNoService(t *testing.T) {
	if os.Getenv("DONGLE_TEST_NO_SERVICE_CHILD") == "1" {
		s, err := Open(Options{})
		var e *Error
		if s != nil || !errors.Is(err, ErrNoService) || !errors.As(err, &e) || !strings.Contains(e.Hint, "pcscd") {
			t.Fatalf("Open without pcscd: %v, %v", s, err)
		}
		t.Logf("%v\nhint: %s", err, e.Hint)
		return
	}
	if runtime.GOOS != "linux" {
		t.Skip("PCSCLITE_CSOCK_NAME is a pcsc-lite (Linux) setting")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestNoService$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "DONGLE_TEST_NO_SERVICE_CHILD=1",
		"PCSCLITE_CSOCK_NAME="+filepath.Join(t.TempDir(), "no-pcscd.comm"))
	out, err := cmd.CombinedOutput()
	t.Logf("child:\n%s", out)
	if err != nil {
		t.Fatalf("child: %v", err)
	}
	if !strings.Contains(string(out), "not running") {
		t.Fatal("the child did not check ErrNoService")
	}
}

// pcscd stopped under a live session, then started again: ErrNoService,
// then recovery. It stops and restarts the shared pcscd, so it runs only
// when PCSC_STACK_SCRIPT names scripts/pcsc-stack.sh.
func TestVPCDServiceStopped(t *testing.T) {
	slot := vpcdSlot(t)
	script := os.Getenv("PCSC_STACK_SCRIPT")
	if script == "" {
		t.Skip("PCSC_STACK_SCRIPT not set: not stopping the shared pcscd (set it to scripts/pcsc-stack.sh to run this test)")
	}
	stack := func(args ...string) {
		t.Helper()
		cmd := exec.Command("bash", append([]string{script}, args...)...)
		if os.Getenv("PCSC_STATE") == "" {
			// The script keeps its state under the directory it runs in.
			if abs, err := filepath.Abs(script); err == nil {
				cmd.Dir = filepath.Dir(filepath.Dir(abs))
			}
		}
		out, err := cmd.CombinedOutput()
		t.Logf("pcsc-stack.sh %s: %s", strings.Join(args, " "), strings.TrimSpace(string(out)))
		if err != nil {
			t.Fatalf("pcsc-stack.sh %s: %v", strings.Join(args, " "), err)
		}
	}
	s := openVPCD(t, Options{})
	if _, err := s.Readers(); err != nil {
		t.Fatal(err)
	}
	// --force: under 'pcsc-stack.sh run' a plain stop waits for the run
	// to end.
	stack("stop", "--force")
	restarted := false
	defer func() {
		if !restarted {
			stack("start")
		}
	}()
	_, err := Open(Options{})
	var e *Error
	if !errors.Is(err, ErrNoService) || !errors.As(err, &e) || !strings.Contains(e.Hint, "pcscd") {
		t.Fatalf("Open with pcscd stopped: %v", err)
	}
	t.Logf("%v\nhint: %s", err, e.Hint)
	if _, err := s.Identify(slot.Reader); !errors.Is(err, ErrNoService) {
		t.Fatalf("Identify with pcscd stopped: %v", err)
	}
	stack("start")
	restarted = true
	// The session recovers once the service is back.
	plug(t, slot, cardemu.Config{OpenPGP: &cardemu.OpenPGPConfig{Serial: 13, AuthKey: testEd25519("svc")}})
	if _, err := s.Identify(slot.Reader); err != nil {
		t.Fatalf("after the restart: %v", err)
	}
}

// BenchmarkProve: one challenge-response through pcscd and vpcd with the
// emulated card (PIN check, VERIFY, signature), as a license check with a
// hardware key does it.
func BenchmarkProve(b *testing.B) {
	slot := vpcdSlot(b)
	for _, tc := range []struct {
		name string
		cfg  cardemu.Config
	}{
		{"openpgp-ed25519", cardemu.Config{OpenPGP: &cardemu.OpenPGPConfig{Serial: 21, AuthKey: testEd25519("bench")}}},
		{"openpgp-p256", cardemu.Config{OpenPGP: &cardemu.OpenPGPConfig{Serial: 22, AuthKey: testP256(b, "bench")}}},
		{"piv-p256", cardemu.Config{PIV: &cardemu.PIVConfig{Serial: 23, Key: testP256(b, "bench")}}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			card := plug(b, slot, tc.cfg)
			defer card.Remove()
			s := openVPCD(b, Options{PIN: (&pinPrompt{pin: "123456"}).prompt})
			id, err := s.Identify(slot.Reader)
			if err != nil {
				b.Fatal(err)
			}
			ch, _ := Challenge(nil, nil)
			for b.Loop() {
				_, alg, sig, err := s.ProveWith(slot.Reader, id.Kind, ch)
				if err != nil {
					b.Fatal(err)
				}
				if err := VerifyProof(alg, id.PublicKey, ch, sig); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCardSign: one 400-byte signature through pcscd and vpcd with
// the emulated card (key check, PIN check, VERIFY, chained signature,
// VERIFY FF), as the desk signs one license with its key on a card.
func BenchmarkCardSign(b *testing.B) {
	slot := vpcdSlot(b)
	for _, tc := range []struct {
		name string
		cfg  cardemu.Config
	}{
		{"openpgp-ed25519", cardemu.Config{OpenPGP: &cardemu.OpenPGPConfig{Serial: 41, SignKey: testEd25519("bench sign")}}},
		{"piv-ed25519", cardemu.Config{PIV: &cardemu.PIVConfig{Serial: 42, SignKey: testEd25519("bench sign")}}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			card := plug(b, slot, tc.cfg)
			defer card.Remove()
			s := openVPCD(b, Options{PIN: (&pinPrompt{pin: "123456"}).prompt})
			pub := edPub(testEd25519("bench sign"))
			cs, err := s.Signer(slot.Reader, 0, pub)
			if err != nil {
				b.Fatal(err)
			}
			defer cs.Close()
			msg := message(400)
			for b.Loop() {
				sig, err := cs.Sign(msg)
				if err != nil {
					b.Fatal(err)
				}
				if !ed25519.Verify(pub, msg, sig) {
					b.Fatal("signature does not verify")
				}
			}
		})
	}
}

// A reader's event count moves with every insertion and removal, so a card
// pulled and put back between two looks is still noticed.
func TestVPCDReaderEvents(t *testing.T) {
	slot := vpcdSlot(t)
	s := openVPCD(t, Options{})
	events := func() (uint16, bool) {
		t.Helper()
		rs, err := s.Readers()
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(rs, func(r Reader) bool { return r.Name == slot.Reader })
		if i < 0 {
			t.Fatalf("reader %q not listed: %v", slot.Reader, rs)
		}
		return rs[i].Events, rs[i].CardPresent
	}
	cfg := cardemu.Config{OpenPGP: &cardemu.OpenPGPConfig{Serial: 12, AuthKey: testEd25519("events")}}
	card := plug(t, slot, cfg)
	before, present := events()
	if !present {
		t.Fatal("no card seen")
	}
	unplug(t, s, slot, card)
	plug(t, slot, cfg)
	after, present := events()
	if !present || after == before {
		t.Fatalf("events %d then %d (present %v): a re-plug is not seen", before, after, present)
	}
	t.Logf("events %d -> %d", before, after)
}
