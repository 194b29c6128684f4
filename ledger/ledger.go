package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// Errors returned by the ledger. Test for them with [errors.Is]; the returned
// error may wrap them with more context.
var (
	// ErrNotFound means the license key is not in the ledger.
	ErrNotFound = errors.New("ledger: not found")
	// ErrExists means a license with the same key is already in the ledger.
	ErrExists = errors.New("ledger: license already exists")
	// ErrTooManyMachines means every seat of the license is taken by
	// another installation.
	ErrTooManyMachines = errors.New("ledger: license has no free seat")
	// ErrSuspended means the license is suspended and takes no activation.
	ErrSuspended = errors.New("ledger: license is suspended")

	// ErrActivationExists means an activation with the same ID is already
	// in the ledger (the caller's random ID collided or was reused).
	ErrActivationExists = errors.New("ledger: activation id already exists")
	// ErrTooManyReactivations: the license's limit on activations after a
	// released seat is reached.
	ErrTooManyReactivations = errors.New("ledger: license has no re-activation left")
	// ErrAlreadyReleased: the seat was freed before (a receipt imported twice).
	ErrAlreadyReleased = errors.New("ledger: activation already released")
	// ErrNotHolder: the activation exists but another installation holds it.
	ErrNotHolder = errors.New("ledger: activation is held by another installation")
	// ErrInvalid means a caller-supplied value is malformed; the wrapping
	// message names the field, not its value.
	ErrInvalid = errors.New("ledger: invalid input")
	// ErrSchemaTooNew means the ledger was written by a newer version of
	// this package than this one understands.
	ErrSchemaTooNew = errors.New("ledger: database schema is newer than this program supports")
	// ErrNotLedger means the file is a SQLite database but not a ledger, or
	// the PostgreSQL schema holds other tables but no ledger.
	ErrNotLedger = errors.New("ledger: database is not an airlock ledger")
	// ErrCorrupt means a stored row does not decode.
	ErrCorrupt = errors.New("ledger: stored data is corrupt")
	// ErrUnreachable: no connection to the PostgreSQL server could be
	// made (nothing listening, a TLS failure, a refused login).
	ErrUnreachable = errors.New("ledger: cannot connect to the database")
	// ErrAccessDenied: the PostgreSQL server refused the login (a wrong or
	// missing password, or a role it does not know). It is also
	// ErrUnreachable.
	ErrAccessDenied = errors.New("ledger: the database refused the login")
)

// SchemaVersion is the schema version this package writes and reads, kept in
// PRAGMA user_version (SQLite) or the table airlock_ledger (PostgreSQL).
// Version 2 added the table products (auto-created licenses); [Open]
// upgrades a version-1 ledger. Version 3 added the table usage_reports
// (usage.go).
const SchemaVersion = 3

// applicationID is PRAGMA application_id of a ledger file, and the
// application_id of a PostgreSQL ledger's airlock_ledger row: "ARLK".
const applicationID = 0x41524C4B

// busyTimeout is how long a writer waits for the write lock held by another
// connection or process before it fails: SQLite's busy_timeout, PostgreSQL's
// lock_timeout.
const busyTimeout = 10 * time.Second

// Ledger is an open ledger. It is safe for concurrent use by multiple
// goroutines, and several Ledgers (in one process or many) may share a file
// or a PostgreSQL schema.
type Ledger struct {
	db       *sqlDB
	readOnly bool
	// wmu serializes this process's write transactions, so they queue here
	// (honouring contexts) instead of polling the database's lock.
	wmu chan struct{}
}

// Open opens the ledger at target for reading and writing, creating it if
// target holds no ledger yet: it is OpenWith(target, Options{Create: true}).
// target is a PostgreSQL database if it is a URL that starts with
// postgres:// or postgresql://, else a SQLite file.
//
// A SQLite file is created with mode 0600, and the schema with it, if
// missing. Open configures WAL mode, synchronous=FULL, foreign keys and a
// busy timeout on every connection.
//
// A PostgreSQL ledger lives in the first existing schema of the connection's
// search_path (a search_path parameter in the URL chooses one, e.g.
// postgres://desk@db.example/airlock?search_path=ledger); Open creates its
// tables if that schema is empty. Error messages never contain the URL or
// its password; [RedactDSN] gives a printable form of target.
//
// Open fails with [ErrSchemaTooNew] if the ledger's schema is newer than
// [SchemaVersion], or with [ErrNotLedger] if the file is some other SQLite
// database or the PostgreSQL schema holds other tables.
func Open(target string) (*Ledger, error) {
	return OpenWith(target, Options{Create: true})
}

