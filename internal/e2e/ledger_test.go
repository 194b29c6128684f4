package e2e

import (
	"crypto/sha256"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fxamacker/cbor/v2"
	_ "modernc.org/sqlite" // the "sqlite" driver, to damage and inspect ledgers as someone with the file would
)

// Exit codes of airlock-vendor for the ledger's state.
const (
	exitNotWritten = 3
	exitNoLedger   = 60
	exitNotLedger  = 61
	exitDamaged    = 62
	exitReadOnly   = 63
	exitDiskFull   = 64
)

// readCommands and writeCommands are every command that opens the ledger;
// key is a license key.
func readCommands(key string) [][]string {
	return [][]string{
		{"license", "list"},
		{"license", "show", key},
		{"audit", "verify"},
		{"audit", "list"},
		{"ledger", "export", "--json"},
		{"ledger", "check"},
		{"product", "list"},
	}
}

func writeCommands(req string) [][]string {
	return [][]string{
		{"license", "create", "--product", "acme-cad", "--licensee", "L"},
		{"product", "set", "--product", "acme-cad"},
		{"sign", req, "-o", "license-out.txt"},
	}
}

// Only init creates a ledger. Every other command refuses a ledger that
// is missing, empty, not a ledger or newer, says which and where, and
// leaves no file behind; a junk ledger.url is refused without echoing it.
func TestOnlyInitCreatesLedger(t *testing.T) {
	t.Parallel()
	e := newEnv(t).on(machineA.tree(t))
	desk, vk := initDesk(t, e)
	key := createLicense(t, e, desk)
	req := request(t, e, filepath.Join(t.TempDir(), "s"), vk, key)
	all := append(readCommands(key), writeCommands(req)...)
	ledgerDB := filepath.Join(desk, "ledger.db")

	run := func(t *testing.T, e *env, args []string, code int, wants ...string) {
		t.Helper()
		o := e.vendor(append([]string{"--dir", desk}, args...)...)
		expect(t, o, code)
		for _, w := range wants {
			expectContains(t, "stderr", o.stderr, w)
		}
		expectNotContains(t, "stderr", o.stderr, "no licenses yet")
		expectNoFile(t, filepath.Join(e.work, "license-out.txt"))
	}

	t.Run("missing", func(t *testing.T) {
		typo := filepath.Join(t.TempDir(), "typo.db")
		for _, args := range all {
			run(t, e, append([]string{"--db", typo}, args...), exitNoLedger, "no ledger at "+typo+" (from --db): the file does not exist", "only `airlock-vendor init` creates a ledger")
			run(t, e.with("AIRLOCK_VENDOR_DB", typo), args, exitNoLedger, "no ledger at "+typo+" (from $AIRLOCK_VENDOR_DB)")
		}
		other := filepath.Join(t.TempDir(), "desk")
		if err := os.MkdirAll(other, 0o700); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"vendor.key", "vendor.pub"} {
			writeFile(t, filepath.Join(other, f), readFile(t, filepath.Join(desk, f)))
		}
		writeFile(t, filepath.Join(other, "ledger.url"), []byte(typo+"\n"))
		o := e.vendor("--dir", other, "license", "list")
		expect(t, o, exitNoLedger)
		expectContains(t, "stderr", o.stderr, "no ledger at "+typo+" (from "+filepath.Join(other, "ledger.url")+")")
		if _, err := os.Stat(typo); err == nil {
			t.Fatalf("%s was created", typo)
		}
	})

	t.Run("junk ledger.url", func(t *testing.T) {
		other := filepath.Join(t.TempDir(), "desk")
		for _, f := range []string{"vendor.key", "vendor.pub"} {
			writeFile(t, filepath.Join(other, f), readFile(t, filepath.Join(desk, f)))
		}
		for _, junk := range []string{"SECRET-junk-1234", "relative/SECRET.db", "SECRET\x00\x01\x02", "postgres://SECRET:%zz@"} {
			writeFile(t, filepath.Join(other, "ledger.url"), []byte(junk+"\n"))
			before, _ := os.ReadDir(e.work)
			for _, args := range all {
				o := e.vendor(append([]string{"--dir", other}, args...)...)
				expect(t, o, 1)
				expectContains(t, "stderr", o.stderr, filepath.Join(other, "ledger.url")+" does not name a ledger")
				expectNotContains(t, "stderr", o.stderr, "SECRET")
			}
			if after, _ := os.ReadDir(e.work); len(after) != len(before) {
				t.Errorf("ledger.url %q: files created in the working directory: %v", junk, after)
			}
		}
	})

	t.Run("empty", func(t *testing.T) {
		empty := filepath.Join(t.TempDir(), "ledger.db")
		writeFile(t, empty, nil)
		for _, args := range all {
			run(t, e, append([]string{"--db", empty}, args...), exitNoLedger, "the ledger "+empty+" (from --db) is empty")
		}
		if fi, err := os.Stat(empty); err != nil || fi.Size() != 0 {
			t.Fatalf("the empty ledger was written to: %v %v", fi, err)
		}
	})

	t.Run("not a ledger", func(t *testing.T) {
		other := filepath.Join(t.TempDir(), "notes.db")
		execSQLite(t, other, "CREATE TABLE notes (body TEXT)")
		text := filepath.Join(t.TempDir(), "text.db")
		writeFile(t, text, []byte(strings.Repeat("a text file, not a database\n", 100)))
		for _, args := range all {
			run(t, e, append([]string{"--db", other}, args...), exitNotLedger, other, "not an airlock ledger")
			run(t, e, append([]string{"--db", text}, args...), exitNotLedger, text, "not an airlock ledger")
		}
	})

	t.Run("newer schema", func(t *testing.T) {
		newer := filepath.Join(t.TempDir(), "ledger.db")
		writeFile(t, newer, readFileSettled(t, e, desk))
		execSQLite(t, newer, "PRAGMA user_version = 99")
		for _, args := range all {
			run(t, e, append([]string{"--db", newer}, args...), exitNotLedger, newer, "newer than this program supports", "file has version 99")
		}
	})

	// The desk's own ledger still works, and was never touched.
	o := e.vendor("--dir", desk, "license", "list", "--json")
	expectOK(t, o)
	if _, err := os.Stat(ledgerDB); err != nil {
		t.Fatal(err)
	}
}

