package floating_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/tls"
	"fmt"
	"strings"
	"testing"

	"github.com/airlock-offline/airlock/floating"
)

// A browser (no Ed25519 among its signature schemes) is given the console's
// ECDSA certificate; an airlock client, which offers Ed25519, still gets
// the server's own key first.
func TestBrowserCertificate(t *testing.T) {
	f := newFixture(t, defaultPool())
	own, err := f.srv.Certificate([]string{"127.0.0.1", "srv.example"})
	if err != nil {
		t.Fatal(err)
	}
	web, fp, err := floating.BrowserCertificate([]string{"127.0.0.1", "srv.example"}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := web.PrivateKey.(*ecdsa.PrivateKey); !ok || web.Leaf.DNSNames[0] != "srv.example" || !web.Leaf.NotAfter.After(t0) {
		t.Fatalf("browser certificate: %T %v %v", web.PrivateKey, web.Leaf.DNSNames, web.Leaf.NotAfter)
	}
	sum := sha256.Sum256(web.Certificate[0])
	if want := strings.ToUpper(fmt.Sprintf("%x", sum[:2])); !strings.HasPrefix(strings.ReplaceAll(fp, ":", ""), want) || strings.Count(fp, ":") != 31 {
		t.Fatalf("fingerprint %q", fp)
	}
	browser := &tls.ClientHelloInfo{ServerName: "srv.example", SupportedVersions: []uint16{tls.VersionTLS13},
		SignatureSchemes: []tls.SignatureScheme{tls.ECDSAWithP256AndSHA256, tls.PSSWithSHA256, tls.PKCS1WithSHA256},
		SupportedCurves:  []tls.CurveID{tls.X25519, tls.CurveP256}, CipherSuites: []uint16{tls.TLS_AES_128_GCM_SHA256}}
	if browser.SupportsCertificate(&own) == nil || browser.SupportsCertificate(&web) != nil {
		t.Fatal("a browser without Ed25519 would not get the console's certificate")
	}
	client := *browser
	client.SignatureSchemes = append([]tls.SignatureScheme{tls.Ed25519}, browser.SignatureSchemes...)
	if client.SupportsCertificate(&own) != nil {
		t.Fatal("a client offering Ed25519 would not get the server's own certificate")
	}
	if _, ok := own.Leaf.PublicKey.(ed25519.PublicKey); !ok {
		t.Fatal("the server's certificate is not its Ed25519 key")
	}
}
