package dongle

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"
	"sync"
)

// SigningKey reads the identity of the card in reader ("" means the first
// reader with a card) without a PIN, as Identify does, but reports its
// signing key rather than its proof key: the OpenPGP signature key, or the
// key of PIV slot 9C (from its certificate). kind 0 takes the OpenPGP
// applet when its signature key is Ed25519, else PIV; KindOpenPGP or
// KindPIV looks at that applet only. Only Ed25519 keys count: any other
// key, or none, fails with ErrUnsupportedCard saying that the card has no
// Ed25519 signing key.
//
// In the Identity returned, Algorithm is AlgEd25519, PublicKey the 32-byte
// signing key and CanProve true; Attestation is nil.
func (s *Session) SigningKey(reader string, kind Kind) (*Identity, error) {
	const op = "read signing key"
	if s == nil {
		return nil, s.wrap(op, reader, ErrClosed)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var id *Identity
	name, err := s.withCard(reader, func(c *cardConn) error {
		return c.transact(func(t transport) error {
			info, err := identifySigning(t, kind)
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

// CardSigner signs with an Ed25519 signing key on a hardware key (the
// OpenPGP signature key or PIV slot 9C). Session.Signer opens one. It
// keeps the card's PIN in memory until Close, because a card asks for it
// again before every signature (an OpenPGP card by default accepts PW1 for
// one signature only; YubiKey PIV slot 9C has the PIN policy "always").
// Its methods are safe for concurrent use; it uses its Session, which must
// stay open while it signs.
type CardSigner struct {
	s      *Session
	reader string
	kind   Kind
	pub    ed25519.PublicKey

	mu     sync.Mutex
	pin    []byte // nil once closed or refused
	pinErr error  // why the PIN was dropped before Close
	closed bool
}

// Signer finds the hardware key whose signing key is public (see
// SigningKey; kind 0 looks at both applets) in reader, or in every reader
// with a card when reader is "", and returns a signer for it. The key is
// compared in constant time. No card with it is ErrKeyNotFound, unless a
// reader could not be read (a sharing violation, say): then that reader's
// error. No card at all is ErrNoCard.
//
// Signer asks for the PIN once, through Options.PIN, after checking that
// at least Options.MinTriesLeft tries are left, and presents it to the
// card at once, so a wrong PIN is a *PINError here rather than at the
// first signature. The CardSigner keeps the PIN until its Close.
func (s *Session) Signer(reader string, kind Kind, public ed25519.PublicKey) (*CardSigner, error) {
	const op = "open signer"
	if s == nil {
		return nil, s.wrap(op, reader, ErrClosed)
	}
	if len(public) != ed25519.PublicKeySize {
		return nil, &Error{Op: op, Reader: reader,
			Err: causef(ErrBadPublicKey, "Ed25519 key of %d bytes, want %d", len(public), ed25519.PublicKeySize)}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	readers := []string{reader}
	if reader == "" {
		rs, err := s.readers()
		s.settle()
		if err != nil {
			return nil, s.wrap(op, "", err)
		}
		readers = nil
		for _, r := range rs {
			if r.CardPresent {
				readers = append(readers, r.Name)
			}
		}
		if len(readers) == 0 {
			return nil, s.wrap(op, "", ErrNoCard)
		}
	}
	var firstErr error
	var seen []string
	for _, r := range readers {
		cs, matched, notes, err := s.openSigner(r, kind, public)
		switch {
		case cs != nil:
			return cs, nil
		case matched:
			return nil, s.wrap(op, r, err) // the card holds the key: a PIN failure, a removal, ...
		case err == nil:
			seen = append(seen, notes...)
		case reader == "" && errors.Is(err, ErrNoCard):
			// pulled since the reader list was read
		case firstErr == nil:
			firstErr = s.wrap(op, r, err)
		}
	}
	if firstErr != nil {
		return nil, firstErr
	}
	detail := "no card holds it"
	if len(seen) > 0 {
		detail += " (" + strings.Join(seen, "; ") + ")"
	}
	return nil, s.wrap(op, reader, causef(ErrKeyNotFound, "%s", detail))
}

// openSigner opens a signer on the card in reader when it holds public.
// matched reports that it does (errors then concern that card); without
// a match and without an error, notes says what the card holds instead.
func (s *Session) openSigner(reader string, kind Kind, public ed25519.PublicKey) (cs *CardSigner, matched bool, notes []string, err error) {
	_, err = s.withCard(reader, func(c *cardConn) error {
		// 1. The card holds the key; how many PIN tries are left.
		var info *cardInfo
		tries := -1
		err := c.transact(func(t transport) error {
			var err error
			if info, notes, err = matchSigningKey(t, kind, public); err != nil || info == nil {
				return err
			}
			if tries = info.tries; tries < 0 {
				tries, err = pinStatus(t, info.kind)
			}
			return err
		})
		if err != nil || info == nil {
			return err
		}
		matched = true
		if err := checkTries(tries, s.opt.MinTriesLeft); err != nil {
			return err
		}

		// 2. The PIN, asked for outside any transaction.
		if s.opt.PIN == nil {
			return ErrNoPINPrompt
		}
		pin, err := s.opt.PIN(c.reader, info.kind, tries)
		defer clear(pin)
		if err != nil {
			return err
		}
		if err := checkPINLength(info.kind, pin); err != nil {
			return err
		}

		// 3. VERIFY at once, so a wrong PIN shows now; the card forgets it
		// again (or is reset on disconnect).
		err = c.transact(func(t transport) error {
			if err := unlockSigning(t, info.kind, public, pin, s.opt.MinTriesLeft, &c.verified); err != nil {
				return err
			}
			if forgetPINRef(t, pinRef(info.kind, true)) {
				c.verified = false
			}
			return nil
		})
		if err != nil {
			return err
		}
		cs = &CardSigner{s: s, reader: c.reader, kind: info.kind, pub: bytes.Clone(public), pin: bytes.Clone(pin)}
		return nil
	})
	return cs, matched, notes, err
}

// Public returns the signing key's public key.
func (cs *CardSigner) Public() ed25519.PublicKey { return bytes.Clone(cs.pub) }

// Sign has the card sign data (1 to MaxSignData bytes) with pure Ed25519
// and returns the 64-byte signature. In one PC/SC transaction it selects
// the applet, checks that the card still holds the key and that enough
// PIN tries are left, presents the PIN, signs (longer data by command
// chaining) and has the card forget the PIN. The signature is checked
// against the public key before it is returned: a card that signs wrongly
// gives ErrBadCardSignature. After the card refused the PIN (someone
// changed it), the signer drops it and every Sign fails with ErrWrongPIN
// without sending it again.
func (cs *CardSigner) Sign(data []byte) ([]byte, error) {
	const op = "sign"
	if cs == nil {
		return nil, &Error{Op: op, Err: ErrClosed}
	}
	if len(data) == 0 || len(data) > MaxSignData {
		return nil, &Error{Op: op, Reader: cs.reader,
			Err: fmt.Errorf("message of %d bytes, want 1 to %d", len(data), MaxSignData)}
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	s := cs.s
	switch {
	case cs.closed:
		return nil, s.wrap(op, cs.reader, ErrClosed)
	case cs.pin == nil:
		return nil, s.wrap(op, cs.reader, cs.pinErr)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var sig []byte
	name, err := s.withCard(cs.reader, func(c *cardConn) error {
		return c.transact(func(t transport) error {
			var err error
			sig, err = signOnCard(t, cs.kind, cs.pub, cs.pin, data, s.opt.MinTriesLeft, &c.verified)
			return err
		})
	})
	if err != nil {
		var pe *PINError
		if errors.As(err, &pe) || errors.Is(err, ErrPINBlocked) || errors.Is(err, ErrInvalidPIN) {
			clear(cs.pin)
			cs.pin = nil
			cs.pinErr = causef(ErrWrongPIN, "the card refused the signer's PIN before: open a new signer")
		}
		return nil, s.wrap(op, name, err)
	}
	if !ed25519.Verify(cs.pub, data, sig) {
		return nil, s.wrap(op, name, ErrBadCardSignature)
	}
	return sig, nil
}

// Close overwrites the PIN with zeros; later Sign calls fail with
// ErrClosed. It does not close the Session.
func (cs *CardSigner) Close() error {
	if cs == nil {
		return nil
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	clear(cs.pin)
	cs.pin, cs.pinErr, cs.closed = nil, nil, true
	return nil
}
