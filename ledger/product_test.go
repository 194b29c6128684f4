package ledger

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// testProduct returns a product that auto-creates licenses valid 30 days,
// with a template that sets every policy field and, to be ignored, every
// other one.
func testProduct(name string) *Product {
	tpl := *testLicense("IGNORED-KEY", 2)
	tpl.Product, tpl.Licensee = "ignored product", "ignored licensee"
	tpl.Suspended = true
	tpl.Expires = t0.AddDate(5, 0, 0)
	three := 3
	tpl.MaxReactivations = &three
	tpl.RefuseGenericKeys = true
	tpl.RefuseEnv, tpl.HardwareEnv = "vm,container", "cloud"
	tpl.SecretMode = "client"
	tpl.SecretHash = bytes.Repeat([]byte{0xA5}, 32) // never stored
	return &Product{Name: name, AutoCreate: true, Template: tpl, Validity: 30 * 24 * time.Hour, Created: t0}
}

// wantTemplate is what a product's template reads back as: its policy only.
func wantTemplate(p *Product) License {
	return policyOf(&p.Template)
}

func mustSetProduct(t *testing.T, l *Ledger, p *Product) {
	t.Helper()
	if err := l.SetProduct(context.Background(), p); err != nil {
		t.Fatalf("SetProduct: %v", err)
	}
}

func TestProductSetGetList(t *testing.T) { forEachBackend(t, testProductSetGetList) }