// readFileSettled returns a copy of the desk's ledger with everything in
// it (a read-only command leaves the WAL checkpointed).
func readFileSettled(t *testing.T, e *env, desk string) []byte {
	t.Helper()
	db := filepath.Join(desk, "ledger.db")
	execSQLite(t, db, "PRAGMA wal_checkpoint(TRUNCATE)")
	return readFile(t, db)
}

// execSQLite runs statements on a SQLite file, as its owner could.
func execSQLite(t *testing.T, path string, stmts ...string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// sqliteProblems runs integrity_check on a SQLite file: "" if it is whole.
func sqliteProblems(t *testing.T, path string) string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query("PRAGMA integrity_check")
	if err != nil {
		return err.Error()
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return err.Error()
		}
		if s != "ok" {
			out = append(out, s)
		}
	}
	if err := rows.Err(); err != nil {
		out = append(out, err.Error())
	}
	return strings.Join(out, "; ")
}

// requestFolder makes n requests from n installations of license key in
// a new folder, as sign --batch reads them.
func requestFolder(t *testing.T, e *env, vk, key string, n int) string {
	t.Helper()
	dir := t.TempDir()
	for i := 0; i < n; i++ {
		req := request(t, e, filepath.Join(t.TempDir(), "s"), vk, key)
		writeFile(t, filepath.Join(dir, fmt.Sprintf("req-%02d.txt", i)), readFile(t, req))
	}
	return dir
}

