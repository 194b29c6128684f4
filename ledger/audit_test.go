package ledger

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"testing"
)

// tamperer returns a function that runs statements on the ledger at
// target as someone with the database would, after dropping the audit
// log's triggers.
func tamperer(t *testing.T, l *Ledger, target string) func(stmts ...string) {
	raw := l.db.raw
	drop := []string{"DROP TRIGGER IF EXISTS audit_no_update ON audit", "DROP TRIGGER IF EXISTS audit_no_delete ON audit"}
	if l.Backend() == "sqlite" {
		var err error
		if raw, err = sql.Open("sqlite", dsn(target, "rw")); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { raw.Close() })
		drop = []string{"DROP TRIGGER IF EXISTS audit_no_update", "DROP TRIGGER IF EXISTS audit_no_delete"}
	}
	return func(stmts ...string) {
		t.Helper()
		for _, s := range append(drop, stmts...) {
			if _, err := raw.Exec(s); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestAuditChain(t *testing.T) { forEachBackend(t, testAuditChain) }

func testAuditChain(t *testing.T, b testBackend) {
	ctx := context.Background()
	l, path := b.open(t)
	if err := l.CreateLicense(ctx, &License{Key: "K-1", Product: "p", Licensee: "l", MaxMachines: 2, MatchPolicy: "most"}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		a := &Activation{ID: fmt.Sprintf("a%d", i), LicenseKey: "K-1", InstallKey: bytes.Repeat([]byte{byte(i + 1)}, 32),
			Fingerprint: bytes.Repeat([]byte{2}, 16), RequestHash: bytes.Repeat([]byte{3}, 32), License: []byte("x")}
		if _, err := l.Record(ctx, a); err != nil && !errors.Is(err, ErrTooManyMachines) {
			t.Fatal(err)
		}
	}
	if err := l.Audit(ctx, "refused", "K-1", "TOO_MANY_MACHINES"); err != nil {
		t.Fatal(err)
	}
	if err := l.Release(ctx, "K-1", "a0", bytes.Repeat([]byte{1}, 32)); err != nil {
		t.Fatal(err)
	}
	entries, _ := l.AuditLog(ctx)
	var actions []string
	for _, e := range entries {
		actions = append(actions, e.Action)
	}
	if fmt.Sprint(actions) != "[license.created activation.recorded activation.recorded refused receipt.imported]" {
		t.Fatalf("actions %v", actions)
	}
	seq, hash, err := l.VerifyAudit(ctx, "")
	if err != nil || seq != 5 {
		t.Fatalf("intact log: %d %v", seq, err)
	}
	if _, _, err := l.VerifyAudit(ctx, fmt.Sprintf("%d:%x", seq, hash)); err != nil {
		t.Fatalf("own head: %v", err)
	}

	// The log refuses updates and deletes through SQL.
	for _, stmt := range []string{`UPDATE audit SET detail = 'x' WHERE seq = 2`, `DELETE FROM audit WHERE seq = 5`} {
		if _, err := l.db.ExecContext(ctx, stmt); err == nil {
			t.Fatalf("%s: the audit log took it", stmt)
		}
	}
	if l.Backend() == "postgres" {
		if _, err := l.db.ExecContext(ctx, `TRUNCATE audit`); err == nil {
			t.Fatal("TRUNCATE audit: the audit log took it")
		}
	}
	if _, _, err := l.VerifyAudit(ctx, fmt.Sprintf("%d:%x", seq, hash)); err != nil {
		t.Fatalf("after refused changes: %v", err)
	}
	tamper := tamperer(t, l, path)
	// Someone with the file drops the triggers: every change still shows.
	tamper(`UPDATE audit SET detail = 'seat 1 of 99' WHERE seq = 2`)
	var ae *AuditError
	if _, _, err := l.VerifyAudit(ctx, ""); !errors.As(err, &ae) || ae.Seq != 2 {
		t.Fatalf("edited entry: %v", err)
	}
	tamper(`UPDATE audit SET detail = (SELECT detail FROM audit WHERE seq = 3) WHERE seq = 2`)
	tamper(`DELETE FROM audit WHERE seq = 3`)
	if _, _, err := l.VerifyAudit(ctx, ""); !errors.As(err, &ae) || ae.Seq != 2 && ae.Seq != 3 {
		t.Fatalf("removed entry: %v", err)
	}
}

func TestAuditTailRemoval(t *testing.T) { forEachBackend(t, testAuditTailRemoval) }

func testAuditTailRemoval(t *testing.T, b testBackend) {
	ctx := context.Background()
	l, path := b.open(t)
	for i := 0; i < 3; i++ {
		if err := l.Audit(ctx, "refused", "", fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	seq, hash, err := l.VerifyAudit(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	head := fmt.Sprintf("%d:%x", seq, hash)
	tamperer(t, l, path)("DELETE FROM audit WHERE seq = 3")
	// The shorter chain is valid on its own; the kept head shows the loss.
	if _, _, err := l.VerifyAudit(ctx, ""); err != nil {
		t.Fatalf("shorter chain: %v", err)
	}
	var ae *AuditError
	if _, _, err := l.VerifyAudit(ctx, head); !errors.As(err, &ae) || ae.Seq != 3 {
		t.Fatalf("tail removal with head: %v", err)
	}
}
