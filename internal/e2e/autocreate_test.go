package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Auto-created licenses (NetLicensing's "Auto-create Licensee"): a product
// set to auto-create licenses takes requests with a license key the
// ledger does not know, which `airlock request --license-key new` makes.

type productJSON struct {
	Name        string            `json:"product"`
	AutoCreate  bool              `json:"auto_create_licenses"`
	Validity    string            `json:"validity"`
	MaxMachines int               `json:"max_machines"`
	Features    map[string]uint64 `json:"features"`
	Match       string            `json:"match_policy"`
	SecretMode  string            `json:"licensee_secret"`
}

type licenseListJSON struct {
	Key         string `json:"license_key"`
	Product     string `json:"product"`
	Licensee    string `json:"licensee"`
	MaxMachines int    `json:"max_machines"`
	SeatsUsed   *int   `json:"seats_used"`
	Expires     string `json:"expires"`
}

var newKeyRE = regexp.MustCompile(`(?m)^airlock: new license key (\S+): the request asks the vendor's desk to create its license \(the license will carry the key\)$`)

// requestFor makes an activation request for product with the license key
// key ("new" for a fresh one) and returns the request file and the key it
// names.
func requestFor(t *testing.T, e *env, state, vendorKey, product, key string) (path, licenseKey string) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "request.txt")
	o := e.airlock("--state", state, "request", "--product", product, "--license-key", key,
		"--vendor-key", vendorKey, "-o", path, "--scrypt-work-factor", "10")
	expectOK(t, o)
	expectStdout(t, o, "")
	if key != "new" {
		expectNotContains(t, "request stderr", o.stderr, "new license key")
		return path, key
	}
	m := newKeyRE.FindStringSubmatch(o.stderr)
	if m == nil || !licenseKeyRE.MatchString(m[1]) {
		t.Fatalf("request --license-key new does not say which key it made\n%s", o)
	}
	return path, m[1]
}

// signRefused signs req at desk and expects the refusal code and message,
// and no license file.
func signRefused(t *testing.T, e *env, desk, req string, code int, msg string) {
	t.Helper()
	outPath := filepath.Join(t.TempDir(), "license.txt")
	o := e.vendor("--dir", desk, "sign", req, "-o", outPath)
	expect(t, o, code)
	expectStdout(t, o, "")
	expectStderr(t, o, "airlock-vendor: error: "+msg+"\n")
	expectNoFile(t, outPath)
}

func listLicenses(t *testing.T, e *env, desk string) []licenseListJSON {
	t.Helper()
	o := e.vendor("--dir", desk, "license", "list", "--json")
	expectOK(t, o)
	return decodeJSON[[]licenseListJSON](t, o)
}

