package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestRebind(t *testing.T) {
	tests := []struct{ in, want string }{
		{"SELECT 1", "SELECT 1"},
		{"SELECT a FROM t WHERE k = ?", "SELECT a FROM t WHERE k = $1"},
		{"INSERT INTO t VALUES (?, ?, ?, 0)", "INSERT INTO t VALUES ($1, $2, $3, 0)"},
		{"SELECT '?', \"?\" FROM t WHERE a = ? AND b = 'it''s ?' AND c = ?", "SELECT '?', \"?\" FROM t WHERE a = $1 AND b = 'it''s ?' AND c = $2"},
		{"SELECT ? -- a comment?\n, ? /* another? */ , ?", "SELECT $1 -- a comment?\n, $2 /* another? */ , $3"},
		{"SELECT ? -- ?", "SELECT $1 -- ?"},
		{"SELECT 'unterminated ?", "SELECT 'unterminated ?"},
		{"SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?", "SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11"},
	}
	for _, tt := range tests {
		if got := postgresDialect.rebind(tt.in); got != tt.want {
			t.Errorf("rebind(%q) =\n%q, want\n%q", tt.in, got, tt.want)
		}
		if got := sqliteDialect.rebind(tt.in); got != tt.in {
			t.Errorf("SQLite rebind(%q) = %q, want it unchanged", tt.in, got)
		}
	}
}

func TestRedactDSN(t *testing.T) {
	tests := []struct{ in, want string }{
		{"postgres://desk:s3cret@db.example:5432/airlock?sslmode=verify-full",
			"postgres://desk:xxxxx@db.example:5432/airlock?sslmode=verify-full"},
		{"postgresql://desk:s3cret@db.example/airlock", "postgresql://desk:xxxxx@db.example/airlock"},
		{"postgres://desk@db.example/airlock", "postgres://desk@db.example/airlock"},
		{"postgres://db.example/airlock", "postgres://db.example/airlock"},
		{"postgres://desk:p%40ss%2Fs3cret@[::1]:5432/airlock", "postgres://desk:xxxxx@[::1]:5432/airlock"},
		{"postgres://desk:p@ss@db.example/airlock", "postgres://desk:xxxxx@db.example/airlock"},
		{"postgres://desk:@db.example/airlock", "postgres://desk:xxxxx@db.example/airlock"},
		{"postgres://db.example/airlock?user=desk&password=s3cret&sslpassword=s3cret2&search_path=ledger",
			"postgres://db.example/airlock?user=desk&password=xxxxx&sslpassword=xxxxx&search_path=ledger"},
		{"postgres://db.example/airlock?pass%77ord=s3cret&PASSWORD=s3cret", "postgres://db.example/airlock?pass%77ord=xxxxx&PASSWORD=xxxxx"},
		{"postgres://db.example/airlock?bad%zz=s3cret", "postgres://db.example/airlock?xxxxx"},
		{"postgres://desk:s3cret@h1:5432,h2:5433/airlock", "postgres://desk:xxxxx@h1:5432,h2:5433/airlock"},
		{"postgres://desk:s3cret@db.example/airlock#frag", "postgres://desk:xxxxx@db.example/airlock#frag"},
		// A password with '/' or '?' makes the URL invalid: nothing of it is kept.
		{"postgres://desk:s3/cret@db.example/airlock", "postgres://(URL that does not parse)"},
		{"postgres://desk:s3?cret@db.example/airlock", "postgres://(URL that does not parse)"},
		{"postgres://desk:s3cret@db.example:port/airlock", "postgres://(URL that does not parse)"},
		// Paths are kept; a keyword/value string taken for a path is masked.
		{"/var/lib/airlock/ledger.db", "/var/lib/airlock/ledger.db"},
		{"host=db.example password=s3cret dbname=airlock", "host=db.example password=xxxxx dbname=airlock"},
		{"host=db.example password = 's3 cret' sslpassword=s3cret2", "host=db.example password = xxxxx sslpassword=xxxxx"},
	}
	for _, tt := range tests {
		got := RedactDSN(tt.in)
		if got != tt.want {
			t.Errorf("RedactDSN(%q) =\n%q, want\n%q", tt.in, got, tt.want)
		}
		if strings.Contains(got, "s3") {
			t.Errorf("RedactDSN(%q) = %q keeps the password", tt.in, got)
		}
	}
}

func TestBackend(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b testBackend) {
		l, _ := b.open(t)
		if got := l.Backend(); got != b.name {
			t.Errorf("Backend() = %q, want %q", got, b.name)
		}
	})
}

