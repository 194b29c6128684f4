package ledger

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// The PostgreSQL backend. It shares every query with SQLite (see sqlDB);
// what differs is here: opening, the schema, the migration and the lock
// that serializes writers.

// connectTimeout bounds a connection attempt when the URL sets no
// connect_timeout.
const connectTimeout = 10 * time.Second

// isPostgres reports whether Open's target names a PostgreSQL database.
func isPostgres(target string) bool {
	return strings.HasPrefix(target, "postgres://") || strings.HasPrefix(target, "postgresql://")
}

func openPostgres(target string, opts Options) (*Ledger, error) {
	cfg, err := pgx.ParseConfig(target)
	if err != nil {
		// Not wrapped: the parser's error quotes the URL, which may
		// hold the password.
		return nil, fmt.Errorf("%w: the PostgreSQL ledger URL does not parse", ErrInvalid)
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = connectTimeout
	}
	if opts.ReadOnly {
		// The server refuses any write, whatever the role may do.
		cfg.RuntimeParams["default_transaction_read_only"] = "on"
	}
	raw := sql.OpenDB(&pgConnector{Connector: stdlib.GetConnector(*cfg), password: cfg.Password})
	raw.SetMaxIdleConns(4)
	raw.SetConnMaxIdleTime(5 * time.Minute)
	l := &Ledger{db: &sqlDB{raw: raw, dialect: postgresDialect}, wmu: make(chan struct{}, 1)}
	ctx := context.Background()
	if err := raw.PingContext(ctx); err != nil {
		raw.Close()
		return nil, fmt.Errorf("ledger: %w", err)
	}
	err = l.db.classify(l.runTx(ctx, nil, func(ctx context.Context, t *sqlTx) error {
		return migratePostgres(ctx, t, opts)
	}))
	if err != nil {
		raw.Close()
		return nil, err
	}
	l.readOnly = opts.ReadOnly
	return l, nil
}

// pgConnector makes the errors of every connection attempt, at Open or
// when the pool opens another connection later, say what failed without
// the password.
type pgConnector struct {
	driver.Connector
	password string
}

func (c *pgConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, &connectError{err: err, password: c.password}
	}
	return conn, nil
}

// connectError is a failed connection to the PostgreSQL server. pgx names
// the user, database and address but not the password; Error removes the
// password all the same, should the server or a TLS library ever quote it.
type connectError struct {
	err      error
	password string
}

func (e *connectError) Error() string {
	msg := e.err.Error()
	if e.password != "" {
		msg = strings.ReplaceAll(msg, e.password, "xxxxx")
	}
	return "cannot connect to the PostgreSQL ledger: " + msg
}

func (e *connectError) Unwrap() error { return e.err }

// Is makes errors.Is(err, ErrUnreachable) true for every failed connection,
// and errors.Is(err, ErrAccessDenied) when the server refused the login.
func (e *connectError) Is(target error) bool {
	switch target {
	case ErrUnreachable:
		return true
	case ErrAccessDenied:
		var pgErr *pgconn.PgError
		// 28000 invalid authorization specification, 28P01 invalid password.
		return errors.As(e.err, &pgErr) && strings.HasPrefix(pgErr.Code, "28")
	}
	return false
}

// pgLockSettings start every PostgreSQL write transaction: a writer waits
// for the write lock as long as a SQLite writer does, and its commit waits
// for the WAL flush even on a server configured with synchronous_commit
// off, so that a recorded activation is never lost.
var pgLockSettings = fmt.Sprintf(`SET LOCAL lock_timeout = %d; SET LOCAL synchronous_commit = on`, busyTimeout.Milliseconds())

// pgWriteLock serializes the writers of one ledger, in every process, as
// BEGIN IMMEDIATE does on SQLite: only writers take an EXCLUSIVE lock, which
// lets readers (ACCESS SHARE) read on. The table is found through the
// search_path, so ledgers in other schemas do not wait for each other. Once
// a READ COMMITTED transaction holds it, each of its statements sees every
// write committed before: Record's seat count and the audit chain's head
// are current, and stay so until commit.
const pgWriteLock = `LOCK TABLE airlock_ledger IN EXCLUSIVE MODE`

