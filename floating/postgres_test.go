package floating_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/floating"
	"github.com/airlock-offline/airlock/internal/testrig/testkeys"

	_ "github.com/jackc/pgx/v5/stdlib"
)

// postgresDB returns a URL to a fresh schema on the server named by
// AIRLOCK_TEST_POSTGRES (scripts/postgres.sh run go test ./floating), or
// skips the test.
func postgresDB(t *testing.T) string {
	dsn := os.Getenv("AIRLOCK_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("AIRLOCK_TEST_POSTGRES not set (scripts/postgres.sh run go test ./floating starts a server)")
	}
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	b := make([]byte, 6)
	rand.Read(b)
	schema := "floating_" + hex.EncodeToString(b)
	if _, err := admin.Exec(`CREATE SCHEMA ` + schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if db, err := sql.Open("pgx", dsn); err == nil {
			db.Exec(`DROP SCHEMA ` + schema + ` CASCADE`)
			db.Close()
		}
	})
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// The same seats on PostgreSQL: shared, refused, kept across a restart,
// and one server per schema.
func TestPostgres(t *testing.T) {
	db := postgresDB(t)
	f := &fixture{vendor: testkeys.Identity(crypto.RoleVendor, "vendor"), server: testkeys.Identity(crypto.RoleInstallation, "server"),
		clock: newClock(t0), db: db}
	f.lic = poolLicense(t, f.vendor, f.server, defaultPool(), map[string]uint64{"render": 0})
	f.start(t)
	t.Cleanup(f.stop)
	ctx := context.Background()
	a, b, c := f.client("a"), f.client("b"), f.client("c")
	sa, err := a.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Acquire(ctx); code(err) != floating.CodeNoSeat {
		t.Fatalf("third: %v", err)
	}
	if got, err := a.Consume(ctx, "", 7); err != nil || got.Used != 7 {
		t.Fatalf("consume: %+v %v", got, err)
	}
	// A second server on the same database is refused.
	if _, err := floating.New(floating.Config{Identity: f.server, DB: db, Now: f.clock.Now}); !errors.Is(err, floating.ErrDatabaseInUse) {
		t.Fatalf("second server: %v", err)
	}
	f.stop()
	f.start(t)
	a.Servers, c.Servers = []string{f.addr}, []string{f.addr}
	if _, err := c.Acquire(ctx); code(err) != floating.CodeNoSeat {
		t.Fatalf("after restart: %v", err)
	}
	if _, err := a.Renew(ctx, sa); err != nil {
		t.Fatalf("renew after restart: %v", err)
	}
	if st := f.srv.Status()[0]; st.Held != 2 || st.Counters[""] != 7 {
		t.Fatalf("status after restart: %+v", st)
	}
	if _, _, err := f.srv.CreateToken("t", floating.RoleAdmin, 0); err != nil {
		t.Fatal(err)
	}
}

// withApp is the database URL db with an application_name of its own, so
// that a test can terminate the connections of one server alone.
func withApp(t *testing.T, db string) (string, string) {
	u, err := url.Parse(db)
	if err != nil {
		t.Fatal(err)
	}
	app := fmt.Sprintf("airlock-%d", time.Now().UnixNano())
	q := u.Query()
	q.Set("application_name", app)
	u.RawQuery = q.Encode()
	return u.String(), app
}

// terminate ends every connection of app, as a PostgreSQL restart or
// failover would, which frees their advisory locks.
func terminate(t *testing.T, admin *sql.DB, app string) {
	var killed int
	if err := admin.QueryRow(`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1`, app).Scan(&killed); err != nil || killed == 0 {
		t.Fatalf("terminated %d connections: %v", killed, err)
	}
}

// lockHolders counts the sessions of app holding the advisory lock key.
func lockHolders(t *testing.T, admin *sql.DB, app string, key int64) int {
	var n int
	if err := admin.QueryRow(`SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
		WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 AND a.application_name = $2
		AND ((l.classid::bigint << 32) | l.objid::bigint) = $1`, key, app).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// eventually waits up to d for ok.
func eventually(d time.Duration, ok func() bool) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if ok() {
			return true
		}
	}
	return ok()
}