// Options say how [OpenWith] opens a ledger.
type Options struct {
	// Create makes a new ledger where target holds none yet: a missing
	// or empty SQLite file, an empty PostgreSQL schema. Without it such
	// a target fails with [ErrMissing] or [ErrEmpty], so that a typo or
	// an unmounted volume is never taken for a new, empty ledger.
	Create bool
	// ReadOnly opens the ledger for reading only. Nothing is written,
	// not even a schema upgrade, so a SQLite file on read-only storage
	// (a snapshot on read-only media, a copy sent to an auditor) opens,
	// and a PostgreSQL role with SELECT alone will do. Every method that
	// writes fails with [ErrReadOnly]. It excludes Create.
	ReadOnly bool
}

// OpenWith opens the ledger at target as opts says (see [Open] for
// targets).
//
// Opening for writing checks the ledger first: on SQLite, PRAGMA
// integrity_check (which, unlike quick_check, also checks each index
// against its table: the index that allows one seat per installation
// above all) and each license's seat counter; a ledger that fails is
// refused with an [*IntegrityError] ([ErrDamaged]), so
// that no seat is taken on a damaged ledger. [Ledger.Check] runs the full
// check. A SQLite file whose write-ahead log went missing while it still
// held committed transactions (the -shm file says so) is refused with
// [ErrWALMissing].
//
// Errors say what is wrong with the target: [ErrMissing], [ErrEmpty],
// [ErrNotLedger], [ErrSchemaTooNew], [ErrDamaged], [ErrReadOnly] (writing
// on read-only storage), [ErrDiskFull], and for PostgreSQL
// [ErrUnreachable] and [ErrAccessDenied].
func OpenWith(target string, opts Options) (*Ledger, error) {
	if opts.Create && opts.ReadOnly {
		return nil, fmt.Errorf("%w: Create and ReadOnly together", ErrInvalid)
	}
	if isPostgres(target) {
		return openPostgres(target, opts)
	}
	return openSQLite(target, opts)
}

// Backend returns "sqlite" or "postgres".
func (l *Ledger) Backend() string {
	return l.db.dialect.String()
}

// ReadOnly reports whether the ledger was opened for reading only.
func (l *Ledger) ReadOnly() bool { return l.readOnly }

func openSQLite(path string, opts Options) (*Ledger, error) {
	if path == "" {
		return nil, fmt.Errorf("%w: empty ledger path", ErrInvalid)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("ledger: failed to resolve path: %w", err)
	}
	fi, err := os.Stat(abs)
	switch {
	case err == nil && fi.IsDir():
		return nil, fmt.Errorf("%w: it is a directory", ErrNotLedger)
	case err == nil && fi.Size() == 0 && !opts.Create:
		return nil, ErrEmpty
	case errors.Is(err, fs.ErrNotExist) && !opts.Create:
		return nil, ErrMissing
	case errors.Is(err, fs.ErrNotExist):
		if err := createFile(abs); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, fmt.Errorf("ledger: cannot read the ledger file: %w", storageError(abs, err))
	}
	if err := checkWAL(abs); err != nil {
		return nil, err
	}

	mode := "rw"
	if opts.ReadOnly {
		mode = "ro"
	}
	l, err := openSQLiteDSN(abs, dsn(abs, mode), opts)
	if err != nil && opts.ReadOnly && (errors.Is(err, ErrReadOnly) || errors.Is(err, ErrDiskFull)) && !hasWAL(abs) {
		// Read-only (or full) storage without the -shm file WAL mode needs
		// to read: nothing is in a write-ahead log, so the file alone
		// is the whole ledger, and SQLite may read it as immutable.
		l, err = openSQLiteDSN(abs, dsn(abs, "ro")+"&immutable=1", opts)
	}
	return l, err
}

