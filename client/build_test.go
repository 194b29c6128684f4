package client_test

import (
	"testing"
	"time"

	"github.com/airlock-offline/airlock/client"
	"github.com/airlock-offline/airlock/ledger"
	"github.com/airlock-offline/airlock/result"
)

// MakeRequest does what `airlock request` does, for an ISV that builds
// its own front end: the secret sealed in, a phone seed when asked, a
// renewal of the installed license.
func TestMakeRequest(t *testing.T) {
	w := newWorld(t, product, func(l *ledger.License) { l.SecretMode = "client" })
	c := &clock{t0}
	v := w.verifier(machine(t, nil), c)
	v.LicenseeSecret = []byte("Wq3-random-token-9f8e7d6c5b4a")
	v.Provisional = 72 * time.Hour
	inst, err := w.st.Installation(nil)
	if err != nil {
		t.Fatal(err)
	}
	made, err := v.MakeRequest(inst, client.RequestOptions{LicenseKey: w.key, Phone: true})
	if err != nil {
		t.Fatal(err)
	}
	if made.Enrolled != nil || len(made.Request.Request.Sealed) == 0 {
		t.Fatalf("made %+v", made)
	}
	conf, err := made.Request.Request.Open(w.vendor)
	if err != nil {
		t.Fatal(err)
	}
	if conf.LicenseeSecret != string(v.LicenseeSecret) || len(conf.CodeSeed) == 0 {
		t.Fatalf("sealed fields: secret %v, seed %d bytes", conf.LicenseeSecret != "", len(conf.CodeSeed))
	}
	if _, err := v.Activate(w.sign(made.Request)); err != nil {
		t.Fatal(err)
	}
	renew, err := v.MakeRequest(inst, client.RequestOptions{Renew: true})
	if err != nil {
		t.Fatal(err)
	}
	if renew.Request.Request.Renews == nil {
		t.Fatal("a renewal that renews nothing")
	}
	// Without the secret, the renewal is refused before anything is made.
	v.LicenseeSecret = nil
	if _, err := v.MakeRequest(inst, client.RequestOptions{Renew: true}); result.CodeOf(err) != result.LicenseeSecretMismatch {
		t.Fatalf("renewal without the secret: %v", err)
	}
}