// licenseFiles lists the license files in a batch folder.
func licenseFiles(t *testing.T, dir string) []string {
	t.Helper()
	l, err := filepath.Glob(filepath.Join(dir, "*.license.txt"))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// A ledger whose index of active seats is damaged is refused for writing:
// re-signing the same installations takes no seat more, and writes no
// license; ledger check says what is wrong. Then every byte-flipped copy
// of a ledger that SQLite's integrity_check finds damaged is refused for
// signing.
func TestDamagedLedger(t *testing.T) {
	t.Parallel()
	e := newEnv(t).on(machineA.tree(t))
	desk, vk := initDesk(t, e)
	key := createLicense(t, e, desk, "--max-machines", "100")
	batch := requestFolder(t, e, vk, key, 30)
	expectOK(t, e.vendor("--dir", desk, "sign", "--batch", batch))
	if n := len(licenseFiles(t, batch)); n != 30 {
		t.Fatalf("%d licenses, want 30", n)
	}
	if ls := licenseShow(t, e, desk, key); *ls.SeatsUsed != 30 {
		t.Fatalf("seats %d, want 30", *ls.SeatsUsed)
	}
	good := readFileSettled(t, e, desk)

	t.Run("seat index", func(t *testing.T) {
		db := filepath.Join(t.TempDir(), "ledger.db")
		writeFile(t, db, good)
		damageIndex(t, db, "activations_active_seat")
		if p := sqliteProblems(t, db); p == "" {
			t.Fatal("the damaged index passes integrity_check: the test proves nothing")
		}
		for _, f := range licenseFiles(t, batch) {
			os.Remove(f)
		}
		o := e.vendor("--dir", desk, "--db", db, "sign", "--batch", batch)
		expect(t, o, exitDamaged)
		expectContains(t, "stderr", o.stderr, "the ledger "+db+" (from --db): ledger: the ledger is damaged")
		expectContains(t, "stderr", o.stderr, "airlock-vendor ledger check")
		expectContains(t, "stderr", o.stderr, "docs/ledger.md")
		if l := licenseFiles(t, batch); len(l) != 0 {
			t.Fatalf("licenses written on a damaged ledger: %v", l)
		}
		o = e.vendor("--dir", desk, "--db", db, "license", "list", "--json")
		expectOK(t, o)
		if l := decodeJSON[[]struct {
			SeatsUsed int `json:"seats_used"`
		}](t, o); len(l) != 1 || l[0].SeatsUsed != 30 {
			t.Fatalf("seats after signing on a damaged ledger: %+v", l)
		}
		o = e.vendor("--dir", desk, "--db", db, "ledger", "check")
		expect(t, o, exitDamaged)
		expectContains(t, "stdout", o.stdout, "activations_active_seat")
		expectContains(t, "stderr", o.stderr, "fails its checks")
		o = e.vendor("--dir", desk, "--db", db, "ledger", "check", "--json")
		expect(t, o, exitDamaged)
		if j := decodeJSON[struct {
			OK        bool     `json:"ok"`
			Integrity []string `json:"integrity"`
		}](t, o); j.OK || len(j.Integrity) == 0 {
			t.Fatalf("ledger check --json: %+v", j)
		}
	})

	t.Run("byte flips", func(t *testing.T) {
		req := request(t, e, filepath.Join(t.TempDir(), "new"), vk, key)
		r := rand.New(rand.NewPCG(12, 34))
		damaged := 0
		for i := 0; i < 200 && damaged < 20; i++ {
			db := filepath.Join(t.TempDir(), "ledger.db")
			b := append([]byte(nil), good...)
			// Past the 100-byte header, which names the file's format.
			off := 100 + r.IntN(len(b)-100)
			b[off] ^= byte(1 + r.IntN(255))
			writeFile(t, db, b)
			problems := sqliteProblems(t, db)
			if problems == "" {
				continue
			}
			damaged++
			out := filepath.Join(t.TempDir(), "license.txt")
			o := e.vendor("--dir", desk, "--db", db, "sign", req, "-o", out)
			if o.code == 0 {
				t.Errorf("byte %d flipped (integrity_check: %s): the desk signed\n%s", off, problems, o)
			}
			expectNotContains(t, "stderr", o.stderr, "malformed (11)")
			expectNoFile(t, out)
			o = e.vendor("--dir", desk, "--db", db, "ledger", "check")
			if o.code == 0 {
				t.Errorf("byte %d flipped (integrity_check: %s): ledger check passed\n%s", off, problems, o)
			}
		}
		t.Logf("%d damaged copies, each refused", damaged)
		if damaged < 10 {
			t.Fatalf("only %d flips damaged the ledger: the test proves little", damaged)
		}
	})
}

// damageIndex flips a byte in the last cell of every leaf page of the
// index, as a bad sector or a stray write would, leaving its pages well
// formed (quick_check passes) but its entries wrong.
func damageIndex(t *testing.T, db, index string) {
	t.Helper()
	conn, err := sql.Open("sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	var root, pageSize int64
	if err := conn.QueryRow(`SELECT rootpage FROM sqlite_schema WHERE name = ?`, index).Scan(&root); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(`PRAGMA page_size`).Scan(&pageSize); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	f, err := os.OpenFile(db, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// The root page (30 entries fit one page): its last bytes are the end
	// of its last cell, the rowid and fingerprint of an entry.
	off := root*pageSize - 3
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x5a
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// mountReadOnly makes a read-only view of dir: a read-only bind mount for
// root (who ignores file modes), else dir itself with its write
// permissions taken away; it skips the test where it can do neither.
func mountReadOnly(t *testing.T, dir string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			if err := os.Chmod(filepath.Join(dir, e.Name()), 0o444); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Chmod(dir, 0o555); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(dir, 0o755) }) // so that the test's cleanup can remove it
		return dir
	}
	ro := t.TempDir()
	if out, err := exec.Command("mount", "--bind", dir, ro).CombinedOutput(); err != nil {
		t.Skipf("cannot bind-mount: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", ro).Run() })
	if out, err := exec.Command("mount", "-o", "remount,ro,bind", ro).CombinedOutput(); err != nil {
		t.Skipf("cannot remount read-only: %v %s", err, out)
	}
	return ro
}