// TestConcurrentOpen has several processes' worth of Ledgers open a new
// ledger at once: one creates the schema, the others find it.
func TestConcurrentOpen(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b testBackend) {
		target := b.target(t)
		const n = 8
		opened, errs := openAtOnce(target, n)
		for i, err := range errs {
			if err != nil {
				t.Errorf("Open %d: %v", i, err)
				continue
			}
			defer opened[i].Close()
		}
		if t.Failed() {
			return
		}
		mustCreate(t, opened[0], testLicense("OPEN-0001", 1))
		if _, err := opened[n-1].Record(context.Background(), activation("OPEN-0001", 1, "01")); err != nil {
			t.Fatal(err)
		}
		if _, _, err := opened[1].VerifyAudit(context.Background(), ""); err != nil {
			t.Fatal(err)
		}
	})
}

// TestLastSeatsRace has many goroutines on three Ledgers (separate
// connection pools, as separate desks have) race for the last seats of a
// license: exactly the free seats are taken, every other request is
// refused, and the audit chain stays whole.
func TestLastSeatsRace(t *testing.T) { forEachBackend(t, testLastSeatsRace) }

func testLastSeatsRace(t *testing.T, b testBackend) {
	ctx := context.Background()
	target := b.target(t)
	desks := openDesks(t, target, 3)
	const (
		key         = "LAST-0001"
		maxMachines = 6
		taken       = 2
		racers      = 48
	)
	mustCreate(t, desks[0], testLicense(key, maxMachines))
	for m := range taken {
		if _, err := desks[m].Record(ctx, activation(key, byte(m), fmt.Sprintf("%02x", m))); err != nil {
			t.Fatal(err)
		}
	}

	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		errs  = make([]error, racers)
	)
	for g := range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			machine := byte(100 + g)
			a := activation(key, machine, fmt.Sprintf("%02x", machine))
			<-start
			var reused bool
			reused, errs[g] = desks[g%len(desks)].Record(ctx, a)
			if reused {
				errs[g] = errors.New("a new machine reused a seat")
			}
		}()
	}
	close(start)
	wg.Wait()

	won := 0
	for g, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, ErrTooManyMachines):
			t.Errorf("goroutine %d: %v", g, err)
		}
	}
	if won != maxMachines-taken {
		t.Errorf("%d goroutines got a seat, want exactly %d", won, maxMachines-taken)
	}
	for i, l := range desks {
		if n := seats(t, l, key); n != maxMachines {
			t.Errorf("desk %d counts %d seats, want %d", i, n, maxMachines)
		}
	}
	checkSeatCounters(t, desks[0])

	seq, _, err := desks[2].VerifyAudit(ctx, "")
	if err != nil {
		t.Fatalf("audit chain: %v", err)
	}
	log, err := desks[1].AuditLog(ctx)
	if err != nil {
		t.Fatal(err)
	}
	recorded := 0
	for _, e := range log {
		if e.Action == "activation.recorded" {
			recorded++
		}
	}
	if recorded != maxMachines || seq != int64(len(log)) || len(log) != 1+maxMachines {
		t.Errorf("audit log: %d entries (head %d), %d activations recorded; want %d and %d", len(log), seq, recorded, 1+maxMachines, maxMachines)
	}
}

