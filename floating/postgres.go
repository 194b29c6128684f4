package floating

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

const pgSchema = `
CREATE TABLE IF NOT EXISTS floating_leases (
	id BYTEA PRIMARY KEY,
	product TEXT NOT NULL,
	features TEXT NOT NULL,
	client BYTEA NOT NULL,
	host TEXT NOT NULL,
	issued BIGINT NOT NULL,
	expires BIGINT NOT NULL,
	borrowed BOOLEAN NOT NULL
);
CREATE TABLE IF NOT EXISTS floating_counters (
	product TEXT NOT NULL,
	feature TEXT NOT NULL,
	used BIGINT NOT NULL,
	PRIMARY KEY (product, feature)
);
CREATE TABLE IF NOT EXISTS floating_tokens (
	hash BYTEA PRIMARY KEY,
	name TEXT NOT NULL,
	role TEXT NOT NULL,
	created BIGINT NOT NULL,
	expires BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS floating_users (
	name TEXT PRIMARY KEY,
	hash BYTEA NOT NULL,
	salt BYTEA NOT NULL,
	role TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS floating_events (
	seq BIGSERIAL PRIMARY KEY,
	at BIGINT NOT NULL,
	kind TEXT NOT NULL,
	product TEXT NOT NULL,
	detail TEXT NOT NULL
);
`

// The advisory locks. PostgreSQL's advisory locks belong to a database,
// not a schema, so each key is derived from its name and the schema the
// server's tables live in (current_schema(): the URL's search_path):
// servers in separate schemas of one database never meet.
//
// lockServer is the lock a server holds for as long as it runs. A server
// of single-node pools holds it exclusively: one node per schema (it
// counts the seats in its memory). The nodes of a pool served by several
// nodes hold it shared (the database counts the seats: nodes.go), so they
// run together, and never beside a single-node server.
const (
	lockServer  = "server"
	lockSetup   = "setup"   // schema creation by nodes starting together
	lockReport  = "report"  // usage reports by the nodes of a shared pool
	lockHistory = "history" // the node recording the seats of shared pools (nodes_history.go)
)

// lockKey is the advisory lock key of name in schema.
func lockKey(schema, name string, more ...[]byte) int64 {
	h := sha256.New()
	h.Write([]byte("airlock advisory lock v1\x00"))
	h.Write([]byte(schema))
	h.Write([]byte{0})
	h.Write([]byte(name))
	for _, m := range more {
		h.Write([]byte{0})
		h.Write(m)
	}
	return int64(binary.BigEndian.Uint64(h.Sum(nil)))
}

// key is the advisory lock key of name in the store's schema.
func (s *store) key(name string, more ...[]byte) int64 { return lockKey(s.schema, name, more...) }

// PGConns is how many PostgreSQL connections a server uses for its work
// (each node of a pool: mind max_connections when running several).
const PGConns = 16

// serialise holds the advisory lock key, on PostgreSQL, until release is
// called: the nodes of a shared pool take turns. On SQLite, one server per
// file, there is nothing to take turns with.
func (s *store) serialise(ctx context.Context, name string) (release func(), err error) {
	if !s.pg {
		return func() {}, nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, s.key(name)); err != nil {
		_ = tx.Rollback()
		return nil, err
	}
	return func() { _ = tx.Rollback() }, nil // ends the transaction, and its lock
}

// ErrDatabaseInUse means another airlock-server serves the database.
var ErrDatabaseInUse = errors.New("another airlock-server serves this database (one server per schema of it, unless its pool license names several nodes)")

func openPostgres(target string, shared bool) (*store, error) {
	cfg, err := pgx.ParseConfig(target)
	if err != nil {
		// Not wrapped: the parser's error may quote the password.
		return nil, errors.New("the PostgreSQL URL does not parse")
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 10 * time.Second
	}
	db := sql.OpenDB(stdlib.GetConnector(*cfg))
	// A bounded pool of warm connections: calls queue for one rather than
	// open new ones (a PostgreSQL connection costs a process and a SCRAM
	// exchange, and the server allows about 100), and one more holds the
	// lock.
	db.SetMaxOpenConns(PGConns + 1)
	db.SetMaxIdleConns(PGConns + 1)
	ctx := context.Background()
	lock, err := db.Conn(ctx)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("cannot connect to PostgreSQL at %s:%d: %w", cfg.Host, cfg.Port, errors.Unwrap(err))
	}
	var schema sql.NullString
	if err := lock.QueryRowContext(ctx, `SELECT current_schema()`).Scan(&schema); err != nil || !schema.Valid {
		lock.Close()
		db.Close()
		if err == nil {
			return nil, errors.New("no schema of the PostgreSQL search_path exists: create the server's schema first")
		}
		return nil, fmt.Errorf("cannot read the database's schema: %w", err)
	}
	got, err := tryServerLock(ctx, lock, schema.String, shared)
	if err != nil {
		lock.Close()
		db.Close()
		return nil, fmt.Errorf("cannot lock the database: %w", err)
	}
	if !got {
		lock.Close()
		db.Close()
		return nil, ErrDatabaseInUse
	}
	if err := pgSetup(ctx, db, lockKey(schema.String, lockSetup)); err != nil {
		lock.Close()
		db.Close()
		return nil, fmt.Errorf("cannot set up the database: %w", err)
	}
	st := newStore(db, true, lock)
	st.shared, st.schema = shared, schema.String
	return st, nil
}

