package main

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"

	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/dongle"
	"github.com/airlock-offline/airlock/internal/cli"
	"github.com/airlock-offline/airlock/result"
)

// The desk's signing key on a hardware key.
//
// `init --hardware-key` records the card's Ed25519 signing key (OpenPGP
// signature key or PIV slot 9C) as the vendor key; the key file then keeps
// only the sealing key and where the card is. Commands that sign attach
// the card (its PIN is asked once per run), and every signature is checked
// against the recorded public key before it leaves the desk.

// signingKinds are the applets a desk signing key may live on, in the
// order they are tried.
var signingKinds = []dongle.Kind{dongle.KindOpenPGP, dongle.KindPIV}

// parseApplet reads --hardware-key-applet: "" (either), openpgp or piv.
func parseApplet(s string) ([]dongle.Kind, error) {
	switch s {
	case "":
		return signingKinds, nil
	case "openpgp":
		return []dongle.Kind{dongle.KindOpenPGP}, nil
	case "piv":
		return []dongle.Kind{dongle.KindPIV}, nil
	}
	return nil, cli.Usagef("--hardware-key-applet must be openpgp or piv")
}

// openDongle opens a PC/SC session whose PIN prompt names the desk's key;
// the session closes when the command ends.
func (a *app) openDongle() (*dongle.Session, error) {
	s, err := dongle.Open(a.ui.DongleOptions(a.pinFile, "desk's signing"))
	if err != nil {
		return nil, cli.DongleFailure(err)
	}
	a.cleanup = append(a.cleanup, func() { s.Close() })
	return s, nil
}

// cardSigningKey returns the Ed25519 signing key of the card in reader ("auto"
// or "" for any reader with a card) on one of kinds.
func (a *app) cardSigningKey(s *dongle.Session, reader string, kinds []dongle.Kind) (*dongle.Identity, error) {
	if reader == "auto" {
		reader = ""
	}
	var firstErr error
	for _, k := range kinds {
		id, err := s.SigningKey(reader, k)
		if err == nil {
			return id, nil
		}
		if firstErr == nil || !errors.Is(err, dongle.ErrUnsupportedCard) {
			firstErr = err
		}
		if !errors.Is(err, dongle.ErrUnsupportedCard) {
			break // no service, no card, held by another program: say so
		}
	}
	return nil, cli.DongleFailure(firstErr)
}

// findSigningCard looks through every reader for the card whose signing key
// is pub, without a PIN. ok is false when no plugged-in card has it;
// failure is then the most telling hardware-key error met, if any.
func (a *app) findSigningCard(s *dongle.Session, pub ed25519.PublicKey) (id *dongle.Identity, failure error, err error) {
	readers, err := s.Readers()
	if err != nil {
		return nil, nil, err
	}
	for _, r := range readers {
		if !r.CardPresent {
			continue
		}
		for _, k := range signingKinds {
			got, err := s.SigningKey(r.Name, k)
			if err != nil {
				if failure == nil || !errors.Is(err, dongle.ErrUnsupportedCard) {
					failure = err
				}
				continue
			}
			if bytes.Equal(got.PublicKey, pub) {
				return got, nil, nil
			}
		}
	}
	return nil, failure, nil
}

// requireHardwareKey is --crash-if-no-hardware-key: the desk starts only if
// a plugged-in card holds the vendor's signing key. This checks presence
// (the card reports the key); the proof is every signature the card makes,
// which the desk verifies before releasing it.
func (a *app) requireHardwareKey() error {
	pub, err := a.loadPublic()
	if err != nil {
		return err
	}
	msg := fmt.Sprintf("no plugged-in hardware key holds signing key %s; --crash-if-no-hardware-key refuses to start", pub.ID())
	// Whatever keeps the card out of reach (no pcscd, no reader, another
	// program holding it), the outcome is the one exit code 19; the hint
	// says what was in the way.
	notAccessible := func(failure error) error {
		err := result.New(result.HardwareKeyNotAccessible, msg)
		if failure == nil || errors.Is(failure, dongle.ErrUnsupportedCard) {
			return cli.WithHint(err, "plug in the card made with `airlock-vendor init --hardware-key` (a desk whose key is a file has no hardware key to wait for)")
		}
		hint := strings.TrimSuffix(failure.Error(), ".")
		var de *dongle.Error
		if errors.As(failure, &de) && de.Hint != "" {
			hint += "; " + de.Hint
		}
		return cli.WithHint(err, hint)
	}
	s, err := dongle.Open(a.ui.DongleOptions(a.pinFile, "desk's signing"))
	if err != nil {
		return notAccessible(err)
	}
	defer s.Close()
	id, failure, err := a.findSigningCard(s, pub.Sign)
	switch {
	case err != nil:
		return notAccessible(err)
	case id == nil:
		return notAccessible(failure)
	}
	a.ui.Infof("signing key %s is on the %s", pub.ID(), id)
	return nil
}

// attachCard attaches the card that holds id's signing key, when it is on
// one: it finds the card, asks for its PIN once, and releases both when the
// command ends.
func (a *app) attachCard(id *crypto.Identity) error {
	ref, ok := id.HardwareKey()
	if !ok {
		return nil
	}
	s, err := a.openDongle()
	if err != nil {
		return err
	}
	cs, err := s.Signer("", dongle.Kind(ref.Kind), id.Public().Sign)
	if err != nil {
		return fmt.Errorf("the signing key's %s hardware key: %w", dongle.Kind(ref.Kind), cli.DongleFailure(err))
	}
	a.cleanup = append(a.cleanup, func() { cs.Close() })
	return id.AttachSigner(cs)
}
