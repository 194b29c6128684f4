package ledger

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// License is a vendor license as the ledger stores it. All fields are set by
// the vendor at the desk; none comes from a client request.
type License struct {
	Key         string // human-typeable license key, primary key (caller generates it)
	Product     string // product name, not empty
	Licensee    string // who the license is for; may be empty
	MaxMachines int    // >= 1
	// MaxReactivations limits how many activations may take a seat that a
	// receipt freed: nil means no limit.
	MaxReactivations *int
	// RefuseGenericKeys refuses hardware keys that can prove nothing (a
	// card known only by its UID).
	RefuseGenericKeys bool
	Expires           time.Time         // zero = never
	LeasePeriod       time.Duration     // 0 = no lease
	Features          map[string]uint64 // feature name -> count (0 = unlimited/flag); nil when empty
	Confidential      map[string]string // fields sealed to the client in the license; never printed by list; nil when empty
	MatchPolicy       string            // fingerprint match policy text, e.g. "all", "most", "atleast:2", "exact"
	RefuseEnv         string            // environments refused (fingerprint.Env text, e.g. "vm,container"); "" = none
	HardwareEnv       string            // environments that must present a hardware key; "" = none
	SecretMode        string            // licensee secret: "disabled" (or ""), "predefined", "client"
	SecretHash        []byte            // keyed hash of the licensee secret (32 bytes), never the secret; nil until set
	Created           time.Time         // zero is replaced by the current time on CreateLicense
	Suspended         bool
}

// String describes the license without its confidential values, so that a
// License printed with %v or %+v by mistake leaks only the field names'
// count.
func (lic License) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "ledger.License{Key:%q Product:%q Licensee:%q MaxMachines:%d", lic.Key, lic.Product, lic.Licensee, lic.MaxMachines)
	if !lic.Expires.IsZero() {
		fmt.Fprintf(&b, " Expires:%s", lic.Expires.UTC().Format(time.RFC3339))
	}
	if lic.LeasePeriod != 0 {
		fmt.Fprintf(&b, " LeasePeriod:%s", lic.LeasePeriod)
	}
	if len(lic.Features) > 0 {
		names := make([]string, 0, len(lic.Features))
		for name := range lic.Features {
			names = append(names, name)
		}
		sort.Strings(names)
		b.WriteString(" Features:{")
		for i, name := range names {
			if i > 0 {
				b.WriteByte(' ')
			}
			fmt.Fprintf(&b, "%q:%d", name, lic.Features[name])
		}
		b.WriteByte('}')
	}
	if len(lic.Confidential) > 0 {
		fmt.Fprintf(&b, " Confidential:[%d redacted]", len(lic.Confidential))
	}
	fmt.Fprintf(&b, " MatchPolicy:%q Created:%s Suspended:%t}", lic.MatchPolicy, lic.Created.UTC().Format(time.RFC3339), lic.Suspended)
	return b.String()
}

// GoString is String, so that %#v does not print confidential values either.
func (lic License) GoString() string { return lic.String() }

// Size limits on license fields, in bytes unless said otherwise.
const (
	maxKeyLen        = 128
	maxProductLen    = 256
	maxLicenseeLen   = 1024
	maxPolicyLen     = 256
	maxMapEntries    = 256 // features, confidential fields
	maxMapNameLen    = 128
	maxConfidLen     = 4096 // one confidential value
	maxActivationID  = 64   // hex characters
	maxLicenseBlob   = 64 << 10
	minActivationLen = 2 // hex characters
)