// lockWriters starts a PostgreSQL write transaction (see Ledger.write).
func lockWriters(ctx context.Context, tx *sql.Tx) error {
	// One round trip: without arguments, pgx sends the simple protocol,
	// which takes several statements.
	if _, err := tx.ExecContext(ctx, pgLockSettings+"; "+pgWriteLock); err != nil {
		return fmt.Errorf("ledger: failed to lock the ledger for writing: %w", err)
	}
	return nil
}

// pgSchemaV1 is schemaV1 and auditSchema for PostgreSQL: the same tables,
// columns and constraints. Integers and times are BIGINT, the 0/1 flags
// SMALLINT, keys and ids sort bytewise (COLLATE "C") as in SQLite. The
// trigger functions keep the search_path they were created with, so that
// they update this schema's licenses whoever changes activations.
const pgSchemaV1 = `
CREATE TABLE airlock_ledger (
	application_id BIGINT NOT NULL PRIMARY KEY,
	schema_version BIGINT NOT NULL CHECK (schema_version >= 1)
);

CREATE TABLE licenses (
	key          TEXT COLLATE "C" NOT NULL PRIMARY KEY,
	product      TEXT     NOT NULL,
	licensee     TEXT     NOT NULL,
	max_machines BIGINT   NOT NULL CHECK (max_machines >= 1),
	max_reactivations BIGINT NOT NULL DEFAULT -1 CHECK (max_reactivations >= -1),
	refuse_generic SMALLINT NOT NULL DEFAULT 0 CHECK (refuse_generic IN (0, 1)),
	expires      BIGINT,
	lease_period BIGINT   NOT NULL CHECK (lease_period >= 0),
	features     TEXT     NOT NULL,
	confidential TEXT     NOT NULL,
	match_policy TEXT     NOT NULL,
	refuse_env   TEXT     NOT NULL DEFAULT '',
	hwkey_env    TEXT     NOT NULL DEFAULT '',
	secret_mode  TEXT     NOT NULL DEFAULT 'disabled' CHECK (secret_mode IN ('disabled', 'predefined', 'client')),
	secret_hash  BYTEA    CHECK (secret_hash IS NULL OR octet_length(secret_hash) = 32),
	created      BIGINT   NOT NULL,
	suspended    SMALLINT NOT NULL CHECK (suspended IN (0, 1)),
	-- Active activations, kept by the triggers below.
	seats_used   BIGINT   NOT NULL DEFAULT 0 CHECK (seats_used >= 0)
);

CREATE INDEX licenses_by_created ON licenses (created, key);

CREATE TABLE activations (
	id           TEXT COLLATE "C" NOT NULL PRIMARY KEY,
	license_key  TEXT COLLATE "C" NOT NULL REFERENCES licenses (key),
	install_key  BYTEA    NOT NULL CHECK (octet_length(install_key) = 32),
	fingerprint  BYTEA    NOT NULL CHECK (octet_length(fingerprint) = 16),
	request_hash BYTEA    NOT NULL CHECK (octet_length(request_hash) = 32),
	issued       BIGINT   NOT NULL,
	lease_until  BIGINT,
	license      BYTEA    NOT NULL,
	released     SMALLINT NOT NULL CHECK (released IN (0, 1))
);

CREATE INDEX activations_by_license ON activations (license_key, issued, id);

-- One active seat per installation (install key + machine) and license.
CREATE UNIQUE INDEX activations_active_seat
	ON activations (license_key, install_key, fingerprint) WHERE released = 0;

-- licenses.seats_used counts active activations whichever statement changes
-- them, so that taking a seat does not count a license's seats every time.
CREATE FUNCTION activations_seat_insert() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
	UPDATE licenses SET seats_used = seats_used + 1 WHERE key = NEW.license_key;
	RETURN NULL;
END $$;

CREATE FUNCTION activations_seat_delete() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
	UPDATE licenses SET seats_used = seats_used - 1 WHERE key = OLD.license_key;
	RETURN NULL;
END $$;

CREATE FUNCTION activations_seat_update() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
	IF OLD.released = 0 THEN
		UPDATE licenses SET seats_used = seats_used - 1 WHERE key = OLD.license_key;
	END IF;
	IF NEW.released = 0 THEN
		UPDATE licenses SET seats_used = seats_used + 1 WHERE key = NEW.license_key;
	END IF;
	RETURN NULL;
END $$;

CREATE TRIGGER activations_seat_insert AFTER INSERT ON activations
FOR EACH ROW WHEN (NEW.released = 0) EXECUTE FUNCTION activations_seat_insert();

CREATE TRIGGER activations_seat_delete AFTER DELETE ON activations
FOR EACH ROW WHEN (OLD.released = 0) EXECUTE FUNCTION activations_seat_delete();

CREATE TRIGGER activations_seat_update AFTER UPDATE OF license_key, released ON activations
FOR EACH ROW EXECUTE FUNCTION activations_seat_update();

-- The audit log (see audit.go), append-only.
CREATE TABLE audit (
	seq         BIGINT NOT NULL PRIMARY KEY,
	at          BIGINT NOT NULL,
	action      TEXT   NOT NULL,
	license_key TEXT   NOT NULL,
	detail      TEXT   NOT NULL,
	prev        BYTEA  NOT NULL,
	hash        BYTEA  NOT NULL
);

CREATE FUNCTION audit_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'the audit log is append-only';
END $$;

CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit
FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
`

