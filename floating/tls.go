package floating

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"strings"
	"time"
)

// Certificate returns a self-signed TLS certificate whose key is the
// server's installation key: the pool license that certifies that key
// certifies the connection, so clients authenticate the server through the
// vendor key with no PKI to run. names are the DNS names and IP addresses
// it is for (clients check the key, not the names; the names are for
// other tools).
func (s *Server) Certificate(names []string) (tls.Certificate, error) {
	signer, err := s.id.Signer()
	if err != nil {
		return tls.Certificate{}, err
	}
	now := s.now()
	return selfSigned(new(big.Int).SetBytes(s.kid[:]), "airlock-server "+s.kid.String(), names,
		now.Add(-time.Hour), now.Add(10*365*24*time.Hour), signer)
}

// BrowserCertificate returns a self-signed ECDSA P-256 certificate for the
// server's web console, made afresh at every start and kept in memory only,
// with its SHA-256 fingerprint for the admin to compare with the browser's.
// now is the browsers' clock (real time).
//
// The server's own certificate carries its Ed25519 key, which airlock
// clients pin but browsers do not accept in TLS. Served beside it
// (tls.Config.Certificates: the server's first, this one second), Go's TLS
// gives each client the first certificate it supports: airlock clients the
// Ed25519 one, browsers this one.
func BrowserCertificate(names []string, now time.Time) (tls.Certificate, string, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, "", err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, "", err
	}
	cert, err := selfSigned(serial, "airlock-server console", names, now.Add(-time.Hour), now.Add(397*24*time.Hour), key)
	if err != nil {
		return tls.Certificate{}, "", err
	}
	sum := sha256.Sum256(cert.Certificate[0])
	hexs := make([]string, len(sum))
	for i, b := range sum {
		hexs[i] = fmt.Sprintf("%02X", b)
	}
	return cert, strings.Join(hexs, ":"), nil
}

// selfSigned makes a server certificate for names signed by its own key.
func selfSigned(serial *big.Int, cn string, names []string, notBefore, notAfter time.Time, signer crypto.Signer) (tls.Certificate, error) {
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if n != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, signer.Public(), signer)
	if err != nil {
		return tls.Certificate{}, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: signer, Leaf: leaf}, nil
}
