package dongle

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"time"
)

// pcscContext is an established PC/SC context (SCardEstablishContext).
// Implementations return errors that wrap the Err* failures.
type pcscContext interface {
	ListReaders() ([]string, error)                  // nil, nil when there is none
	Present(readers []string) ([]readerState, error) // whether a card is in each reader, without waiting
	Connect(reader string) (pcscCard, error)         // shared, any protocol
	Cancel() error                                   // cancels a blocking call where the platform can
	Release() error
}

// pcscCard is a connected card handle.
type pcscCard interface {
	transport
	BeginTransaction() error
	EndTransaction() error
	Reconnect() error // after a reset or a removal: shared, any protocol, reset
	Disconnect(reset bool) error
}

// Supported reports whether this build talks to PC/SC at all; when false,
// every Session call fails with ErrNotBuiltIn.
func Supported() bool { return builtIn }

// Session is a PC/SC context. Its methods are safe for concurrent use (they
// take turns) and never block longer than a few times Options.Timeout.
type Session struct {
	mu        sync.Mutex
	opt       Options
	establish func() (pcscContext, error)
	ctx       *guarded // nil: establish a fresh context on next use
	closed    bool
}

// Open establishes a PC/SC context. It fails with ErrNoService when the
// smart card service is not running, and with ErrNotBuiltIn in a build
// without PC/SC support.
func Open(opt Options) (*Session, error) {
	return open(opt, establishPCSC)
}

func open(opt Options, establish func() (pcscContext, error)) (*Session, error) {
	s := &Session{opt: opt.withDefaults(), establish: establish}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.context(); err != nil {
		s.settle()
		return nil, s.wrap("open", "", err)
	}
	return s, nil
}

// Close releases the PC/SC context. Calls after Close fail with ErrClosed.
func (s *Session) Close() error {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	g := s.ctx
	s.ctx = nil
	if g == nil {
		return nil
	}
	if g.stuck != nil {
		g.abandon()
		return nil
	}
	err := g.call(g.ctx.Release)
	if g.stuck != nil {
		g.abandon()
	}
	return s.wrap("close", "", err)
}

// Readers lists the PC/SC readers and whether a card is in each. No reader
// at all is ErrNoReader.
func (s *Session) Readers() ([]Reader, error) {
	if s == nil {
		return nil, s.wrap("list readers", "", ErrClosed)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.settle()
	out, err := s.readers()
	if err != nil {
		return nil, s.wrap("list readers", "", err)
	}
	return out, nil
}

func (s *Session) readers() ([]Reader, error) {
	g, err := s.context()
	if err != nil {
		return nil, err
	}
	var names []string
	if err := g.call(func() (err error) { names, err = g.ctx.ListReaders(); return }); err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, ErrNoReader
	}
	var present []readerState
	if err := g.call(func() (err error) { present, err = g.ctx.Present(names); return }); err != nil {
		return nil, err
	}
	out := make([]Reader, len(names))
	for i, n := range names {
		out[i] = Reader{Name: n}
		if i < len(present) {
			out[i].CardPresent, out[i].Events = present[i].card, present[i].events
		}
	}
	return out, nil
}

// readerState is what Present reports of one reader.
type readerState struct {
	card   bool   // a card is in the reader (and answers)
	events uint16 // insertions and removals seen (Reader.Events)
}

// Identify reads the identity of the card in reader ("" means the first
// reader with a card) without a PIN: the kind, the serial, the proof key's
// algorithm and public key, and a PIV token's attestation. A card with
// both an OpenPGP and a PIV applet (a YubiKey) is identified by its
// OpenPGP applet when that has a usable authentication key, else by PIV;
// IdentifyKind asks for one applet.
func (s *Session) Identify(reader string) (*Identity, error) {
	return s.identifyAs("identify", reader, 0, true)
}