// pgSchemaV2 is schemaV2 for PostgreSQL: the step from version 1 to 2.
const pgSchemaV2 = `
CREATE TABLE products (
	name         TEXT COLLATE "C" NOT NULL PRIMARY KEY,
	auto_create  SMALLINT NOT NULL CHECK (auto_create IN (0, 1)),
	template     TEXT     NOT NULL,
	validity     BIGINT   NOT NULL CHECK (validity >= 0),
	created      BIGINT   NOT NULL
);
`

// migratePostgres brings the schema to SchemaVersion, or checks that it is
// there, under a transaction-scoped advisory lock on the ledger's schema,
// so that two processes opening an empty schema at once do not both create
// the tables.
func migratePostgres(ctx context.Context, t *sqlTx, opts Options) error {
	var (
		schema        sql.NullString
		encoding      string
		serverVersion int
	)
	err := t.raw.QueryRowContext(ctx, `SELECT current_schema(), current_setting('server_encoding'),
		current_setting('server_version_num')::integer`).Scan(&schema, &encoding, &serverVersion)
	if err != nil {
		return fmt.Errorf("ledger: failed to read the PostgreSQL settings: %w", err)
	}
	if !schema.Valid {
		return errors.New("ledger: no schema of the PostgreSQL search_path exists: create the ledger's schema first")
	}
	if encoding != "UTF8" {
		return errors.New("ledger: the PostgreSQL database does not use the UTF8 encoding")
	}
	if serverVersion < 110000 {
		return errors.New("ledger: the PostgreSQL server is older than version 11")
	}
	_, err = t.raw.ExecContext(ctx, fmt.Sprintf(`%s; SELECT pg_advisory_xact_lock(%d, hashtext(current_schema()))`,
		pgLockSettings, applicationID))
	if err != nil {
		return fmt.Errorf("ledger: failed to lock the ledger's schema: %w", err)
	}

	var hasMeta bool
	var objects int
	err = t.raw.QueryRowContext(ctx, `
		SELECT coalesce(bool_or(c.relname = 'airlock_ledger'), false), count(*)
		FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = current_schema()`).Scan(&hasMeta, &objects)
	if err != nil {
		return fmt.Errorf("ledger: failed to read schema: %w", err)
	}
	if !hasMeta {
		if objects != 0 {
			return ErrNotLedger
		}
		if !opts.Create {
			return fmt.Errorf("%w (the PostgreSQL schema holds no ledger)", ErrEmpty)
		}
		// An empty schema: a new ledger, made at once at the newest
		// version.
		if _, err := t.raw.ExecContext(ctx, pgSchemaV1+pgSchemaV2+pgSchemaV3); err != nil {
			return fmt.Errorf("ledger: failed to create schema: %w", err)
		}
		_, err := t.raw.ExecContext(ctx, `INSERT INTO airlock_ledger (application_id, schema_version) VALUES ($1, $2)`,
			applicationID, SchemaVersion)
		if err != nil {
			return fmt.Errorf("ledger: failed to set schema version: %w", err)
		}
		return nil
	}

	var version int64
	err = t.raw.QueryRowContext(ctx, `SELECT schema_version FROM airlock_ledger WHERE application_id = $1`,
		applicationID).Scan(&version)
	var pgErr *pgconn.PgError
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return ErrNotLedger
	case errors.As(err, &pgErr) && strings.HasPrefix(pgErr.Code, "42") && pgErr.Code != "42501":
		// Not the table we made: a column missing or of another type,
		// an index or sequence of that name… (42501 is a missing
		// privilege, which says nothing about the table.)
		return ErrNotLedger
	case err != nil:
		return fmt.Errorf("ledger: failed to read schema version: %w", err)
	}
	switch {
	case version > SchemaVersion:
		return fmt.Errorf("%w (database has version %d, this program reads up to %d)", ErrSchemaTooNew, version, SchemaVersion)
	case version < 1:
		return ErrNotLedger
	case version == SchemaVersion || opts.ReadOnly:
		return nil
	}
	// An older ledger. Upgrade it, each step from the version before,
	// with every writer locked out: desks still running an older version
	// may write to it meanwhile.
	if _, err := t.raw.ExecContext(ctx, pgWriteLock); err != nil {
		return fmt.Errorf("ledger: failed to lock the ledger for its upgrade: %w", err)
	}
	if version == 1 {
		if _, err := t.raw.ExecContext(ctx, pgSchemaV2); err != nil {
			return fmt.Errorf("ledger: failed to upgrade the schema to version 2: %w", err)
		}
		version = 2
	}
	if version == 2 {
		if _, err := t.raw.ExecContext(ctx, pgSchemaV3); err != nil {
			return fmt.Errorf("ledger: failed to upgrade the schema to version 3: %w", err)
		}
	}
	_, err = t.raw.ExecContext(ctx, `UPDATE airlock_ledger SET schema_version = $1 WHERE application_id = $2`,
		SchemaVersion, applicationID)
	if err != nil {
		return fmt.Errorf("ledger: failed to set schema version: %w", err)
	}
	return nil
}

