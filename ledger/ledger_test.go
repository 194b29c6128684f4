package ledger

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.UTC)

// openTemp opens a new SQLite ledger, for the tests of SQLite's own
// settings and file; the other tests run on every backend (forEachBackend).
func openTemp(t *testing.T) (*Ledger, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ledger.db")
	l, err := Open(path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l, path
}

func testLicense(key string, maxMachines int) *License {
	return &License{
		Key:          key,
		Product:      "acme-cad",
		Licensee:     "Example GmbH",
		MaxMachines:  maxMachines,
		Expires:      t0.AddDate(1, 0, 0),
		LeasePeriod:  30 * 24 * time.Hour,
		Features:     map[string]uint64{"export": 0, "render-nodes": 8, "big": 1<<64 - 1},
		Confidential: map[string]string{"licensee-secret": "hunter2\nline two", "totp-seed": "JBSWY3DPEHPK3PXP"},
		MatchPolicy:  "atleast:2",
		Created:      t0,
	}
}

func mustCreate(t *testing.T, l *Ledger, lic *License) {
	t.Helper()
	if err := l.CreateLicense(context.Background(), lic); err != nil {
		t.Fatalf("CreateLicense: %v", err)
	}
}

// activation returns an activation for the installation "machine": its
// install key and fingerprint are derived from it, the rest from id.
func activation(licenseKey string, machine byte, id string) *Activation {
	return &Activation{
		ID:          id,
		LicenseKey:  licenseKey,
		InstallKey:  bytes.Repeat([]byte{machine}, 32),
		Fingerprint: bytes.Repeat([]byte{machine ^ 0xff}, 16),
		RequestHash: bytes.Repeat([]byte(id[:1]), 32),
		Issued:      t0.Add(time.Duration(machine) * time.Minute),
		LeaseUntil:  t0.Add(30 * 24 * time.Hour),
		License:     []byte("signed license for " + id),
	}
}

func TestCreateGetList(t *testing.T) { forEachBackend(t, testCreateGetList) }

func testCreateGetList(t *testing.T, bk testBackend) {
	ctx := context.Background()
	l, _ := bk.open(t)

	b := testLicense("BBBB-0002", 3)
	a := testLicense("AAAA-0001", 1)
	a.Created = t0.Add(time.Hour) // created later than b, listed after it
	c := &License{Key: "CCCC-0003", Product: "acme-cad", MaxMachines: 2, Created: t0}
	for _, lic := range []*License{a, b, c} {
		mustCreate(t, l, lic)
	}

	got, err := l.GetLicense(ctx, b.Key)
	if err != nil {
		t.Fatalf("GetLicense: %v", err)
	}
	if !reflect.DeepEqual(got, b) {
		t.Errorf("GetLicense round trip:\n got %#v\nwant %#v\nconfidential got %v want %v", got, b, got.Confidential, b.Confidential)
	}
	gotC, err := l.GetLicense(ctx, c.Key)
	if err != nil {
		t.Fatalf("GetLicense: %v", err)
	}
	if !gotC.Expires.IsZero() || gotC.LeasePeriod != 0 || gotC.Features != nil || gotC.Confidential != nil {
		t.Errorf("zero fields did not round-trip as zero: %v", gotC)
	}

	if _, err := l.GetLicense(ctx, "NOPE-0000"); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetLicense(unknown) = %v, want ErrNotFound", err)
	}

	// Same created time for b and c: ordered by key. a was created later.
	list, err := l.ListLicenses(ctx)
	if err != nil {
		t.Fatalf("ListLicenses: %v", err)
	}
	var keys []string
	for _, lic := range list {
		keys = append(keys, lic.Key)
	}
	if want := []string{"BBBB-0002", "CCCC-0003", "AAAA-0001"}; !reflect.DeepEqual(keys, want) {
		t.Errorf("ListLicenses order = %v, want %v", keys, want)
	}
	if !reflect.DeepEqual(list[0], *b) {
		t.Errorf("ListLicenses[0] = %#v, want %#v", list[0], *b)
	}
}

func TestCreateLicenseDuplicate(t *testing.T) { forEachBackend(t, testCreateLicenseDuplicate) }

