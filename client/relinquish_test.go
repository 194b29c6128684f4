package client_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/airlock-offline/airlock/client"
	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/result"
)

// GiveUp removes the license only once the receipt is written, and gives
// the same receipt again when asked after the license is gone.
func TestGiveUp(t *testing.T) {
	w := newWorld(t, product, nil)
	v := w.verifier(machine(t, nil), &clock{t0})
	w.activate(v)
	inst := func() (*crypto.Identity, error) { return w.st.Installation(nil) }

	failed := errors.New("disk full")
	_, err := v.GiveUp(inst, func([]byte) error { return failed })
	if !errors.Is(err, client.ErrReceiptNotWritten) || !errors.Is(err, failed) {
		t.Fatalf("write failure: %v", err)
	}
	if _, err := v.Verify(); err != nil {
		t.Fatalf("the license went although the receipt was not written: %v", err)
	}

	var first, second []byte
	if again, err := v.GiveUp(inst, func(b []byte) error { first = b; return nil }); err != nil || again {
		t.Fatalf("GiveUp: again %v, %v", again, err)
	}
	if _, err := v.Verify(); result.CodeOf(err) != result.NotActivated {
		t.Fatalf("after GiveUp: %v", err)
	}
	noKey := func() (*crypto.Identity, error) {
		t.Fatal("the key was asked for to emit a kept receipt")
		return nil, nil
	}
	if again, err := v.GiveUp(noKey, func(b []byte) error { second = b; return nil }); err != nil || !again {
		t.Fatalf("GiveUp again: again %v, %v", again, err)
	}
	if len(first) == 0 || !bytes.Equal(first, second) {
		t.Fatal("the receipt given again is not the same receipt")
	}
}