func testProductSetGetList(t *testing.T, b testBackend) {
	ctx := context.Background()
	l, _ := b.open(t)
	if list, err := l.ListProducts(ctx); err != nil || len(list) != 0 {
		t.Fatalf("ListProducts on a new ledger = %v, %v; want none", list, err)
	}
	if _, err := l.GetProduct(ctx, "acme-cad"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetProduct(missing) = %v, want ErrNotFound", err)
	}

	p := testProduct("acme-cad")
	mustSetProduct(t, l, p)
	got, err := l.GetProduct(ctx, "acme-cad")
	if err != nil {
		t.Fatal(err)
	}
	want := Product{Name: "acme-cad", AutoCreate: true, Template: wantTemplate(p), Validity: 30 * 24 * time.Hour, Created: t0}
	if !reflect.DeepEqual(*got, want) {
		t.Fatalf("GetProduct =\n%+v\nwant\n%+v", *got, want)
	}

	// The stored template holds the policy and never the secret hash.
	var raw string
	if err := l.db.QueryRowContext(ctx, `SELECT template FROM products WHERE name = ?`, "acme-cad").Scan(&raw); err != nil {
		t.Fatal(err)
	}
	for _, leak := range []string{"secret_hash", "IGNORED-KEY", "ignored", hex.EncodeToString(p.Template.SecretHash), base64.StdEncoding.EncodeToString(p.Template.SecretHash)} {
		if strings.Contains(raw, leak) {
			t.Errorf("stored template holds %q: %s", leak, raw)
		}
	}

	// A second SetProduct replaces the settings and keeps the creation time.
	q := &Product{Name: "acme-cad", Template: License{MaxMachines: 1, MatchPolicy: "most"}, Created: t0.Add(time.Hour)}
	mustSetProduct(t, l, q)
	if !q.Created.Equal(t0) {
		t.Errorf("SetProduct of an existing product set Created = %v, want the first one %v", q.Created, t0)
	}
	got, err = l.GetProduct(ctx, "acme-cad")
	if err != nil {
		t.Fatal(err)
	}
	want = Product{Name: "acme-cad", Template: License{MaxMachines: 1, MatchPolicy: "most"}, Created: t0}
	if !reflect.DeepEqual(*got, want) {
		t.Fatalf("after replacing: GetProduct =\n%+v\nwant\n%+v", *got, want)
	}

	// Created zero: the current time.
	before := time.Now()
	z := &Product{Name: "a-first", Template: License{MaxMachines: 1}}
	mustSetProduct(t, l, z)
	if z.Created.Before(before.Add(-time.Second)) || z.Created.After(time.Now().Add(time.Second)) {
		t.Errorf("Created = %v, want about now", z.Created)
	}

	list, err := l.ListProducts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Name != "a-first" || list[1].Name != "acme-cad" {
		t.Fatalf("ListProducts = %+v, want a-first and acme-cad, in that order", list)
	}
	if !reflect.DeepEqual(list[1], *got) {
		t.Errorf("ListProducts and GetProduct differ:\n%+v\n%+v", list[1], *got)
	}

	log, err := l.AuditLog(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(log) != 3 || log[0].Action != "product.set" || log[0].LicenseKey != "" ||
		log[0].Detail != `product "acme-cad", auto-create true, 2 machine(s), valid 720h0m0s, secret client` {
		t.Errorf("audit log = %+v", log)
	}
	if _, _, err := l.VerifyAudit(ctx, ""); err != nil {
		t.Error(err)
	}
}

func TestSetProductInvalid(t *testing.T) { forEachBackend(t, testSetProductInvalid) }

func testSetProductInvalid(t *testing.T, b testBackend) {
	const secret = "s3cr3t-value"
	ctx := context.Background()
	l, _ := b.open(t)
	for _, tt := range []struct {
		name   string
		modify func(*Product)
		msg    string
	}{
		{"predefined secret", func(p *Product) { p.Template.SecretMode = "predefined"; p.Template.SecretHash = nil },
			"a predefined licensee secret cannot be combined with auto-created licensees"},
		{"predefined secret with its hash", func(p *Product) { p.Template.SecretMode = "predefined" },
			"a predefined licensee secret cannot be combined with auto-created licensees"},
		{"unknown secret mode", func(p *Product) { p.Template.SecretMode = secret }, "unknown licensee secret mode"},
		{"empty name", func(p *Product) { p.Name = "" }, "product is empty"},
		{"name with control", func(p *Product) { p.Name = secret + "\x1b[31m" }, "product contains a control character"},
		{"name invalid utf8", func(p *Product) { p.Name = secret + "\xff" }, "product is not valid UTF-8"},
		{"name too long", func(p *Product) { p.Name = secret + strings.Repeat("p", 256) }, "product is longer than"},
		{"zero machines", func(p *Product) { p.Template.MaxMachines = 0 }, "max machines"},
		{"negative lease", func(p *Product) { p.Template.LeasePeriod = -time.Second }, "lease period"},
		{"negative reactivations", func(p *Product) { n := -1; p.Template.MaxReactivations = &n }, "re-activations"},
		{"empty feature name", func(p *Product) { p.Template.Features[""] = 1 }, "feature name"},
		{"confidential value invalid utf8", func(p *Product) { p.Template.Confidential["x"] = secret + "\xfe" }, "confidential value"},
		{"negative validity", func(p *Product) { p.Validity = -time.Hour }, "validity is negative"},
		{"validity under a second", func(p *Product) { p.Validity = time.Millisecond }, "validity is under one second"},
		{"created out of range", func(p *Product) { p.Created = time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC) }, "creation time"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := testProduct("acme-cad")
			tt.modify(p)
			err := l.SetProduct(ctx, p)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("SetProduct = %v, want ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("SetProduct = %q, want it to say %q", err, tt.msg)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error message echoes the value: %q", err)
			}
		})
	}
	if err := l.SetProduct(ctx, nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("SetProduct(nil) = %v, want ErrInvalid", err)
	}
	if list, err := l.ListProducts(ctx); err != nil || len(list) != 0 {
		t.Errorf("after invalid sets: %d products, err %v; want none", len(list), err)
	}

	// Client and disabled secrets auto-create; a predefined template is
	// harmless on a product that does not auto-create.
	for _, tt := range []struct {
		mode string
		auto bool
	}{{"client", true}, {"disabled", true}, {"", true}, {"predefined", false}} {
		p := testProduct("mode-" + tt.mode)
		p.AutoCreate, p.Template.SecretMode = tt.auto, tt.mode
		if err := l.SetProduct(ctx, p); err != nil {
			t.Errorf("SetProduct(secret mode %q, auto-create %t) = %v", tt.mode, tt.auto, err)
		}
	}
	if _, err := l.AutoCreateLicense(ctx, "mode-predefined", "MODE-0001", t0); !errors.Is(err, ErrNotFound) {
		t.Errorf("AutoCreateLicense(product without auto-create) = %v, want ErrNotFound", err)
	}
}