func testCreateLicenseDuplicate(t *testing.T, b testBackend) {
	ctx := context.Background()
	l, _ := b.open(t)
	mustCreate(t, l, testLicense("DUPE-0001", 2))

	other := testLicense("DUPE-0001", 9)
	other.Product = "other"
	if err := l.CreateLicense(ctx, other); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate CreateLicense = %v, want ErrExists", err)
	}
	got, err := l.GetLicense(ctx, "DUPE-0001")
	if err != nil {
		t.Fatal(err)
	}
	if got.Product != "acme-cad" || got.MaxMachines != 2 {
		t.Errorf("duplicate overwrote the license: %v", got)
	}
}

func TestCreateLicenseSetsCreated(t *testing.T) { forEachBackend(t, testCreateLicenseSetsCreated) }

func testCreateLicenseSetsCreated(t *testing.T, b testBackend) {
	l, _ := b.open(t)
	lic := testLicense("TIME-0001", 1)
	lic.Created = time.Time{}
	before := time.Now()
	mustCreate(t, l, lic)
	if lic.Created.Before(before.Add(-time.Second)) || lic.Created.After(time.Now().Add(time.Second)) {
		t.Errorf("Created = %v, want about now", lic.Created)
	}
	got, err := l.GetLicense(context.Background(), lic.Key)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Created.Equal(lic.Created) {
		t.Errorf("stored Created = %v, want %v", got.Created, lic.Created)
	}
}

func TestCreateLicenseInvalid(t *testing.T) { forEachBackend(t, testCreateLicenseInvalid) }

func testCreateLicenseInvalid(t *testing.T, b testBackend) {
	const secret = "s3cr3t-value"
	tests := []struct {
		name   string
		modify func(*License)
	}{
		{"empty key", func(l *License) { l.Key = "" }},
		{"key with space", func(l *License) { l.Key = "AB " + secret }},
		{"key with newline", func(l *License) { l.Key = secret + "\n" }},
		{"key not ascii", func(l *License) { l.Key = secret + "é" }},
		{"key too long", func(l *License) { l.Key = strings.Repeat("K", 129) }},
		{"empty product", func(l *License) { l.Product = "" }},
		{"product with control", func(l *License) { l.Product = secret + "\x1b[31m" }},
		{"licensee invalid utf8", func(l *License) { l.Licensee = secret + "\xff" }},
		{"zero machines", func(l *License) { l.MaxMachines = 0 }},
		{"negative machines", func(l *License) { l.MaxMachines = -1 }},
		{"negative lease", func(l *License) { l.LeasePeriod = -time.Second }},
		{"expiry out of range", func(l *License) { l.Expires = time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC) }},
		{"created out of range", func(l *License) { l.Created = time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC) }},
		{"empty feature name", func(l *License) { l.Features[""] = 1 }},
		{"confidential value invalid utf8", func(l *License) { l.Confidential["x"] = secret + "\xfe" }},
		{"confidential value too long", func(l *License) { l.Confidential["x"] = secret + strings.Repeat("v", 4096) }},
		{"too many features", func(l *License) {
			for i := range 300 {
				l.Features[fmt.Sprint("f", i)] = 1
			}
		}},
	}
	ctx := context.Background()
	l, _ := b.open(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lic := testLicense("GOOD-0001", 1)
			tt.modify(lic)
			err := l.CreateLicense(ctx, lic)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("CreateLicense = %v, want ErrInvalid", err)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error message echoes the value: %q", err)
			}
		})
	}
	if list, err := l.ListLicenses(ctx); err != nil || len(list) != 0 {
		t.Errorf("after invalid creates: %d licenses, err %v; want none", len(list), err)
	}
	if err := l.CreateLicense(ctx, nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("CreateLicense(nil) = %v, want ErrInvalid", err)
	}
}

func TestLicenseStringRedactsConfidential(t *testing.T) {
	lic := testLicense("SHOW-0001", 1)
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		for _, v := range []any{lic, *lic} {
			out := fmt.Sprintf(format, v)
			if strings.Contains(out, "hunter2") || strings.Contains(out, "JBSWY3DP") {
				t.Errorf("%s of %T prints a confidential value: %s", format, v, out)
			}
			if !strings.Contains(out, "SHOW-0001") || !strings.Contains(out, "2 redacted") {
				t.Errorf("%s of %T = %s, want the key and a redaction note", format, v, out)
			}
		}
	}
}

func seats(t *testing.T, l *Ledger, key string) int {
	t.Helper()
	n, err := l.SeatsUsed(context.Background(), key)
	if err != nil {
		t.Fatalf("SeatsUsed: %v", err)
	}
	return n
}

func TestRecordSeats(t *testing.T) { forEachBackend(t, testRecordSeats) }