func openSQLiteDSN(abs, dsn string, opts Options) (*Ledger, error) {
	raw, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("ledger: failed to open database: %w", err)
	}
	raw.SetMaxIdleConns(4)
	l := &Ledger{db: &sqlDB{raw: raw, dialect: sqliteDialect, path: abs}, wmu: make(chan struct{}, 1), readOnly: opts.ReadOnly}
	if err := l.initSQLite(context.Background(), opts); err != nil {
		raw.Close()
		return nil, l.db.classify(err)
	}
	return l, nil
}

// dsn builds a modernc.org/sqlite data source name for the absolute path abs.
// The path travels as an escaped file: URI so that '?', '#' and '%' in it are
// not taken for URI syntax.
func dsn(abs, mode string) string {
	p := filepath.ToSlash(abs)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // Windows: C:/x -> /C:/x
	}
	u := url.URL{Scheme: "file", Path: p}
	q := url.Values{}
	q.Set("mode", mode) // never "rwc": createFile makes a new file, and only when asked
	q.Set("_busy_timeout", fmt.Sprint(busyTimeout.Milliseconds()))
	q.Set("_foreign_keys", "1")
	if mode != "ro" {
		q.Set("_journal_mode", "WAL")
		q.Set("_synchronous", "FULL")
		q.Set("_txlock", "immediate") // every read-write BeginTx is BEGIN IMMEDIATE
	}
	q.Add("_pragma", "trusted_schema(0)")
	u.RawQuery = q.Encode()
	return u.String()
}

// createFile creates the database file with mode 0600 if it does not exist,
// so that SQLite (which would use the umask) never creates it wider.
func createFile(abs string) error {
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("ledger: failed to create database file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("ledger: failed to create database file: %w", err)
	}
	// Make the new directory entry durable. Best effort: not every
	// platform can fsync a directory, and SQLite syncs again on its first
	// commit.
	if d, err := os.Open(filepath.Dir(abs)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// Close closes the ledger. Records already returned are durable; Close only
// releases the connections.
func (l *Ledger) Close() error {
	return l.db.raw.Close()
}

func (l *Ledger) initSQLite(ctx context.Context, opts Options) error {
	var mode string
	if err := l.db.raw.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fmt.Errorf("ledger: failed to open database: %w", err)
	}
	version, err := inspectSQLite(ctx, l.db.raw, opts.Create)
	if err != nil {
		return err
	}
	if opts.ReadOnly {
		return nil
	}
	if !strings.EqualFold(mode, "wal") {
		// E.g. a file system without shared memory support.
		return errors.New("ledger: database could not be put in WAL mode")
	}
	if version > 0 {
		// An existing ledger: check it before anything is written.
		if err := l.openCheck(ctx); err != nil {
			return err
		}
	}
	if version == SchemaVersion {
		return nil
	}
	return l.write(ctx, func(ctx context.Context, t *sqlTx) error { return migrateSQLite(ctx, t, opts.Create) })
}

// inspectSQLite reads the schema version of the database and checks that
// it is a ledger this package reads (version 0: a new, empty database,
// allowed only if create).
func inspectSQLite(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, create bool) (int64, error) {
	var version, appID int64
	if err := q.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return 0, fmt.Errorf("ledger: failed to read schema version: %w", err)
	}
	if err := q.QueryRowContext(ctx, "PRAGMA application_id").Scan(&appID); err != nil {
		return 0, fmt.Errorf("ledger: failed to read application id: %w", err)
	}
	if version == 0 {
		var objects int
		if err := q.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema").Scan(&objects); err != nil {
			return 0, fmt.Errorf("ledger: failed to read schema: %w", err)
		}
		if objects != 0 || (appID != 0 && appID != applicationID) {
			return 0, ErrNotLedger
		}
		if !create {
			return 0, ErrEmpty
		}
	} else if appID != applicationID {
		return 0, ErrNotLedger
	}
	switch {
	case version > SchemaVersion:
		return 0, fmt.Errorf("%w (file has version %d, this program reads up to %d)", ErrSchemaTooNew, version, SchemaVersion)
	case version < 0:
		return 0, ErrNotLedger
	}
	return version, nil
}

