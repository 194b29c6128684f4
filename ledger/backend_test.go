package ledger

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// postgresEnv names the variable that holds the URL of a PostgreSQL
// database for the tests; scripts/postgres.sh run sets it. Each test makes
// a schema of its own there and drops it at the end.
const postgresEnv = "AIRLOCK_TEST_POSTGRES"

// testBackend is a backend the shared tests run on.
type testBackend struct {
	name string
	// target returns where a new, empty ledger can be opened: a file
	// path or a PostgreSQL URL. It skips the test if the backend is not
	// available.
	target func(t testing.TB) string
}

var testBackends = []testBackend{
	{"sqlite", func(t testing.TB) string { return filepath.Join(t.TempDir(), "ledger.db") }},
	{"postgres", postgresTarget},
}

// forEachBackend runs test as a subtest per backend, named after it.
func forEachBackend(t *testing.T, test func(*testing.T, testBackend)) {
	t.Helper()
	for _, b := range testBackends {
		t.Run(b.name, func(t *testing.T) { test(t, b) })
	}
}

// open opens a new ledger, closed at the end of the test, and returns it
// with its target.
func (b testBackend) open(t testing.TB) (*Ledger, string) {
	t.Helper()
	target := b.target(t)
	l, err := Open(target)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l, target
}

// openDesks opens n Ledgers on one target, as n desks (or processes)
// would: each with its own connection pool. They close at the end of the
// test.
func openDesks(t testing.TB, target string, n int) []*Ledger {
	t.Helper()
	desks := make([]*Ledger, n)
	for i := range desks {
		l, err := Open(target)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		desks[i] = l
	}
	return desks
}

// openAtOnce opens n Ledgers on target from n goroutines released at the
// same moment, as processes starting together would; the caller closes
// the ones that opened.
func openAtOnce(target string, n int) ([]*Ledger, []error) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	opened, errs := make([]*Ledger, n), make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			opened[i], errs[i] = Open(target)
		}()
	}
	close(start)
	wg.Wait()
	return opened, errs
}

var postgresBackend = testBackends[1]

// postgresDSN returns the URL in AIRLOCK_TEST_POSTGRES, or skips the test.
func postgresDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(postgresEnv)
	if dsn == "" {
		t.Skip(postgresEnv + " not set: no PostgreSQL server to test against (scripts/postgres.sh run go test ./ledger/ starts one)")
	}
	if !isPostgres(dsn) {
		t.Fatalf("%s is not a postgres:// URL", postgresEnv)
	}
	return dsn
}

var pgAdmin struct {
	once sync.Once
	db   *sql.DB
}

// postgresAdmin returns a connection pool to the test database itself,
// outside any test's schema.
func postgresAdmin(t testing.TB) *sql.DB {
	t.Helper()
	dsn := postgresDSN(t)
	pgAdmin.once.Do(func() {
		pgAdmin.db, _ = sql.Open("pgx", dsn) // fails only on a bad URL, below
	})
	if pgAdmin.db == nil {
		t.Fatalf("cannot open %s", RedactDSN(dsn))
	}
	return pgAdmin.db
}

// withParams returns the URL dsn with the query parameters kv (name,
// value, name, value…) set.
func withParams(t testing.TB, dsn string, kv ...string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("%s does not parse", postgresEnv)
	}
	q := u.Query()
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// newSchema makes an empty schema, dropped at the end of the test, and
// returns its name.
func newSchema(t testing.TB) string {
	t.Helper()
	admin := postgresAdmin(t)
	var b [6]byte
	rand.Read(b[:])
	schema := "airlock_test_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("cannot create a schema for the test: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("cannot drop the test's schema %s: %v", schema, err)
		}
	})
	return schema
}

// postgresTarget returns the URL of a ledger in a new schema.
func postgresTarget(t testing.TB) string {
	t.Helper()
	dsn := postgresDSN(t)
	return withParams(t, dsn, "search_path", newSchema(t))
}