// Reading commands work on a ledger on read-only storage; writing ones say
// "the ledger is on read-only storage", never a SQLite error number.
func TestReadOnlyLedger(t *testing.T) {
	t.Parallel()
	e := newEnv(t).on(machineA.tree(t))
	desk, vk := initDesk(t, e)
	key := createLicense(t, e, desk)
	state := filepath.Join(t.TempDir(), "s")
	activate(t, e, state, vk, sign(t, e, desk, request(t, e, state, vk, key)))
	// A snapshot as an auditor gets it: the file alone, closed cleanly.
	snap := t.TempDir()
	writeFile(t, filepath.Join(snap, "ledger.db"), readFileSettled(t, e, desk))
	ro := mountReadOnly(t, snap)
	db := filepath.Join(ro, "ledger.db")

	for _, args := range readCommands(key) {
		o := e.vendor(append([]string{"--dir", desk, "--db", db}, args...)...)
		expectOK(t, o)
	}
	o := e.vendor("--dir", desk, "--db", db, "license", "show", key, "--json")
	expectOK(t, o)
	expectContains(t, "license show", o.stdout, `"seats_used": 1`)
	o = e.vendor("--dir", desk, "--db", db, "ledger", "export", "--json")
	expectOK(t, o)
	expectContains(t, "ledger export", o.stdout, key)
	expectOK(t, e.vendor("--dir", desk, "--db", db, "ledger", "backup", filepath.Join(t.TempDir(), "copy.db")))

	req := request(t, e, filepath.Join(t.TempDir(), "s2"), vk, key)
	for _, args := range writeCommands(req) {
		o := e.vendor(append([]string{"--dir", desk, "--db", db}, args...)...)
		expect(t, o, exitReadOnly)
		expectContains(t, "stderr", o.stderr, "the ledger is on read-only storage")
		for _, bad := range []string{"(14)", "(8)", "unable to open", "readonly database"} {
			expectNotContains(t, "stderr", o.stderr, bad)
		}
	}

	// The desk's ledger itself, on a read-only mount with its -wal and
	// -shm files as a running desk leaves them.
	o = e.vendor("--dir", desk, "license", "list") // makes sure the ledger is there
	expectOK(t, o)
	roDesk := mountReadOnly(t, desk)
	for _, args := range readCommands(key) {
		expectOK(t, e.vendor(append([]string{"--dir", roDesk}, args...)...))
	}
}

// A full disk at open or at a write says "disk full".
func TestDiskFullLedger(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("a small file system needs root")
	}
	e := newEnv(t).on(machineA.tree(t))
	desk, vk := initDesk(t, e)
	key := createLicense(t, e, desk, "--max-machines", "1000")
	small := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", small).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", small).Run() })
	db := filepath.Join(small, "ledger.db")
	writeFile(t, db, readFileSettled(t, e, desk))
	// Fill the disk.
	fill, err := os.Create(filepath.Join(small, "fill"))
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 4096)
	for {
		if _, err := fill.Write(chunk); err != nil {
			break
		}
	}
	fill.Close()
	req := request(t, e, filepath.Join(t.TempDir(), "s"), vk, key)
	out := filepath.Join(t.TempDir(), "license.txt")
	o := e.vendor("--dir", desk, "--db", db, "sign", req, "-o", out)
	expect(t, o, exitDiskFull)
	expectContains(t, "stderr", o.stderr, "disk full")
	expectNotContains(t, "stderr", o.stderr, "(4874)")
	expectNotContains(t, "stderr", o.stderr, "(13)")
	expectNoFile(t, out)
	// Reading still works.
	expectOK(t, e.vendor("--dir", desk, "--db", db, "license", "list"))
}