// TestUnstorableLookups looks up keys and IDs that neither backend can
// hold (PostgreSQL refuses NUL bytes and invalid UTF-8 in text): they are
// not found, on both backends alike.
func TestUnstorableLookups(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b testBackend) {
		ctx := context.Background()
		l, _ := b.open(t)
		mustCreate(t, l, testLicense("GOOD-0001", 1))
		a := activation("GOOD-0001", 1, "01")
		if _, err := l.Record(ctx, a); err != nil {
			t.Fatal(err)
		}
		for _, bad := range []string{"GOOD-0001\x00", "\xff", "01\x00"} {
			if _, err := l.GetLicense(ctx, bad); !errors.Is(err, ErrNotFound) {
				t.Errorf("GetLicense(%q) = %v, want ErrNotFound", bad, err)
			}
			if err := l.SetSuspended(ctx, bad, true); !errors.Is(err, ErrNotFound) {
				t.Errorf("SetSuspended(%q) = %v, want ErrNotFound", bad, err)
			}
			if err := l.BindSecret(ctx, bad, make([]byte, 32)); !errors.Is(err, ErrNotFound) {
				t.Errorf("BindSecret(%q) = %v, want ErrNotFound", bad, err)
			}
			if _, err := l.Activations(ctx, bad); !errors.Is(err, ErrNotFound) {
				t.Errorf("Activations(%q) = %v, want ErrNotFound", bad, err)
			}
			if _, err := l.SeatsUsed(ctx, bad); !errors.Is(err, ErrNotFound) {
				t.Errorf("SeatsUsed(%q) = %v, want ErrNotFound", bad, err)
			}
			if _, found, err := l.ActiveSeat(ctx, bad, a.InstallKey, a.Fingerprint); found || err != nil {
				t.Errorf("ActiveSeat(%q) = %v, %v; want not found", bad, found, err)
			}
			if _, err := l.GetProduct(ctx, bad); !errors.Is(err, ErrNotFound) {
				t.Errorf("GetProduct(%q) = %v, want ErrNotFound", bad, err)
			}
			if _, err := l.AutoCreateLicense(ctx, bad, "GOOD-0002", t0); !errors.Is(err, ErrNotFound) {
				t.Errorf("AutoCreateLicense(%q) = %v, want ErrNotFound", bad, err)
			}
			if _, err := l.GetActivation(ctx, "GOOD-0001", bad); !errors.Is(err, ErrNotFound) {
				t.Errorf("GetActivation(%q) = %v, want ErrNotFound", bad, err)
			}
			if err := l.Release(ctx, "GOOD-0001", bad, a.InstallKey); !errors.Is(err, ErrNotFound) {
				t.Errorf("Release(%q) = %v, want ErrNotFound", bad, err)
			}
			if err := l.Renew(ctx, bad, activation("GOOD-0001", 1, "02")); !errors.Is(err, ErrNotFound) {
				t.Errorf("Renew(%q) = %v, want ErrNotFound", bad, err)
			}
		}
		err := l.Audit(ctx, "refused", "GOOD-0001", "detail\x00")
		if b.name == "postgres" && !errors.Is(err, ErrInvalid) {
			t.Errorf("Audit(NUL byte) = %v, want ErrInvalid", err)
		}
		if b.name == "sqlite" && err != nil {
			t.Errorf("Audit(NUL byte) = %v, want it stored", err)
		}
	})
}

