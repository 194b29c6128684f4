// Package attest verifies the attestation certificates of hardware keys:
// a token's statement, signed by a key its manufacturer certified, that a
// public key was generated on the token and never left it.
//
// # What it checks
//
// A YubiKey attests a PIV slot (ATTEST, INS F9) or an OpenPGP key (GET
// ATTESTATION, firmware 5.2+) with a certificate for that key, signed by
// the token's device attestation key, whose certificate (PIV slot F9,
// OpenPGP ATT) Yubico issued. Verify walks from the key's certificate up
// to a trusted root by issuer name and signature, through the device
// certificate the token gave and the published intermediates a [Pool]
// holds, and checks every certificate's validity period.
//
// It does not apply RFC 5280 path validation as crypto/x509 does, because
// genuine YubiKey chains break it in three known ways:
//
//   - some YubiKey 4 device certificates (F9) carry no basicConstraints,
//     so crypto/x509 does not accept them as issuers;
//   - the old Yubico U2F root, which issued the device certificates of
//     YubiKeys made up to 2018, says pathlen 0, although a device
//     certificate sits below it;
//   - from firmware 5.7.4 the device certificate chains through two
//     Yubico intermediates that are not on the token.
//
// go-piv/piv-go works around the first two the same way (a missing
// basicConstraints on the device certificate is taken as a CA; the U2F
// root's path length is not enforced). What stands in for path validation
// is that every link is a real signature, every certificate is within its
// validity period, and the chain ends at a root the caller pinned.
//
// The [Statement] is read from the key's certificate: the token's serial
// number, firmware and whether the key was generated on the token. The
// caller compares them with what the request claims.
package attest

import (
	"bytes"
	"crypto"
	"crypto/x509"
	_ "embed"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"time"
)

//go:embed yubico-roots.pem
var yubicoRootsPEM []byte

//go:embed yubico-intermediates.pem
var yubicoIntermediatesPEM []byte

// MaxChain bounds the certificates of one attestation and the depth of a
// path.
const MaxChain = 8

// Pool holds trust anchors (roots) and the published intermediates a
// token does not carry.
type Pool struct {
	roots         []*x509.Certificate
	intermediates []*x509.Certificate
}

// NewPool returns a pool with the given roots and intermediates.
func NewPool(roots, intermediates []*x509.Certificate) *Pool {
	return &Pool{roots: append([]*x509.Certificate(nil), roots...), intermediates: append([]*x509.Certificate(nil), intermediates...)}
}

// Yubico returns a pool with Yubico's published attestation roots and
// intermediates (see yubico-roots.pem and yubico-intermediates.pem for
// their provenance).
func Yubico() *Pool {
	roots, err := ParsePEM(yubicoRootsPEM)
	if err != nil {
		panic("attest: bundled Yubico roots: " + err.Error())
	}
	inter, err := ParsePEM(yubicoIntermediatesPEM)
	if err != nil {
		panic("attest: bundled Yubico intermediates: " + err.Error())
	}
	return NewPool(roots, inter)
}

// YubicoIntermediates returns Yubico's published attestation
// intermediates (not trust anchors).
func YubicoIntermediates() []*x509.Certificate { return Yubico().intermediates }

// AddRoots adds trust anchors; AddIntermediates adds issuers that are not
// anchors.
func (p *Pool) AddRoots(c ...*x509.Certificate) { p.roots = append(p.roots, c...) }
func (p *Pool) AddIntermediates(c ...*x509.Certificate) {
	p.intermediates = append(p.intermediates, c...)
}

// Roots returns the pool's trust anchors.
func (p *Pool) Roots() []*x509.Certificate { return append([]*x509.Certificate(nil), p.roots...) }

// ParsePEM reads every CERTIFICATE block of b; text between blocks is
// ignored. No certificate at all is an error.
func ParsePEM(b []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no PEM certificate")
	}
	return out, nil
}

// Applet says which applet a statement is about.
type Applet int

const (
	PIV     Applet = 1
	OpenPGP Applet = 2
)

// Statement is what a verified attestation says about the key.
type Statement struct {
	Applet    Applet
	PublicKey crypto.PublicKey
	// Serial is the token's serial number (Yubico extension .3.7 for PIV,
	// .5.7 for OpenPGP); HasSerial is false when the certificate has none.
	Serial    uint32
	HasSerial bool
	Firmware  [3]byte // zero when absent
	// Generated: the key was generated on the token. PIV attestations
	// exist only for generated keys; OpenPGP ones say so (.5.2).
	Generated bool
	Chain     []*x509.Certificate // from the key's certificate to the root
}

// Error is a failed verification.
type Error struct{ Reason string }

func (e *Error) Error() string { return "attestation: " + e.Reason }

func fail(format string, args ...any) error { return &Error{Reason: fmt.Sprintf(format, args...)} }

// Yubico extension identifiers (arc 1.3.6.1.4.1.41482).
var (
	oidPIVFirmware = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 41482, 3, 3}
	oidPIVSerial   = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 41482, 3, 7}
	oidPGPSource   = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 41482, 5, 2}
	oidPGPFirmware = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 41482, 5, 3}
	oidPGPSerial   = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 41482, 5, 7}
)

