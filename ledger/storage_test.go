package ledger

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Only Create makes a ledger: a missing or empty file is refused, and
// says which.
func TestOpenWithoutCreate(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "typo.db")
	if _, err := OpenWith(missing, Options{}); !errors.Is(err, ErrMissing) {
		t.Errorf("OpenWith(missing) = %v, want ErrMissing", err)
	}
	if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("OpenWith(missing) created the file")
	}
	empty := filepath.Join(dir, "empty.db")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, opts := range []Options{{}, {ReadOnly: true}} {
		if _, err := OpenWith(empty, opts); !errors.Is(err, ErrEmpty) {
			t.Errorf("OpenWith(empty, %+v) = %v, want ErrEmpty", opts, err)
		}
	}
	if fi, _ := os.Stat(empty); fi.Size() != 0 {
		t.Errorf("OpenWith(empty) wrote to it")
	}
	// A SQLite database with no tables is empty too.
	db, err := sql.Open("sqlite", empty)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("PRAGMA user_version = 0; VACUUM"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := OpenWith(empty, Options{}); !errors.Is(err, ErrEmpty) {
		t.Errorf("OpenWith(SQLite file without tables) = %v, want ErrEmpty", err)
	}
	l, err := OpenWith(empty, Options{Create: true})
	if err != nil {
		t.Fatalf("OpenWith(empty, Create) = %v", err)
	}
	l.Close()
	l, err = OpenWith(empty, Options{})
	if err != nil {
		t.Fatalf("OpenWith(created ledger) = %v", err)
	}
	l.Close()
}

