package ledger

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Activation is one license released to one installation: a seat while it is
// not released. InstallKey, Fingerprint and RequestHash come from a client
// request whose signature the caller has checked; the ledger only stores
// them.
type Activation struct {
	ID          string    // random id chosen by caller: lowercase hex, 2 to 64 digits
	LicenseKey  string    // the license the seat is taken on
	InstallKey  []byte    // 32-byte Ed25519 public key of the client installation
	Fingerprint []byte    // 16-byte combined fingerprint id of the machine
	RequestHash []byte    // 32 bytes: SHA-256 of the request it answers
	Issued      time.Time // zero is replaced by the current time on Record
	LeaseUntil  time.Time // zero = none
	License     []byte    // the signed license bytes released for this activation (at most 64 KiB)
	Released    bool      // true once the seat is freed (later: deactivation receipts)
}

// Record records the activation a durably: when it returns nil the row is
// committed and fsynced, and only then may the caller release a.License.
//
// In one write transaction, which holds the ledger's write lock so that
// desks racing for the last seat serialize (see Concurrency in the package
// documentation), Record checks that the license exists ([ErrNotFound]) and
// is not suspended ([ErrSuspended]). If the same installation (LicenseKey,
// InstallKey and Fingerprint) already holds an active seat, the seat is
// reused: that row's RequestHash, Issued, LeaseUntil and License are replaced,
// its ID is kept and copied to a.ID, and reused is true. Otherwise, if every
// seat is taken, Record fails with [ErrTooManyMachines]; else it inserts a,
// failing with [ErrActivationExists] if a.ID is taken. On any error nothing
// is written and a is unchanged. If a.Issued is zero it is set to the current
// time. a.Released must be false.
func (l *Ledger) Record(ctx context.Context, a *Activation) (reused bool, err error) {
	res, err := l.RecordBatch(ctx, []*Activation{a})
	if err != nil {
		return false, err
	}
	return res[0].Reused, res[0].Err
}

// RecordResult is the outcome of one activation of [Ledger.RecordBatch].
type RecordResult struct {
	// Reused is true if the activation took over its installation's
	// existing seat.
	Reused bool
	// Err is nil if the activation was recorded, or why it was not:
	// ErrNotFound, ErrSuspended, ErrTooManyMachines, ErrActivationExists
	// or ErrInvalid.
	Err error
}

