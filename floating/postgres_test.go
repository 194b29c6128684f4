package floating_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"testing"

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
// and one server per database.
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
