package desk_test

import (
	"context"
	"errors"
	"testing"

	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/desk"
	"github.com/airlock-offline/airlock/internal/testrig/testkeys"
	"github.com/airlock-offline/airlock/internal/wire"
	"github.com/airlock-offline/airlock/ledger"
	"github.com/airlock-offline/airlock/request"
	"github.com/airlock-offline/airlock/result"
)

// resign returns r signed by inst: what someone holding their own
// installation key can make of any request content they like.
func resign(t *testing.T, r *request.Request, inst *crypto.Identity) []byte {
	t.Helper()
	payload, err := wire.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	b, err := crypto.Sign(inst, crypto.TagRequest, payload)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSignSealedReplay: whoever saw one request (a QR photo, a USB stick)
// cannot move its sealed licensee secret into a request of their own and
// take the seat with it: the sealed fields are bound to the request they
// were made in. Nothing is recorded, and the real licensee still activates.
func TestSignSealedReplay(t *testing.T) {
	for _, mode := range []string{"client", "predefined"} {
		t.Run(mode, func(t *testing.T) {
			e := newEnv(t)
			key := e.addLicense(func(l *ledger.License) {
				l.SecretMode = mode
				if mode == "predefined" {
					l.SecretHash = desk.SecretHash(e.vendor, l.Key, []byte("correct horse battery staple"))
				}
			})
			p := e.params(machine(t, nil), key)
			p.Confidential = &request.Confidential{LicenseeSecret: "correct horse battery staple"}
			victim := e.makeRequest(p, e.inst)

			thief := testkeys.Identity(crypto.RoleInstallation, "desk-test thief")
			tp := e.params(otherMachine(t), key)
			own := e.makeRequest(tp, thief).Request
			forged := *own
			forged.Sealed = victim.Request.Sealed
			_, err := e.desk.Sign(context.Background(), resign(t, &forged, thief))
			wantCode(t, err, result.Malformed, result.ErrMalformed)
			if !errors.Is(err, request.ErrSealedMismatch) {
				t.Fatalf("error %v does not wrap ErrSealedMismatch", err)
			}
			e.wantNoActivation(key)
			lic, err := e.led.GetLicense(context.Background(), key)
			if err != nil {
				t.Fatal(err)
			}
			if mode == "client" && lic.SecretHash != nil {
				t.Fatal("a replayed secret was bound to the license")
			}

			// Same installation, same sealed blob, another nonce: refused too.
			again := *victim.Request
			again.Nonce = make([]byte, len(again.Nonce))
			_, err = e.desk.Sign(context.Background(), resign(t, &again, e.inst))
			wantCode(t, err, result.Malformed, result.ErrMalformed)
			e.wantNoActivation(key)

			// The real licensee's own request still takes its seat.
			e.mustSign(victim)
			if n := e.seats(key); n != 1 {
				t.Fatalf("seats = %d, want 1", n)
			}
		})
	}
}