func TestAutoCreateLicensee(t *testing.T) {
	t.Parallel()
	e := newEnv(t).on(machineA.tree(t))
	var outs []out
	keep := func(o out) out { outs = append(outs, o); return o }
	desk, vk := initDesk(t, e)

	o := keep(e.vendor("--dir", desk, "product", "set", "--product", "acme-cad", "--auto-create-licenses",
		"--validity", "30d", "--max-machines", "1", "--feature", "trial=1", "--confidential", "support-pin=4711"))
	expectOK(t, o)
	expectStdout(t, o, "")
	expectStderr(t, o, `airlock-vendor: product "acme-cad" set: a request with a license key the ledger does not know creates its license (1 machine(s), valid 720h0m0s)`+"\n")
	o = keep(e.vendor("--dir", desk, "product", "show", "acme-cad", "--json"))
	expectOK(t, o)
	if p := decodeJSON[productJSON](t, o); p.Name != "acme-cad" || !p.AutoCreate || p.Validity != "720h0m0s" ||
		p.MaxMachines != 1 || p.Features["trial"] != 1 || p.Match != "most" || p.SecretMode != "" {
		t.Errorf("product show --json = %+v", p)
	}
	o = keep(e.vendor("--dir", desk, "product", "show", "acme-cad"))
	expectOK(t, o)
	expectContains(t, "product show", o.stdout, "auto-create:    yes")
	expectContains(t, "product show", o.stdout, `confidential:   "support-pin" (value not shown)`)
	expectNotContains(t, "product show", o.stdout, "4711")

	// A fresh key, a license made for it: VALID on this machine, for 30 days.
	stateA := filepath.Join(t.TempDir(), "a")
	req, key := requestFor(t, e, stateA, vk, "acme-cad", "new")
	lic := sign(t, e, desk, req)
	activate(t, e, stateA, vk, lic)
	verify(t, e, stateA, vk, "VALID", 0)
	expires := t0.Add(30 * day).Format(time.RFC3339)
	if j := verifyJSONOut(t, e, stateA, vk, 0); j.Expires != expires || j.Licensee != key || j.Features["trial"] != 1 {
		t.Errorf("verify --json = %+v; want expires %s, licensee %s (the key), feature trial=1", j, expires, key)
	}
	verify(t, e.at(t0.Add(31*day)), stateA, vk, "EXPIRED", 16)

	// The license is in the ledger like any other.
	list := listLicenses(t, e, desk)
	if len(list) != 1 || list[0].Key != key || list[0].Product != "acme-cad" || list[0].Licensee != "" ||
		list[0].MaxMachines != 1 || list[0].SeatsUsed == nil || *list[0].SeatsUsed != 1 || list[0].Expires != expires {
		t.Fatalf("license list --json = %+v", list)
	}
	o = keep(e.vendor("--dir", desk, "license", "list"))
	expectOK(t, o)
	expectContains(t, "license list", o.stdout, key)

	// Its one machine is taken: a second machine with the same key is refused.
	eB := e.on(machineB.tree(t))
	reqB, _ := requestFor(t, eB, filepath.Join(t.TempDir(), "b"), vk, "acme-cad", key)
	signRefused(t, e, desk, reqB, 23, "TOO_MANY_MACHINES: license allows 1 machine(s) and all seats are taken")

	// A product that does not auto-create, or has no settings at all:
	// unknown keys stay unknown.
	o = keep(e.vendor("--dir", desk, "product", "set", "--product", "other-app"))
	expectOK(t, o)
	expectStderr(t, o, `airlock-vendor: product "other-app" set: licenses are created at the desk only (license create)`+"\n")
	for _, product := range []string{"other-app", "third-app"} {
		req, _ := requestFor(t, e, filepath.Join(t.TempDir(), "s"), vk, product, "new")
		signRefused(t, e, desk, req, 24, "LICENSE_UNKNOWN: no such license key")
	}
	if list := listLicenses(t, e, desk); len(list) != 1 {
		t.Errorf("%d licenses after refused requests, want 1: %+v", len(list), list)
	}

	// A predefined secret cannot go with auto-created licenses.
	o = keep(e.vendor("--dir", desk, "product", "set", "--product", "acme-cad", "--secret-mode", "predefined", "--auto-create-licenses"))
	expect(t, o, 2)
	expectStdout(t, o, "")
	expectStderr(t, o, "airlock-vendor: error: --secret-mode predefined cannot be combined with auto-created licenses: "+
		"a predefined licensee secret must be set at the desk before the license's first activation; "+
		"use --secret-mode client (the first activation's secret binds the license), or license create\n"+
		"airlock-vendor: hint: run `airlock-vendor --help` for usage\n")
	o = keep(e.vendor("--dir", desk, "product", "list", "--json"))
	expectOK(t, o)
	products := decodeJSON[[]productJSON](t, o)
	if len(products) != 2 || products[0].Name != "acme-cad" || !products[0].AutoCreate || products[0].Validity != "720h0m0s" ||
		products[1].Name != "other-app" || products[1].AutoCreate {
		t.Errorf("product list --json after the refused set = %+v", products)
	}

	// Usage errors of product.
	for _, args := range [][]string{
		{"product"},
		{"product", "frobnicate"},
		{"product", "set"},
		{"product", "set", "--product", "acme-cad", "--validity", "10m"},
		{"product", "set", "--product", "acme-cad", "--secret-mode", "sometimes"},
		{"product", "show"},
	} {
		o := keep(e.vendor(append([]string{"--dir", desk}, args...)...))
		expect(t, o, 2)
		expectStdout(t, o, "")
		expectContains(t, "stderr", o.stderr, "airlock-vendor: hint: run `airlock-vendor --help` for usage")
	}
	o = keep(e.vendor("--dir", desk, "product", "show", "third-app"))
	expect(t, o, 1)
	expectStderr(t, o, "airlock-vendor: error: no settings for product \"third-app\" in the ledger: see `airlock-vendor product set`\n")

	// The audit log has both.
	o = keep(e.vendor("--dir", desk, "audit", "list", "--json"))
	expectOK(t, o)
	expectContains(t, "audit list", o.stdout, `"action": "product.set"`)
	expectContains(t, "audit list", o.stdout, `"action": "license.auto-created",
    "license_key": "`+key+`"`)
	expectOK(t, e.vendor("--dir", desk, "audit", "verify"))
	expectNoSecrets(t, outs, "4711")
}

