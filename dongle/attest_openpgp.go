package dongle

import (
	"crypto/x509"
)

// AttestOpenPGP has the OpenPGP applet of a YubiKey (firmware 5.2 and
// later) attest its authentication key: GET ATTESTATION (80 FB 03 00)
// after VERIFY of the user PIN, then the certificate it wrote into the
// authentication key's cardholder certificate (SELECT DATA occurrence 0,
// GET DATA 7F21) and the card's attestation certificate (GET DATA FC).
// It returns both, DER, concatenated, as a request carries them. It asks
// for the PIN as Prove does; note that it overwrites the authentication
// key's cardholder certificate. A card that cannot attest fails with
// ErrUnsupportedCard.
func (s *Session) AttestOpenPGP(reader string) ([]byte, error) {
	if s == nil {
		return nil, s.wrap("attest", reader, ErrClosed)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []byte
	name, err := s.withCard(reader, func(c *cardConn) error {
		tries := -1
		err := c.transact(func(t transport) error {
			info, _, err := openPGPApplet(t)
			if err != nil {
				return err
			}
			if info == nil {
				return causef(ErrUnsupportedCard, "no OpenPGP applet")
			}
			if tries = info.tries; tries < 0 {
				tries, err = pinStatus(t, KindOpenPGP)
			}
			return err
		})
		if err != nil {
			return err
		}
		if err := checkTries(tries, s.opt.MinTriesLeft); err != nil {
			return err
		}
		if s.opt.PIN == nil {
			return ErrNoPINPrompt
		}
		pin, err := s.opt.PIN(c.reader, KindOpenPGP, tries)
		defer clear(pin)
		if err != nil {
			return err
		}
		if err := checkPINLength(KindOpenPGP, pin); err != nil {
			return err
		}
		return c.transact(func(t transport) error {
			if ok, err := selectApplet(t, aidOpenPGP); !ok {
				if err != nil {
					return err
				}
				return causef(ErrRemoved, "the OpenPGP applet is gone")
			}
			tries, err := pinStatus(t, KindOpenPGP)
			if err != nil {
				return err
			}
			if err := checkTries(tries, s.opt.MinTriesLeft); err != nil {
				return err
			}
			if err := verifyPIN(t, KindOpenPGP, pin); err != nil {
				return err
			}
			c.verified = true
			defer func() {
				if forgetPIN(t, KindOpenPGP) {
					c.verified = false
				}
			}()
			_, sw, err := transceive(t, command{0x80, 0xFB, 0x03, 0x00, nil, noLe})
			if err != nil {
				return err
			}
			if sw != swOK {
				return causef(ErrUnsupportedCard, "the card cannot attest its OpenPGP key (%04X to GET ATTESTATION): a YubiKey 5.2 or later can", sw)
			}
			if _, sw, err = transceive(t, command{0x00, 0xA5, 0x00, 0x04, []byte{0x60, 0x04, 0x5C, 0x02, 0x7F, 0x21}, noLe}); err != nil {
				return err
			} else if sw != swOK {
				return cause(ErrUnsupportedCard, &swError{"SELECT DATA", sw})
			}
			leaf, sw, err := transceive(t, command{0x00, 0xCA, 0x7F, 0x21, nil, 256})
			if err != nil {
				return err
			}
			if sw != swOK || len(leaf) == 0 || len(leaf) > maxCert {
				return causef(ErrUnsupportedCard, "the card wrote no attestation certificate")
			}
			att, sw, err := transceive(t, command{0x00, 0xCA, 0x00, 0xFC, nil, 256})
			if err != nil {
				return err
			}
			if sw != swOK || len(att) == 0 || len(att) > maxCert {
				return causef(ErrUnsupportedCard, "the card has no attestation certificate (DO FC)")
			}
			if _, err := x509.ParseCertificate(leaf); err != nil {
				return causef(ErrUnsupportedCard, "the attestation is not a certificate")
			}
			if _, err := x509.ParseCertificate(att); err != nil {
				return causef(ErrUnsupportedCard, "the attestation certificate is not a certificate")
			}
			if len(leaf)+len(att) > MaxAttestation {
				return causef(ErrUnsupportedCard, "the attestation (%d bytes) is larger than a request holds (%d)", len(leaf)+len(att), MaxAttestation)
			}
			out = append(append([]byte(nil), leaf...), att...)
			return nil
		})
	})
	if err != nil {
		return nil, s.wrap("attest", name, err)
	}
	return out, nil
}