func TestAutoCreateLicense(t *testing.T) { forEachBackend(t, testAutoCreateLicense) }

func testAutoCreateLicense(t *testing.T, b testBackend) {
	ctx := context.Background()
	l, _ := b.open(t)
	p := testProduct("acme-cad")
	mustSetProduct(t, l, p)
	now := t0.Add(90 * time.Minute)

	lic, err := l.AutoCreateLicense(ctx, "acme-cad", "AUTO-0001", now)
	if err != nil {
		t.Fatalf("AutoCreateLicense: %v", err)
	}
	want := wantTemplate(p)
	want.Key, want.Product, want.Created, want.Expires = "AUTO-0001", "acme-cad", now, now.Add(30*24*time.Hour)
	if !reflect.DeepEqual(*lic, want) {
		t.Fatalf("AutoCreateLicense =\n%+v\nwant\n%+v", *lic, want)
	}
	stored, err := l.GetLicense(ctx, "AUTO-0001")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(*stored, want) {
		t.Fatalf("GetLicense =\n%+v\nwant\n%+v", *stored, want)
	}

	// An ordinary license from now on: its seats are counted.
	for m := range 3 {
		_, err := l.Record(ctx, activation("AUTO-0001", byte(m), fmt.Sprintf("%02x", m)))
		if m < 2 && err != nil {
			t.Fatalf("Record %d: %v", m, err)
		}
		if m == 2 && !errors.Is(err, ErrTooManyMachines) {
			t.Fatalf("Record on a third machine = %v, want ErrTooManyMachines", err)
		}
	}

	// The key exists: created before, or by license create.
	if _, err := l.AutoCreateLicense(ctx, "acme-cad", "AUTO-0001", now); !errors.Is(err, ErrExists) {
		t.Errorf("AutoCreateLicense(existing key) = %v, want ErrExists", err)
	}
	mustCreate(t, l, testLicense("DESK-0001", 1))
	if _, err := l.AutoCreateLicense(ctx, "acme-cad", "DESK-0001", now); !errors.Is(err, ErrExists) {
		t.Errorf("AutoCreateLicense(key of license create) = %v, want ErrExists", err)
	}

	// No product, a product that does not auto-create: not found.
	if _, err := l.AutoCreateLicense(ctx, "other-app", "AUTO-0002", now); !errors.Is(err, ErrNotFound) {
		t.Errorf("AutoCreateLicense(unknown product) = %v, want ErrNotFound", err)
	}
	manual := testProduct("manual-app")
	manual.AutoCreate = false
	mustSetProduct(t, l, manual)
	if _, err := l.AutoCreateLicense(ctx, "manual-app", "AUTO-0002", now); !errors.Is(err, ErrNotFound) {
		t.Errorf("AutoCreateLicense(product without auto-create) = %v, want ErrNotFound", err)
	}
	for _, bad := range []string{"manual-app\x00", "\xff"} {
		if _, err := l.AutoCreateLicense(ctx, bad, "AUTO-0002", now); !errors.Is(err, ErrNotFound) {
			t.Errorf("AutoCreateLicense(product %q) = %v, want ErrNotFound", bad, err)
		}
	}
	if _, err := l.GetLicense(ctx, "AUTO-0002"); !errors.Is(err, ErrNotFound) {
		t.Errorf("a refused AutoCreateLicense created the license: %v", err)
	}
	for _, bad := range []string{"", "AUTO 0003", "AUTO-0003\n", strings.Repeat("K", 129)} {
		if _, err := l.AutoCreateLicense(ctx, "acme-cad", bad, now); !errors.Is(err, ErrInvalid) {
			t.Errorf("AutoCreateLicense(key %q) = %v, want ErrInvalid", bad, err)
		}
	}

	// Turning auto-creation off stops it; a product without a validity
	// makes licenses that never expire.
	p.AutoCreate = false
	mustSetProduct(t, l, p)
	if _, err := l.AutoCreateLicense(ctx, "acme-cad", "AUTO-0004", now); !errors.Is(err, ErrNotFound) {
		t.Errorf("AutoCreateLicense after auto-create was turned off = %v, want ErrNotFound", err)
	}
	p.AutoCreate, p.Validity = true, 0
	mustSetProduct(t, l, p)
	forever, err := l.AutoCreateLicense(ctx, "acme-cad", "AUTO-0004", now)
	if err != nil {
		t.Fatal(err)
	}
	if !forever.Expires.IsZero() {
		t.Errorf("license of a product without validity expires %v, want never", forever.Expires)
	}

	log, err := l.AuditLog(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var auto []AuditEntry
	for _, e := range log {
		if e.Action == "license.auto-created" {
			auto = append(auto, e)
		}
	}
	wantDetail := `product "acme-cad", 2 machine(s), expires ` + now.Add(30*24*time.Hour).Format(time.RFC3339) + ", secret client"
	if len(auto) != 2 || auto[0].LicenseKey != "AUTO-0001" || auto[0].Detail != wantDetail ||
		auto[1].LicenseKey != "AUTO-0004" || !strings.Contains(auto[1].Detail, "expires never") {
		t.Errorf("license.auto-created entries = %+v", auto)
	}
	if _, _, err := l.VerifyAudit(ctx, ""); err != nil {
		t.Error(err)
	}
}

// TestAutoCreateRace has desks (separate Ledgers, as separate processes
// have) auto-create the same key at once: one creates it, every other one
// gets ErrExists, and the ledger holds one license and one audit entry.
func TestAutoCreateRace(t *testing.T) { forEachBackend(t, testAutoCreateRace) }

func testAutoCreateRace(t *testing.T, b testBackend) {
	ctx := context.Background()
	target := b.target(t)
	desks := openDesks(t, target, 2)
	mustSetProduct(t, desks[0], testProduct("acme-cad"))
	const racers = 8
	for round := range 4 {
		key := fmt.Sprintf("RACE-%04d", round)
		var (
			wg    sync.WaitGroup
			start = make(chan struct{})
			errs  = make([]error, racers)
		)
		for g := range racers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, errs[g] = desks[g%len(desks)].AutoCreateLicense(ctx, "acme-cad", key, t0)
			}()
		}
		close(start)
		wg.Wait()
		won := 0
		for g, err := range errs {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, ErrExists):
				t.Errorf("round %d, goroutine %d: %v", round, g, err)
			}
		}
		if won != 1 {
			t.Errorf("round %d: %d goroutines created the license, want exactly 1", round, won)
		}
	}
	list, err := desks[1].ListLicenses(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 4 {
		t.Errorf("%d licenses, want 4", len(list))
	}
	log, err := desks[0].AuditLog(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(log) != 1+4 {
		t.Errorf("audit log has %d entries, want the product and 4 licenses", len(log))
	}
	if _, _, err := desks[1].VerifyAudit(ctx, ""); err != nil {
		t.Error(err)
	}
}

// makeV1Ledger makes a ledger of schema version 1 at a new target, as the
// previous version of this package left it, with one license in it.
func makeV1Ledger(t *testing.T, b testBackend) string {
	t.Helper()
	target := b.target(t)
	driver, ddl := "sqlite", schemaV1+auditSchema+fmt.Sprintf("PRAGMA application_id = %d; PRAGMA user_version = 1;", applicationID)
	if b.name == "postgres" {
		driver, ddl = "pgx", pgSchemaV1+fmt.Sprintf("INSERT INTO airlock_ledger (application_id, schema_version) VALUES (%d, 1);", applicationID)
	}
	db, err := sql.Open(driver, target)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(ddl); err != nil {
		t.Fatalf("making a version-1 ledger: %v", err)
	}
	_, err = db.Exec(fmt.Sprintf(`INSERT INTO licenses (key, product, licensee, max_machines, lease_period,
		features, confidential, match_policy, created, suspended)
		VALUES ('V1-0001', 'acme-cad', 'Old GmbH', 2, 0, '{"export":1}', '{}', 'all', %d, 0)`, t0.UnixNano()))
	if err != nil {
		t.Fatal(err)
	}
	return target
}

// schemaVersion reads the stored schema version.
func schemaVersion(t *testing.T, l *Ledger) int {
	t.Helper()
	query := `PRAGMA user_version`
	if l.Backend() == "postgres" {
		query = `SELECT schema_version FROM airlock_ledger`
	}
	var v int
	if err := l.db.QueryRowContext(context.Background(), query).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestMigrateV1 opens a version-1 ledger, several times at once: it is
// upgraded to the current version once, keeps its licenses and gains
// products and usage reports.
func TestMigrateV1(t *testing.T) { forEachBackend(t, testMigrateV1) }

func testMigrateV1(t *testing.T, b testBackend) {
	ctx := context.Background()
	target := makeV1Ledger(t, b)
	const n = 4
	opened, errs := openAtOnce(target, n)
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Open %d of a version-1 ledger: %v", i, err)
		}
		defer opened[i].Close()
	}
	l := opened[0]
	if v := schemaVersion(t, l); v != SchemaVersion || SchemaVersion != 3 {
		t.Fatalf("schema version %d after the upgrade, want %d (= 3)", v, SchemaVersion)
	}
	if reps, err := l.UsageReports(ctx, nil); err != nil || len(reps) != 0 {
		t.Fatalf("usage reports after the upgrade: %d, %v", len(reps), err)
	}
	old, err := l.GetLicense(ctx, "V1-0001")
	if err != nil {
		t.Fatalf("the upgrade lost a license: %v", err)
	}
	if old.Licensee != "Old GmbH" || old.MaxMachines != 2 || old.Features["export"] != 1 || !old.Created.Equal(t0) {
		t.Errorf("license after the upgrade = %v", old)
	}
	if _, err := opened[1].Record(ctx, activation("V1-0001", 1, "01")); err != nil {
		t.Fatal(err)
	}
	mustSetProduct(t, opened[2], testProduct("acme-cad"))
	if _, err := opened[3].AutoCreateLicense(ctx, "acme-cad", "V2-0001", t0); err != nil {
		t.Fatal(err)
	}
	checkSeatCounters(t, l)
	if _, _, err := l.VerifyAudit(ctx, ""); err != nil {
		t.Error(err)
	}

	// Reopening finds the current version and changes nothing.
	for _, o := range opened {
		o.Close()
	}
	l, err = Open(target)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if v := schemaVersion(t, l); v != SchemaVersion {
		t.Errorf("schema version %d after reopening, want %d", v, SchemaVersion)
	}
	if list, err := l.ListProducts(ctx); err != nil || len(list) != 1 {
		t.Errorf("ListProducts after reopening = %d products, %v; want 1", len(list), err)
	}
}

// TestNewLedgerIsVersion3 checks that a new ledger is made at version 3
// at once, with the products and usage_reports tables.
func TestNewLedgerIsVersion3(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b testBackend) {
		l, _ := b.open(t)
		if v := schemaVersion(t, l); v != 3 {
			t.Errorf("new ledger has schema version %d, want 3", v)
		}
		if _, err := l.ListProducts(context.Background()); err != nil {
			t.Error(err)
		}
		if _, err := l.UsageReports(context.Background(), nil); err != nil {
			t.Error(err)
		}
	})
}