func testRecordSeats(t *testing.T, b testBackend) {
	ctx := context.Background()
	l, _ := b.open(t)
	const key = "SEAT-0001"
	mustCreate(t, l, testLicense(key, 2))
	if n := seats(t, l, key); n != 0 {
		t.Fatalf("new license uses %d seats", n)
	}

	// Machine 1 takes a seat.
	a1 := activation(key, 1, "a1")
	if reused, err := l.Record(ctx, a1); err != nil || reused {
		t.Fatalf("Record(machine 1) = %v, %v; want new seat", reused, err)
	}
	if n := seats(t, l, key); n != 1 {
		t.Fatalf("seats = %d, want 1", n)
	}

	// Machine 1 again, with a new request and license: same seat, ID kept.
	again := activation(key, 1, "f1")
	again.Issued = t0.Add(time.Hour)
	again.LeaseUntil = time.Time{}
	if reused, err := l.Record(ctx, again); err != nil || !reused {
		t.Fatalf("Record(machine 1 again) = %v, %v; want reused seat", reused, err)
	}
	if again.ID != "a1" {
		t.Errorf("reused activation ID = %q, want the kept ID %q", again.ID, "a1")
	}
	if n := seats(t, l, key); n != 1 {
		t.Fatalf("seats after reuse = %d, want 1", n)
	}
	acts, err := l.Activations(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if len(acts) != 1 || !reflect.DeepEqual(acts[0], *again) {
		t.Fatalf("after reuse, Activations = %+v, want just %+v", acts, *again)
	}

	// Machine 2 takes the second seat.
	a2 := activation(key, 2, "a2")
	if reused, err := l.Record(ctx, a2); err != nil || reused {
		t.Fatalf("Record(machine 2) = %v, %v; want new seat", reused, err)
	}
	if n := seats(t, l, key); n != 2 {
		t.Fatalf("seats = %d, want 2", n)
	}

	// Machine 3, and machine 1's install key on another machine: no seat.
	moved := activation(key, 1, "b1")
	moved.Fingerprint = bytes.Repeat([]byte{0x77}, 16)
	for _, a := range []*Activation{activation(key, 3, "a3"), moved} {
		before := *a
		reused, err := l.Record(ctx, a)
		if !errors.Is(err, ErrTooManyMachines) || reused {
			t.Errorf("Record(one too many, id %s) = %v, %v; want ErrTooManyMachines", a.ID, reused, err)
		}
		if !reflect.DeepEqual(*a, before) {
			t.Errorf("failed Record changed its activation: %+v", *a)
		}
	}
	if n := seats(t, l, key); n != 2 {
		t.Errorf("seats after refusals = %d, want 2", n)
	}
	acts, err = l.Activations(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if want := []Activation{*a2, *again}; !reflect.DeepEqual(acts, want) {
		// a2 was issued at t0+2m, the reused a1 at t0+1h.
		t.Errorf("Activations =\n%+v\nwant\n%+v", acts, want)
	}
	var rows int
	if err := l.db.QueryRowContext(ctx, `SELECT count(*) FROM activations`).Scan(&rows); err != nil || rows != 2 {
		t.Errorf("activation rows = %d (%v), want 2: a refusal wrote something", rows, err)
	}

	// A full license still serves a machine that holds a seat.
	if reused, err := l.Record(ctx, activation(key, 2, "c2")); err != nil || !reused {
		t.Errorf("Record(machine 2 again on a full license) = %v, %v; want reused seat", reused, err)
	}
	checkSeatCounters(t, l)
}

func TestRecordErrors(t *testing.T) { forEachBackend(t, testRecordErrors) }

func testRecordErrors(t *testing.T, b testBackend) {
	ctx := context.Background()
	l, _ := b.open(t)
	const key = "ERRS-0001"
	mustCreate(t, l, testLicense(key, 5))

	if _, err := l.Record(ctx, activation("NOPE-0000", 1, "01")); !errors.Is(err, ErrNotFound) {
		t.Errorf("Record(unknown license) = %v, want ErrNotFound", err)
	}
	if _, err := l.Activations(ctx, "NOPE-0000"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Activations(unknown license) = %v, want ErrNotFound", err)
	}
	if _, err := l.SeatsUsed(ctx, "NOPE-0000"); !errors.Is(err, ErrNotFound) {
		t.Errorf("SeatsUsed(unknown license) = %v, want ErrNotFound", err)
	}
	if acts, err := l.Activations(ctx, key); err != nil || len(acts) != 0 {
		t.Errorf("Activations(no activations) = %v, %v; want none", acts, err)
	}

	if _, err := l.Record(ctx, activation(key, 1, "01")); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Record(ctx, activation(key, 2, "01")); !errors.Is(err, ErrActivationExists) {
		t.Errorf("Record(duplicate ID) = %v, want ErrActivationExists", err)
	}

	// Suspended: no new seat, and no renewal of an existing one.
	if err := l.SetSuspended(ctx, key, true); err != nil {
		t.Fatal(err)
	}
	if lic, err := l.GetLicense(ctx, key); err != nil || !lic.Suspended {
		t.Fatalf("GetLicense after suspend = %v, %v", lic, err)
	}
	for _, a := range []*Activation{activation(key, 3, "03"), activation(key, 1, "04")} {
		if _, err := l.Record(ctx, a); !errors.Is(err, ErrSuspended) {
			t.Errorf("Record(suspended, id %s) = %v, want ErrSuspended", a.ID, err)
		}
	}
	if err := l.SetSuspended(ctx, key, false); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Record(ctx, activation(key, 3, "03")); err != nil {
		t.Errorf("Record after reinstating = %v", err)
	}
	if err := l.SetSuspended(ctx, "NOPE-0000", true); !errors.Is(err, ErrNotFound) {
		t.Errorf("SetSuspended(unknown) = %v, want ErrNotFound", err)
	}
	if n := seats(t, l, key); n != 2 {
		t.Errorf("seats = %d, want 2", n)
	}
}

func TestRecordInvalid(t *testing.T) { forEachBackend(t, testRecordInvalid) }

func testRecordInvalid(t *testing.T, b testBackend) {
	tests := []struct {
		name   string
		modify func(*Activation)
	}{
		{"nil", nil},
		{"empty id", func(a *Activation) { a.ID = "" }},
		{"uppercase id", func(a *Activation) { a.ID = "AB" }},
		{"non-hex id", func(a *Activation) { a.ID = "zz" }},
		{"long id", func(a *Activation) { a.ID = strings.Repeat("a", 65) }},
		{"empty license key", func(a *Activation) { a.LicenseKey = "" }},
		{"license key with control", func(a *Activation) { a.LicenseKey = "KEY\x00" }},
		{"short install key", func(a *Activation) { a.InstallKey = a.InstallKey[:31] }},
		{"long fingerprint", func(a *Activation) { a.Fingerprint = append(a.Fingerprint, 0) }},
		{"missing request hash", func(a *Activation) { a.RequestHash = nil }},
		{"empty license", func(a *Activation) { a.License = nil }},
		{"huge license", func(a *Activation) { a.License = make([]byte, 64<<10+1) }},
		{"released", func(a *Activation) { a.Released = true }},
		{"lease out of range", func(a *Activation) { a.LeaseUntil = time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC) }},
	}
	ctx := context.Background()
	l, _ := b.open(t)
	const key = "INVA-0001"
	mustCreate(t, l, testLicense(key, 5))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var a *Activation
			if tt.modify != nil {
				a = activation(key, 1, "aa")
				tt.modify(a)
			}
			if _, err := l.Record(ctx, a); !errors.Is(err, ErrInvalid) {
				t.Errorf("Record = %v, want ErrInvalid", err)
			}
		})
	}
	if n := seats(t, l, key); n != 0 {
		t.Errorf("invalid records took %d seats", n)
	}
}

