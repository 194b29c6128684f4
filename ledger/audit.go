package ledger

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/airlock-offline/airlock/internal/wire"
)

// The audit log.
//
// Every desk action lands in the append-only table audit, in the same
// transaction as the change it describes (and refusals through Audit). Each
// entry's hash is SHA-256 over the canonical CBOR array
//
//	[seq, at (Unix ns), action, license key, detail, previous entry's hash]
//
// so editing or removing any entry breaks every hash after it, which
// VerifyAudit detects. Removing the newest entries leaves a shorter valid
// chain: keep the head VerifyAudit prints (seq and hash) somewhere else, and
// pass it back to VerifyAudit to prove the log still contains it. Details
// hold public facts only (ids, codes), never secrets.

const auditSchema = `
CREATE TABLE IF NOT EXISTS audit (
	seq         INTEGER NOT NULL PRIMARY KEY,
	at          INTEGER NOT NULL,
	action      TEXT    NOT NULL,
	license_key TEXT    NOT NULL,
	detail      TEXT    NOT NULL,
	prev        BLOB    NOT NULL,
	hash        BLOB    NOT NULL
) STRICT;
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
`

// AuditEntry is one entry of the audit log.
type AuditEntry struct {
	Seq        int64
	At         time.Time
	Action     string // e.g. "license.created", "activation.recorded", "refused"
	LicenseKey string
	Detail     string
	Prev, Hash []byte
}

func entryHash(seq int64, at int64, action, key, detail string, prev []byte) []byte {
	b, err := wire.Marshal([]any{seq, at, action, key, detail, prev})
	if err != nil {
		panic("ledger: cannot encode an audit entry: " + err.Error())
	}
	h := sha256.Sum256(b)
	return h[:]
}

// chain appends audit entries inside one transaction.
type chain struct {
	tx     *sqlTx
	loaded bool
	seq    int64
	prev   []byte
	insert *stmt // prepared on first use, for batches
}