// ledger backup makes a copy, consistent and checked, that opens as the
// same ledger, and never replaces a file.
func TestLedgerBackup(t *testing.T) {
	t.Parallel()
	e := newEnv(t).on(machineA.tree(t))
	desk, vk := initDesk(t, e)
	key := createLicense(t, e, desk)
	state := filepath.Join(t.TempDir(), "s")
	activate(t, e, state, vk, sign(t, e, desk, request(t, e, state, vk, key)))
	copyPath := filepath.Join(t.TempDir(), "backup.db")
	o := e.vendor("--dir", desk, "ledger", "backup", copyPath)
	expectOK(t, o)
	head := strings.TrimSpace(o.stdout)
	o = e.vendor("--dir", desk, "audit", "verify")
	expectOK(t, o)
	if strings.TrimSpace(o.stdout) != head {
		t.Fatalf("backup head %q, ledger head %q", head, o.stdout)
	}
	o = e.vendor("--dir", desk, "--db", copyPath, "ledger", "check")
	expectOK(t, o)
	o = e.vendor("--dir", desk, "--db", copyPath, "license", "show", key, "--json")
	expectOK(t, o)
	expectContains(t, "license show", o.stdout, `"seats_used": 1`)
	if fi, _ := os.Stat(copyPath); fi.Mode().Perm() != 0o600 {
		t.Errorf("backup mode %v, want 0600", fi.Mode().Perm())
	}
	o = e.vendor("--dir", desk, "ledger", "backup", copyPath)
	expect(t, o, 1)
	expectContains(t, "stderr", o.stderr, "already exists")
}

// deadPID returns the id of a process that has ended.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skip("cannot run true:", err)
	}
	return cmd.Process.Pid
}

