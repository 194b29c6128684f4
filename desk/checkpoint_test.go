package desk_test

import (
	"context"
	"errors"
	"testing"

	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/desk"
	"github.com/airlock-offline/airlock/internal/testrig/testkeys"
)

// A checkpoint signs the audit head; it parses back under the desk's key
// only, and the ledger keeps it as an audit entry that verifies.
func TestCheckpoint(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if c, err := e.desk.SignCheckpoint(ctx); c != nil || err != nil {
		t.Fatalf("SignCheckpoint(empty log) = %v, %v", c, err)
	}
	e.addLicense(nil)
	c, err := e.desk.SignCheckpoint(ctx)
	if err != nil || c == nil || c.Seq != 1 || !c.At.Equal(t0.Truncate(1e9)) {
		t.Fatalf("SignCheckpoint = %+v, %v", c, err)
	}
	p, err := desk.ParseCheckpoint(c.Text(), e.vendor.Public())
	if err != nil || p.String() != c.String() || p.KeyID != e.vendor.ID() {
		t.Fatalf("ParseCheckpoint = %+v, %v", p, err)
	}
	other := testkeys.Identity(crypto.RoleVendor, "another vendor")
	if _, err := desk.ParseCheckpoint(c.Text(), other.Public()); !errors.Is(err, desk.ErrCheckpoint) {
		t.Errorf("ParseCheckpoint under another key = %v", err)
	}
	bad := append([]byte(nil), c.Signed...)
	bad[len(bad)-1] ^= 1
	if _, err := desk.ParseCheckpoint(bad, e.vendor.Public()); !errors.Is(err, desk.ErrCheckpoint) {
		t.Errorf("ParseCheckpoint(bad signature) = %v", err)
	}
	entries, err := e.led.AuditLog(ctx)
	if err != nil || len(entries) != 2 || entries[1].Action != desk.CheckpointAction {
		t.Fatalf("audit log: %+v, %v", entries, err)
	}
	last, err := desk.CheckStoredCheckpoints(entries, e.vendor.Public())
	if err != nil || last.String() != c.String() {
		t.Fatalf("CheckStoredCheckpoints = %v, %v", last, err)
	}
	if _, err := desk.CheckStoredCheckpoints(entries, other.Public()); err == nil {
		t.Error("CheckStoredCheckpoints under another key passed")
	}
	entries[0].Hash = make([]byte, 32) // a re-hashed chain
	if _, err := desk.CheckStoredCheckpoints(entries, e.vendor.Public()); !errors.Is(err, desk.ErrCheckpoint) {
		t.Errorf("CheckStoredCheckpoints(re-hashed entry) = %v", err)
	}
}