// license create and product set share their policy options, and parse
// them alike.
func TestAutoCreatePolicyFlags(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	desk, _ := initDesk(t, e)
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--max-machines", "0"}, "--max-machines must be between 1 and 1000000"},
		{[]string{"--lease", "5m"}, "--lease must be a duration of at least 1h, such as 30d"},
		{[]string{"--feature", "x", "--feature", "x"}, `--feature "x" given twice`},
		{[]string{"--refuse-env", "moon"}, `--refuse-env: unknown environment "moon"`},
		{[]string{"--secret-mode", "sometimes"}, "--secret-mode must be disabled, predefined or client"},
	} {
		for _, cmd := range [][]string{
			{"license", "create", "--product", "acme-cad", "--licensee", "ACME Corp"},
			{"product", "set", "--product", "acme-cad", "--auto-create-licenses"},
		} {
			o := e.vendor(append(append([]string{"--dir", desk}, cmd...), tc.args...)...)
			expect(t, o, 2)
			expectContains(t, "stderr", o.stderr, "airlock-vendor: error: "+tc.msg)
		}
	}
	o := e.vendor("--dir", desk, "product", "set", "--product", "acme-cad", "--auto-create-licenses", "--json",
		"--max-machines", "3", "--max-reactivations", "2", "--lease", "7d", "--match", "atleast:2",
		"--refuse-env", "container,vm", "--hardware-key-env", "cloud", "--refuse-generic-keys", "--secret-mode", "client")
	expectOK(t, o)
	expectStderr(t, o, "")
	for _, want := range []string{`"max_machines": 3`, `"max_reactivations": 2`, `"lease": "168h0m0s"`, `"match_policy": "atleast:2"`,
		`"refuse_env": "vm,container"`, `"hardware_key_env": "cloud"`, `"refuse_generic_keys": true`, `"licensee_secret": "client"`} {
		expectContains(t, "product set --json", o.stdout, want)
	}
}

// Two desks share a PostgreSQL ledger: one sets the product, the other
// auto-creates the license, and both see it.
func TestAutoCreatePostgres(t *testing.T) {
	target, password := postgresLedger(t)
	e := newEnv(t).with("PGPASSWORD", password).on(machineA.tree(t))
	deskA := filepath.Join(t.TempDir(), "deskA")
	expectOK(t, e.vendor("--dir", deskA, "init", "--db", target, "--scrypt-work-factor", "10"))
	vk := "@" + filepath.Join(deskA, "vendor.pub")
	deskB := filepath.Join(t.TempDir(), "deskB")
	if err := os.MkdirAll(deskB, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"vendor.key", "vendor.pub", "ledger.url"} {
		writeFile(t, filepath.Join(deskB, f), readFile(t, filepath.Join(deskA, f)))
	}
	expectOK(t, e.vendor("--dir", deskA, "product", "set", "--product", "acme-cad", "--auto-create-licenses", "--validity", "30d"))

	state := filepath.Join(t.TempDir(), "s")
	req, key := requestFor(t, e, state, vk, "acme-cad", "new")
	activate(t, e, state, vk, sign(t, e, deskB, req))
	verify(t, e, state, vk, "VALID", 0)
	if list := listLicenses(t, e, deskA); len(list) != 1 || list[0].Key != key || *list[0].SeatsUsed != 1 {
		t.Fatalf("desk A lists %+v", list)
	}
	eB := e.on(machineB.tree(t))
	reqB, _ := requestFor(t, eB, filepath.Join(t.TempDir(), "b"), vk, "acme-cad", key)
	signRefused(t, e, deskA, reqB, 23, "TOO_MANY_MACHINES: license allows 1 machine(s) and all seats are taken")
	o := e.vendor("--dir", deskB, "product", "list")
	expectOK(t, o)
	if !strings.Contains(o.stdout, `"acme-cad"`) || !strings.Contains(o.stdout, "yes") {
		t.Errorf("desk B's product list:\n%s", o)
	}
}