// A license whose seat is recorded but whose file cannot be written has
// its own exit code and JSON result; the same command again writes the
// same license without another seat. Temporary files that a killed run
// left in the folder are removed by the next run; a live writer's are not.
func TestLicenseNotWritten(t *testing.T) {
	t.Parallel()
	e := newEnv(t).on(machineA.tree(t))
	desk, vk := initDesk(t, e)
	key := createLicense(t, e, desk, "--max-machines", "10")
	batch := requestFolder(t, e, vk, key, 3)

	dead, live := deadPID(t), os.Getpid()
	staleTmp := filepath.Join(batch, fmt.Sprintf(".req-00.license.txt.tmp-%d-1234", dead))
	liveTmp := filepath.Join(batch, fmt.Sprintf(".req-01.license.txt.tmp-%d-5678", live))
	otherTmp := filepath.Join(batch, fmt.Sprintf(".notes.txt.tmp-%d-1", dead))
	for _, p := range []string{staleTmp, liveTmp, otherTmp} {
		writeFile(t, p, []byte("half a lic"))
	}
	// Where req-02's license goes, a folder: its rename must fail.
	blocker := filepath.Join(batch, "req-02.license.txt")
	if err := os.Mkdir(blocker, 0o755); err != nil {
		t.Fatal(err)
	}
	o := e.vendor("--dir", desk, "sign", "--batch", batch, "--json")
	expect(t, o, exitNotWritten)
	expectContains(t, "stderr", o.stderr, "req-02.txt: LICENSE_NOT_WRITTEN: the seat is recorded but the license could not be written")
	expectContains(t, "stderr", o.stderr, "run the same command again")
	expectContains(t, "stderr", o.stderr, "removed 1 temporary file(s) left by an interrupted run")
	type result struct {
		Request      string `json:"request"`
		License      string `json:"license"`
		Result       string `json:"result"`
		ExitCode     int    `json:"exit_code"`
		SeatRecorded bool   `json:"seat_recorded"`
		ActivationID string `json:"activation_id"`
	}
	j := decodeJSON[struct {
		Total, Signed int
		NotWritten    int `json:"not_written"`
		Refused       int
		ExitCode      int `json:"exit_code"`
		Results       []result
	}](t, o)
	if j.Total != 3 || j.Signed != 2 || j.NotWritten != 1 || j.Refused != 0 || j.ExitCode != exitNotWritten || len(j.Results) != 3 {
		t.Fatalf("sign --batch --json: %+v", j)
	}
	r := j.Results[2]
	if r.Request != "req-02.txt" || r.Result != "LICENSE_NOT_WRITTEN" || r.ExitCode != exitNotWritten || !r.SeatRecorded || r.ActivationID == "" {
		t.Fatalf("the unwritten license's result: %+v", r)
	}
	if j.Results[0].Result != "SIGNED" || j.Results[0].ExitCode != 0 || !j.Results[0].SeatRecorded {
		t.Fatalf("a written license's result: %+v", j.Results[0])
	}
	if _, err := os.Stat(staleTmp); err == nil {
		t.Error("a killed run's temporary file is still there")
	}
	for _, p := range []string{liveTmp, otherTmp} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s was removed: %v", filepath.Base(p), err)
		}
	}
	if ls := licenseShow(t, e, desk, key); *ls.SeatsUsed != 3 {
		t.Fatalf("seats %d, want 3", *ls.SeatsUsed)
	}
	// Again, with room: the same license, no other seat.
	os.Remove(blocker)
	o = e.vendor("--dir", desk, "sign", "--batch", batch, "--json")
	expectOK(t, o)
	again := decodeJSON[struct{ Results []result }](t, o)
	if again.Results[2].Result != "SIGNED" || again.Results[2].ActivationID != r.ActivationID {
		t.Fatalf("the second run: %+v, want activation %s", again.Results[2], r.ActivationID)
	}
	if ls := licenseShow(t, e, desk, key); *ls.SeatsUsed != 3 {
		t.Fatalf("seats %d after running again, want 3", *ls.SeatsUsed)
	}
	o = e.vendor("--dir", desk, "inspect", "--json", filepath.Join(batch, "req-02.license.txt"))
	expectOK(t, o)
	expectContains(t, "inspect", o.stdout, `"verified": true`)

	// One request: a folder where the license should go.
	req := filepath.Join(batch, "req-00.txt")
	outDir := filepath.Join(t.TempDir(), "license.txt")
	if err := os.Mkdir(outDir, 0o755); err != nil {
		t.Fatal(err)
	}
	o = e.vendor("--dir", desk, "sign", req, "-o", outDir, "--json")
	expect(t, o, exitNotWritten)
	expectContains(t, "stderr", o.stderr, "LICENSE_NOT_WRITTEN: the seat is recorded but the license could not be written")
	one := decodeJSON[result](t, o)
	if one.Result != "LICENSE_NOT_WRITTEN" || one.ExitCode != exitNotWritten || !one.SeatRecorded || one.License != outDir {
		t.Fatalf("sign --json: %+v", one)
	}
	o = e.vendor("--dir", desk, "sign", req, "-o", filepath.Join(t.TempDir(), "missing", "license.txt"))
	expect(t, o, exitNotWritten)
	// A refusal has its code in the same shape.
	o = e.vendor("--dir", desk, "sign", filepath.Join(batch, "req-01.license.txt"), "-o", filepath.Join(t.TempDir(), "x.txt"), "--json")
	expect(t, o, 27)
	if one := decodeJSON[result](t, o); one.Result != "MALFORMED" || one.ExitCode != 27 || one.SeatRecorded {
		t.Fatalf("sign --json of a license: %+v", one)
	}
	// A single sign removes its output's leftovers too.
	out := filepath.Join(t.TempDir(), "license.txt")
	stale := filepath.Join(filepath.Dir(out), fmt.Sprintf(".license.txt.tmp-%d-99", dead))
	writeFile(t, stale, []byte("half"))
	expectOK(t, e.vendor("--dir", desk, "sign", req, "-o", out))
	if _, err := os.Stat(stale); err == nil {
		t.Error("sign -o left a killed run's temporary file")
	}
}