// RecordBatch records each activation of as as [Ledger.Record] would, in
// order, in a single write transaction with a single fsync: on SQLite a
// batch of thousands of activations commits in about the time of one
// Record; on PostgreSQL each activation still costs a few round trips to
// the server. Activations earlier in the batch count for later ones, so two
// activations of one installation take one seat.
//
// If RecordBatch returns an error, nothing was written and no activation may
// be released. Otherwise the result holds one RecordResult per activation,
// and the activations whose Err is nil are durable. Activations are updated
// (ID, Issued) as by Record only when they are recorded.
func (l *Ledger) RecordBatch(ctx context.Context, as []*Activation) ([]RecordResult, error) {
	results := make([]RecordResult, len(as))
	if len(as) == 0 {
		return results, nil
	}
	now := time.Now().UTC()
	outcomes := make([]recordOutcome, len(as))
	err := l.write(ctx, func(ctx context.Context, tx *sqlTx) error {
		st, err := prepareRecord(ctx, tx)
		if err != nil {
			return err
		}
		defer st.close()
		for i, a := range as {
			results[i] = RecordResult{}
			if a == nil {
				results[i].Err = invalid("nil activation")
				continue
			}
			if err := validateActivation(a); err != nil {
				results[i].Err = err
				continue
			}
			issued := a.Issued
			if issued.IsZero() {
				issued = now
			}
			o, itemErr, err := st.record(ctx, a, issued)
			if err != nil {
				return err
			}
			outcomes[i], results[i].Err, results[i].Reused = o, itemErr, o.reused
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for i, a := range as {
		if results[i].Err == nil {
			a.ID = outcomes[i].id
			a.Issued = outcomes[i].issued
		}
	}
	return results, nil
}

type recordOutcome struct {
	reused bool
	id     string
	issued time.Time
}

// recordStmts are the statements of Record, prepared once per transaction:
// preparing them is most of the work of recording on SQLite.
type recordStmts struct {
	license, update, insert *stmt
	audit                   *chain
}

func prepareRecord(ctx context.Context, tx *sqlTx) (*recordStmts, error) {
	st := recordStmts{audit: &chain{tx: tx}}
	for _, p := range []struct {
		stmt  **stmt
		query string
	}{
		// The license, and the installation's active seat on it if
		// any (one at most: see the unique index activations_active_seat),
		// in one query: one round trip to a PostgreSQL server.
		{&st.license, `
			SELECT max_machines, suspended, seats_used, max_reactivations,
				(SELECT id FROM activations
				WHERE license_key = l.key AND install_key = ? AND fingerprint = ? AND released = 0)
			FROM licenses l WHERE l.key = ?`},
		{&st.update, `
			UPDATE activations SET request_hash = ?, issued = ?, lease_until = ?, license = ?
			WHERE id = ?`},
		{&st.insert, `
			INSERT INTO activations (id, license_key, install_key, fingerprint, request_hash,
				issued, lease_until, license, released)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0)
			ON CONFLICT (id) DO NOTHING`},
	} {
		stmt, err := tx.prepare(ctx, p.query)
		if err != nil {
			st.close()
			return nil, fmt.Errorf("ledger: failed to prepare statement: %w", err)
		}
		*p.stmt = stmt
	}
	return &st, nil
}

func (st *recordStmts) close() {
	for _, stmt := range []*stmt{st.license, st.update, st.insert} {
		if stmt != nil {
			stmt.Close()
		}
	}
}

// record records a. itemErr is a's own failure, after which nothing of a was
// written; err is a database failure that aborts the transaction.
func (st *recordStmts) record(ctx context.Context, a *Activation, issued time.Time) (o recordOutcome, itemErr, err error) {
	// seats_used is kept by triggers; see the schema.
	var maxMachines, suspended, used, maxReact int
	var seat sql.NullString
	err = st.license.QueryRowContext(ctx, a.InstallKey, a.Fingerprint, a.LicenseKey).Scan(&maxMachines, &suspended, &used, &maxReact, &seat)
	if errors.Is(err, sql.ErrNoRows) {
		return o, ErrNotFound, nil
	}
	if err != nil {
		return o, nil, fmt.Errorf("ledger: failed to read license: %w", err)
	}
	if suspended != 0 {
		return o, ErrSuspended, nil
	}

	if seat.Valid {
		id := seat.String
		_, err = st.update.ExecContext(ctx, a.RequestHash, issued.UnixNano(), nullTime(a.LeaseUntil), a.License, id)
		if err != nil {
			return o, nil, fmt.Errorf("ledger: failed to update activation: %w", err)
		}
		if err := st.audit.append(ctx, "activation.reissued", a.LicenseKey, "activation "+id+", same installation and machine, seat reused"); err != nil {
			return o, nil, err
		}
		return recordOutcome{reused: true, id: id, issued: issued}, nil, nil
	}

	if used >= maxMachines {
		return o, ErrTooManyMachines, nil
	}
	// Activations beyond the license's seats (possible only once receipts
	// freed some) are re-activations; the limit caps them. Counted only
	// for licenses that have a limit: unlimited ones pay nothing.
	if maxReact >= 0 && used < maxMachines {
		var taken int
		if err := st.audit.tx.QueryRowContext(ctx, `SELECT count(*) FROM activations WHERE license_key = ?`, a.LicenseKey).Scan(&taken); err != nil {
			return o, nil, fmt.Errorf("ledger: failed to count activations: %w", err)
		}
		if taken >= maxMachines && taken-maxMachines >= maxReact {
			return o, ErrTooManyReactivations, nil
		}
	}

	res, err := st.insert.ExecContext(ctx, a.ID, a.LicenseKey, a.InstallKey, a.Fingerprint, a.RequestHash,
		issued.UnixNano(), nullTime(a.LeaseUntil), a.License)
	if err != nil {
		return o, nil, fmt.Errorf("ledger: failed to insert activation: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return o, nil, fmt.Errorf("ledger: failed to insert activation: %w", err)
	}
	if n == 0 {
		return o, ErrActivationExists, nil
	}
	if err := st.audit.append(ctx, "activation.recorded", a.LicenseKey, fmt.Sprintf("activation %s, seat %d of %d", a.ID, used+1, maxMachines)); err != nil {
		return o, nil, err
	}
	return recordOutcome{id: a.ID, issued: issued}, nil, nil
}

// Activations returns every activation of the license, active and released,
// ordered by issue time, then ID. It fails with [ErrNotFound] if the license
// is unknown.
func (l *Ledger) Activations(ctx context.Context, licenseKey string) ([]Activation, error) {
	if !storable(licenseKey) {
		return nil, ErrNotFound
	}
	// The LEFT JOIN returns one all-NULL activation for a known license
	// without activations, and no row for an unknown one, in one snapshot.
	rows, err := l.db.QueryContext(ctx, `
		SELECT a.id, a.install_key, a.fingerprint, a.request_hash, a.issued,
			a.lease_until, a.license, a.released
		FROM licenses l LEFT JOIN activations a ON a.license_key = l.key
		WHERE l.key = ?
		ORDER BY a.issued, a.id`, licenseKey)
	if err != nil {
		return nil, fmt.Errorf("ledger: failed to list activations: %w", err)
	}
	defer rows.Close()
	found := false
	out := []Activation{}
	for rows.Next() {
		found = true
		var (
			a          Activation
			id         sql.NullString
			issued     sql.NullInt64
			leaseUntil sql.NullInt64
			released   sql.NullInt64
		)
		err := rows.Scan(&id, &a.InstallKey, &a.Fingerprint, &a.RequestHash, &issued,
			&leaseUntil, &a.License, &released)
		if err != nil {
			return nil, fmt.Errorf("ledger: failed to read activation: %w", err)
		}
		if !id.Valid {
			continue // the license has no activation
		}
		if !issued.Valid || !released.Valid {
			return nil, fmt.Errorf("%w: activation", ErrCorrupt)
		}
		a.ID = id.String
		a.LicenseKey = licenseKey
		a.Issued = time.Unix(0, issued.Int64).UTC()
		a.LeaseUntil = fromNullTime(leaseUntil)
		a.Released = released.Int64 != 0
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ledger: failed to list activations: %w", err)
	}
	if !found {
		return nil, ErrNotFound
	}
	return out, nil
}

// SeatsUsed returns the number of active (not released) activations of the
// license. It fails with [ErrNotFound] if the license is unknown.
func (l *Ledger) SeatsUsed(ctx context.Context, licenseKey string) (int, error) {
	if !storable(licenseKey) {
		return 0, ErrNotFound
	}
	var n int
	err := l.db.QueryRowContext(ctx, `
		SELECT (SELECT count(*) FROM activations a WHERE a.license_key = l.key AND a.released = 0)
		FROM licenses l WHERE l.key = ?`, licenseKey).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, ErrNotFound
	}
	if err != nil {
		return 0, fmt.Errorf("ledger: failed to count seats: %w", err)
	}
	return n, nil
}

// ActiveSeat returns the ID of the active activation that the installation
// installKey holds on the machine fingerprint under licenseKey, if any. It is
// the desk's look-up before signing, so that the same machine asking again
// is answered under the same activation ID; it uses the unique index that
// allows one active seat per installation and machine.
func (l *Ledger) ActiveSeat(ctx context.Context, licenseKey string, installKey, fingerprint []byte) (id string, found bool, err error) {
	if !storable(licenseKey) {
		return "", false, nil
	}
	err = l.db.QueryRowContext(ctx, `
		SELECT id FROM activations
		WHERE license_key = ? AND install_key = ? AND fingerprint = ? AND released = 0`,
		licenseKey, installKey, fingerprint).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("ledger: failed to read activations: %w", err)
	}
	return id, true, nil
}

// ActiveSeatsUpTo returns the IDs of the license's active seats, keyed by
// install key and fingerprint (the two byte strings concatenated), if it
// has at most max of them; nil if it has more (or is unknown). It is the
// desk's look-up of [Ledger.ActiveSeat] for a whole batch at once.
func (l *Ledger) ActiveSeatsUpTo(ctx context.Context, licenseKey string, max int) (map[string]string, error) {
	if !storable(licenseKey) {
		return map[string]string{}, nil
	}
	rows, err := l.db.QueryContext(ctx, `
		SELECT install_key, fingerprint, id FROM activations
		WHERE license_key = ? AND released = 0
		LIMIT ?`, licenseKey, max+1)
	if err != nil {
		return nil, fmt.Errorf("ledger: failed to read activations: %w", err)
	}
	defer rows.Close()
	seats := map[string]string{}
	for rows.Next() {
		var ik, fp []byte
		var id string
		if err := rows.Scan(&ik, &fp, &id); err != nil {
			return nil, fmt.Errorf("ledger: failed to read activations: %w", err)
		}
		seats[string(ik)+string(fp)] = id
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ledger: failed to read activations: %w", err)
	}
	if len(seats) > max {
		return nil, nil
	}
	return seats, nil
}

// Release frees the seat of the activation id under licenseKey, held by the
// installation installKey, in one write transaction. It fails with
// ErrNotFound (no such activation under that license), ErrNotHolder
// (another installation holds it: nothing changes) or ErrAlreadyReleased.
func (l *Ledger) Release(ctx context.Context, licenseKey, id string, installKey []byte) error {
	if !storable(licenseKey, id) {
		return ErrNotFound
	}
	return l.write(ctx, func(ctx context.Context, tx *sqlTx) error {
		var holder []byte
		var released int
		err := tx.QueryRowContext(ctx, `SELECT install_key, released FROM activations WHERE id = ? AND license_key = ?`,
			id, licenseKey).Scan(&holder, &released)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("ledger: failed to read activation: %w", err)
		}
		if subtle.ConstantTimeCompare(holder, installKey) != 1 {
			return ErrNotHolder
		}
		if released != 0 {
			return ErrAlreadyReleased
		}
		if _, err := tx.ExecContext(ctx, `UPDATE activations SET released = 1 WHERE id = ?`, id); err != nil {
			return fmt.Errorf("ledger: failed to release activation: %w", err)
		}
		return (&chain{tx: tx}).append(ctx, "receipt.imported", licenseKey, "activation "+id+" released, seat freed")
	})
}

// Renew replaces the active activation oldID under licenseKey, held by
// a.InstallKey, with a (its new ID, fingerprint, request hash, lease and
// license), in one write transaction: the seat stays the same seat, and the
// old lease ID no longer exists, so a renewal of it cannot be replayed. It
// fails with ErrNotFound (no such active lease: unknown, released or
// already renewed), ErrNotHolder or ErrSuspended.
func (l *Ledger) Renew(ctx context.Context, oldID string, a *Activation) error {
	if err := validateActivation(a); err != nil {
		return err
	}
	issued := a.Issued
	if issued.IsZero() {
		issued = time.Now().UTC()
	}
	return l.write(ctx, func(ctx context.Context, tx *sqlTx) error {
		var suspended int
		err := tx.QueryRowContext(ctx, `SELECT suspended FROM licenses WHERE key = ?`, a.LicenseKey).Scan(&suspended)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("ledger: failed to read license: %w", err)
		}
		if suspended != 0 {
			return ErrSuspended
		}
		if !storable(oldID) {
			return ErrNotFound
		}
		var holder []byte
		err = tx.QueryRowContext(ctx, `SELECT install_key FROM activations WHERE id = ? AND license_key = ? AND released = 0`,
			oldID, a.LicenseKey).Scan(&holder)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("ledger: failed to read activation: %w", err)
		}
		if subtle.ConstantTimeCompare(holder, a.InstallKey) != 1 {
			return ErrNotHolder
		}
		_, err = tx.ExecContext(ctx, `UPDATE activations SET id = ?, fingerprint = ?, request_hash = ?, issued = ?,
			lease_until = ?, license = ? WHERE id = ?`,
			a.ID, a.Fingerprint, a.RequestHash, issued.UnixNano(), nullTime(a.LeaseUntil), a.License, oldID)
		if err != nil {
			return fmt.Errorf("ledger: failed to renew activation: %w", err)
		}
		return (&chain{tx: tx}).append(ctx, "lease.renewed", a.LicenseKey, "lease "+oldID+" renewed as "+a.ID)
	})
}

// GetActivation returns the activation id under licenseKey (ErrNotFound if
// there is none).
func (l *Ledger) GetActivation(ctx context.Context, licenseKey, id string) (*Activation, error) {
	if !storable(licenseKey, id) {
		return nil, ErrNotFound
	}
	a := Activation{ID: id, LicenseKey: licenseKey}
	var issued int64
	var leaseUntil sql.NullInt64
	var released int
	err := l.db.QueryRowContext(ctx, `SELECT install_key, fingerprint, request_hash, issued, lease_until, license, released
		FROM activations WHERE id = ? AND license_key = ?`, id, licenseKey).
		Scan(&a.InstallKey, &a.Fingerprint, &a.RequestHash, &issued, &leaseUntil, &a.License, &released)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("ledger: failed to read activation: %w", err)
	}
	a.Issued = time.Unix(0, issued).UTC()
	a.LeaseUntil = fromNullTime(leaseUntil)
	a.Released = released != 0
	return &a, nil
}
