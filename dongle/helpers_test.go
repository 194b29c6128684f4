package dongle

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/airlock-offline/airlock/internal/testrig/cardemu"
)

// Deterministic test keys (public: test code only).
func testEd25519(label string) ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("dongle test ed25519 " + label))
	return ed25519.NewKeyFromSeed(seed[:])
}

func testP256(tb testing.TB, label string) *ecdsa.PrivateKey {
	d := sha256.Sum256([]byte("dongle test p256 " + label))
	k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d[:])
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

func p256Point(tb testing.TB, k *ecdsa.PrivateKey) []byte {
	pt, err := k.PublicKey.Bytes()
	if err != nil {
		tb.Fatal(err)
	}
	return pt
}

// emuTransport drives a card emulator directly, without PC/SC.
type emuTransport struct{ c *cardemu.Card }

func (e emuTransport) Transmit(cmd []byte) ([]byte, error) { return e.c.Transmit(cmd), nil }

// scripted is a transport that checks each command against a script and
// answers from it.
type scripted struct {
	tb    testing.TB
	steps []step
	n     int
}

type step struct {
	cmd  string // upper-case hex, "" matches anything
	resp []byte
	err  error
}

func (s *scripted) Transmit(cmd []byte) ([]byte, error) {
	s.tb.Helper()
	if s.n >= len(s.steps) {
		s.tb.Fatalf("unexpected command %X after the script's %d steps", cmd, len(s.steps))
		return nil, errors.New("script over")
	}
	st := s.steps[s.n]
	s.n++
	if st.cmd != "" && fmt.Sprintf("%X", cmd) != st.cmd {
		s.tb.Fatalf("step %d: command %X, want %s", s.n, cmd, st.cmd)
	}
	return st.resp, st.err
}

func (s *scripted) done() {
	s.tb.Helper()
	if s.n != len(s.steps) {
		s.tb.Fatalf("script: %d of %d steps run", s.n, len(s.steps))
	}
}

// fakeSystem is a PC/SC service with card emulators in its readers.
type fakeSystem struct {
	mu          sync.Mutex
	order       []string
	slots       map[string]*fakeSlot
	noService   bool
	established int
	released    int
}

type fakeSlot struct {
	card      *cardemu.Card // nil: no card
	exclusive bool          // another program holds the reader exclusively
	// block, when set, makes Transmit and BeginTransaction wait for it to
	// be closed: another program's transaction.
	block chan struct{}
	// hook intercepts Transmit: handled reports whether it answered.
	hook       func(cmd []byte) (resp []byte, err error, handled bool)
	reconnects int
	resets     int
}

func newFakeSystem(readers ...string) *fakeSystem {
	f := &fakeSystem{slots: map[string]*fakeSlot{}}
	for _, r := range readers {
		f.order = append(f.order, r)
		f.slots[r] = &fakeSlot{}
	}
	return f
}

func (f *fakeSystem) slot(r string) *fakeSlot {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.slots[r]
}

func (f *fakeSystem) insert(r string, c *cardemu.Card) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.slots[r].card = c
}

func (f *fakeSystem) counts() (established, released int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.established, f.released
}

func (f *fakeSystem) establish() (pcscContext, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.noService {
		return nil, cause(ErrNoService, errors.New("fake: Service not available."))
	}
	f.established++
	return &fakeCtx{f: f}, nil
}

type fakeCtx struct{ f *fakeSystem }

func (c *fakeCtx) ListReaders() ([]string, error) {
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	if c.f.noService {
		return nil, cause(ErrNoService, errors.New("fake: Service not available."))
	}
	return append([]string(nil), c.f.order...), nil
}

func (c *fakeCtx) Present(readers []string) ([]readerState, error) {
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	out := make([]readerState, len(readers))
	for i, r := range readers {
		out[i].card = c.f.slots[r] != nil && c.f.slots[r].card != nil
	}
	return out, nil
}

func (c *fakeCtx) Connect(reader string) (pcscCard, error) {
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	s := c.f.slots[reader]
	switch {
	case s == nil:
		return nil, cause(ErrNoReader, errors.New("fake: Unknown reader specified."))
	case s.exclusive:
		return nil, cause(ErrSharingViolation, errors.New("fake: Sharing violation."))
	case s.card == nil:
		return nil, cause(ErrNoCard, errors.New("fake: No smart card inserted."))
	}
	return &fakeCard{f: c.f, slot: s}, nil
}

func (c *fakeCtx) Cancel() error { return nil }

func (c *fakeCtx) Release() error {
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	c.f.released++
	return nil
}

type fakeCard struct {
	f    *fakeSystem
	slot *fakeSlot
}

func (c *fakeCard) wait() {
	c.f.mu.Lock()
	b := c.slot.block
	c.f.mu.Unlock()
	if b != nil {
		<-b
	}
}

func (c *fakeCard) Transmit(cmd []byte) ([]byte, error) {
	c.wait()
	c.f.mu.Lock()
	hook, card := c.slot.hook, c.slot.card
	c.f.mu.Unlock()
	if hook != nil {
		if resp, err, ok := hook(cmd); ok {
			return resp, err
		}
	}
	if card == nil {
		return nil, cause(ErrRemoved, errors.New("fake: Card was removed."))
	}
	return card.Transmit(cmd), nil
}

func (c *fakeCard) BeginTransaction() error { c.wait(); return nil }
func (c *fakeCard) EndTransaction() error   { return nil }

func (c *fakeCard) Reconnect() error {
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	c.slot.reconnects++
	if c.slot.card == nil {
		return cause(ErrNoCard, errors.New("fake: No smart card inserted."))
	}
	c.slot.card.Reset()
	return nil
}

func (c *fakeCard) Disconnect(reset bool) error {
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	if reset && c.slot.card != nil {
		c.slot.resets++
		c.slot.card.Reset()
	}
	return nil
}

// pinPrompt answers with pin and records the tries it was shown.
type pinPrompt struct {
	mu    sync.Mutex
	pin   string
	err   error
	tries []int
}

func (p *pinPrompt) prompt(reader string, kind Kind, triesLeft int) ([]byte, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.tries = append(p.tries, triesLeft)
	if p.err != nil {
		return nil, p.err
	}
	return []byte(p.pin), nil
}

func (p *pinPrompt) calls() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]int(nil), p.tries...)
}
