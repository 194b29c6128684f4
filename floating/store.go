package floating

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	_ "modernc.org/sqlite" // the embedded database
)

// store is the server's database: every lease, counter and bearer token.
// Writes go through one goroutine that groups the operations queued while
// the previous commit ran into one transaction, so N grants cost one
// fsync, and every operation is committed before its caller hears back.
type store struct {
	db   *sql.DB
	pg   bool      // PostgreSQL: placeholders are $n
	lock *sql.Conn // PostgreSQL: holds the advisory lock of the one node (or, shared, of the nodes)
	// lockMu guards lock, which keepLock replaces after a lost connection.
	lockMu sync.Mutex
	// taken: another server took the database while this one's connection
	// was lost (keepLock); nothing more is written.
	taken atomic.Bool
	// shared: pools served by several nodes live here (nodes.go); the
	// lock is held shared.
	shared bool
	schema string // PostgreSQL: the schema of the tables, in every advisory lock's key
	queue  chan *write
	done   chan struct{}
}

// stmt is one SQL statement with its arguments.
type stmt struct {
	q    string
	args []any
}

// write is a group of statements that commit together or not at all.
type write struct {
	stmts []stmt
	err   chan error
}

const schema = `
CREATE TABLE IF NOT EXISTS floating_leases (
	id BLOB PRIMARY KEY,
	product TEXT NOT NULL,
	features TEXT NOT NULL,
	client BLOB NOT NULL,
	host TEXT NOT NULL,
	issued INTEGER NOT NULL,
	expires INTEGER NOT NULL,
	borrowed INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS floating_counters (
	product TEXT NOT NULL,
	feature TEXT NOT NULL,
	used INTEGER NOT NULL,
	PRIMARY KEY (product, feature)
);
CREATE TABLE IF NOT EXISTS floating_tokens (
	hash BLOB PRIMARY KEY,
	name TEXT NOT NULL,
	role TEXT NOT NULL,
	created INTEGER NOT NULL,
	expires INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS floating_users (
	name TEXT PRIMARY KEY,
	hash BLOB NOT NULL,
	salt BLOB NOT NULL,
	role TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS floating_events (
	seq INTEGER PRIMARY KEY AUTOINCREMENT,
	at INTEGER NOT NULL,
	kind TEXT NOT NULL,
	product TEXT NOT NULL,
	detail TEXT NOT NULL
);
`

// IsPostgres reports whether a --db target names a PostgreSQL database.
func IsPostgres(target string) bool {
	return strings.HasPrefix(target, "postgres://") || strings.HasPrefix(target, "postgresql://")
}

// openStore opens the database: a postgres:// URL, or a SQLite file
// (created if needed, mode 0600).
func openStore(path string, shared bool) (*store, error) {
	if IsPostgres(path) {
		return openPostgres(path, shared)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("cannot create the database: %w", err)
	}
	f.Close()
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs)}
	if !strings.HasPrefix(u.Path, "/") {
		u.Path = "/" + u.Path
	}
	q := url.Values{}
	q.Set("_busy_timeout", "5000")
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", "FULL")
	q.Set("_txlock", "immediate")
	q.Add("_pragma", "trusted_schema(0)")
	u.RawQuery = q.Encode()
	db, err := sql.Open("sqlite", u.String())
	if err != nil {
		return nil, fmt.Errorf("cannot open the database: %w", err)
	}
	if _, err := db.Exec(schema + historySchema); err != nil {
		db.Close()
		return nil, fmt.Errorf("cannot set up the database: %w", err)
	}
	return newStore(db, false, nil), nil
}

func newStore(db *sql.DB, pg bool, lock *sql.Conn) *store {
	s := &store{db: db, pg: pg, lock: lock, queue: make(chan *write, 4096), done: make(chan struct{})}
	go s.writer()
	return s
}

// q adapts a query written with ? placeholders to the database.
func (s *store) q(query string) string {
	if !s.pg {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// maxGroup bounds how many writes share one transaction.
const maxGroup = 512

func (s *store) writer() {
	defer close(s.done)
	for w := range s.queue {
		group := []*write{w}
	more:
		for len(group) < maxGroup {
			select {
			case w, ok := <-s.queue:
				if !ok {
					break more
				}
				group = append(group, w)
			default:
				break more
			}
		}
		err := s.commit(group)
		for _, w := range group {
			w.err <- err
		}
	}
}

func (s *store) commit(group []*write) error {
	if s.taken.Load() {
		return ErrDatabaseTaken
	}
	// A transaction that lost its connection before its commit (a
	// restarted or failed-over PostgreSQL: the pool's idle connections are
	// dead) did not happen: it runs again on a new connection, as many
	// times as the pool may hold dead ones. A commit whose answer was lost
	// is not run again, since it may have happened.
	for i := 0; ; i++ {
		err := s.apply(group)
		var re *retryError
		if !errors.As(err, &re) {
			return err
		}
		if !s.pg || i == PGConns+1 {
			return re.err
		}
	}
}

// apply runs one transaction of the group's statements; an error before
// the commit that a new connection may cure is a *retryError.
func (s *store) apply(group []*write) error {
	again := func(err error) error {
		if retryable(err) {
			return &retryError{err}
		}
		return err
	}
	tx, err := s.db.BeginTx(context.Background(), nil)
	if err != nil {
		return again(fmt.Errorf("cannot begin a transaction: %w", err))
	}
	for _, w := range group {
		for _, st := range w.stmts {
			if _, err := tx.Exec(s.q(st.q), st.args...); err != nil {
				_ = tx.Rollback()
				return again(fmt.Errorf("cannot write to the database: %w", err))
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("cannot commit to the database: %w", err)
	}
	return nil
}

// enqueue queues stmts as one write and returns the channel its outcome
// arrives on. Callers enqueue in the order their changes happened in
// memory, so the database applies them in that order.
func (s *store) enqueue(stmts ...stmt) chan error {
	w := &write{stmts: stmts, err: make(chan error, 1)}
	s.queue <- w
	return w.err
}

// swap sets the floating_meta value name to new if it still holds old
// ("": absent), and then runs more, in one transaction of its own: a
// compare-and-set that other nodes of a shared database cannot interleave
// with. False, and nothing written, when the value had changed.
func (s *store) swap(name, old, new string, more ...stmt) (bool, error) {
	if s.taken.Load() {
		return false, ErrDatabaseTaken
	}
	tx, err := s.db.BeginTx(context.Background(), nil)
	if err != nil {
		return false, fmt.Errorf("cannot begin a transaction: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	first := stmt{`UPDATE floating_meta SET value = ? WHERE name = ? AND value = ?`, []any{new, name, old}}
	if old == "" {
		first = stmt{`INSERT INTO floating_meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`, []any{name, new}}
	}
	res, err := tx.Exec(s.q(first.q), first.args...)
	if err != nil {
		return false, fmt.Errorf("cannot write to the database: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return false, err
	}
	for _, st := range more {
		if _, err := tx.Exec(s.q(st.q), st.args...); err != nil {
			return false, fmt.Errorf("cannot write to the database: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("cannot commit to the database: %w", err)
	}
	return true, nil
}

// exec writes stmts durably and waits.
func (s *store) exec(stmts ...stmt) error { return <-s.enqueue(stmts...) }

func (s *store) close() error {
	close(s.queue)
	<-s.done
	s.lockMu.Lock()
	if s.lock != nil {
		s.lock.Close()
	}
	s.lockMu.Unlock()
	return s.db.Close()
}
