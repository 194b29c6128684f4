package cli

import (
	"crypto/x509"
	"fmt"

	"github.com/airlock-offline/airlock/request"
)

// WriteAttestation takes a PIV key's attestation out of the request hk is
// for and writes it to path, so that it travels as its own file (a USB
// stick) while the request, about 1.5 KB smaller, fits fewer or smaller QR
// codes. The desk needs no signature on it: it must chain to the
// manufacturer's root and certify the key the request enrols.
func (u *UI) WriteAttestation(path string, hk *request.HardwareKey) error {
	if len(hk.Attestation) == 0 {
		return fmt.Errorf("the hardware key has no attestation to write to %q (only PIV keys have one)", path)
	}
	if err := u.WriteOutput(path, hk.Attestation); err != nil {
		return fmt.Errorf("cannot write the attestation: %w", err)
	}
	u.Infof("attestation written to %s (%d bytes): take it to the desk with the request (airlock-vendor sign --attestation %s)", path, len(hk.Attestation), path)
	hk.Attestation = nil
	return nil
}

// ReadAttestation reads a PIV attestation that travelled as its own file
// (see WriteAttestation): DER certificates, at most request.MaxAttest
// bytes.
func (u *UI) ReadAttestation(path string) ([]byte, error) {
	b, err := u.ReadInput(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read the attestation: %w", err)
	}
	if len(b) > request.MaxAttest {
		return nil, fmt.Errorf("the attestation %q is larger than %d bytes", path, request.MaxAttest)
	}
	if _, err := x509.ParseCertificates(b); err != nil || len(b) == 0 {
		return nil, fmt.Errorf("%q is not an attestation (DER certificates)", path)
	}
	return b, nil
}