// A ledger opened read-only reads, never writes, and its writes say
// ErrReadOnly.
func TestOpenReadOnly(t *testing.T) {
	l, path := openTemp(t)
	ctx := context.Background()
	if err := l.CreateLicense(ctx, testLicense("RO-0001", 2)); err != nil {
		t.Fatal(err)
	}
	l.Close()
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r, err := OpenWith(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	lics, err := r.ListLicenses(ctx)
	if err != nil || len(lics) != 1 {
		t.Fatalf("ListLicenses = %v, %v", lics, err)
	}
	if _, _, err := r.VerifyAudit(ctx, ""); err != nil {
		t.Fatal(err)
	}
	rep, err := r.Check(ctx)
	if err != nil || !rep.OK() || rep.Licenses != 1 {
		t.Fatalf("Check = %+v, %v", rep, err)
	}
	if err := r.CreateLicense(ctx, testLicense("RO-0002", 1)); !errors.Is(err, ErrReadOnly) {
		t.Errorf("CreateLicense on a read-only ledger = %v, want ErrReadOnly", err)
	}
	after, _ := os.ReadFile(path)
	if string(before) != string(after) {
		t.Error("the read-only ledger's file changed")
	}
}

// A damaged index of active seats is found when the ledger is opened for
// writing, so that no installation takes a second seat; Check finds it
// too.
func TestDamagedSeatIndex(t *testing.T) {
	l, path := openTemp(t)
	ctx := context.Background()
	if err := l.CreateLicense(ctx, testLicense("IDX-0001", 100)); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		if _, err := l.Record(ctx, benchActivationFor("IDX-0001", i)); err != nil {
			t.Fatal(err)
		}
	}
	var root, pageSize int64
	if err := l.db.raw.QueryRow(`SELECT rootpage FROM sqlite_schema WHERE name = 'activations_active_seat'`).Scan(&root); err != nil {
		t.Fatal(err)
	}
	if err := l.db.raw.QueryRow(`PRAGMA page_size`).Scan(&pageSize); err != nil {
		t.Fatal(err)
	}
	l.Close() // checkpoints the WAL into the file
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	// The last bytes of the index's page: the end of its last cell.
	off := root*pageSize - 3
	b := make([]byte, 1)
	f.ReadAt(b, off)
	b[0] ^= 0x5a
	f.WriteAt(b, off)
	f.Close()

	if _, err := OpenWith(path, Options{}); !errors.Is(err, ErrDamaged) {
		t.Fatalf("OpenWith(damaged seat index) = %v, want ErrDamaged", err)
	}
	r, err := OpenWith(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	rep, err := r.Check(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() || len(rep.Integrity) == 0 {
		t.Fatalf("Check of a damaged index = %+v", rep)
	}
}

// A WAL that went missing after a crash, with committed frames in it, is
// detected from the -shm file left beside the ledger.
func TestWALMissing(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ledger.db")
	l, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := l.CreateLicense(ctx, testLicense("WAL-0001", 1)); err != nil {
		t.Fatal(err)
	}
	// As after a crash: copy the files while the ledger is open, so the
	// -shm and -wal hold the uncheckpointed commit.
	crashed := filepath.Join(dir, "crashed")
	if err := os.Mkdir(crashed, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"", "-wal", "-shm"} {
		b, err := os.ReadFile(path + s)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(crashed, "ledger.db"+s), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	copyPath := filepath.Join(crashed, "ledger.db")
	if err := os.Remove(copyPath + "-wal"); err != nil {
		t.Fatal(err)
	}
	for _, opts := range []Options{{}, {ReadOnly: true}} {
		if _, err := OpenWith(copyPath, opts); !errors.Is(err, ErrWALMissing) {
			t.Errorf("OpenWith(WAL deleted, %+v) = %v, want ErrWALMissing", opts, err)
		}
	}
}

// Backup makes a copy that opens as the same ledger, and never replaces
// a file.
func TestBackup(t *testing.T) {
	l, _ := openTemp(t)
	ctx := context.Background()
	if err := l.CreateLicense(ctx, testLicense("BAK-0001", 1)); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "copy.db")
	if err := l.Backup(ctx, dst); err != nil {
		t.Fatal(err)
	}
	if err := l.Backup(ctx, dst); err == nil {
		t.Error("Backup over an existing file succeeded")
	}
	fi, err := os.Stat(dst)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v, %v", fi, err)
	}
	c, err := OpenWith(dst, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.GetLicense(ctx, "BAK-0001"); err != nil {
		t.Fatal(err)
	}
	_, h1, _ := l.VerifyAudit(ctx, "")
	_, h2, _ := c.VerifyAudit(ctx, "")
	if string(h1) != string(h2) {
		t.Error("the copy's audit head differs")
	}
}

func benchActivationFor(key string, i int) *Activation {
	a := benchActivation(i)
	a.LicenseKey = key
	return a
}

// On both backends: an empty target is refused without Create, a
// read-only ledger reads and refuses writes, and Check finds a seat
// counter that disagrees with the activations.
func TestOpenOptionsBackends(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be testBackend) {
		target := be.target(t)
		if be.name == "sqlite" {
			if err := os.WriteFile(target, nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := OpenWith(target, Options{}); !errors.Is(err, ErrEmpty) {
			t.Fatalf("OpenWith(empty) = %v, want ErrEmpty", err)
		}
		if _, err := OpenWith(target, Options{ReadOnly: true}); !errors.Is(err, ErrEmpty) {
			t.Fatalf("OpenWith(empty, ReadOnly) = %v, want ErrEmpty", err)
		}
		l, err := OpenWith(target, Options{Create: true})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		ctx := context.Background()
		if err := l.CreateLicense(ctx, testLicense("OPT-0001", 5)); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Record(ctx, benchActivationFor("OPT-0001", 1)); err != nil {
			t.Fatal(err)
		}
		r, err := OpenWith(target, Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if n, err := r.SeatsUsed(ctx, "OPT-0001"); err != nil || n != 1 {
			t.Fatalf("SeatsUsed = %d, %v", n, err)
		}
		if _, err := r.Record(ctx, benchActivationFor("OPT-0001", 2)); !errors.Is(err, ErrReadOnly) {
			t.Fatalf("Record on a read-only ledger = %v, want ErrReadOnly", err)
		}
		if err := r.Audit(ctx, "x", "", ""); !errors.Is(err, ErrReadOnly) {
			t.Fatalf("Audit on a read-only ledger = %v", err)
		}
		rep, err := r.Check(ctx)
		if err != nil || !rep.OK() || rep.ActiveSeats != 1 || rep.AuditSeq == 0 {
			t.Fatalf("Check = %+v, %v", rep, err)
		}
		// Someone with the database changes a seat counter.
		if _, err := l.db.ExecContext(ctx, `UPDATE licenses SET seats_used = 3 WHERE key = ?`, "OPT-0001"); err != nil {
			t.Fatal(err)
		}
		rep, err = r.Check(ctx)
		if err != nil || rep.OK() || len(rep.Seats) != 1 || !strings.Contains(rep.Seats[0], "seat counter says 3, but 1") {
			t.Fatalf("Check of a wrong counter = %+v, %v", rep, err)
		}
		if be.name == "sqlite" {
			l.Close()
			if _, err := OpenWith(target, Options{}); !errors.Is(err, ErrDamaged) {
				t.Fatalf("OpenWith(wrong seat counter) = %v, want ErrDamaged", err)
			}
		}
	})
}