// TestSchemasMatch checks that both backends' tables have the same
// columns, in the same order, with the same nullability.
func TestSchemasMatch(t *testing.T) {
	ctx := context.Background()
	sq, _ := testBackends[0].open(t)
	pg, _ := postgresBackend.open(t)
	columns := func(l *Ledger, table string) []string {
		query := `SELECT name, "notnull" <> 0 FROM pragma_table_info(?) ORDER BY cid`
		if l.Backend() == "postgres" {
			query = `SELECT column_name, is_nullable = 'NO' FROM information_schema.columns
				WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position`
		}
		rows, err := l.db.QueryContext(ctx, query, table)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var name string
			var notNull bool
			if err := rows.Scan(&name, &notNull); err != nil {
				t.Fatal(err)
			}
			out = append(out, fmt.Sprintf("%s notnull=%t", name, notNull))
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	for _, table := range []string{"licenses", "activations", "audit", "products"} {
		s, p := columns(sq, table), columns(pg, table)
		if len(s) == 0 || !reflect.DeepEqual(s, p) {
			t.Errorf("table %s:\nSQLite     %v\nPostgreSQL %v", table, s, p)
		}
	}
}

// pgOpen opens a new PostgreSQL ledger, with extra URL parameters kv.
func pgOpen(t *testing.T, kv ...string) (*Ledger, string) {
	t.Helper()
	target := withParams(t, postgresTarget(t), kv...)
	l, err := Open(target)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l, target
}

// TestPostgresWriteSettings checks what a write transaction runs with, on
// a connection whose server defaults say otherwise.
func TestPostgresWriteSettings(t *testing.T) {
	ctx := context.Background()
	l, _ := pgOpen(t, "synchronous_commit", "off", "default_transaction_isolation", "serializable", "lock_timeout", "0")
	show := func(q interface {
		QueryRowContext(context.Context, string, ...any) *sql.Row
	}, setting string) string {
		t.Helper()
		var v string
		if err := q.QueryRowContext(ctx, "SHOW "+setting).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	if got := show(l.db, "synchronous_commit"); got != "off" {
		t.Fatalf("outside a write, synchronous_commit = %s: the URL's setting was not applied", got)
	}
	err := l.write(ctx, func(ctx context.Context, tx *sqlTx) error {
		for _, tt := range []struct{ setting, want string }{
			{"synchronous_commit", "on"},
			{"lock_timeout", "10s"},
			{"transaction_isolation", "read committed"},
		} {
			if got := show(tx, tt.setting); got != tt.want {
				t.Errorf("in a write, %s = %s, want %s", tt.setting, got, tt.want)
			}
		}
		var locks int
		err := tx.QueryRowContext(ctx, `SELECT count(*) FROM pg_locks WHERE pid = pg_backend_pid()
			AND relation = 'airlock_ledger'::regclass AND mode = 'ExclusiveLock' AND granted`).Scan(&locks)
		if err != nil {
			return err
		}
		if locks != 1 {
			t.Errorf("in a write, %d EXCLUSIVE locks on airlock_ledger, want 1", locks)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := show(l.db, "synchronous_commit"); got != "off" {
		t.Errorf("after a write, synchronous_commit = %s: SET LOCAL leaked", got)
	}
}

// TestPostgresWritersSerialize holds a write transaction open and checks
// that another desk's writer waits for it, that readers do not, and that a
// ledger in another schema does not.
func TestPostgresWritersSerialize(t *testing.T) {
	ctx := context.Background()
	l1, target := pgOpen(t)
	l2, err := Open(target)
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	mustCreate(t, l1, testLicense("LOCK-0001", 1))

	holding, release := make(chan struct{}), make(chan struct{})
	held := make(chan error, 1)
	go func() {
		held <- l1.write(ctx, func(ctx context.Context, tx *sqlTx) error {
			close(holding)
			<-release
			return nil
		})
	}()
	<-holding
	released := false
	defer func() {
		if !released {
			close(release)
		}
	}()

	// Readers read.
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := l2.GetLicense(rctx, "LOCK-0001"); err != nil {
		t.Fatalf("a reader waited for the writer: %v", err)
	}
	if _, _, err := l2.VerifyAudit(rctx, ""); err != nil {
		t.Fatalf("a reader waited for the writer: %v", err)
	}

	// A ledger in another schema writes.
	other, _ := pgOpen(t)
	if err := other.Audit(rctx, "refused", "", "other schema"); err != nil {
		t.Fatalf("a ledger in another schema waited: %v", err)
	}

	// Another desk's writer waits.
	wctx, wcancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer wcancel()
	t0 := time.Now()
	err = l2.Audit(wctx, "refused", "", "while locked")
	if err == nil {
		t.Fatal("another desk wrote while a write transaction was open")
	}
	if waited := time.Since(t0); waited < 250*time.Millisecond {
		t.Fatalf("the blocked writer failed after %v, not at its deadline: %v", waited, err)
	}
	waiting := make(chan error, 1)
	go func() { waiting <- l2.Audit(ctx, "refused", "", "after the lock") }()
	select {
	case err := <-waiting:
		t.Fatalf("another desk wrote while a write transaction was open (%v)", err)
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	released = true
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	if err := <-waiting; err != nil {
		t.Fatalf("the waiting writer: %v", err)
	}
	log, err := l1.AuditLog(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(log); n != 2 || log[1].Detail != "after the lock" {
		t.Errorf("audit log has %d entries, want the license and the waiting write", n)
	}
}

// TestPostgresNotLedger opens schemas that are not ledgers.
func TestPostgresNotLedger(t *testing.T) {
	dsn := postgresDSN(t)
	admin := postgresAdmin(t)
	ctx := context.Background()
	for _, tt := range []struct {
		name  string
		setup string // %s is the schema
		want  error
	}{
		{"other tables", `CREATE TABLE %s.notes (body TEXT)`, ErrNotLedger},
		{"other application", `CREATE TABLE %s.airlock_ledger (application_id BIGINT PRIMARY KEY, schema_version BIGINT);
			INSERT INTO %[1]s.airlock_ledger VALUES (42, 1)`, ErrNotLedger},
		{"other columns", `CREATE TABLE %s.airlock_ledger (id TEXT)`, ErrNotLedger},
		{"index of that name", `CREATE TABLE %s.notes (body TEXT); CREATE INDEX airlock_ledger ON %[1]s.notes (body)`, ErrNotLedger},
		{"version 0", `CREATE TABLE %s.airlock_ledger (application_id BIGINT PRIMARY KEY, schema_version BIGINT);
			INSERT INTO %[1]s.airlock_ledger VALUES (1095912523, 0)`, ErrNotLedger},
		{"newer version", `CREATE TABLE %s.airlock_ledger (application_id BIGINT PRIMARY KEY, schema_version BIGINT);
			INSERT INTO %[1]s.airlock_ledger VALUES (1095912523, 99)`, ErrSchemaTooNew},
	} {
		t.Run(tt.name, func(t *testing.T) {
			schema := newSchema(t)
			if _, err := admin.ExecContext(ctx, fmt.Sprintf(tt.setup, schema)); err != nil {
				t.Fatal(err)
			}
			l, err := Open(withParams(t, dsn, "search_path", schema))
			if err == nil {
				l.Close()
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Open = %v, want %v", err, tt.want)
			}
			if tt.want == ErrSchemaTooNew && !strings.Contains(err.Error(), "version 99") {
				t.Errorf("error %q does not say which version the database has", err)
			}
			// Nothing was created beside what was there.
			var tables int
			if err := admin.QueryRowContext(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = $1 AND tablename = 'licenses'`, schema).Scan(&tables); err != nil {
				t.Fatal(err)
			}
			if tables != 0 {
				t.Error("Open created the ledger's tables in a schema that is not a ledger")
			}
		})
	}
}

// TestPostgresOpenErrors checks that Open's errors say what failed and
// never quote the URL's password.
func TestPostgresOpenErrors(t *testing.T) {
	dsn := postgresDSN(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	password, _ := u.User.Password()
	if password == "" {
		t.Skipf("%s has no password to look for", postgresEnv)
	}
	closedPort := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		return ln.Addr().String()
	}()
	with := func(f func(u *url.URL)) string {
		c := *u
		f(&c)
		return c.String()
	}
	for _, tt := range []struct {
		name, target, want string
		is                 error
	}{
		{"bad URL", "postgres://airlock:" + password + "@127.0.0.1:notaport/db", "does not parse", ErrInvalid},
		{"bad parameter", with(func(u *url.URL) { u.RawQuery = "sslmode=sideways" }), "does not parse", ErrInvalid},
		{"nothing listening", with(func(u *url.URL) { u.Host = closedPort }), "cannot connect to the PostgreSQL ledger", ErrUnreachable},
		{"wrong password", with(func(u *url.URL) { u.User = url.UserPassword(u.User.Username(), password+"x") }), "cannot connect to the PostgreSQL ledger", ErrAccessDenied},
		{"no such database", with(func(u *url.URL) { u.Path = "/airlock_missing_" + password }), "cannot connect to the PostgreSQL ledger", ErrUnreachable},
		{"no such schema", withParams(t, dsn, "search_path", "airlock_missing"), "create the ledger's schema first", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			l, err := Open(tt.target)
			if err == nil {
				l.Close()
				t.Fatal("Open succeeded")
			}
			msg := err.Error()
			t.Logf("Open: %s", msg)
			if !strings.Contains(msg, tt.want) {
				t.Errorf("Open = %q, want it to say %q", msg, tt.want)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("Open = %v, want %v", err, tt.is)
			}
			if tt.is != ErrAccessDenied && errors.Is(err, ErrAccessDenied) {
				t.Errorf("Open = %v: not a refused login, but Is(ErrAccessDenied)", err)
			}
			if strings.Contains(msg, password) {
				t.Errorf("Open's error quotes the password: %q", msg)
			}
			if strings.Contains(msg, tt.target) || strings.Contains(msg, dsn) {
				t.Errorf("Open's error quotes the URL: %q", msg)
			}
		})
	}
}

// TestPostgresTriggersFollowTheSchema changes activations from a
// connection whose search_path is another schema: the seat counter of the
// ledger's own schema follows.
func TestPostgresTriggersFollowTheSchema(t *testing.T) {
	ctx := context.Background()
	l, target := pgOpen(t)
	mustCreate(t, l, testLicense("TRIG-0001", 2))
	if _, err := l.Record(ctx, activation("TRIG-0001", 1, "01")); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(target)
	schema := u.Query().Get("search_path")
	admin := postgresAdmin(t) // search_path: the server's default
	if _, err := admin.ExecContext(ctx, `UPDATE `+schema+`.activations SET released = 1 WHERE id = '01'`); err != nil {
		t.Fatal(err)
	}
	if n := seats(t, l, "TRIG-0001"); n != 0 {
		t.Errorf("seats = %d after a release from another schema, want 0", n)
	}
	checkSeatCounters(t, l)
	var used int
	if err := l.db.QueryRowContext(ctx, `SELECT seats_used FROM licenses WHERE key = ?`, "TRIG-0001").Scan(&used); err != nil || used != 0 {
		t.Errorf("seats_used = %d (%v), want 0", used, err)
	}
}