// Verify checks the attestation der: the key's certificate first, then
// the certificates the token gave with it (its device certificate), all
// DER, concatenated. now is the time validity periods are checked at.
func (p *Pool) Verify(der []byte, now time.Time) (*Statement, error) {
	if p == nil || len(p.roots) == 0 {
		return nil, fail("no trusted roots")
	}
	certs, err := x509.ParseCertificates(der)
	if err != nil || len(certs) == 0 {
		return nil, fail("not a certificate chain")
	}
	if len(certs) > MaxChain {
		return nil, fail("%d certificates, at most %d", len(certs), MaxChain)
	}
	chain, err := p.path(certs, now)
	if err != nil {
		return nil, err
	}
	st, err := statement(certs[0])
	if err != nil {
		return nil, err
	}
	st.Chain = chain
	return st, nil
}

func (p *Pool) path(certs []*x509.Certificate, now time.Time) ([]*x509.Certificate, error) {
	cur := certs[0]
	if err := valid(cur, now); err != nil {
		return nil, err
	}
	chain := []*x509.Certificate{cur}
	for len(chain) <= MaxChain {
		for _, r := range p.roots {
			if signedBy(cur, r) {
				if err := valid(r, now); err != nil {
					return nil, err
				}
				return append(chain, r), nil
			}
		}
		var next *x509.Certificate
		// The token's own certificates: taken as issuers without
		// basicConstraints (YubiKey 4 device certificates have none).
		for _, c := range certs[1:] {
			if c != cur && signedBy(cur, c) {
				next = c
				break
			}
		}
		if next == nil {
			for _, c := range p.intermediates {
				if c.BasicConstraintsValid && c.IsCA && signedBy(cur, c) {
					next = c
					break
				}
			}
		}
		if next == nil {
			if bytes.Equal(cur.RawIssuer, cur.RawSubject) {
				return nil, fail("it ends at %q, which is not a trusted root", cur.Subject.CommonName)
			}
			return nil, fail("no trusted issuer for %q (issuer %q): it does not chain to a trusted root", cur.Subject.CommonName, cur.Issuer.CommonName)
		}
		for _, c := range chain {
			if c.Equal(next) {
				return nil, fail("the chain loops at %q", next.Subject.CommonName)
			}
		}
		if err := valid(next, now); err != nil {
			return nil, err
		}
		chain = append(chain, next)
		cur = next
	}
	return nil, fail("the chain is longer than %d certificates", MaxChain)
}

// signedBy: parent's name is child's issuer and parent's key made child's
// signature. Constraints are not applied (see the package doc).
func signedBy(child, parent *x509.Certificate) bool {
	return bytes.Equal(child.RawIssuer, parent.RawSubject) &&
		parent.CheckSignature(child.SignatureAlgorithm, child.RawTBSCertificate, child.Signature) == nil
}

func valid(c *x509.Certificate, now time.Time) error {
	if now.Before(c.NotBefore) || now.After(c.NotAfter) {
		return fail("%q is valid from %s to %s, not at %s", c.Subject.CommonName,
			c.NotBefore.UTC().Format(time.RFC3339), c.NotAfter.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	return nil
}

func statement(leaf *x509.Certificate) (*Statement, error) {
	st := &Statement{PublicKey: leaf.PublicKey}
	for _, e := range leaf.Extensions {
		switch {
		case e.Id.Equal(oidPIVSerial), e.Id.Equal(oidPGPSerial):
			s, err := parseSerial(e.Value)
			if err != nil {
				return nil, err
			}
			st.Serial, st.HasSerial = s, true
			if e.Id.Equal(oidPIVSerial) {
				st.Applet = PIV
			} else {
				st.Applet = OpenPGP
			}
		case e.Id.Equal(oidPIVFirmware), e.Id.Equal(oidPGPFirmware):
			if len(e.Value) == 3 {
				copy(st.Firmware[:], e.Value)
			}
		case e.Id.Equal(oidPGPSource):
			st.Generated = len(e.Value) == 1 && e.Value[0] == 0x01
		}
	}
	switch {
	case st.Applet == PIV:
		st.Generated = true // a YubiKey attests only keys it generated
	case st.Applet == 0:
		return nil, fail("the key's certificate names no token serial number (no Yubico attestation extension)")
	}
	return st, nil
}

// parseSerial reads a serial extension: a DER INTEGER, or (as some
// firmware writes it) 4 raw bytes.
func parseSerial(v []byte) (uint32, error) {
	var n int64
	if rest, err := asn1.Unmarshal(v, &n); err == nil && len(rest) == 0 {
		if n < 0 || n > 0xFFFFFFFF {
			return 0, fail("serial number %d out of range", n)
		}
		return uint32(n), nil
	}
	if len(v) == 4 {
		return uint32(v[0])<<24 | uint32(v[1])<<16 | uint32(v[2])<<8 | uint32(v[3]), nil
	}
	return 0, fail("unreadable serial number extension")
}