// IdentifyKind is Identify for the applet of the given kind only (0 picks
// as Identify does). A card without that applet fails with
// ErrUnsupportedCard.
func (s *Session) IdentifyKind(reader string, kind Kind) (*Identity, error) {
	return s.identifyAs("identify", reader, kind, true)
}

func (s *Session) identifyAs(op, reader string, kind Kind, full bool) (*Identity, error) {
	if s == nil {
		return nil, s.wrap(op, reader, ErrClosed)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var id *Identity
	name, err := s.withCard(reader, func(c *cardConn) error {
		return c.transact(func(t transport) error {
			info, err := identify(t, kind, full)
			if err != nil {
				return err
			}
			id = info.identity(c.reader)
			return nil
		})
	})
	if err != nil {
		return nil, s.wrap(op, name, err)
	}
	return id, nil
}

// Find looks through every reader with a card for the hardware key of the
// given kind and serial and returns its identity. It asks each card for
// that kind's applet only, so a YubiKey enrolled by its PIV applet is
// found even when its OpenPGP applet holds a key too, and it reads only
// what a proof needs: no attestation, and (OpenPGP) a public key only
// when the key fingerprints do not show that a key is there, so
// Identity.PublicKey may be empty (Identify reads it). When none matches
// it returns the error of a reader it could not read (a sharing
// violation, say), or else ErrNoCard; a card without that applet is
// simply not the one.
func (s *Session) Find(kind Kind, serial []byte) (*Identity, error) {
	if s == nil {
		return nil, s.wrap("find", "", ErrClosed)
	}
	if kind == 0 {
		return nil, &Error{Op: "find", Err: fmt.Errorf("no card kind given")}
	}
	s.mu.Lock()
	readers, err := s.readers()
	s.settle()
	s.mu.Unlock()
	if err != nil {
		return nil, s.wrap("find", "", err)
	}
	var firstErr error
	for _, r := range readers {
		if !r.CardPresent {
			continue
		}
		id, err := s.identifyAs("find", r.Name, kind, false)
		if err != nil {
			if firstErr == nil && !errors.Is(err, ErrUnsupportedCard) {
				firstErr = err
			}
			continue
		}
		if bytes.Equal(id.Serial, serial) {
			return id, nil
		}
	}
	if firstErr != nil {
		return nil, firstErr
	}
	want := (&Identity{Kind: kind, Serial: serial}).SerialString()
	return nil, &Error{Op: "find", Err: causef(ErrNoCard, "no %s card with serial %s", kind, want),
		Hint: fmt.Sprintf("insert the hardware key with serial %s", want)}
}

// Prove has the card in reader ("" means the first reader with a card)
// sign challenge with its proof key and returns the card's kind, the
// algorithm and the signature (Ed25519: 64 bytes; P-256: r||s). It picks
// the applet as Identify does. It asks for the PIN through Options.PIN,
// after checking that at least Options.MinTriesLeft tries are left, and
// has the card forget the PIN when done. Check the signature with
// VerifyProof against the public key recorded at enrolment: Prove itself
// does not, because what matters is whose key answered.
//
// challenge must be 1 to MaxChallenge bytes; use Challenge to make one.
func (s *Session) Prove(reader string, challenge []byte) (kind Kind, alg Algorithm, sig []byte, err error) {
	return s.ProveWith(reader, 0, challenge)
}

// ProveWith is Prove with the applet chosen by the caller: kind is the
// Kind recorded at enrolment (0 picks as Identify does). Use it for a
// token with both an OpenPGP and a PIV key.
func (s *Session) ProveWith(reader string, kind Kind, challenge []byte) (Kind, Algorithm, []byte, error) {
	if s == nil {
		return 0, 0, nil, s.wrap("prove", reader, ErrClosed)
	}
	if len(challenge) == 0 || len(challenge) > MaxChallenge {
		return 0, 0, nil, &Error{Op: "prove", Reader: reader,
			Err: fmt.Errorf("challenge of %d bytes, want 1 to %d", len(challenge), MaxChallenge)}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var info *cardInfo
	var sig []byte
	name, err := s.withCard(reader, func(c *cardConn) error {
		var err error
		info, sig, err = s.prove(c, kind, challenge)
		return err
	})
	if err != nil {
		return 0, 0, nil, s.wrap("prove", name, err)
	}
	return info.kind, info.alg, sig, nil
}

func (s *Session) prove(c *cardConn, kind Kind, challenge []byte) (*cardInfo, []byte, error) {
	// 1. Which applet and key, and how many PIN tries are left.
	var info *cardInfo
	tries := -1
	err := c.transact(func(t transport) error {
		var err error
		if info, err = identify(t, kind, false); err != nil {
			return err
		}
		if info.alg == 0 {
			if info.kind == KindGeneric {
				return causef(ErrUnsupportedCard, "a generic card only has an identity; it cannot prove")
			}
			return causef(ErrUnsupportedCard, "the %s applet has no Ed25519 or P-256 authentication key", info.kind)
		}
		if tries = info.tries; tries < 0 {
			tries, err = pinStatus(t, info.kind)
		}
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	if err := checkTries(tries, s.opt.MinTriesLeft); err != nil {
		return nil, nil, err
	}

	// 2. The PIN, asked for outside any transaction: the user may take
	// their time, and other programs may use the card meanwhile.
	if s.opt.PIN == nil {
		return nil, nil, ErrNoPINPrompt
	}
	pin, err := s.opt.PIN(c.reader, info.kind, tries)
	defer clear(pin)
	if err != nil {
		return nil, nil, err
	}
	if err := checkPINLength(info.kind, pin); err != nil {
		return nil, nil, err
	}

	// 3. VERIFY and sign in one transaction, so no other program can reset
	// the card in between; the card forgets the PIN afterwards.
	aid := aidOpenPGP
	if info.kind == KindPIV {
		aid = aidPIV
	}
	var sig []byte
	err = c.transact(func(t transport) error {
		ok, err := selectApplet(t, aid)
		if err != nil {
			return err
		}
		if !ok {
			return causef(ErrRemoved, "the %s applet is gone", info.kind)
		}
		tries, err := pinStatus(t, info.kind)
		if err != nil {
			return err
		}
		if err := checkTries(tries, s.opt.MinTriesLeft); err != nil {
			return err
		}
		if err := verifyPIN(t, info.kind, pin); err != nil {
			return err
		}
		c.verified = true
		sig, err = authenticate(t, info, challenge)
		if err == nil && forgetPIN(t, info.kind) {
			c.verified = false
		}
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return info, sig, nil
}

// withCard connects to reader (or the first reader with a card), runs f,
// and disconnects. It returns the reader's name.
func (s *Session) withCard(reader string, f func(c *cardConn) error) (string, error) {
	defer s.settle()
	g, err := s.context()
	if err != nil {
		return reader, err
	}
	name := reader
	if name == "" {
		readers, err := s.readers()
		if err != nil {
			return "", err
		}
		for _, r := range readers {
			if r.CardPresent {
				name = r.Name
				break
			}
		}
		if name == "" {
			return "", ErrNoCard
		}
	}
	var card pcscCard
	if err := g.call(func() (err error) { card, err = g.ctx.Connect(name); return }); err != nil {
		if errors.Is(err, ErrRemoved) {
			err = cause(ErrNoCard, err)
		}
		return name, err
	}
	g.cards = append(g.cards, card)
	c := &cardConn{g: g, card: card, reader: name}
	err = f(c)
	if g.stuck == nil {
		// Reset the card when it may still hold a verified PIN.
		_ = g.call(func() error { return card.Disconnect(c.verified) })
		if g.stuck == nil {
			g.cards = g.cards[:len(g.cards)-1]
		}
	}
	return name, err
}

// context returns the session's PC/SC context, establishing a fresh one
// when there is none (at Open, or after the last one was given up).
func (s *Session) context() (*guarded, error) {
	if s.closed {
		return nil, ErrClosed
	}
	if s.ctx != nil {
		return s.ctx, nil
	}
	g := &guarded{timeout: s.opt.Timeout}
	var ctx pcscContext
	err := g.call(func() (err error) { ctx, err = s.establish(); return })
	if stuck := g.stuck; stuck != nil {
		go func() {
			if <-stuck == nil {
				_ = ctx.Release()
			}
		}()
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	g.ctx = ctx
	s.ctx = g
	return g, nil
}

// settle gives up the session's context after a call on it overran its
// deadline or the service went away; the next call establishes a new one.
func (s *Session) settle() {
	g := s.ctx
	if g == nil || (g.stuck == nil && !g.dead) {
		return
	}
	s.ctx = nil
	g.abandon()
}

func (s *Session) wrap(op, reader string, err error) error {
	if s == nil {
		if !builtIn {
			err = ErrNotBuiltIn // Open failed: there is no session
		}
		return wrap(op, reader, err, defaultTimeout, 2)
	}
	return wrap(op, reader, err, s.opt.Timeout, s.opt.MinTriesLeft)
}

// cardConn is a connected card within one Session call.
type cardConn struct {
	g        *guarded
	card     pcscCard
	reader   string
	verified bool // the PIN may still be verified: reset the card on disconnect
}

// transact runs f in a PC/SC transaction. When the card was removed or
// reset, it reconnects once and runs f again; a second failure is final.
func (c *cardConn) transact(f func(t transport) error) error {
	for attempt := 0; ; attempt++ {
		err := c.g.call(c.card.BeginTransaction)
		if err == nil {
			err = f(guardedCard{c})
			// The answer is complete; a failure to end the transaction
			// (a card pulled just now) does not change it.
			_ = c.g.call(c.card.EndTransaction)
		}
		if attempt == 0 && errors.Is(err, ErrRemoved) && c.g.stuck == nil {
			if c.g.call(c.card.Reconnect) == nil {
				continue
			}
		}
		return err
	}
}

// guardedCard is the transport of a cardConn: Transmit with a deadline.
type guardedCard struct{ c *cardConn }

func (gc guardedCard) Transmit(cmd []byte) ([]byte, error) {
	var resp []byte
	err := gc.c.g.call(func() (err error) { resp, err = gc.c.card.Transmit(cmd); return })
	return resp, err
}

// guarded runs the calls into one PC/SC context, each with a deadline. A
// call that overruns it keeps running in its goroutine (PC/SC cannot stop a
// Transmit that waits for another program's transaction); the context is
// then stuck and given up: it is released once that call returns.
type guarded struct {
	ctx     pcscContext
	timeout time.Duration
	stuck   chan error // set when a call overran: receives its result
	dead    bool       // the service is gone or the context is broken
	cards   []pcscCard // connected handles not yet disconnected
}

var errStuck = causef(ErrTimeout, "an earlier call to the card has not returned")

func (g *guarded) call(f func() error) error {
	if g.stuck != nil {
		return errStuck
	}
	done := make(chan error, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- causef(ErrPCSC, "the PC/SC library failed: %v", r)
			}
		}()
		done <- f()
	}()
	timer := time.NewTimer(g.timeout)
	defer timer.Stop()
	select {
	case err := <-done:
		if errors.Is(err, ErrNoService) || errors.Is(err, ErrPCSC) {
			g.dead = true
		}
		return err
	case <-timer.C:
		g.stuck = done
		if ctx := g.ctx; ctx != nil {
			go func() { _ = ctx.Cancel() }()
		}
		return causef(ErrTimeout, "no answer within %v", g.timeout)
	}
}

// abandon releases the context in the background, after the stuck call
// (if any) has returned. It may never return; it never blocks the caller.
func (g *guarded) abandon() {
	go func() {
		if g.stuck != nil {
			<-g.stuck
		}
		for _, c := range g.cards {
			_ = c.Disconnect(false)
		}
		if g.ctx != nil {
			_ = g.ctx.Release()
		}
	}()
}
