package e2e

import (
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver, to make the test's schema
)

// postgresLedger returns the URL of a new, empty schema in the PostgreSQL
// database named by AIRLOCK_TEST_POSTGRES (scripts/postgres.sh run sets
// it), dropped at the end of the test, and the URL's password.
func postgresLedger(t *testing.T) (target, password string) {
	t.Helper()
	dsn := os.Getenv("AIRLOCK_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("AIRLOCK_TEST_POSTGRES not set: no PostgreSQL server (make test starts one with scripts/postgres.sh run)")
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal("AIRLOCK_TEST_POSTGRES is not a URL")
	}
	password, _ = u.User.Password()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	b := make([]byte, 6)
	rand.Read(b)
	schema := "e2e_" + hex.EncodeToString(b)
	if _, err := db.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("pgx", dsn)
		if err == nil {
			db.Exec("DROP SCHEMA " + schema + " CASCADE")
			db.Close()
		}
	})
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), password
}

// machineN is machine A with its own identity: another machine.
func machineN(t *testing.T, i int) string {
	m := machineA
	m.machineID = fmt.Sprintf("%032x", 0xbeef00+i)
	m.productUUID = fmt.Sprintf("00000000-0000-4000-8000-%012x", 0xbeef00+i)
	m.boardSerial, m.productSerial, m.diskSerial = fmt.Sprint("BSN-PG-", i), fmt.Sprint("PSN-PG-", i), fmt.Sprint("DSK-PG-", i)
	return m.tree(t)
}

// Two desks share one PostgreSQL ledger and the vendor key, and sign for
// the last seat of a license at the same moment: exactly one wins, the
// other is refused with TOO_MANY_MACHINES and writes nothing; the ledger
// and its audit log hold every decision. The password never reaches the
// desk's directory: the desks get it from PGPASSWORD.
func TestPostgresTwoDesksLastSeat(t *testing.T) {
	target, password := postgresLedger(t)
	e := newEnv(t).with("PGPASSWORD", password)
	deskA := filepath.Join(t.TempDir(), "deskA")
	// A refused login leaves nothing behind, so init can simply run again.
	u, _ := url.Parse(target)
	u.User = url.User(u.User.Username())
	o := e.with("PGPASSWORD", "wrong-password").vendor("--dir", deskA, "init", "--db", u.String(), "--scrypt-work-factor", "10")
	expect(t, o, 1)
	expectContains(t, "stderr", o.stderr, "cannot create the ledger postgres://")
	expectNoFile(t, filepath.Join(deskA, "vendor.key"))
	o = e.vendor("--dir", deskA, "init", "--db", target, "--scrypt-work-factor", "10")
	expectOK(t, o)
	expectContains(t, "stderr", o.stderr, "(postgres)")
	if password != "" {
		expectNotContains(t, "stderr", o.stderr, password)
		if strings.Contains(string(readFile(t, filepath.Join(deskA, "ledger.url"))), password) {
			t.Fatal("the ledger password was written to ledger.url")
		}
	}
	vk := "@" + filepath.Join(deskA, "vendor.pub")

	// The second desk: the same key and ledger, its own directory.
	deskB := filepath.Join(t.TempDir(), "deskB")
	if err := os.MkdirAll(deskB, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"vendor.key", "vendor.pub", "ledger.url"} {
		writeFile(t, filepath.Join(deskB, f), readFile(t, filepath.Join(deskA, f)))
	}

	const rounds = 4
	winners := map[string]int{}
	for r := range rounds {
		key := createLicense(t, e, deskA, "--max-machines", "2")
		// The first seat goes without a race.
		first := request(t, e.on(machineN(t, 3*r)), filepath.Join(t.TempDir(), "s"), vk, key)
		sign(t, e, deskB, first)

		// Two machines, two desks, one seat left.
		desks := []string{deskA, deskB}
		var reqs, outs [2]string
		var states [2]string
		for i := range 2 {
			states[i] = filepath.Join(t.TempDir(), "s")
			reqs[i] = request(t, e.on(machineN(t, 3*r+1+i)), states[i], vk, key)
			outs[i] = filepath.Join(t.TempDir(), "license.txt")
		}
		var results [2]out
		var start, done sync.WaitGroup
		start.Add(1)
		for i := range 2 {
			done.Add(1)
			go func() {
				defer done.Done()
				start.Wait()
				results[i] = e.vendor("--dir", desks[i], "sign", reqs[i], "-o", outs[i])
			}()
		}
		start.Done()
		done.Wait()

		won := -1
		for i, o := range results {
			switch o.code {
			case 0:
				if won >= 0 {
					t.Fatalf("round %d: both desks signed the last seat", r)
				}
				won = i
			case 23:
				expectContains(t, "stderr", o.stderr, "TOO_MANY_MACHINES")
				expectNoFile(t, outs[i])
			default:
				t.Fatalf("round %d: desk %d exit %d, want 0 or 23\n%s", r, i, o.code, o)
			}
		}
		if won < 0 {
			t.Fatalf("round %d: neither desk signed the last seat\n%s\n%s", r, results[0], results[1])
		}
		winners[desks[won]]++
		// The winner's license works on its machine.
		ew := e.on(machineN(t, 3*r+1+won))
		activate(t, ew, states[won], vk, outs[won])
		verify(t, ew, states[won], vk, "VALID", 0)

		for _, d := range desks {
			if ls := licenseShow(t, e, d, key); *ls.SeatsUsed != 2 || len(ls.Activations) != 2 {
				t.Fatalf("round %d, desk %s: seats_used %d, %d activations, want 2", r, filepath.Base(d), *ls.SeatsUsed, len(ls.Activations))
			}
		}
	}
	t.Logf("last seats won: %v", winners)

	// One audit log for both desks, intact, with every refusal in it.
	o = e.vendor("--dir", deskB, "audit", "verify")
	expectOK(t, o)
	o = e.vendor("--dir", deskA, "audit", "list", "--json")
	expectOK(t, o)
	if n := strings.Count(o.stdout, "TOO_MANY_MACHINES"); n != rounds {
		t.Errorf("%d refusals for TOO_MANY_MACHINES in the audit log, want %d", n, rounds)
	}
	// Without the password, the desk says it cannot reach the ledger and
	// does not print where the password would be.
	o = e.with("PGPASSWORD", "wrong-password").vendor("--dir", deskA, "license", "list")
	expect(t, o, 1)
	expectContains(t, "stderr", o.stderr, "cannot open the ledger postgres://")
	expectContains(t, "stderr", o.stderr, "hint: give the password with PGPASSWORD")
	expectNotContains(t, "stderr", o.stderr, "wrong-password")
}