// RedactDSN returns target, as given to [Open], with any password replaced
// by "xxxxx", for messages that say where the ledger is. A PostgreSQL URL
// that does not parse is reduced to its scheme. A SQLite path is returned
// unchanged, except that a password=… in it is masked too, in case a
// keyword/value connection string was taken for a path.
func RedactDSN(target string) string {
	const mask = "xxxxx"
	if !isPostgres(target) {
		return kvPassword.ReplaceAllString(target, "${1}"+mask)
	}
	scheme, rest, _ := strings.Cut(target, "://")
	if _, err := url.Parse(target); err != nil {
		return scheme + "://(URL that does not parse)"
	}
	// As url.Parse splits it: the fragment, then the query, go first; the
	// authority ends at the first '/', and the user information at its
	// last '@'.
	rest, fragment, hasFragment := strings.Cut(rest, "#")
	rest, query, hasQuery := strings.Cut(rest, "?")
	authority, path := rest, ""
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		authority, path = rest[:i], rest[i:]
	}
	var b strings.Builder
	b.WriteString(scheme + "://")
	if i := strings.LastIndexByte(authority, '@'); i >= 0 {
		user, _, hasPassword := strings.Cut(authority[:i], ":")
		b.WriteString(user)
		if hasPassword {
			b.WriteString(":" + mask)
		}
		authority = authority[i:]
	}
	b.WriteString(authority + path)
	if hasQuery {
		params := strings.Split(query, "&")
		for i, p := range params {
			k, _, _ := strings.Cut(p, "=")
			switch name, err := url.QueryUnescape(k); {
			case err != nil:
				params[i] = mask
			case secretParam(name):
				params[i] = k + "=" + mask
			}
		}
		b.WriteString("?" + strings.Join(params, "&"))
	}
	if hasFragment {
		b.WriteString("#" + fragment)
	}
	return b.String()
}

// kvPassword matches the value of password= or sslpassword= in a
// keyword/value connection string, quoted or not.
var kvPassword = regexp.MustCompile(`(?i)(\b(?:ssl)?password\s*=\s*)('(?:[^'\\]|\\.)*'?|[^\s]*)`)

func secretParam(key string) bool {
	key = strings.ToLower(strings.TrimSpace(key))
	return key == "password" || key == "sslpassword"
}
