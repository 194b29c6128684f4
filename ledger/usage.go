package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Usage reports (package usage) are stored as they arrive, with the flag
// the desk's chain check gave them: a report out of its server's chain is
// kept all the same, so nothing a server said is lost.

// schemaV3 is the step from version 2 to version 3: usage reports.
const schemaV3 = `
CREATE TABLE usage_reports (
	hash         BLOB    NOT NULL PRIMARY KEY CHECK (length(hash) = 32),
	server_key   BLOB    NOT NULL CHECK (length(server_key) = 32),
	seq          INTEGER NOT NULL CHECK (seq >= 1),
	prev         BLOB    NOT NULL CHECK (length(prev) = 32),
	license_key  TEXT    NOT NULL,
	period_from  INTEGER NOT NULL,
	period_to    INTEGER NOT NULL,
	imported     INTEGER NOT NULL,
	flag         TEXT    NOT NULL,
	message      TEXT    NOT NULL,
	report       BLOB    NOT NULL
) STRICT;

CREATE INDEX usage_reports_by_server ON usage_reports (server_key, seq);
`

// pgSchemaV3 is schemaV3 for PostgreSQL.
const pgSchemaV3 = `
CREATE TABLE usage_reports (
	hash         BYTEA  NOT NULL PRIMARY KEY CHECK (octet_length(hash) = 32),
	server_key   BYTEA  NOT NULL CHECK (octet_length(server_key) = 32),
	seq          BIGINT NOT NULL CHECK (seq >= 1),
	prev         BYTEA  NOT NULL CHECK (octet_length(prev) = 32),
	license_key  TEXT COLLATE "C" NOT NULL,
	period_from  BIGINT NOT NULL,
	period_to    BIGINT NOT NULL,
	imported     BIGINT NOT NULL,
	flag         TEXT   NOT NULL,
	message      TEXT   NOT NULL,
	report       BYTEA  NOT NULL
);

CREATE INDEX usage_reports_by_server ON usage_reports (server_key, seq);
`

// MaxUsageReport bounds a stored report's signed bytes.
const MaxUsageReport = 64 << 10

// UsageReport is a usage report as the ledger keeps it.
type UsageReport struct {
	Hash       []byte // SHA-256 of Report: its id
	ServerKey  []byte // the key whose chain the report is in: its server's, or for a pool of several nodes the requesting node's (the nodes share one chain)
	Seq        uint64
	Prev       []byte
	LicenseKey string // the pool license the server key was found under
	From, To   time.Time
	Imported   time.Time
	Flag       string // "" or a usage.Flag… code
	Message    string
	Report     []byte // the signed report (empty in the prior list of RecordUsageReport's check)
}

func validateUsageReport(r *UsageReport) error {
	switch {
	case len(r.Hash) != 32 || len(r.Prev) != 32 || len(r.ServerKey) != 32:
		return invalid("usage report: hash, prev and server key are 32 bytes")
	case r.Seq == 0 || r.Seq > 1<<62:
		return invalid("usage report: sequence number out of range")
	case len(r.Report) == 0 || len(r.Report) > MaxUsageReport:
		return invalid("usage report: empty or larger than %d bytes", MaxUsageReport)
	case !storable(r.LicenseKey, r.Flag, r.Message):
		return invalid("usage report: text is not UTF-8 without NUL bytes")
	case !timeInRange(r.From) || !timeInRange(r.To):
		return invalid("usage report: period out of range")
	}
	return nil
}

