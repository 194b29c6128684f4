package ledger

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
)

func TestAuditChain(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ledger.db")
	l, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
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
	if _, err := l.db.Exec(`UPDATE audit SET detail = 'x' WHERE seq = 2`); err == nil {
		t.Fatal("audit entry updated")
	}
	raw, err := sql.Open("sqlite", dsn(path))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	tamper := func(stmts ...string) {
		t.Helper()
		for _, s := range append([]string{"DROP TRIGGER IF EXISTS audit_no_update", "DROP TRIGGER IF EXISTS audit_no_delete"}, stmts...) {
			if _, err := raw.Exec(s); err != nil {
				t.Fatal(err)
			}
		}
	}
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

func TestAuditTailRemoval(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ledger.db")
	l, _ := Open(path)
	defer l.Close()
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
	raw, _ := sql.Open("sqlite", dsn(path))
	defer raw.Close()
	for _, s := range []string{"DROP TRIGGER audit_no_delete", "DELETE FROM audit WHERE seq = 3"} {
		if _, err := raw.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
	// The shorter chain is valid on its own; the kept head shows the loss.
	if _, _, err := l.VerifyAudit(ctx, ""); err != nil {
		t.Fatalf("shorter chain: %v", err)
	}
	var ae *AuditError
	if _, _, err := l.VerifyAudit(ctx, head); !errors.As(err, &ae) || ae.Seq != 3 {
		t.Fatalf("tail removal with head: %v", err)
	}
}