// The ledger commands on PostgreSQL: an empty schema is no ledger for any
// command but init; ledger check checks the audit chain and the seats;
// ledger backup points at pg_dump; reading commands run in read-only
// transactions; audit checkpoints are signed and verify.
func TestPostgresLedgerCommands(t *testing.T) {
	target, password := postgresLedger(t)
	e := newEnv(t).with("PGPASSWORD", password).on(machineA.tree(t))
	other, _ := postgresLedger(t) // an empty schema
	desk, vk := initDesk(t, e, "--db", target)
	for _, args := range [][]string{{"license", "list"}, {"license", "create", "--product", "p", "--licensee", "l"}} {
		o := e.vendor(append([]string{"--dir", desk, "--db", other}, args...)...)
		expect(t, o, exitNoLedger)
		expectContains(t, "stderr", o.stderr, "is empty: it holds no ledger")
	}
	key := createLicense(t, e, desk, "--max-machines", "3")
	state := filepath.Join(t.TempDir(), "s")
	activate(t, e, state, vk, sign(t, e, desk, request(t, e, state, vk, key)))

	o := e.vendor("--dir", desk, "ledger", "check")
	expectOK(t, o)
	expectContains(t, "stdout", o.stdout, "not checked by airlock on PostgreSQL")
	expectContains(t, "stdout", o.stdout, "seats:        ok (1 licenses, 1 activations, 1 active seats)")
	o = e.vendor("--dir", desk, "ledger", "backup", filepath.Join(t.TempDir(), "copy.db"))
	expect(t, o, 1)
	expectContains(t, "stderr", o.stderr, "pg_dump")
	for _, args := range readCommands(key) {
		expectOK(t, e.vendor(append([]string{"--dir", desk}, args...)...))
	}
	cp := filepath.Join(t.TempDir(), "checkpoint.txt")
	expectOK(t, e.vendor("--dir", desk, "audit", "checkpoint", "-o", cp))
	sign(t, e, desk, request(t, e, filepath.Join(t.TempDir(), "s2"), vk, key))
	o = e.vendor("--dir", desk, "audit", "verify", "--checkpoint", cp)
	expectOK(t, o)
	expectContains(t, "stderr", o.stderr, "extending the checkpoint")
}