// RecordUsageReport stores r in one write transaction, after check has
// seen the reports stored before from the same server key (without their
// bytes) and set r's flag and message. A report already stored (the same
// hash) is not stored twice: stored is then false, and r's flag and
// message are check's. The audit log records the import.
func (l *Ledger) RecordUsageReport(ctx context.Context, r *UsageReport, check func(prior []UsageReport) (flag, message string)) (stored bool, err error) {
	if err := validateUsageReport(r); err != nil {
		return false, err
	}
	imported := r.Imported
	if imported.IsZero() {
		imported = time.Now().UTC()
	}
	err = l.write(ctx, func(ctx context.Context, tx *sqlTx) error {
		rows, err := tx.QueryContext(ctx, `SELECT hash, seq, prev, license_key, period_from, period_to, imported, flag, message
			FROM usage_reports WHERE server_key = ? ORDER BY seq, imported`, r.ServerKey)
		if err != nil {
			return fmt.Errorf("ledger: failed to read usage reports: %w", err)
		}
		prior, err := scanUsageReports(rows, r.ServerKey, false)
		if err != nil {
			return err
		}
		r.Flag, r.Message = check(prior)
		if !storable(r.Flag, r.Message) {
			return invalid("usage report: flag is not UTF-8 without NUL bytes")
		}
		for _, p := range prior {
			if string(p.Hash) == string(r.Hash) {
				return nil
			}
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO usage_reports (hash, server_key, seq, prev, license_key, period_from, period_to, imported, flag, message, report)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.Hash, r.ServerKey, int64(r.Seq), r.Prev, r.LicenseKey, r.From.UnixNano(), r.To.UnixNano(), imported.UnixNano(), r.Flag, r.Message, r.Report)
		if err != nil {
			return fmt.Errorf("ledger: failed to store the usage report: %w", err)
		}
		stored = true
		detail := fmt.Sprintf("usage report %d of server %x (%x) imported", r.Seq, r.ServerKey[:8], r.Hash[:8])
		if r.Flag != "" {
			detail += ", flagged " + r.Flag
		}
		return (&chain{tx: tx}).append(ctx, "usage.imported", r.LicenseKey, detail)
	})
	if err == nil && stored {
		r.Imported = imported
	}
	return stored, err
}

// UsageReports lists the stored usage reports of a server key (all
// servers' if key is nil), by server then sequence number, with their
// bytes.
func (l *Ledger) UsageReports(ctx context.Context, serverKey []byte) ([]UsageReport, error) {
	q := `SELECT hash, seq, prev, license_key, period_from, period_to, imported, flag, message, server_key, report FROM usage_reports`
	var args []any
	if serverKey != nil {
		q += ` WHERE server_key = ?`
		args = append(args, serverKey)
	}
	rows, err := l.db.QueryContext(ctx, q+` ORDER BY server_key, seq, imported`, args...)
	if err != nil {
		return nil, fmt.Errorf("ledger: failed to read usage reports: %w", err)
	}
	return scanUsageReports(rows, nil, true)
}

// GetUsageReport returns the stored report whose hash is hash
// (ErrNotFound if none).
func (l *Ledger) GetUsageReport(ctx context.Context, hash []byte) (*UsageReport, error) {
	rows, err := l.db.QueryContext(ctx, `SELECT hash, seq, prev, license_key, period_from, period_to, imported, flag, message, server_key, report
		FROM usage_reports WHERE hash = ?`, hash)
	if err != nil {
		return nil, fmt.Errorf("ledger: failed to read usage reports: %w", err)
	}
	out, err := scanUsageReports(rows, nil, true)
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, ErrNotFound
	}
	return &out[0], nil
}

func scanUsageReports(rows *sql.Rows, key []byte, full bool) ([]UsageReport, error) {
	defer rows.Close()
	var out []UsageReport
	for rows.Next() {
		var r UsageReport
		var seq, from, to, imported int64
		dest := []any{&r.Hash, &seq, &r.Prev, &r.LicenseKey, &from, &to, &imported, &r.Flag, &r.Message}
		if full {
			dest = append(dest, &r.ServerKey, &r.Report)
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("ledger: failed to read usage reports: %w", err)
		}
		if !full {
			r.ServerKey = key
		}
		if seq < 1 {
			return nil, errors.New("ledger: a usage report has an invalid sequence number")
		}
		r.Seq = uint64(seq)
		r.From, r.To, r.Imported = time.Unix(0, from).UTC(), time.Unix(0, to).UTC(), time.Unix(0, imported).UTC()
		out = append(out, r)
	}
	return out, rows.Err()
}