// schemaV1 is the schema of version 1. Times are Unix nanoseconds (UTC),
// NULL when absent; maps are JSON objects.
const schemaV1 = `
CREATE TABLE licenses (
	key          TEXT    NOT NULL PRIMARY KEY,
	product      TEXT    NOT NULL,
	licensee     TEXT    NOT NULL,
	max_machines INTEGER NOT NULL CHECK (max_machines >= 1),
	max_reactivations INTEGER NOT NULL DEFAULT -1 CHECK (max_reactivations >= -1),
	refuse_generic INTEGER NOT NULL DEFAULT 0 CHECK (refuse_generic IN (0, 1)),
	expires      INTEGER,
	lease_period INTEGER NOT NULL CHECK (lease_period >= 0),
	features     TEXT    NOT NULL,
	confidential TEXT    NOT NULL,
	match_policy TEXT    NOT NULL,
	refuse_env   TEXT    NOT NULL DEFAULT '',
	hwkey_env    TEXT    NOT NULL DEFAULT '',
	secret_mode  TEXT    NOT NULL DEFAULT 'disabled' CHECK (secret_mode IN ('disabled', 'predefined', 'client')),
	secret_hash  BLOB    CHECK (secret_hash IS NULL OR length(secret_hash) = 32),
	created      INTEGER NOT NULL,
	suspended    INTEGER NOT NULL CHECK (suspended IN (0, 1)),
	-- Active activations, kept by the triggers below.
	seats_used   INTEGER NOT NULL DEFAULT 0 CHECK (seats_used >= 0)
) STRICT;

CREATE INDEX licenses_by_created ON licenses (created, key);

CREATE TABLE activations (
	id           TEXT    NOT NULL PRIMARY KEY,
	license_key  TEXT    NOT NULL REFERENCES licenses (key),
	install_key  BLOB    NOT NULL CHECK (length(install_key) = 32),
	fingerprint  BLOB    NOT NULL CHECK (length(fingerprint) = 16),
	request_hash BLOB    NOT NULL CHECK (length(request_hash) = 32),
	issued       INTEGER NOT NULL,
	lease_until  INTEGER,
	license      BLOB    NOT NULL,
	released     INTEGER NOT NULL CHECK (released IN (0, 1))
) STRICT;

CREATE INDEX activations_by_license ON activations (license_key, issued, id);

-- One active seat per installation (install key + machine) and license.
CREATE UNIQUE INDEX activations_active_seat
	ON activations (license_key, install_key, fingerprint) WHERE released = 0;

-- licenses.seats_used counts active activations whichever statement changes
-- them, so that taking a seat does not count a license's seats every time.
CREATE TRIGGER activations_seat_insert AFTER INSERT ON activations
WHEN NEW.released = 0 BEGIN
	UPDATE licenses SET seats_used = seats_used + 1 WHERE key = NEW.license_key;
END;

CREATE TRIGGER activations_seat_delete AFTER DELETE ON activations
WHEN OLD.released = 0 BEGIN
	UPDATE licenses SET seats_used = seats_used - 1 WHERE key = OLD.license_key;
END;

CREATE TRIGGER activations_seat_update AFTER UPDATE OF license_key, released ON activations
BEGIN
	UPDATE licenses SET seats_used = seats_used - 1 WHERE key = OLD.license_key AND OLD.released = 0;
	UPDATE licenses SET seats_used = seats_used + 1 WHERE key = NEW.license_key AND NEW.released = 0;
END;
`

// schemaV2 is the step from version 1 to version 2: the products whose
// unknown license keys create licenses (see product.go). template is the
// policy of those licenses as a JSON object, never a secret hash; validity
// is in nanoseconds, 0 for licenses that never expire.
const schemaV2 = `
CREATE TABLE products (
	name         TEXT    NOT NULL PRIMARY KEY,
	auto_create  INTEGER NOT NULL CHECK (auto_create IN (0, 1)),
	template     TEXT    NOT NULL,
	validity     INTEGER NOT NULL CHECK (validity >= 0),
	created      INTEGER NOT NULL
) STRICT;
`