func (c *chain) append(ctx context.Context, action, key, detail string) error {
	if !c.loaded {
		err := c.tx.QueryRowContext(ctx, `SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1`).Scan(&c.seq, &c.prev)
		if errors.Is(err, sql.ErrNoRows) {
			c.seq, c.prev = 0, make([]byte, sha256.Size)
		} else if err != nil {
			return fmt.Errorf("ledger: failed to read the audit log: %w", err)
		}
		c.loaded = true
	}
	if c.insert == nil {
		var err error
		c.insert, err = c.tx.prepare(ctx, `INSERT INTO audit (seq, at, action, license_key, detail, prev, hash) VALUES (?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return fmt.Errorf("ledger: failed to append to the audit log: %w", err)
		}
	}
	seq, at := c.seq+1, time.Now().UnixNano()
	h := entryHash(seq, at, action, key, detail, c.prev)
	if _, err := c.insert.ExecContext(ctx, seq, at, action, key, detail, c.prev, h); err != nil {
		return fmt.Errorf("ledger: failed to append to the audit log: %w", err)
	}
	c.seq, c.prev = seq, h
	return nil
}

// Audit appends an entry that is not part of another change: a refused
// request and its result code, say. On PostgreSQL, which cannot store them,
// text that is not UTF-8 or holds a NUL byte fails with [ErrInvalid].
func (l *Ledger) Audit(ctx context.Context, action, licenseKey, detail string) error {
	if l.db.dialect == postgresDialect && !storable(action, licenseKey, detail) {
		return invalid("audit entry is not UTF-8 text without NUL bytes")
	}
	return l.write(ctx, func(ctx context.Context, tx *sqlTx) error {
		return (&chain{tx: tx}).append(ctx, action, licenseKey, detail)
	})
}

// AuditRecord is one entry for [Ledger.AuditMany].
type AuditRecord struct {
	Action, LicenseKey, Detail string
}

// AuditMany appends entries as Audit would, in one write transaction (one
// fsync): a batch's refusals. On PostgreSQL an entry it cannot store fails
// the whole call with [ErrInvalid], before anything is written.
func (l *Ledger) AuditMany(ctx context.Context, entries []AuditRecord) error {
	if len(entries) == 0 {
		return nil
	}
	if l.db.dialect == postgresDialect {
		for _, e := range entries {
			if !storable(e.Action, e.LicenseKey, e.Detail) {
				return invalid("audit entry is not UTF-8 text without NUL bytes")
			}
		}
	}
	return l.write(ctx, func(ctx context.Context, tx *sqlTx) error {
		c := &chain{tx: tx}
		defer func() {
			if c.insert != nil {
				c.insert.Close()
			}
		}()
		for _, e := range entries {
			if err := c.append(ctx, e.Action, e.LicenseKey, e.Detail); err != nil {
				return err
			}
		}
		return nil
	})
}

// AuditHead returns the newest entry's seq and hash (0 and nil for an
// empty log), without checking the chain.
func (l *Ledger) AuditHead(ctx context.Context) (seq int64, hash []byte, err error) {
	err = l.db.QueryRowContext(ctx, `SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1`).Scan(&seq, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil, nil
	}
	if err != nil {
		return 0, nil, fmt.Errorf("ledger: failed to read the audit log: %w", err)
	}
	return seq, hash, nil
}

// AuditLog returns every entry, oldest first.
func (l *Ledger) AuditLog(ctx context.Context) ([]AuditEntry, error) {
	rows, err := l.db.QueryContext(ctx, `SELECT seq, at, action, license_key, detail, prev, hash FROM audit ORDER BY seq`)
	if err != nil {
		return nil, fmt.Errorf("ledger: failed to read the audit log: %w", err)
	}
	defer rows.Close()
	var out []AuditEntry
	for rows.Next() {
		var e AuditEntry
		var at int64
		if err := rows.Scan(&e.Seq, &at, &e.Action, &e.LicenseKey, &e.Detail, &e.Prev, &e.Hash); err != nil {
			return nil, fmt.Errorf("ledger: failed to read the audit log: %w", err)
		}
		e.At = time.Unix(0, at).UTC()
		out = append(out, e)
	}
	return out, rows.Err()
}

// AuditError says where the audit log was found altered.
type AuditError struct {
	Seq    int64
	Reason string
}

func (e *AuditError) Error() string {
	return fmt.Sprintf("audit log altered at entry %d: %s", e.Seq, e.Reason)
}

// VerifyAudit checks the whole chain and returns its head (the newest
// entry's seq and hash). If head is not empty ("SEQ:HEX", as a previous run
// printed it), the chain must still contain that entry unchanged.
func (l *Ledger) VerifyAudit(ctx context.Context, head string) (seq int64, hash []byte, err error) {
	entries, err := l.AuditLog(ctx)
	if err != nil {
		return 0, nil, err
	}
	prev := make([]byte, sha256.Size)
	for i, e := range entries {
		want := int64(i + 1)
		switch {
		case e.Seq != want:
			return 0, nil, &AuditError{Seq: want, Reason: "entry missing"}
		case !bytes.Equal(e.Prev, prev):
			return 0, nil, &AuditError{Seq: e.Seq, Reason: "does not follow the entry before it"}
		case !bytes.Equal(e.Hash, entryHash(e.Seq, e.At.UnixNano(), e.Action, e.LicenseKey, e.Detail, e.Prev)):
			return 0, nil, &AuditError{Seq: e.Seq, Reason: "entry edited"}
		}
		prev = e.Hash
		seq, hash = e.Seq, e.Hash
	}
	if head != "" {
		var hs int64
		var hx string
		if _, err := fmt.Sscanf(head, "%d:%s", &hs, &hx); err != nil {
			return 0, nil, fmt.Errorf("%w: head must be SEQ:HEX", ErrInvalid)
		}
		hb, err := hex.DecodeString(hx)
		if err != nil || hs < 1 {
			return 0, nil, fmt.Errorf("%w: head must be SEQ:HEX", ErrInvalid)
		}
		if hs > int64(len(entries)) {
			return 0, nil, &AuditError{Seq: hs, Reason: "entries removed since this head was taken"}
		}
		if !bytes.Equal(entries[hs-1].Hash, hb) {
			return 0, nil, &AuditError{Seq: hs, Reason: "history rewritten since this head was taken"}
		}
	}
	return seq, hash, nil
}