// pgSetup creates the tables, one node at a time.
func pgSetup(ctx context.Context, db *sql.DB, key int64) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, key); err != nil {
		return err
	}
	// Set up already with this very schema: no DDL, whose table locks would
	// stall, or deadlock with, the nodes already serving.
	ddl := pgSchema + pgNodesSchema + historySchema
	sum := sha256.Sum256([]byte(ddl))
	version := hex.EncodeToString(sum[:])
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS floating_schema (version TEXT NOT NULL)`); err != nil {
		return err
	}
	var have string
	err = tx.QueryRowContext(ctx, `SELECT version FROM floating_schema`).Scan(&have)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	if have == version {
		return tx.Commit()
	}
	if _, err := tx.ExecContext(ctx, ddl); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM floating_schema`); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO floating_schema (version) VALUES ($1)`, version); err != nil {
		return err
	}
	return tx.Commit()
}

// ErrDatabaseTaken means that the server's connection to PostgreSQL was
// lost (a restart, a failover, a terminated backend: PostgreSQL then frees
// the connection's advisory lock), and another airlock-server took the
// database before this one could take its lock again.
var ErrDatabaseTaken = errors.New("another airlock-server took this database while this server's connection was lost")

// keepLock checks that the connection holding the server's advisory lock
// is alive, and where it is not, takes the lock again, in the same mode, on
// a new connection: true when it did. ErrDatabaseTaken when the lock is
// held elsewhere now; any other error means the database cannot be
// reached yet (the next call tries again).
func (s *store) keepLock(ctx context.Context) (retaken bool, err error) {
	s.lockMu.Lock()
	defer s.lockMu.Unlock()
	if s.lock == nil {
		return false, nil
	}
	var one int
	if err := s.lock.QueryRowContext(ctx, `SELECT 1`).Scan(&one); err == nil {
		return false, nil
	}
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return false, err
	}
	got, err := tryServerLock(ctx, conn, s.schema, s.shared)
	if err != nil {
		conn.Close()
		return false, err
	}
	if !got {
		conn.Close()
		return false, ErrDatabaseTaken
	}
	_ = s.lock.Close()
	s.lock = conn
	return true, nil
}

// tryServerLock tries the server's lock in schema on conn: shared for the
// nodes of a pool, else exclusive.
func tryServerLock(ctx context.Context, conn *sql.Conn, schema string, shared bool) (bool, error) {
	fn := `SELECT pg_try_advisory_lock($1)`
	if shared {
		fn = `SELECT pg_try_advisory_lock_shared($1)`
	}
	var got bool
	err := conn.QueryRowContext(ctx, fn, lockKey(schema, lockServer)).Scan(&got)
	return got, err
}

// onLock runs f with the connection that holds the server's lock.
func (s *store) onLock(f func(*sql.Conn) error) error {
	s.lockMu.Lock()
	defer s.lockMu.Unlock()
	return f(s.lock)
}

// share turns the store's lock from exclusive to shared, when a pool
// license naming several nodes arrives at a running server.
func (s *store) share() error {
	s.lockMu.Lock()
	defer s.lockMu.Unlock()
	if s.shared || s.lock == nil {
		return nil
	}
	ctx := context.Background()
	got, err := tryServerLock(ctx, s.lock, s.schema, true)
	if err != nil {
		return fmt.Errorf("cannot share the database lock: %w", err)
	}
	if !got {
		return errors.New("cannot share the database lock: another server holds it")
	}
	if _, err := s.lock.ExecContext(ctx, `SELECT pg_advisory_unlock($1)`, s.key(lockServer)); err != nil {
		return fmt.Errorf("cannot share the database lock: %w", err)
	}
	s.shared = true
	return nil
}