// Every command that changes the ledger signs the audit log's head; the
// checkpoint, kept elsewhere, proves that a later log extends it: dropping
// the newest entries or re-hashing the chain after an edit is detected,
// though the chain alone verifies.
func TestAuditCheckpoint(t *testing.T) {
	t.Parallel()
	e := newEnv(t).on(machineA.tree(t))
	desk, vk := initDesk(t, e)
	key := createLicense(t, e, desk, "--max-machines", "5")
	state := filepath.Join(t.TempDir(), "s")
	activate(t, e, state, vk, sign(t, e, desk, request(t, e, state, vk, key)))

	cp := filepath.Join(t.TempDir(), "checkpoint.txt")
	o := e.vendor("--dir", desk, "audit", "checkpoint", "-o", cp)
	expectOK(t, o)
	expectContains(t, "stderr", o.stderr, "checkpoint of audit entry 3 (of 4)")
	expectContains(t, "checkpoint", string(readFile(t, cp)), "-----BEGIN AIRLOCK AUDIT CHECKPOINT-----")
	o = e.vendor("--dir", desk, "audit", "list")
	expectOK(t, o)
	if n := strings.Count(o.stdout, "audit.checkpoint"); n != 2 {
		t.Fatalf("%d checkpoints in the log after two commands that changed it, want 2\n%s", n, o.stdout)
	}

	// More work; the log still extends the checkpoint.
	state2 := filepath.Join(t.TempDir(), "s2")
	sign(t, e, desk, request(t, e, state2, vk, key))
	o = e.vendor("--dir", desk, "audit", "verify", "--checkpoint", cp)
	expectOK(t, o)
	expectContains(t, "stderr", o.stderr, "extending the checkpoint of entry 3")
	o = e.vendor("--dir", desk, "ledger", "check")
	expectOK(t, o)
	expectContains(t, "stdout", o.stdout, "checkpoints:  ok, the newest signs entry")

	tamper := func(t *testing.T, stmts ...string) string {
		copyDB := filepath.Join(t.TempDir(), "ledger.db")
		writeFile(t, copyDB, readFileSettled(t, e, desk))
		execSQLite(t, copyDB, append([]string{"DROP TRIGGER audit_no_update", "DROP TRIGGER audit_no_delete"}, stmts...)...)
		return copyDB
	}
	t.Run("newest entries dropped", func(t *testing.T) {
		copyDB := tamper(t, "DELETE FROM audit WHERE seq >= 3")
		expectOK(t, e.vendor("--dir", desk, "--db", copyDB, "audit", "verify")) // the chain alone cannot tell
		o := e.vendor("--dir", desk, "--db", copyDB, "audit", "verify", "--checkpoint", cp)
		expect(t, o, 1)
		expectContains(t, "stderr", o.stderr, "does not extend the checkpoint of entry 3")
	})
	t.Run("chain re-hashed", func(t *testing.T) {
		// Edit entry 1 and re-hash every entry after it, as an insider
		// with the ledger could: the chain verifies again.
		copyDB := tamper(t)
		rehash(t, copyDB)
		// The chain verifies again (an auditor's copy without the
		// desk's public key passes); the checkpoints kept in the ledger,
		// signed over the old hashes, do not.
		expectOK(t, e.vendor("--dir", t.TempDir(), "--db", copyDB, "ledger", "check"))
		o := e.vendor("--dir", desk, "--db", copyDB, "audit", "verify")
		expect(t, o, 1)
		expectContains(t, "stderr", o.stderr, "names entry")
		o = e.vendor("--dir", desk, "--db", copyDB, "ledger", "check")
		expect(t, o, exitDamaged)
		expectContains(t, "stdout", o.stdout, "checkpoints:  audit entry")
		o = e.vendor("--dir", desk, "--db", copyDB, "audit", "verify", "--checkpoint", cp)
		expect(t, o, 1)
		expectContains(t, "stderr", o.stderr, "does not extend the checkpoint of entry 3")
	})
	t.Run("forged checkpoint", func(t *testing.T) {
		b := readFile(t, cp)
		forged := filepath.Join(t.TempDir(), "forged.txt")
		writeFile(t, forged, []byte(strings.Replace(string(b), "\n", "\nAAAA", 1)))
		o := e.vendor("--dir", desk, "audit", "verify", "--checkpoint", forged)
		if o.code == 0 {
			t.Fatalf("a forged checkpoint verified\n%s", o)
		}
	})
}

// rehash edits the first audit entry of a SQLite ledger and recomputes
// every hash of the chain after it, as docs/ledger.md and the ledger
// package document them: SHA-256 over the core deterministic CBOR array
// [seq, at, action, license key, detail, previous hash].
func rehash(t *testing.T, path string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query("SELECT seq, at, action, license_key, detail FROM audit ORDER BY seq")
	if err != nil {
		t.Fatal(err)
	}
	type entry struct {
		seq, at                     int64
		action, licenseKey, details string
	}
	var es []entry
	for rows.Next() {
		var e entry
		if err := rows.Scan(&e.seq, &e.at, &e.action, &e.licenseKey, &e.details); err != nil {
			t.Fatal(err)
		}
		es = append(es, e)
	}
	rows.Close()
	es[0].details = "license created for someone else"
	em, err := cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		t.Fatal(err)
	}
	prev := make([]byte, 32)
	for _, e := range es {
		b, err := em.Marshal([]any{e.seq, e.at, e.action, e.licenseKey, e.details, prev})
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.Sum256(b)
		if _, err := db.Exec("UPDATE audit SET detail = ?, prev = ?, hash = ? WHERE seq = ?", e.details, prev, h[:], e.seq); err != nil {
			t.Fatal(err)
		}
		prev = h[:]
	}
}