// A server whose database connections were lost (a restart, a failover)
// takes its lock again and serves on; one whose database another server
// took in the meantime stops granting with database_taken, and says so in
// its status, while the other serves.
func TestPostgresLockAfterLostConnection(t *testing.T) {
	base := postgresDB(t)
	db, app := withApp(t, base)
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	f := newFixtureOn(t, defaultPool(), db)
	ctx := context.Background()
	a := f.client("a")
	if _, err := a.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	if n := lockHolders(t, admin, app, f.srv.LockKey(floating.LockServer)); n != 1 {
		t.Fatalf("%d holders of the server's lock", n)
	}
	terminate(t, admin, app) // PostgreSQL frees the lock with the connection
	// At once, on a pool of dead connections: the grant's transaction runs
	// again on a new one.
	if _, err := f.client("b").Acquire(ctx); err != nil {
		t.Fatalf("a grant right after the connections were lost: %v", err)
	}
	if !eventually(3*floating.LockCheckTicks*floating.SweepInterval, func() bool { return lockHolders(t, admin, app, f.srv.LockKey(floating.LockServer)) == 1 }) {
		t.Fatal("the server did not take its lock again")
	}
	if _, err := f.client("b").Acquire(ctx); err != nil {
		t.Fatalf("a grant after the lock was taken again: %v", err)
	}
	// Now another server takes the database before this one notices
	// (should this one take its lock again first, the connections are
	// terminated again).
	otherDB, otherApp := withApp(t, base)
	var other *floating.Server
	for try := 0; other == nil; try++ {
		terminate(t, admin, app)
		other, err = floating.New(floating.Config{Identity: f.server, DB: otherDB, Now: f.clock.Now})
		if err != nil && (!errors.Is(err, floating.ErrDatabaseInUse) || try == 5) {
			t.Fatalf("the second server could not take the free database: %v", err)
		}
	}
	defer other.Close()
	if !eventually(3*floating.LockCheckTicks*floating.SweepInterval, func() bool {
		_, err := f.client("c").Acquire(ctx)
		return code(err) == floating.CodeDatabaseTaken
	}) {
		t.Fatal("the first server goes on granting beside the server that took its database")
	}
	if _, err := a.Consume(ctx, "", 1); code(err) != floating.CodeDatabaseTaken {
		t.Fatalf("consume: %v", err)
	}
	// Changes that do not come through the API (the console, the report
	// command) are refused with the same code.
	if err := f.srv.SetAuthMode(floating.AuthLicenseKey); code(err) != floating.CodeDatabaseTaken {
		t.Fatalf("an auth change: %v", err)
	}
	if st := f.srv.Status()[0]; !strings.Contains(st.Error, "took this database") {
		t.Fatalf("status: %+v", st)
	}
	if n, m := lockHolders(t, admin, app, f.srv.LockKey(floating.LockServer)), lockHolders(t, admin, otherApp, f.srv.LockKey(floating.LockServer)); n != 0 || m != 1 {
		t.Fatalf("the lock is held by %d sessions of the first server and %d of the second", n, m)
	}
}

// Servers whose tables live in separate schemas of one database (the
// URL's search_path) run side by side: PostgreSQL's advisory locks belong
// to the database, so their keys name the schema. In one schema, the
// second server is refused.
func TestPostgresSchemasSideBySide(t *testing.T) {
	first, second := postgresDB(t), postgresDB(t)
	f := newFixtureOn(t, defaultPool(), first)
	if _, err := f.client("a").Acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	other, err := floating.New(floating.Config{Identity: f.server, DB: second, Now: f.clock.Now})
	if err != nil {
		t.Fatalf("a server in another schema of the database: %v", err)
	}
	defer other.Close()
	if _, err := floating.New(floating.Config{Identity: f.server, DB: first, Now: f.clock.Now}); !errors.Is(err, floating.ErrDatabaseInUse) {
		t.Fatalf("a second server in the first one's schema: %v", err)
	}
	if other.LockKey(floating.LockServer) == f.srv.LockKey(floating.LockServer) {
		t.Fatal("one lock key for two schemas")
	}
	u, _ := url.Parse(first)
	q := u.Query()
	q.Set("search_path", "airlock_no_such_schema")
	u.RawQuery = q.Encode()
	if _, err := floating.New(floating.Config{Identity: f.server, DB: u.String(), Now: f.clock.Now}); err == nil || !strings.Contains(err.Error(), "create the server's schema first") {
		t.Fatalf("a search_path naming no schema: %v", err)
	}
}