// migrateSQLite brings the schema to SchemaVersion inside the write
// transaction t, so that two processes opening a new file at once do not
// both create it, nor two opening an older file both upgrade it.
func migrateSQLite(ctx context.Context, t *sqlTx, create bool) error {
	version, err := inspectSQLite(ctx, t.raw, create)
	if err != nil || version == SchemaVersion {
		return err
	}
	// Each step upgrades from the version before; a new file takes them
	// all, in this one transaction.
	if version == 0 {
		if _, err := t.raw.ExecContext(ctx, schemaV1+auditSchema); err != nil {
			return fmt.Errorf("ledger: failed to create schema: %w", err)
		}
		if _, err := t.raw.ExecContext(ctx, fmt.Sprintf("PRAGMA application_id = %d", applicationID)); err != nil {
			return fmt.Errorf("ledger: failed to set application id: %w", err)
		}
		version = 1
	}
	if version == 1 {
		if _, err := t.raw.ExecContext(ctx, schemaV2); err != nil {
			return fmt.Errorf("ledger: failed to upgrade the schema to version 2: %w", err)
		}
		version = 2
	}
	if version == 2 {
		if _, err := t.raw.ExecContext(ctx, schemaV3); err != nil {
			return fmt.Errorf("ledger: failed to upgrade the schema to version 3: %w", err)
		}
	}
	if _, err := t.raw.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", SchemaVersion)); err != nil {
		return fmt.Errorf("ledger: failed to set schema version: %w", err)
	}
	return nil
}

// write runs fn in a write transaction and commits it if fn returns nil.
// Writers of this process queue on l.wmu first. Then the transaction takes
// the ledger's write lock, which serializes all writers of the ledger, in
// every process: on SQLite it is BEGIN IMMEDIATE (through the DSN's
// _txlock), on PostgreSQL an EXCLUSIVE lock on the table airlock_ledger
// (see lockWriters). So fn reads what every earlier writer committed, and
// nobody writes until it commits.
func (l *Ledger) write(ctx context.Context, fn func(context.Context, *sqlTx) error) error {
	if l.db.dialect == postgresDialect {
		return l.transact(ctx, lockWriters, fn)
	}
	return l.transact(ctx, nil, fn)
}

// transact runs fn in a transaction that lock, if not nil, starts with.
func (l *Ledger) transact(ctx context.Context, lock func(context.Context, *sql.Tx) error, fn func(context.Context, *sqlTx) error) error {
	if l.readOnly {
		return errReadOnlyOpen
	}
	select {
	case l.wmu <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-l.wmu }()
	// Storage failures (read-only, full) say so, not SQLite's number.
	return l.db.classify(l.runTx(ctx, lock, fn))
}

func (l *Ledger) runTx(ctx context.Context, lock func(context.Context, *sql.Tx) error, fn func(context.Context, *sqlTx) error) error {

	var opts *sql.TxOptions
	if l.db.dialect == postgresDialect {
		// Whatever the server's default: each statement of a READ
		// COMMITTED transaction sees every write committed before it.
		opts = &sql.TxOptions{Isolation: sql.LevelReadCommitted}
	}
	raw, err := l.db.raw.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("ledger: failed to begin transaction: %w", err)
	}
	if lock != nil {
		if err := lock(ctx, raw); err != nil {
			_ = raw.Rollback()
			return err
		}
	}
	if err := fn(ctx, &sqlTx{raw: raw, dialect: l.db.dialect}); err != nil {
		_ = raw.Rollback()
		return err
	}
	if err := raw.Commit(); err != nil {
		return fmt.Errorf("ledger: failed to commit transaction: %w", err)
	}
	return nil
}

// Times are stored as Unix nanoseconds, which cover the years 1678 to 2262.
var (
	minTime = time.Unix(0, -1<<63)
	maxTime = time.Unix(0, 1<<63-1)
)

func timeInRange(t time.Time) bool {
	return !t.Before(minTime) && !t.After(maxTime)
}

// nullTime encodes t as Unix nanoseconds, or NULL if t is zero.
func nullTime(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixNano(), Valid: true}
}

// fromNullTime decodes nullTime's encoding; NULL is the zero time.
func fromNullTime(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.Unix(0, n.Int64).UTC()
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