// A ledger whose -wal file was deleted after a crash, while it held
// committed transactions, is refused: its -shm file says so.
func TestWALDeleted(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	desk, _ := initDesk(t, e)
	key := createLicense(t, e, desk)
	readFileSettled(t, e, desk)
	// A writer that has committed and not yet checkpointed, as a desk
	// killed at that moment leaves the files.
	db, err := sql.Open("sqlite", filepath.Join(desk, "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("PRAGMA journal_mode = WAL; UPDATE licenses SET licensee = licensee || ' GmbH'"); err != nil {
		t.Fatal(err)
	}
	crashed := filepath.Join(t.TempDir(), "crashed")
	for _, s := range []string{"", "-wal", "-shm"} {
		writeFile(t, filepath.Join(crashed, "ledger.db"+s), readFile(t, filepath.Join(desk, "ledger.db"+s)))
	}
	copyDB := filepath.Join(crashed, "ledger.db")
	// The crashed copy opens, and holds the last commit.
	o := e.vendor("--dir", desk, "--db", copyDB, "license", "show", key)
	expectOK(t, o)
	expectContains(t, "license show", o.stdout, "ACME Corp GmbH")
	// Again, with the -wal file deleted "to clean up".
	for _, s := range []string{"", "-wal", "-shm"} {
		writeFile(t, filepath.Join(crashed, "again", "ledger.db"+s), readFile(t, filepath.Join(desk, "ledger.db"+s)))
	}
	copyDB = filepath.Join(crashed, "again", "ledger.db")
	if err := os.Remove(copyDB + "-wal"); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"license", "list"}, {"license", "create", "--product", "p", "--licensee", "l"}} {
		o = e.vendor(append([]string{"--dir", desk, "--db", copyDB}, args...)...)
		expect(t, o, exitDamaged)
		expectContains(t, "stderr", o.stderr, "write-ahead log (its -wal file) is missing")
		expectContains(t, "stderr", o.stderr, "never delete a ledger's -wal file")
	}
}

// A batch on a full disk says "disk full" with its exit code, and writes
// no license.
func TestDiskFullBatch(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("a small file system needs root")
	}
	e := newEnv(t).on(machineA.tree(t))
	desk, vk := initDesk(t, e)
	key := createLicense(t, e, desk, "--max-machines", "1000")
	batch := requestFolder(t, e, vk, key, 3)
	small := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", small).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", small).Run() })
	db := filepath.Join(small, "ledger.db")
	writeFile(t, db, readFileSettled(t, e, desk))
	fill, err := os.Create(filepath.Join(small, "fill"))
	if err != nil {
		t.Fatal(err)
	}
	for chunk := make([]byte, 4096); ; {
		if _, err := fill.Write(chunk); err != nil {
			break
		}
	}
	fill.Close()
	o := e.vendor("--dir", desk, "--db", db, "sign", "--batch", batch)
	expect(t, o, exitDiskFull)
	expectContains(t, "stderr", o.stderr, "disk full")
	if l := licenseFiles(t, batch); len(l) != 0 {
		t.Fatalf("licenses written: %v", l)
	}
}

// On a terminal, sign --batch shows every phase to its end, with its rate
// and time: not a bar that is full after the checks and then silent.
func TestBatchProgress(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("script"); err != nil {
		t.Skip("no script(1) to run the desk on a terminal")
	}
	e := newEnv(t).on(machineA.tree(t))
	desk, vk := initDesk(t, e)
	key := createLicense(t, e, desk, "--max-machines", "10")
	batch := requestFolder(t, e, vk, key, 4)
	quote := func(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
	line := strings.Join([]string{quote(vendorBin), "--dir", quote(desk), "sign", "--batch", quote(batch)}, " ")
	cmd := exec.Command("script", "-qec", line, "/dev/null")
	cmd.Env = e.environ()
	cmd.Dir = e.work
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	text := string(out)
	for _, phase := range []string{"opening the desk", "reading, checking, signing", "recording in the ledger", "writing licenses", "syncing to disk", "putting in place"} {
		if !strings.Contains(text, phase) {
			t.Errorf("no phase %q on the terminal:\n%q", phase, text)
		}
	}
	for _, end := range []string{"] 4/4  ", "/s"} {
		if !strings.Contains(text, end) {
			t.Errorf("no %q on the terminal:\n%q", end, text)
		}
	}
	expectContains(t, "terminal", text, "signed 4 of 4 requests")
}
