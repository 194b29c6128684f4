package floating

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
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
	tmpl := &x509.Certificate{
		SerialNumber:          new(big.Int).SetBytes(s.kid[:]),
		Subject:               pkix.Name{CommonName: "airlock-server " + s.kid.String()},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
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
	der, err := x509.CreateCertificate(nil, tmpl, tmpl, signer.Public(), signer)
	if err != nil {
		return tls.Certificate{}, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: signer, Leaf: leaf}, nil
}