func TestReleasedSeatIsFree(t *testing.T) { forEachBackend(t, testReleasedSeatIsFree) }

func testReleasedSeatIsFree(t *testing.T, b testBackend) {
	ctx := context.Background()
	l, _ := b.open(t)
	const key = "FREE-0001"
	mustCreate(t, l, testLicense(key, 1))
	if _, err := l.Record(ctx, activation(key, 1, "01")); err != nil {
		t.Fatal(err)
	}
	// Deactivation receipts come later; release the seat by hand.
	if _, err := l.db.ExecContext(ctx, `UPDATE activations SET released = 1 WHERE id = '01'`); err != nil {
		t.Fatal(err)
	}
	if n := seats(t, l, key); n != 0 {
		t.Fatalf("seats after release = %d, want 0", n)
	}
	// The same machine gets a new row, not its released one.
	if reused, err := l.Record(ctx, activation(key, 1, "02")); err != nil || reused {
		t.Fatalf("Record(after release) = %v, %v; want a new seat", reused, err)
	}
	if _, err := l.Record(ctx, activation(key, 2, "03")); !errors.Is(err, ErrTooManyMachines) {
		t.Fatalf("Record(second machine) = %v, want ErrTooManyMachines", err)
	}
	acts, err := l.Activations(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if len(acts) != 2 || acts[0].ID != "01" || !acts[0].Released || acts[1].ID != "02" || acts[1].Released {
		t.Errorf("Activations = %+v, want released 01 then active 02", acts)
	}
	checkSeatCounters(t, l)
}

func TestRecordBatch(t *testing.T) { forEachBackend(t, testRecordBatch) }

func testRecordBatch(t *testing.T, b testBackend) {
	ctx := context.Background()
	l, _ := b.open(t)
	const key = "BTCH-0001"
	mustCreate(t, l, testLicense(key, 2))
	if _, err := l.Record(ctx, activation(key, 1, "01")); err != nil {
		t.Fatal(err)
	}

	bad := activation(key, 4, "05")
	bad.Fingerprint = nil
	batch := []*Activation{
		activation(key, 1, "02"),         // machine 1 again: reused
		activation(key, 2, "03"),         // machine 2: the last seat
		activation(key, 2, "04"),         // machine 2 again, in the same batch: reused
		activation(key, 3, "06"),         // machine 3: no seat left
		activation("NOPE-0000", 3, "07"), // unknown license
		bad,                              // invalid
		nil,                              // invalid
	}
	want := []struct {
		reused bool
		err    error
		id     string
	}{
		{true, nil, "01"},
		{false, nil, "03"},
		{true, nil, "03"},
		{false, ErrTooManyMachines, "06"},
		{false, ErrNotFound, "07"},
		{false, ErrInvalid, "05"},
		{false, ErrInvalid, ""},
	}
	res, err := l.RecordBatch(ctx, batch)
	if err != nil {
		t.Fatalf("RecordBatch: %v", err)
	}
	for i, w := range want {
		if res[i].Reused != w.reused || !errors.Is(res[i].Err, w.err) || (res[i].Err == nil) != (w.err == nil) {
			t.Errorf("result %d = %+v, want reused %v, err %v", i, res[i], w.reused, w.err)
		}
		if batch[i] != nil && batch[i].ID != w.id {
			t.Errorf("activation %d ID = %q, want %q", i, batch[i].ID, w.id)
		}
	}
	if n := seats(t, l, key); n != 2 {
		t.Errorf("seats = %d, want 2", n)
	}

	// A batch that fails as a whole writes nothing.
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	other := activation(key, 9, "99")
	if _, err := l.RecordBatch(cancelled, []*Activation{activation(key, 1, "98"), other}); err == nil {
		t.Fatal("RecordBatch with a cancelled context succeeded")
	}
	acts, err := l.Activations(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range acts {
		if a.ID == "98" || a.ID == "99" {
			t.Errorf("failed batch wrote activation %s", a.ID)
		}
	}
	if res, err := l.RecordBatch(ctx, nil); err != nil || len(res) != 0 {
		t.Errorf("RecordBatch(nil) = %v, %v", res, err)
	}
	checkSeatCounters(t, l)
}

func TestReopenPersists(t *testing.T) { forEachBackend(t, testReopenPersists) }

func testReopenPersists(t *testing.T, b testBackend) {
	ctx := context.Background()
	path := b.target(t)
	l, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	lic := testLicense("KEEP-0001", 2)
	mustCreate(t, l, lic)
	a := activation(lic.Key, 1, "0123abcd")
	if _, err := l.Record(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	l, err = Open(path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer l.Close()
	got, err := l.GetLicense(ctx, lic.Key)
	if err != nil || !reflect.DeepEqual(got, lic) {
		t.Errorf("after reopen GetLicense = %v, %v; want %v", got, err, lic)
	}
	acts, err := l.Activations(ctx, lic.Key)
	if err != nil || len(acts) != 1 || !reflect.DeepEqual(acts[0], *a) {
		t.Errorf("after reopen Activations = %+v, %v; want %+v", acts, err, *a)
	}
	if reused, err := l.Record(ctx, activation(lic.Key, 1, "ff")); err != nil || !reused {
		t.Errorf("after reopen, same machine = %v, %v; want reused seat", reused, err)
	}
}

// TestConnectionSettings checks the settings on several pooled connections,
// not just the first.
func TestConnectionSettings(t *testing.T) {
	ctx := context.Background()
	l, _ := openTemp(t)
	var conns []*sql.Conn
	for range 3 {
		c, err := l.db.raw.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	for i, c := range conns {
		for _, tt := range []struct{ pragma, want string }{
			{"journal_mode", "wal"},
			{"synchronous", "2"}, // FULL
			{"foreign_keys", "1"},
			{"busy_timeout", "10000"},
			{"user_version", fmt.Sprint(SchemaVersion)},
			{"application_id", fmt.Sprint(applicationID)},
		} {
			var got string
			if err := c.QueryRowContext(ctx, "PRAGMA "+tt.pragma).Scan(&got); err != nil {
				t.Fatalf("conn %d: PRAGMA %s: %v", i, tt.pragma, err)
			}
			if !strings.EqualFold(got, tt.want) {
				t.Errorf("conn %d: PRAGMA %s = %s, want %s", i, tt.pragma, got, tt.want)
			}
		}
	}
	// Foreign keys are enforced, not just reported on.
	_, err := l.db.ExecContext(ctx, `INSERT INTO activations VALUES ('ab', 'NOPE', zeroblob(32), zeroblob(16), zeroblob(32), 0, NULL, x'00', 0)`)
	if err == nil {
		t.Error("activation of an unknown license was inserted: foreign keys are off")
	}
}

// TestWriteIsImmediate proves that a write transaction takes the write lock
// at BEGIN: while one is open, another connection cannot begin one.
func TestWriteIsImmediate(t *testing.T) {
	ctx := context.Background()
	l, path := openTemp(t)
	tx, err := l.db.raw.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()

	other, err := sql.Open("sqlite", path+"?_busy_timeout=0")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	c, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.ExecContext(ctx, "BEGIN IMMEDIATE"); err == nil {
		c.ExecContext(ctx, "ROLLBACK")
		t.Fatal("another connection began a write transaction: the ledger's BEGIN is not IMMEDIATE")
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatalf("BEGIN IMMEDIATE after the ledger's rollback: %v", err)
	}
	c.ExecContext(ctx, "ROLLBACK")
}

func TestFileMode(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix file modes")
	}
	ctx := context.Background()
	l, path := openTemp(t)
	mustCreate(t, l, testLicense("MODE-0001", 1))
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if mode := fi.Mode().Perm(); mode != 0o600 {
			t.Errorf("%s has mode %v, want 0600", filepath.Base(p), mode)
		}
	}
	if _, err := l.GetLicense(ctx, "MODE-0001"); err != nil {
		t.Fatal(err)
	}
}

// TestPathWithURISyntax opens a path holding characters that mean something
// in a URI or to the driver's DSN parser.
func TestPathWithURISyntax(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "desk ?x=1#frag%41&_txlock=deferred")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Skipf("file system refuses the name: %v", err)
	}
	path := filepath.Join(dir, "ledger?.db")
	l, err := Open(path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	mustCreate(t, l, testLicense("PATH-0001", 1))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "ledger?.db" {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Fatalf("directory holds %q, want just the ledger file", names)
	}
	l, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := l.GetLicense(context.Background(), "PATH-0001"); err != nil {
		t.Errorf("reopened ledger lost its license: %v", err)
	}
}

func TestSchemaTooNew(t *testing.T) { forEachBackend(t, testSchemaTooNew) }

func testSchemaTooNew(t *testing.T, b testBackend) {
	l, path := b.open(t)
	if l.Backend() == "postgres" {
		if _, err := l.db.ExecContext(context.Background(), `UPDATE airlock_ledger SET schema_version = ?`, SchemaVersion+1); err != nil {
			t.Fatal(err)
		}
		l.Close()
	} else {
		l.Close()
		db, err := sql.Open("sqlite", path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(fmt.Sprintf("PRAGMA user_version = %d", SchemaVersion+1)); err != nil {
			t.Fatal(err)
		}
		db.Close()
	}

	l, err := Open(path)
	if !errors.Is(err, ErrSchemaTooNew) {
		if l != nil {
			l.Close()
		}
		t.Fatalf("Open(newer schema) = %v, want ErrSchemaTooNew", err)
	}
	if !strings.Contains(err.Error(), fmt.Sprintf("version %d", SchemaVersion+1)) {
		t.Errorf("error %q does not say which version the file has", err)
	}
}

func TestNotLedger(t *testing.T) {
	dir := t.TempDir()

	other := filepath.Join(dir, "other.db")
	db, err := sql.Open("sqlite", other)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("CREATE TABLE notes (body TEXT)"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if l, err := Open(other); !errors.Is(err, ErrNotLedger) {
		if l != nil {
			l.Close()
		}
		t.Errorf("Open(other SQLite database) = %v, want ErrNotLedger", err)
	}

	text := filepath.Join(dir, "text.db")
	if err := os.WriteFile(text, bytes.Repeat([]byte("not a database, secret inside\n"), 200), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := Open(text)
	if err == nil {
		l.Close()
		t.Fatal("Open(text file) succeeded")
	}
	if strings.Contains(err.Error(), "secret") {
		t.Errorf("error echoes the file's content: %q", err)
	}

	if _, err := Open(""); !errors.Is(err, ErrInvalid) {
		t.Errorf("Open(\"\") = %v, want ErrInvalid", err)
	}
	if _, err := Open(filepath.Join(dir, "missing", "ledger.db")); err == nil {
		t.Error("Open in a missing directory succeeded")
	}
}

// checkSeatCounters checks that every license's seats_used, which Record
// trusts, equals the number of its active activations.
func checkSeatCounters(t *testing.T, l *Ledger) {
	t.Helper()
	rows, err := l.db.QueryContext(context.Background(), `
		SELECT l.key, l.seats_used,
			(SELECT count(*) FROM activations a WHERE a.license_key = l.key AND a.released = 0)
		FROM licenses l`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			key           string
			counter, real int
		)
		if err := rows.Scan(&key, &counter, &real); err != nil {
			t.Fatal(err)
		}
		if counter != real {
			t.Errorf("license %s: seats_used = %d, but %d activations are active", key, counter, real)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
}

// TestSeatCounterFollowsEveryChange changes activations behind the ledger's
// back, as a later release or repair would, and checks the seat counter.
func TestSeatCounterFollowsEveryChange(t *testing.T) {
	forEachBackend(t, testSeatCounterFollowsEveryChange)
}

func testSeatCounterFollowsEveryChange(t *testing.T, b testBackend) {
	ctx := context.Background()
	l, _ := b.open(t)
	mustCreate(t, l, testLicense("CNTR-0001", 3))
	mustCreate(t, l, testLicense("CNTR-0002", 3))
	for i, id := range []string{"01", "02", "03"} {
		if _, err := l.Record(ctx, activation("CNTR-0001", byte(i), id)); err != nil {
			t.Fatal(err)
		}
	}
	checkSeatCounters(t, l)
	for _, stmt := range []string{
		`UPDATE activations SET released = 1 WHERE id = '01'`,
		`UPDATE activations SET released = 1 WHERE id = '01'`, // again: no change
		`UPDATE activations SET license_key = 'CNTR-0002' WHERE id = '02'`,
		`UPDATE activations SET license_key = 'CNTR-0002' WHERE id = '01'`, // released: moves no seat
		`DELETE FROM activations WHERE id = '03'`,
		`DELETE FROM activations WHERE id = '01'`, // released
		`UPDATE activations SET released = 0, license_key = 'CNTR-0001' WHERE id = '02'`,
	} {
		if _, err := l.db.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
		checkSeatCounters(t, l)
	}
	if n := seats(t, l, "CNTR-0001"); n != 1 {
		t.Errorf("seats = %d, want 1", n)
	}
	// The freed seats are really free.
	for i, id := range []string{"11", "12"} {
		if _, err := l.Record(ctx, activation("CNTR-0001", byte(10+i), id)); err != nil {
			t.Errorf("Record into a freed seat: %v", err)
		}
	}
	if _, err := l.Record(ctx, activation("CNTR-0001", 20, "13")); !errors.Is(err, ErrTooManyMachines) {
		t.Errorf("Record past max = %v, want ErrTooManyMachines", err)
	}
	checkSeatCounters(t, l)
}

func TestActiveSeat(t *testing.T) { forEachBackend(t, testActiveSeat) }

func testActiveSeat(t *testing.T, b testBackend) {
	ctx := context.Background()
	l, _ := b.open(t)
	if err := l.CreateLicense(ctx, &License{Key: "K-1", Product: "p", Licensee: "l", MaxMachines: 2, MatchPolicy: "most"}); err != nil {
		t.Fatal(err)
	}
	inst, fp := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 16)
	if _, found, err := l.ActiveSeat(ctx, "K-1", inst, fp); err != nil || found {
		t.Fatalf("empty ledger: %v %v", found, err)
	}
	a := &Activation{ID: "aa01", LicenseKey: "K-1", InstallKey: inst, Fingerprint: fp, RequestHash: bytes.Repeat([]byte{3}, 32), License: []byte("x")}
	if _, err := l.Record(ctx, a); err != nil {
		t.Fatal(err)
	}
	if id, found, err := l.ActiveSeat(ctx, "K-1", inst, fp); err != nil || !found || id != "aa01" {
		t.Fatalf("got %q %v %v", id, found, err)
	}
	if _, found, _ := l.ActiveSeat(ctx, "K-1", inst, bytes.Repeat([]byte{9}, 16)); found {
		t.Fatal("another machine found the seat")
	}
}

func TestRelease(t *testing.T) { forEachBackend(t, testRelease) }

func testRelease(t *testing.T, b testBackend) {
	ctx := context.Background()
	l, _ := b.open(t)
	if err := l.CreateLicense(ctx, &License{Key: "K-1", Product: "p", Licensee: "l", MaxMachines: 1, MatchPolicy: "most"}); err != nil {
		t.Fatal(err)
	}
	inst, fp := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 16)
	a := &Activation{ID: "aa01", LicenseKey: "K-1", InstallKey: inst, Fingerprint: fp, RequestHash: bytes.Repeat([]byte{3}, 32), License: []byte("x")}
	if _, err := l.Record(ctx, a); err != nil {
		t.Fatal(err)
	}
	other := &Activation{ID: "bb02", LicenseKey: "K-1", InstallKey: bytes.Repeat([]byte{9}, 32), Fingerprint: fp, RequestHash: bytes.Repeat([]byte{3}, 32), License: []byte("y")}
	if _, err := l.Record(ctx, other); !errors.Is(err, ErrTooManyMachines) {
		t.Fatalf("full license: %v", err)
	}
	if err := l.Release(ctx, "K-1", "aa01", bytes.Repeat([]byte{9}, 32)); !errors.Is(err, ErrNotHolder) {
		t.Fatalf("another installation's receipt: %v", err)
	}
	if err := l.Release(ctx, "K-2", "aa01", inst); !errors.Is(err, ErrNotFound) {
		t.Fatalf("wrong license: %v", err)
	}
	if n, _ := l.SeatsUsed(ctx, "K-1"); n != 1 {
		t.Fatalf("seats %d after refused releases", n)
	}
	if err := l.Release(ctx, "K-1", "aa01", inst); err != nil {
		t.Fatal(err)
	}
	if err := l.Release(ctx, "K-1", "aa01", inst); !errors.Is(err, ErrAlreadyReleased) {
		t.Fatalf("second release: %v", err)
	}
	if n, _ := l.SeatsUsed(ctx, "K-1"); n != 0 {
		t.Fatalf("seats %d after release", n)
	}
	if _, err := l.Record(ctx, other); err != nil {
		t.Fatalf("freed seat not available: %v", err)
	}
}

func TestMaxReactivations(t *testing.T) { forEachBackend(t, testMaxReactivations) }

func testMaxReactivations(t *testing.T, b testBackend) {
	ctx := context.Background()
	l, _ := b.open(t)
	one := 1
	if err := l.CreateLicense(ctx, &License{Key: "K-1", Product: "p", Licensee: "l", MaxMachines: 1, MatchPolicy: "most", MaxReactivations: &one}); err != nil {
		t.Fatal(err)
	}
	got, _ := l.GetLicense(ctx, "K-1")
	if got.MaxReactivations == nil || *got.MaxReactivations != 1 {
		t.Fatalf("limit not stored: %v", got.MaxReactivations)
	}
	act := func(i int) *Activation {
		return &Activation{ID: fmt.Sprintf("a%d", i), LicenseKey: "K-1", InstallKey: bytes.Repeat([]byte{byte(i + 1)}, 32),
			Fingerprint: bytes.Repeat([]byte{2}, 16), RequestHash: bytes.Repeat([]byte{3}, 32), License: []byte("x")}
	}
	for i := 0; i < 2; i++ {
		if _, err := l.Record(ctx, act(i)); err != nil {
			t.Fatalf("activation %d: %v", i, err)
		}
		if err := l.Release(ctx, "K-1", fmt.Sprintf("a%d", i), bytes.Repeat([]byte{byte(i + 1)}, 32)); err != nil {
			t.Fatal(err)
		}
	}
	// The seat is free, but its one re-activation is used up.
	if _, err := l.Record(ctx, act(2)); !errors.Is(err, ErrTooManyReactivations) {
		t.Fatalf("third activation: %v", err)
	}
}
