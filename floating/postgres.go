package floating

import (
	"context"
	"database/sql"
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

// pgLockKey is the advisory lock a server holds on its PostgreSQL
// database for as long as it runs: one node per database (the seats are
// counted in the node's memory; several nodes on one database need the
// database to count them).
const pgLockKey = 0x61697273_65727631 // "airserv1"

// ErrDatabaseInUse means another airlock-server serves the database.
var ErrDatabaseInUse = errors.New("another airlock-server serves this database (one server per database)")

func openPostgres(target string) (*store, error) {
	cfg, err := pgx.ParseConfig(target)
	if err != nil {
		// Not wrapped: the parser's error may quote the password.
		return nil, errors.New("the PostgreSQL URL does not parse")
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 10 * time.Second
	}
	db := sql.OpenDB(stdlib.GetConnector(*cfg))
	db.SetMaxIdleConns(8)
	ctx := context.Background()
	lock, err := db.Conn(ctx)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("cannot connect to PostgreSQL at %s:%d: %w", cfg.Host, cfg.Port, errors.Unwrap(err))
	}
	var got bool
	if err := lock.QueryRowContext(ctx, `SELECT pg_try_advisory_lock($1)`, int64(pgLockKey)).Scan(&got); err != nil {
		lock.Close()
		db.Close()
		return nil, fmt.Errorf("cannot lock the database: %w", err)
	}
	if !got {
		lock.Close()
		db.Close()
		return nil, ErrDatabaseInUse
	}
	if _, err := db.ExecContext(ctx, pgSchema); err != nil {
		lock.Close()
		db.Close()
		return nil, fmt.Errorf("cannot set up the database: %w", err)
	}
	return newStore(db, true, lock), nil
}