// CreateLicense adds lic to the ledger. It fails with [ErrExists] if a
// license with the same key exists, and with [ErrInvalid] if a field is
// malformed. If lic.Created is zero it is set to the current time (in UTC)
// before lic is stored.
func (l *Ledger) CreateLicense(ctx context.Context, lic *License) error {
	if lic == nil {
		return fmt.Errorf("%w: nil license", ErrInvalid)
	}
	if err := validateLicense(lic); err != nil {
		return err
	}
	stored := *lic
	if stored.Created.IsZero() {
		stored.Created = time.Now().UTC()
	}
	err := l.write(ctx, func(ctx context.Context, tx *sqlTx) error {
		if err := insertLicense(ctx, tx, &stored); err != nil {
			return err
		}
		return (&chain{tx: tx}).append(ctx, "license.created", lic.Key,
			fmt.Sprintf("product %q, licensee %q, %d machine(s), secret %s", lic.Product, lic.Licensee, lic.MaxMachines, secretMode(lic.SecretMode)))
	})
	if err != nil {
		return err
	}
	lic.Created = stored.Created
	return nil
}

// insertLicense inserts lic, validated and with its creation time set, in
// the write transaction tx. It fails with [ErrExists] if the key is taken.
// It is the one INSERT of a license: CreateLicense's and AutoCreateLicense's.
func insertLicense(ctx context.Context, tx *sqlTx, lic *License) error {
	features, err := encodeFeatures(lic.Features)
	if err != nil {
		return err
	}
	confidential, err := encodeConfidential(lic.Confidential)
	if err != nil {
		return err
	}
	res, err := tx.ExecContext(ctx, `
		INSERT INTO licenses (key, product, licensee, max_machines, expires, lease_period,
			features, confidential, match_policy, refuse_env, hwkey_env, secret_mode, secret_hash, created, suspended, max_reactivations, refuse_generic)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (key) DO NOTHING`,
		lic.Key, lic.Product, lic.Licensee, lic.MaxMachines, nullTime(lic.Expires),
		int64(lic.LeasePeriod), features, confidential, lic.MatchPolicy,
		lic.RefuseEnv, lic.HardwareEnv, secretMode(lic.SecretMode), nullBytes(lic.SecretHash), lic.Created.UnixNano(), boolInt(lic.Suspended),
		reactivationLimit(lic.MaxReactivations), boolInt(lic.RefuseGenericKeys))
	if err != nil {
		return fmt.Errorf("ledger: failed to create license: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("ledger: failed to create license: %w", err)
	}
	if n == 0 {
		return ErrExists
	}
	return nil
}

// SetSuspended suspends (true) or reinstates (false) the license with the
// given key. A suspended license keeps its seats but takes no new or renewed
// activation: [Ledger.Record] fails with [ErrSuspended].
func (l *Ledger) SetSuspended(ctx context.Context, key string, suspended bool) error {
	if !storable(key) {
		return ErrNotFound
	}
	return l.write(ctx, func(ctx context.Context, tx *sqlTx) error {
		res, err := tx.ExecContext(ctx, `UPDATE licenses SET suspended = ? WHERE key = ?`, boolInt(suspended), key)
		if err != nil {
			return fmt.Errorf("ledger: failed to update license: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("ledger: failed to update license: %w", err)
		}
		if n == 0 {
			return ErrNotFound
		}
		action := "license.reinstated"
		if suspended {
			action = "license.suspended"
		}
		return (&chain{tx: tx}).append(ctx, action, key, "")
	})
}

const licenseColumns = `key, product, licensee, max_machines, expires, lease_period,
	features, confidential, match_policy, refuse_env, hwkey_env, secret_mode, secret_hash, created, suspended, max_reactivations, refuse_generic`

// GetLicense returns the license with the given key, or [ErrNotFound].
func (l *Ledger) GetLicense(ctx context.Context, key string) (*License, error) {
	if !storable(key) {
		return nil, ErrNotFound
	}
	row := l.db.QueryRowContext(ctx, `SELECT `+licenseColumns+` FROM licenses WHERE key = ?`, key)
	lic, err := scanLicense(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return lic, nil
}

// ListLicenses returns every license, ordered by creation time, then key.
func (l *Ledger) ListLicenses(ctx context.Context) ([]License, error) {
	rows, err := l.db.QueryContext(ctx, `SELECT `+licenseColumns+` FROM licenses ORDER BY created, key`)
	if err != nil {
		return nil, fmt.Errorf("ledger: failed to list licenses: %w", err)
	}
	defer rows.Close()
	var out []License
	for rows.Next() {
		lic, err := scanLicense(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *lic)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ledger: failed to list licenses: %w", err)
	}
	return out, nil
}

type scanner interface {
	Scan(dest ...any) error
}

func scanLicense(s scanner) (*License, error) {
	var (
		lic                    License
		expires                sql.NullInt64
		lease, created         int64
		features, confidential string
		suspended              int
		maxReact               int
		refuseGeneric          int
	)
	err := s.Scan(&lic.Key, &lic.Product, &lic.Licensee, &lic.MaxMachines, &expires, &lease,
		&features, &confidential, &lic.MatchPolicy, &lic.RefuseEnv, &lic.HardwareEnv, &lic.SecretMode, &lic.SecretHash, &created, &suspended,
		&maxReact, &refuseGeneric)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("ledger: failed to read license: %w", err)
	}
	if maxReact >= 0 {
		lic.MaxReactivations = &maxReact
	}
	lic.RefuseGenericKeys = refuseGeneric != 0
	if lic.SecretMode == "disabled" {
		lic.SecretMode = "" // the zero value means disabled
	}
	lic.Expires = fromNullTime(expires)
	lic.LeasePeriod = time.Duration(lease)
	lic.Created = time.Unix(0, created).UTC()
	lic.Suspended = suspended != 0
	if err := json.Unmarshal([]byte(features), &lic.Features); err != nil {
		return nil, fmt.Errorf("%w: license features", ErrCorrupt)
	}
	if err := json.Unmarshal([]byte(confidential), &lic.Confidential); err != nil {
		return nil, fmt.Errorf("%w: license confidential fields", ErrCorrupt)
	}
	if len(lic.Features) == 0 {
		lic.Features = nil
	}
	if len(lic.Confidential) == 0 {
		lic.Confidential = nil
	}
	return &lic, nil
}

func encodeFeatures(m map[string]uint64) (string, error) {
	if len(m) == 0 {
		return "{}", nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return "", fmt.Errorf("ledger: failed to encode features: %w", err)
	}
	return string(b), nil
}

func encodeConfidential(m map[string]string) (string, error) {
	if len(m) == 0 {
		return "{}", nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		// Not wrapped: the error could quote a value.
		return "", errors.New("ledger: failed to encode confidential fields")
	}
	return string(b), nil
}

func secretMode(m string) string {
	if m == "" {
		return "disabled"
	}
	return m
}

func nullBytes(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// BindSecret records the keyed hash of a licensee secret for a license in
// "client" mode whose first activation brings it; a license that already
// has one keeps it (ErrExists).
func (l *Ledger) BindSecret(ctx context.Context, key string, hash []byte) error {
	if len(hash) != 32 {
		return invalid("secret hash must be 32 bytes")
	}
	if !storable(key) {
		return ErrNotFound
	}
	return l.write(ctx, func(ctx context.Context, tx *sqlTx) error {
		res, err := tx.ExecContext(ctx, `UPDATE licenses SET secret_hash = ? WHERE key = ? AND secret_hash IS NULL`, hash, key)
		if err != nil {
			return fmt.Errorf("ledger: failed to update license: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("ledger: failed to update license: %w", err)
		} else if n == 0 {
			if _, err := l.GetLicense(ctx, key); err != nil {
				return err
			}
			return ErrExists
		}
		return (&chain{tx: tx}).append(ctx, "secret.bound", key, "first activation bound the licensee secret (hash only)")
	})
}

// reactivationLimit stores the field: nil (no limit) as -1.
func reactivationLimit(n *int) int {
	if n == nil {
		return -1
	}
	return *n
}
