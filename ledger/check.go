package ledger

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// CheckReport is what [Ledger.Check] found. It holds license keys (to say
// where seats disagree), so it is for the desk's operator, not for logs
// that must stay free of them.
type CheckReport struct {
	// Integrity lists the problems SQLite's integrity_check found: none
	// means the file is whole. IntegrityChecked is false on PostgreSQL,
	// whose server checks its own pages (data checksums, amcheck).
	Integrity        []string
	IntegrityChecked bool
	// Seats lists every disagreement between the licenses' seats and
	// their activations: a seat counter that differs from the active
	// activations, more active seats than the license allows, an
	// installation holding two active seats on one license.
	Seats []string
	// Audit is nil if the audit chain verifies; AuditSeq and AuditHash
	// are then its head.
	Audit     error
	AuditSeq  int64
	AuditHash []byte
	// Licenses, Activations and ActiveSeats count what the ledger holds.
	Licenses, Activations, ActiveSeats int64
}

// OK reports whether every check passed.
func (r *CheckReport) OK() bool {
	return len(r.Integrity) == 0 && len(r.Seats) == 0 && r.Audit == nil
}

// Check runs every check of the ledger, which reads all of it: on SQLite
// the full PRAGMA integrity_check (every page, and every index against its
// table), the audit chain ([Ledger.VerifyAudit]), and the seats against the
// activations. It returns an error only if the checks could not run; what
// they found is in the report. It works on a ledger opened read-only.
func (l *Ledger) Check(ctx context.Context) (*CheckReport, error) {
	r := &CheckReport{}
	if l.db.dialect == sqliteDialect {
		problems, err := l.pragmaCheck(ctx, "integrity_check")
		if err != nil {
			var ie *IntegrityError
			if !errors.As(err, &ie) {
				return nil, err
			}
			problems = ie.Problems
		}
		r.Integrity, r.IntegrityChecked = problems, true
		if len(problems) > 0 {
			// The rest reads tables that may not read back.
			if seq, hash, err := l.VerifyAudit(ctx, ""); err != nil {
				r.Audit = err
			} else {
				r.AuditSeq, r.AuditHash = seq, hash
			}
			return r, nil
		}
	}
	err := l.db.QueryRowContext(ctx, `SELECT
		(SELECT count(*) FROM licenses),
		(SELECT count(*) FROM activations),
		(SELECT count(*) FROM activations WHERE released = 0)`).Scan(&r.Licenses, &r.Activations, &r.ActiveSeats)
	if err != nil {
		return nil, l.db.classify(fmt.Errorf("ledger: failed to count the ledger's rows: %w", err))
	}
	if r.Seats, err = l.crossCheckSeats(ctx); err != nil {
		return nil, err
	}
	r.AuditSeq, r.AuditHash, r.Audit = l.VerifyAudit(ctx, "")
	var ae *AuditError
	if r.Audit != nil && !errors.As(r.Audit, &ae) {
		return nil, r.Audit
	}
	return r, nil
}

// crossCheckSeats compares each license's seats with its activations.
func (l *Ledger) crossCheckSeats(ctx context.Context) ([]string, error) {
	var problems []string
	query := func(q string, each func(key string, a, b int64) string) error {
		rows, err := l.db.QueryContext(ctx, q)
		if err != nil {
			return l.db.classify(fmt.Errorf("ledger: the seat check failed: %w", err))
		}
		defer rows.Close()
		for rows.Next() {
			var key string
			var a, b int64
			if err := rows.Scan(&key, &a, &b); err != nil {
				return fmt.Errorf("ledger: the seat check failed: %w", err)
			}
			problems = append(problems, each(key, a, b))
		}
		return rows.Err()
	}
	err := query(`
		SELECT l.key, l.seats_used, count(a.id)
		FROM licenses l LEFT JOIN activations a ON a.license_key = l.key AND a.released = 0
		GROUP BY l.key, l.seats_used
		HAVING l.seats_used != count(a.id)
		ORDER BY l.key`, func(key string, counter, active int64) string {
		return fmt.Sprintf("license %s: its seat counter says %d, but %d activations are active", key, counter, active)
	})
	if err == nil {
		err = query(`
			SELECT l.key, l.max_machines, count(a.id)
			FROM licenses l JOIN activations a ON a.license_key = l.key AND a.released = 0
			GROUP BY l.key, l.max_machines
			HAVING count(a.id) > l.max_machines
			ORDER BY l.key`, func(key string, max, active int64) string {
			return fmt.Sprintf("license %s: %d active seats, more than its %d machines", key, active, max)
		})
	}
	if err == nil {
		err = query(`
			SELECT license_key, count(*), 0
			FROM activations WHERE released = 0
			GROUP BY license_key, install_key, fingerprint
			HAVING count(*) > 1
			ORDER BY license_key`, func(key string, n, _ int64) string {
			return fmt.Sprintf("license %s: one installation holds %d active seats", key, n)
		})
	}
	return problems, err
}

// Backup writes a consistent copy of a SQLite ledger to the new file path
// (mode 0600; it must not exist) while other desks may go on writing, with
// VACUUM INTO: the copy is one snapshot, compacted, and fsynced before
// Backup returns. A copy that does not pass quick_check is removed and
// reported. A PostgreSQL ledger is backed up with pg_dump instead
// (docs/ledger.md).
func (l *Ledger) Backup(ctx context.Context, path string) error {
	if l.db.dialect != sqliteDialect {
		return errors.New("ledger: a PostgreSQL ledger is backed up with pg_dump, not by airlock")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("ledger: failed to resolve path: %w", err)
	}
	// An empty file of our own, so that the copy is never wider than
	// 0600 and an existing file is never replaced.
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("ledger: the backup file already exists: %w", fs.ErrExist)
		}
		return fmt.Errorf("ledger: cannot create the backup file: %w", storageError(abs, err))
	}
	f.Close()
	ok := false
	defer func() {
		if !ok {
			os.Remove(abs)
		}
	}()
	if _, err := l.db.raw.ExecContext(ctx, `VACUUM INTO ?`, abs); err != nil {
		return fmt.Errorf("ledger: the backup failed: %w", storageError(abs, err))
	}
	if f, err = os.OpenFile(abs, os.O_RDWR, 0); err != nil {
		return fmt.Errorf("ledger: the backup failed: %w", err)
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("ledger: the backup failed: %w", storageError(abs, err))
	}
	if d, err := os.Open(filepath.Dir(abs)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	c, err := OpenWith(abs, Options{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("ledger: the backup does not open: %w", err)
	}
	problems, err := c.pragmaCheck(ctx, "quick_check")
	c.Close()
	if err == nil && len(problems) > 0 {
		err = &IntegrityError{Problems: problems}
	}
	if err != nil {
		return fmt.Errorf("ledger: the backup does not check: %w", err)
	}
	ok = true
	return nil
}
