package client_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/airlock-offline/airlock/client"
	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/desk"
	"github.com/airlock-offline/airlock/fingerprint"
	"github.com/airlock-offline/airlock/internal/testrig/testkeys"
	"github.com/airlock-offline/airlock/ledger"
	"github.com/airlock-offline/airlock/licensekey"
	"github.com/airlock-offline/airlock/request"
	"github.com/airlock-offline/airlock/response"
	"github.com/airlock-offline/airlock/result"
)

// t0 is the desk's clock: every license here is issued then.
var t0 = time.Date(2030, 3, 1, 12, 0, 0, 0, time.UTC)

const (
	day        = 24 * time.Hour
	product    = "acme-cad"
	bareMetal  = "../testdata/fingerprint/bare-metal"
	ageHeader  = "-----BEGIN AGE ENCRYPTED FILE-----"
	passphrase = "test-pass-Kq93vB"
)

// ---------------------------------------------------------------------------
// Helpers

// wantCode fails unless err carries exactly code, through both CodeOf and
// errors.Is with the sentinel (nil for VALID).
func wantCode(t *testing.T, err error, code result.Code, sentinel error) {
	t.Helper()
	if got := result.CodeOf(err); got != code {
		t.Fatalf("result %s (%v), want %s", got, err, code)
	}
	if sentinel != nil && !errors.Is(err, sentinel) {
		t.Fatalf("errors.Is(%v, %v) = false", err, sentinel)
	}
}

// machine copies the bare-metal fixture tree and applies changes: path
// (slash-separated, relative to the tree) to new content, "" to delete.
func machine(t *testing.T, changes map[string]string) fingerprint.Source {
	t.Helper()
	root := t.TempDir()
	if err := os.CopyFS(root, os.DirFS(bareMetal)); err != nil {
		t.Fatal(err)
	}
	for p, content := range changes {
		f := filepath.Join(root, filepath.FromSlash(p))
		var err error
		if content == "" {
			err = os.Remove(f)
		} else {
			err = os.WriteFile(f, []byte(content), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return fingerprint.DirSource(root, "linux")
}

// Changes that make bare-metal another machine.
var (
	reinstalledOS = map[string]string{
		"etc/machine-id":          "0123456789abcdef0123456789abcdef\n",
		"var/lib/dbus/machine-id": "0123456789abcdef0123456789abcdef\n",
	}
	swappedDisk = map[string]string{
		"sys/block/nvme0n1/device/serial": "S5P2NG0R699999X     \n",
	}
	// userView is the machine as a normal user reads it: the DMI serials
	// are root only.
	userView = map[string]string{
		".fixture/denied": "/sys/class/dmi/id/product_uuid\n/sys/class/dmi/id/board_serial\n/sys/class/dmi/id/product_serial\n",
	}
)

func merge(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// clock is a settable clock for Verifier.Now.
type clock struct{ t time.Time }

func (c *clock) Now() time.Time { return c.t }

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func wantMode(t *testing.T, path string, want fs.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != want {
		t.Errorf("%s has mode %04o, want %04o", filepath.Base(path), got, want)
	}
}

func wantNotExist(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s exists (%v), want nothing there", path, err)
	}
}

// names lists a directory.
func names(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

func newState(t *testing.T) *client.State {
	t.Helper()
	st, err := client.Open(filepath.Join(t.TempDir(), "state"))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// world is one vendor (identity, ledger, desk) and one client installation
// with its state directory, for one license key of one product.
type world struct {
	t       *testing.T
	product string
	vendor  *crypto.Identity
	inst    *crypto.Identity
	st      *client.State
	led     *ledger.Ledger
	desk    *desk.Desk
	key     string
	n       int // requests made, for distinct nonces
}

func newWorld(t *testing.T, product string, mod func(*ledger.License)) *world {
	t.Helper()
	root := t.TempDir()
	w := &world{
		t:       t,
		product: product,
		vendor:  testkeys.Identity(crypto.RoleVendor, "client-test vendor"),
	}
	var err error
	if w.st, err = client.Open(filepath.Join(root, "state")); err != nil {
		t.Fatal(err)
	}
	if w.inst, err = w.st.CreateInstallation(testkeys.Rand("client-test installation"), nil, 0); err != nil {
		t.Fatal(err)
	}
	if w.led, err = ledger.Open(filepath.Join(root, "ledger.db")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.led.Close() })
	if w.key, err = licensekey.New(testkeys.Rand("client-test license key")); err != nil {
		t.Fatal(err)
	}
	lic := &ledger.License{
		Key:         w.key,
		Product:     product,
		Licensee:    "Example GmbH",
		MaxMachines: 3,
		Expires:     t0.Add(365 * day),
		MatchPolicy: "all",
		Created:     t0.Add(-day),
	}
	if mod != nil {
		mod(lic)
	}
	if err := w.led.CreateLicense(context.Background(), lic); err != nil {
		t.Fatal(err)
	}
	w.desk = &desk.Desk{
		Key:    w.vendor,
		Ledger: w.led,
		Now:    func() time.Time { return t0 },
		Rand:   testkeys.Rand("client-test activation ids"),
	}
	return w
}

// verifier returns a Verifier of w's product and state on machine src.
func (w *world) verifier(src fingerprint.Source, c *clock) *client.Verifier {
	return &client.Verifier{
		Product:    w.product,
		VendorKeys: []*crypto.Public{w.vendor.Public()},
		Dir:        w.st.Dir,
		Source:     src,
		Now:        c.Now,
	}
}

// request makes a request as `airlock request` does: the fingerprint from
// v's machine, signed by inst; it is recorded as pending in st unless st is
// nil.
func (w *world) request(v *client.Verifier, inst *crypto.Identity, st *client.State) *request.Signed {
	w.t.Helper()
	fp, err := v.Fingerprint(w.vendor.ID())
	if err != nil {
		w.t.Fatal(err)
	}
	comps := make(map[uint8][]byte, len(fp.Components))
	for _, d := range fp.Components {
		comps[uint8(d.ID)] = bytes.Clone(d.Sum[:])
	}
	w.n++
	s, err := request.New(request.Params{
		Product:     w.product,
		LicenseKey:  w.key,
		Fingerprint: fp.ID[:],
		Components:  comps,
		Env:         uint16(fp.Env),
		Vendor:      w.vendor.Public(),
		Now:         t0.Add(-10 * time.Minute),
		Rand:        testkeys.Rand(fmt.Sprintf("client-test nonce %d", w.n)),
	}, inst)
	if err != nil {
		w.t.Fatal(err)
	}
	if st != nil {
		if err := st.AddPending(w.product, s.Hash, s.Request.CreatedTime()); err != nil {
			w.t.Fatal(err)
		}
	}
	return s
}

// sign has the desk sign req and returns the armored license.
func (w *world) sign(req *request.Signed) []byte {
	w.t.Helper()
	iss, err := w.desk.Sign(context.Background(), req.Bytes)
	if err != nil {
		w.t.Fatalf("desk: %v (%s)", err, result.CodeOf(err))
	}
	return iss.Text()
}

// activate runs the whole exchange for w's installation on v's machine.
func (w *world) activate(v *client.Verifier) *response.License {
	w.t.Helper()
	lic, err := v.Activate(w.sign(w.request(v, w.inst, w.st)))
	if err != nil {
		w.t.Fatalf("Activate: %v (%s)", err, result.CodeOf(err))
	}
	return lic
}

func (w *world) lastSeen() time.Time {
	w.t.Helper()
	ts, err := w.st.LastSeen()
	if err != nil {
		w.t.Fatal(err)
	}
	return ts
}

// issue signs a license for product directly (no ledger), for the state
// tests that only need real license bytes.
func issue(t *testing.T, product string) []byte {
	t.Helper()
	vendor := testkeys.Identity(crypto.RoleVendor, "client-test vendor")
	inst := testkeys.Identity(crypto.RoleInstallation, "client-test issue installation")
	key, err := licensekey.New(testkeys.Rand("client-test issue key"))
	if err != nil {
		t.Fatal(err)
	}
	fp := bytes.Repeat([]byte{0x5a}, request.FPSize)
	req, err := request.New(request.Params{
		Product: product, LicenseKey: key, Fingerprint: fp, Vendor: vendor.Public(),
		Now: t0, Rand: testkeys.Rand("client-test issue nonce " + product),
	}, inst)
	if err != nil {
		t.Fatal(err)
	}
	s, err := response.New(vendor, req, response.Params{
		LicenseKey: key, ActivationID: make([]byte, response.ActivationIDLen),
		Product: product, Licensee: "Example GmbH", Issued: t0,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s.Text()
}

// ---------------------------------------------------------------------------
// State

func TestOpenCreatesPrivateDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "state")
	st, err := client.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.Dir != dir {
		t.Errorf("Dir = %q, want %q", st.Dir, dir)
	}
	wantMode(t, dir, 0o700)
	wantMode(t, filepath.Join(dir, "licenses"), 0o700)
	if fi, err := os.Stat(filepath.Join(dir, "licenses")); err != nil || !fi.IsDir() {
		t.Errorf("licenses/ is not a directory (%v)", err)
	}
	// Opening again is fine.
	if _, err := client.Open(dir); err != nil {
		t.Errorf("second Open: %v", err)
	}
}

func TestOpenDefaultDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "home")
	t.Setenv(client.EnvHome, dir)
	if d, err := client.DefaultDir(); err != nil || d != dir {
		t.Fatalf("DefaultDir = %q, %v; want %q", d, err, dir)
	}
	st, err := client.Open("")
	if err != nil {
		t.Fatal(err)
	}
	if st.Dir != dir {
		t.Errorf("Open(\"\").Dir = %q, want %q", st.Dir, dir)
	}
	wantMode(t, dir, 0o700)
}

func TestOpenExistingCreatesNothing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	st, err := client.OpenExisting(dir)
	if err != nil {
		t.Fatal(err)
	}
	// Every read reports an empty state.
	if st.HasInstallation() {
		t.Error("HasInstallation = true")
	}
	if _, err := st.InstallationPublic(); !errors.Is(err, client.ErrNoInstallation) {
		t.Errorf("InstallationPublic: %v, want ErrNoInstallation", err)
	}
	if _, err := st.Installation(nil); !errors.Is(err, client.ErrNoInstallation) {
		t.Errorf("Installation: %v, want ErrNoInstallation", err)
	}
	_, err = st.License(product)
	wantCode(t, err, result.NotActivated, result.ErrNotActivated)
	if ps, err := st.Products(); err != nil || len(ps) != 0 {
		t.Errorf("Products = %q, %v", ps, err)
	}
	if ps, err := st.Pending(product); err != nil || len(ps) != 0 {
		t.Errorf("Pending = %d, %v", len(ps), err)
	}
	if ts, err := st.LastSeen(); err != nil || !ts.IsZero() {
		t.Errorf("LastSeen = %s, %v", ts, err)
	}
	// So does Verify, without creating the directory.
	v := &client.Verifier{
		Product:    product,
		VendorKeys: []*crypto.Public{testkeys.Identity(crypto.RoleVendor, "client-test vendor").Public()},
		Dir:        dir,
		Source:     machine(t, nil),
		Now:        (&clock{t0}).Now,
	}
	_, err = v.Verify()
	wantCode(t, err, result.NotActivated, result.ErrNotActivated)
	wantNotExist(t, dir)
}

func TestCreateInstallationPlaintext(t *testing.T) {
	st := newState(t)
	if st.HasInstallation() {
		t.Fatal("HasInstallation before CreateInstallation")
	}
	id, err := st.CreateInstallation(testkeys.Rand("client-test plaintext"), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if id.Role != crypto.RoleInstallation {
		t.Errorf("role %s", id.Role)
	}
	keyPath := filepath.Join(st.Dir, "installation.key")
	pubPath := filepath.Join(st.Dir, "installation.pub")
	wantMode(t, keyPath, 0o600)
	key := readFile(t, keyPath)
	pub := readFile(t, pubPath)
	if crypto.IsEncryptedKeyFile(key) {
		t.Error("key file is encrypted without a passphrase")
	}
	if string(pub) != id.Public().String()+"\n" {
		t.Errorf("installation.pub = %q, want %q", pub, id.Public().String()+"\n")
	}
	if !st.HasInstallation() {
		t.Error("HasInstallation = false")
	}
	loaded, err := st.Installation(nil)
	if err != nil {
		t.Fatalf("Installation: %v", err)
	}
	if !loaded.Public().Equal(id.Public()) {
		t.Error("loaded another identity")
	}

	// A second installation key never replaces the first.
	if _, err := st.CreateInstallation(testkeys.Rand("client-test plaintext 2"), nil, 0); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second CreateInstallation: %v, want fs.ErrExist", err)
	}
	if !bytes.Equal(readFile(t, keyPath), key) {
		t.Error("second CreateInstallation changed installation.key")
	}
	if !bytes.Equal(readFile(t, pubPath), pub) {
		t.Error("second CreateInstallation changed installation.pub")
	}
	wantMode(t, keyPath, 0o600)
	if got := names(t, st.Dir); !slices.Equal(got, []string{"installation.key", "installation.pub", "licenses"}) {
		t.Errorf("state directory holds %q, want no temporary files", got)
	}
}

func TestCreateInstallationEncrypted(t *testing.T) {
	st := newState(t)
	id, err := st.CreateInstallation(testkeys.Rand("client-test encrypted"), []byte(passphrase), 10)
	if err != nil {
		t.Fatal(err)
	}
	keyPath := filepath.Join(st.Dir, "installation.key")
	wantMode(t, keyPath, 0o600)
	key := readFile(t, keyPath)
	if !bytes.HasPrefix(key, []byte(ageHeader)) {
		t.Fatalf("key file starts with %q, want the age header", key[:min(len(key), 40)])
	}
	plain := id.MarshalPlaintext()
	if bytes.Contains(key, plain) || bytes.Contains(key, []byte(passphrase)) {
		t.Fatal("encrypted key file holds the key or the passphrase in clear")
	}

	called := 0
	pass := func(p string) func() ([]byte, error) {
		return func() ([]byte, error) { called++; return []byte(p), nil }
	}
	loaded, err := st.Installation(pass(passphrase))
	if err != nil {
		t.Fatalf("Installation with the passphrase: %v", err)
	}
	if !loaded.Public().Equal(id.Public()) || !bytes.Equal(loaded.MarshalPlaintext(), plain) {
		t.Error("loaded another identity")
	}
	if _, err := st.Installation(pass("wrong")); !errors.Is(err, crypto.ErrWrongPassphrase) {
		t.Errorf("wrong passphrase: %v, want ErrWrongPassphrase", err)
	}
	if _, err := st.Installation(nil); !errors.Is(err, crypto.ErrNeedPassphrase) {
		t.Errorf("no passphrase: %v, want ErrNeedPassphrase", err)
	}

	// The public keys need no passphrase.
	called = 0
	pub, err := st.InstallationPublic()
	if err != nil {
		t.Fatalf("InstallationPublic: %v", err)
	}
	if !pub.Equal(id.Public()) || pub.Role != crypto.RoleInstallation {
		t.Error("InstallationPublic returned another key")
	}
	if called != 0 {
		t.Error("InstallationPublic asked for the passphrase")
	}

	if _, err := st.CreateInstallation(testkeys.Rand("client-test encrypted 2"), []byte(passphrase), 10); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second CreateInstallation: %v, want fs.ErrExist", err)
	}
	if !bytes.Equal(readFile(t, keyPath), key) {
		t.Error("second CreateInstallation changed installation.key")
	}
}

func TestInstallationPublicDamaged(t *testing.T) {
	st := newState(t)
	vendor := testkeys.Identity(crypto.RoleVendor, "client-test vendor")
	for _, content := range []string{"garbage\n", vendor.Public().String() + "\n"} {
		if err := os.WriteFile(filepath.Join(st.Dir, "installation.pub"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if p, err := st.InstallationPublic(); err == nil {
			t.Errorf("InstallationPublic accepted %q as %s", content, p)
		}
	}
}

func TestStoreLicense(t *testing.T) {
	st := newState(t)
	lic := filepath.Join(st.Dir, "licenses")
	a, b := issue(t, product), issue(t, "acme-cam")

	_, err := st.License(product)
	wantCode(t, err, result.NotActivated, result.ErrNotActivated)

	if err := st.StoreLicense(product, a); err != nil {
		t.Fatal(err)
	}
	if got, err := st.License(product); err != nil || !bytes.Equal(got, a) {
		t.Fatalf("License = %d bytes, %v", len(got), err)
	}
	if err := st.StoreLicense(product, b); err != nil {
		t.Fatal(err)
	}
	if got, err := st.License(product); err != nil || !bytes.Equal(got, b) {
		t.Fatalf("License after replacing = %d bytes, %v", len(got), err)
	}
	if got := names(t, lic); !slices.Equal(got, []string{product + ".lic"}) {
		t.Errorf("licenses/ holds %q, want only %s.lic (no temporary files)", got, product)
	}
	if st.LicensePath(product) != filepath.Join(lic, product+".lic") {
		t.Errorf("LicensePath = %q", st.LicensePath(product))
	}

	_, err = st.License("acme-cam")
	wantCode(t, err, result.NotActivated, result.ErrNotActivated)

	if err := st.RemoveLicense(product); err != nil {
		t.Fatal(err)
	}
	_, err = st.License(product)
	wantCode(t, err, result.NotActivated, result.ErrNotActivated)
	if err := st.RemoveLicense(product); err != nil {
		t.Errorf("RemoveLicense of a missing license: %v", err)
	}
}

func TestLicenseTooLarge(t *testing.T) {
	st := newState(t)
	if err := os.WriteFile(st.LicensePath(product), bytes.Repeat([]byte("x"), 64<<10+1), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := st.License(product)
	wantCode(t, err, result.Internal, nil)
}

func TestProductFileNames(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "x", "y", "state")
	st, err := client.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	lic := filepath.Join(dir, "licenses")
	hashed := regexp.MustCompile(`^p-[0-9a-f]{32}\.lic$`)
	tests := []struct {
		product string
		plain   bool
	}{
		{"acme-cad", true},
		{"Acme.CAD_2030-pro", true},
		{"a..b", true},
		{strings.Repeat("a", 64), true},
		{strings.Repeat("a", 65), false},
		{"acme cad", false},
		{"acme/cad", false},
		{`acme\cad`, false},
		{"..", false},
		{".", false},
		{"../../../escape", false},
		{"x/../../y", false},
		{"/etc/passwd", false},
		{".hidden", false},
		{"-flag", false},
		{"café", false},
		{"acme:cad", false},
	}
	files := map[string]string{}
	for _, tc := range tests {
		p := st.LicensePath(tc.product)
		if filepath.Dir(p) != lic {
			t.Errorf("LicensePath(%q) = %q, outside licenses/", tc.product, p)
			continue
		}
		base := filepath.Base(p)
		switch {
		case tc.plain && base != tc.product+".lic":
			t.Errorf("LicensePath(%q) = %q, want %q", tc.product, base, tc.product+".lic")
		case !tc.plain && !hashed.MatchString(base):
			t.Errorf("LicensePath(%q) = %q, want a hashed name", tc.product, base)
		}
		if other, dup := files[base]; dup {
			t.Errorf("%q and %q share the file %s", other, tc.product, base)
		}
		files[base] = tc.product
		data := []byte("license of " + tc.product)
		if err := st.StoreLicense(tc.product, data); err != nil {
			t.Errorf("StoreLicense(%q): %v", tc.product, err)
			continue
		}
		if got, err := st.License(tc.product); err != nil || !bytes.Equal(got, data) {
			t.Errorf("License(%q) = %q, %v", tc.product, got, err)
		}
	}
	// Nothing was written anywhere but licenses/.
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && filepath.Dir(p) != lic {
			t.Errorf("file written outside licenses/: %s", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(names(t, lic)); n != len(tests) {
		t.Errorf("licenses/ holds %d files, want %d", n, len(tests))
	}
}

func TestProducts(t *testing.T) {
	st := newState(t)
	products := []string{"acme-cad", "Acme CAD/Pro 2030", "..", "../../etc"}
	for _, p := range products {
		if err := st.StoreLicense(p, issue(t, p)); err != nil {
			t.Fatal(err)
		}
	}
	// A damaged license is listed by its file name.
	if err := st.StoreLicense("broken", []byte("not a license")); err != nil {
		t.Fatal(err)
	}
	if err := st.StoreLicense("broken one", []byte("not a license")); err != nil {
		t.Fatal(err)
	}
	// A license stored under another product's name is listed under the
	// name of its file, not the product it claims.
	if err := st.StoreLicense("elsewhere", issue(t, "acme-cam")); err != nil {
		t.Fatal(err)
	}
	got, err := st.Products()
	if err != nil {
		t.Fatal(err)
	}
	want := append(slices.Clone(products), "broken", "elsewhere", strings.TrimSuffix(filepath.Base(st.LicensePath("broken one")), ".lic"))
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("Products = %q\nwant        %q", got, want)
	}
}

func hash(i int) [32]byte {
	var h [32]byte
	copy(h[:], fmt.Sprintf("request %d", i))
	return h
}

func TestPending(t *testing.T) {
	st := newState(t)
	const other = "Acme CAD/Pro" // a hashed product file name
	if err := st.AddPending(product, hash(1), t0); err != nil {
		t.Fatal(err)
	}
	if err := st.AddPending(other, hash(2), t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := st.AddPending(product, hash(3), t0.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	wantMode(t, filepath.Join(st.Dir, "pending"), 0o600)
	check := func(p string, want ...int) {
		t.Helper()
		got, err := st.Pending(p)
		if err != nil {
			t.Fatal(err)
		}
		var hs [][32]byte
		for _, i := range want {
			hs = append(hs, hash(i))
		}
		if !slices.Equal(got, hs) {
			t.Errorf("Pending(%q) has %d hashes, want requests %v", p, len(got), want)
		}
	}
	check(product, 1, 3)
	check(other, 2)
	check("acme-cam")

	h := hash(1)
	if err := st.RemovePending(h[:]); err != nil {
		t.Fatal(err)
	}
	check(product, 3)
	check(other, 2)
	if err := st.RemovePending(h[:]); err != nil {
		t.Errorf("RemovePending of an absent hash: %v", err)
	}
	check(product, 3)
}

func TestPendingKeepsNewest32(t *testing.T) {
	st := newState(t)
	for i := range 40 {
		if err := st.AddPending(product, hash(i), t0.Add(time.Duration(i)*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := st.Pending(product)
	if err != nil {
		t.Fatal(err)
	}
	var want [][32]byte
	for i := 8; i < 40; i++ {
		want = append(want, hash(i))
	}
	if !slices.Equal(got, want) {
		t.Errorf("Pending holds %d hashes, want the newest 32 (requests 8 to 39)", len(got))
	}
	// The limit is for the whole file, across products.
	if err := st.AddPending("acme-cam", hash(100), t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got, _ := st.Pending(product); len(got) != 31 || got[0] != hash(9) {
		t.Errorf("Pending(%q) holds %d hashes after one more for another product, want 31 from request 9", product, len(got))
	}
}

func TestLastSeenTouch(t *testing.T) {
	st := newState(t)
	if ts, err := st.LastSeen(); err != nil || !ts.IsZero() {
		t.Fatalf("LastSeen of a new state = %s, %v", ts, err)
	}
	steps := []struct {
		touch time.Time
		want  time.Time
	}{
		{t0.Add(500 * time.Millisecond), t0},                          // recorded, in whole seconds
		{t0.Add(-time.Hour), t0},                                      // never backwards
		{t0.Add(30 * time.Second), t0},                                // within a minute: no write
		{t0.Add(time.Minute), t0},                                     // exactly a minute: no write
		{t0.Add(time.Minute + time.Second), t0.Add(61 * time.Second)}, // later than a minute
		{t0.Add(day), t0.Add(day)},
		{t0, t0.Add(day)},
	}
	for i, s := range steps {
		if err := st.Touch(s.touch); err != nil {
			t.Fatalf("step %d: Touch: %v", i, err)
		}
		ts, err := st.LastSeen()
		if err != nil {
			t.Fatalf("step %d: LastSeen: %v", i, err)
		}
		if !ts.Equal(s.want) {
			t.Errorf("step %d: after Touch(%s) LastSeen = %s, want %s", i, s.touch, ts, s.want)
		}
	}
	wantMode(t, filepath.Join(st.Dir, "clock"), 0o600)
	if got := names(t, st.Dir); !slices.Equal(got, []string{"clock", "licenses"}) {
		t.Errorf("state directory holds %q", got)
	}
}

func TestTouchWithinAMinuteDoesNotWrite(t *testing.T) {
	st := newState(t)
	if err := st.Touch(t0); err != nil {
		t.Fatal(err)
	}
	clockPath := filepath.Join(st.Dir, "clock")
	// An atomic rewrite would give the file a new modification time.
	old := time.Unix(1, 0)
	if err := os.Chtimes(clockPath, old, old); err != nil {
		t.Fatal(err)
	}
	if err := st.Touch(t0.Add(59 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(clockPath); err != nil || !fi.ModTime().Equal(old) {
		t.Errorf("clock file was rewritten within a minute (%v)", err)
	}
}

func TestDamagedClock(t *testing.T) {
	for _, content := range []string{"yesterday\n", "-5\n", "", "1893456000 extra\n", "0x70\n"} {
		t.Run(fmt.Sprintf("%q", content), func(t *testing.T) {
			st := newState(t)
			clockPath := filepath.Join(st.Dir, "clock")
			if err := os.WriteFile(clockPath, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			if ts, err := st.LastSeen(); err == nil {
				t.Fatalf("LastSeen = %s, want an error", ts)
			}
			_ = st.Touch(t0.Add(365 * day)) // its error, if any, is not the point
			if got := readFile(t, clockPath); string(got) != content {
				t.Errorf("Touch overwrote the damaged clock file with %q", got)
			}
			if ts, err := st.LastSeen(); err == nil {
				t.Errorf("LastSeen after Touch = %s, want an error", ts)
			}
		})
	}
}

// ---------------------------------------------------------------------------
// Verifier

func TestVerifyValid(t *testing.T) {
	for _, p := range []string{product, "Acme CAD/Pro 2030"} {
		t.Run(p, func(t *testing.T) {
			w := newWorld(t, p, nil)
			c := &clock{t0.Add(time.Minute)}
			v := w.verifier(machine(t, nil), c)
			w.activate(v)

			c.t = t0.Add(time.Hour)
			lic, err := v.Verify()
			wantCode(t, err, result.Valid, nil)
			if lic == nil || lic.Product != p || lic.LicenseKey != w.key || lic.Licensee != "Example GmbH" {
				t.Fatalf("Verify returned %+v", lic)
			}
			if !lic.ExpiresTime().Equal(t0.Add(365 * day)) {
				t.Errorf("expires %s", lic.ExpiresTime())
			}
			if got, err := w.st.Products(); err != nil || !slices.Equal(got, []string{p}) {
				t.Errorf("Products = %q, %v", got, err)
			}
			if !w.lastSeen().Equal(c.t) {
				t.Errorf("LastSeen = %s, want %s", w.lastSeen(), c.t)
			}
		})
	}
}

func TestVerifyNotActivated(t *testing.T) {
	w := newWorld(t, product, nil)
	c := &clock{t0}
	v := w.verifier(machine(t, nil), c)
	_, err := v.Verify()
	wantCode(t, err, result.NotActivated, result.ErrNotActivated)

	// A request made and signed but not activated yet.
	w.sign(w.request(v, w.inst, w.st))
	_, err = v.Verify()
	wantCode(t, err, result.NotActivated, result.ErrNotActivated)

	// Another product's license does not count.
	w.activate(v)
	v2 := *v
	v2.Product = "acme-cam"
	_, err = v2.Verify()
	wantCode(t, err, result.NotActivated, result.ErrNotActivated)
}

func TestVerifyNoVendorKey(t *testing.T) {
	w := newWorld(t, product, nil)
	v := w.verifier(machine(t, nil), &clock{t0})
	w.activate(v)
	v.VendorKeys = nil
	_, err := v.Verify()
	wantCode(t, err, result.Internal, nil)
	v.VendorKeys = []*crypto.Public{testkeys.Identity(crypto.RoleVendor, "client-test other vendor").Public()}
	_, err = v.Verify()
	wantCode(t, err, result.UnknownVendorKey, result.ErrUnknownVendorKey)
}

func TestVerifyClock(t *testing.T) {
	for _, tc := range []struct {
		name string
		tol  time.Duration // Verifier.ClockTolerance
		back time.Duration // how far behind the last time seen
		want result.Code
	}{
		{"forward", 0, -time.Hour, result.Valid},
		{"same time", 0, 0, result.Valid},
		{"ten minutes back", 0, 10 * time.Minute, result.Valid},
		{"back by the tolerance", 0, client.DefaultClockTolerance, result.Valid},
		{"back beyond the tolerance", 0, client.DefaultClockTolerance + time.Second, result.ClockTampered},
		{"a day back", 0, day, result.ClockTampered},
		{"an hour back, tolerance two hours", 2 * time.Hour, time.Hour, result.Valid},
		{"three hours back, tolerance two hours", 2 * time.Hour, 3 * time.Hour, result.ClockTampered},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, product, nil)
			c := &clock{t0.Add(time.Minute)}
			v := w.verifier(machine(t, nil), c)
			v.ClockTolerance = tc.tol
			w.activate(v)

			later := t0.Add(2 * day)
			c.t = later
			_, err := v.Verify()
			wantCode(t, err, result.Valid, nil)

			c.t = later.Add(-tc.back)
			_, err = v.Verify()
			if got := result.CodeOf(err); got != tc.want {
				t.Fatalf("result %s (%v), want %s", got, err, tc.want)
			}
			if tc.want == result.ClockTampered && !errors.Is(err, result.ErrClockTampered) {
				t.Errorf("errors.Is(%v, ErrClockTampered) = false", err)
			}
			want := later
			if tc.back < -time.Minute {
				want = c.t
			}
			if !w.lastSeen().Equal(want) {
				t.Errorf("LastSeen = %s, want %s", w.lastSeen(), want)
			}
			// Going back again right after still fails: a failed
			// check does not lower the record.
			if tc.want == result.ClockTampered {
				_, err = v.Verify()
				wantCode(t, err, result.ClockTampered, result.ErrClockTampered)
			}
		})
	}
}

func TestVerifyDamagedClock(t *testing.T) {
	w := newWorld(t, product, nil)
	c := &clock{t0.Add(time.Minute)}
	v := w.verifier(machine(t, nil), c)
	w.activate(v)
	clockPath := filepath.Join(w.st.Dir, "clock")
	if err := os.WriteFile(clockPath, []byte("garbage\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c.t = t0.Add(day)
	_, err := v.Verify()
	wantCode(t, err, result.ClockTampered, result.ErrClockTampered)
	if got := readFile(t, clockPath); string(got) != "garbage\n" {
		t.Errorf("Verify overwrote the damaged clock file with %q", got)
	}
	_, err = v.Verify()
	wantCode(t, err, result.ClockTampered, result.ErrClockTampered)
}

func TestVerifyFingerprintMismatch(t *testing.T) {
	for _, tc := range []struct {
		name    string
		policy  string
		changes map[string]string
		want    result.Code
		details []string
	}{
		{"same machine", "all", nil, result.Valid, nil},
		{"another OS install", "all", reinstalledOS, result.FingerprintMismatch, []string{"changed: machine-id"}},
		{"swapped disk", "all", swappedDisk, result.FingerprintMismatch, []string{"changed: disk"}},
		{"both", "all", merge(reinstalledOS, swappedDisk), result.FingerprintMismatch, []string{"changed: machine-id", "changed: disk"}},
		{"serial unreadable", "all", map[string]string{"sys/class/dmi/id/product_serial": ""}, result.FingerprintMismatch, []string{"missing: product-serial"}},
		{"changed and missing", "all", merge(swappedDisk, map[string]string{"sys/class/dmi/id/product_serial": ""}), result.FingerprintMismatch, []string{"changed: disk", "missing: product-serial"}},
		{"swapped disk, policy most", "most", swappedDisk, result.Valid, nil},
		{"both, policy most", "most", merge(reinstalledOS, swappedDisk), result.Valid, nil},
		{"both, policy atleast:5", "atleast:5", merge(reinstalledOS, swappedDisk), result.FingerprintMismatch, []string{"changed: machine-id", "changed: disk"}},
		{"swapped disk, policy exact", "exact", swappedDisk, result.FingerprintMismatch, []string{"changed: disk"}},
		// Licensed as root, verified as a user who may not read the DMI
		// serials: those components are left out of the match, except
		// under the exact policy.
		{"as a user", "all", userView, result.Valid, nil},
		{"as a user, policy most", "most", userView, result.Valid, nil},
		{"as a user, policy exact", "exact", userView, result.FingerprintMismatch, []string{"missing: product-uuid", "missing: board-serial", "missing: product-serial"}},
		{"as a user, swapped disk", "all", merge(userView, swappedDisk), result.FingerprintMismatch, []string{"changed: disk", "unreadable here: product-uuid", "unreadable here: board-serial", "unreadable here: product-serial"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, product, func(l *ledger.License) { l.MatchPolicy = tc.policy })
			c := &clock{t0.Add(time.Minute)}
			w.activate(w.verifier(machine(t, nil), c))

			c.t = t0.Add(time.Hour)
			lic, err := w.verifier(machine(t, tc.changes), c).Verify()
			if got := result.CodeOf(err); got != tc.want {
				t.Fatalf("result %s (%v), want %s", got, err, tc.want)
			}
			if tc.want == result.Valid {
				return
			}
			if !errors.Is(err, result.ErrFingerprintMismatch) {
				t.Errorf("errors.Is(%v, ErrFingerprintMismatch) = false", err)
			}
			var re *result.Error
			if !errors.As(err, &re) {
				t.Fatalf("%T is not a *result.Error", err)
			}
			if !slices.Equal(re.Details, tc.details) {
				t.Errorf("Details = %q, want %q", re.Details, tc.details)
			}
			if lic == nil || lic.LicenseKey != w.key {
				t.Error("Verify did not return the license it rejected")
			}
		})
	}
}

func TestVerifyReadOnly(t *testing.T) {
	w := newWorld(t, product, nil)
	c := &clock{t0.Add(time.Minute)}
	v := w.verifier(machine(t, nil), c)
	w.activate(v)
	clockPath := filepath.Join(w.st.Dir, "clock")
	before := readFile(t, clockPath)

	v.ReadOnly = true
	c.t = t0.Add(3 * day)
	_, err := v.Verify()
	wantCode(t, err, result.Valid, nil)
	if got := readFile(t, clockPath); !bytes.Equal(got, before) {
		t.Errorf("read-only Verify changed the clock file from %q to %q", before, got)
	}
	// A failing read-only check does not write either.
	_, err = w.verifier(machine(t, reinstalledOS), c).Verify()
	wantCode(t, err, result.FingerprintMismatch, result.ErrFingerprintMismatch)
	ro := w.verifier(machine(t, reinstalledOS), c)
	ro.ReadOnly = true
	c.t = t0.Add(10 * day)
	_, err = ro.Verify()
	wantCode(t, err, result.FingerprintMismatch, result.ErrFingerprintMismatch)
	if got := w.lastSeen(); !got.Equal(t0.Add(3 * day)) {
		t.Errorf("LastSeen = %s after a read-only Verify, want %s", got, t0.Add(3*day))
	}
	// A read-only check still judges the clock.
	c.t = t0.Add(day)
	_, err = v.Verify()
	wantCode(t, err, result.ClockTampered, result.ErrClockTampered)

	// Without the clock file, a read-only Verify creates none, and with a
	// license installed a missing record is CLOCK_TAMPERED.
	if err := os.Remove(clockPath); err != nil {
		t.Fatal(err)
	}
	_, err = v.Verify()
	wantCode(t, err, result.ClockTampered, result.ErrClockTampered)
	wantNotExist(t, clockPath)
}

// TestVerifyRecordsClockOnFailure: a failed check records the time seen too,
// so that failing on purpose at a late time cannot keep the record low.
func TestVerifyRecordsClockOnFailure(t *testing.T) {
	w := newWorld(t, product, nil)
	c := &clock{t0.Add(time.Minute)}
	here := machine(t, nil)
	w.activate(w.verifier(here, c))

	late := t0.Add(5 * day)
	c.t = late
	_, err := w.verifier(machine(t, reinstalledOS), c).Verify()
	wantCode(t, err, result.FingerprintMismatch, result.ErrFingerprintMismatch)
	if !w.lastSeen().Equal(late) {
		t.Fatalf("LastSeen = %s after a failed Verify, want %s", w.lastSeen(), late)
	}

	c.t = t0.Add(day)
	_, err = w.verifier(here, c).Verify()
	wantCode(t, err, result.ClockTampered, result.ErrClockTampered)
}

// TestVerifyRecordsClockOnExpiry: the same after an EXPIRED result: the
// clock cannot be turned back under the expiry once it was seen past it.
func TestVerifyRecordsClockOnExpiry(t *testing.T) {
	w := newWorld(t, product, func(l *ledger.License) { l.Expires = t0.Add(30 * day) })
	c := &clock{t0.Add(time.Minute)}
	v := w.verifier(machine(t, nil), c)
	w.activate(v)

	c.t = t0.Add(31 * day)
	_, err := v.Verify()
	wantCode(t, err, result.Expired, result.ErrExpired)
	c.t = t0.Add(29 * day)
	_, err = v.Verify()
	wantCode(t, err, result.ClockTampered, result.ErrClockTampered)
}

func TestVerifyLease(t *testing.T) {
	w := newWorld(t, product, func(l *ledger.License) { l.LeasePeriod = 7 * day })
	c := &clock{t0.Add(time.Minute)}
	v := w.verifier(machine(t, nil), c)
	w.activate(v)
	c.t = t0.Add(7*day - time.Second)
	_, err := v.Verify()
	wantCode(t, err, result.Valid, nil)
	c.t = t0.Add(7 * day)
	_, err = v.Verify()
	wantCode(t, err, result.LeaseExpired, result.ErrLeaseExpired)
}

// TestVerifyOtherInstallation: a license copied from another installation
// (another state directory on the same machine) is refused.
func TestVerifyOtherInstallation(t *testing.T) {
	w := newWorld(t, product, nil)
	c := &clock{t0.Add(time.Minute)}
	v := w.verifier(machine(t, nil), c)
	otherSt := newState(t)
	otherInst, err := otherSt.CreateInstallation(testkeys.Rand("client-test other installation"), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.st.Touch(c.t); err != nil {
		t.Fatal(err)
	}
	if err := w.st.StoreLicense(product, w.sign(w.request(v, otherInst, otherSt))); err != nil {
		t.Fatal(err)
	}
	_, err = v.Verify()
	wantCode(t, err, result.InstallationMismatch, result.ErrInstallationMismatch)
}

func TestVerifyDamagedLicense(t *testing.T) {
	w := newWorld(t, product, nil)
	c := &clock{t0.Add(time.Minute)}
	v := w.verifier(machine(t, nil), c)
	w.activate(v)
	if err := w.st.StoreLicense(product, []byte("-----BEGIN AIRLOCK LICENSE-----\nAAAA\n-----END AIRLOCK LICENSE-----\n")); err != nil {
		t.Fatal(err)
	}
	_, err := v.Verify()
	wantCode(t, err, result.Malformed, result.ErrMalformed)
}

// ---------------------------------------------------------------------------
// Activate

// TestVerifierRequest: the library's own request is pending at once, carries
// the machine's fingerprint for the first pinned vendor key, and its license
// activates.
func TestVerifierRequest(t *testing.T) {
	w := newWorld(t, product, nil)
	c := &clock{t0.Add(-5 * time.Minute)}
	v := w.verifier(machine(t, nil), c)
	req, err := v.Request(w.inst, w.key, nil)
	if err != nil {
		t.Fatalf("Request: %v", err)
	}
	pend, err := w.st.Pending(product)
	if err != nil || !slices.Equal(pend, [][32]byte{req.Hash}) {
		t.Fatalf("Pending = %d hashes, %v; want the request", len(pend), err)
	}
	fp, err := v.Fingerprint(w.vendor.ID())
	if err != nil {
		t.Fatal(err)
	}
	r := req.Request
	if !bytes.Equal(r.Fingerprint, fp.ID[:]) || len(r.Components) != len(fp.Components) || r.Product != product || r.LicenseKey != w.key {
		t.Errorf("request for %q with key %q does not carry this machine's fingerprint", r.Product, r.LicenseKey)
	}
	if !r.CreatedTime().Equal(c.t) {
		t.Errorf("request created %s, want the Verifier's clock %s", r.CreatedTime(), c.t)
	}
	c.t = t0.Add(time.Minute)
	if _, err := v.Activate(w.sign(req)); err != nil {
		t.Fatalf("Activate: %v (%s)", err, result.CodeOf(err))
	}
	if pend, _ := w.st.Pending(product); len(pend) != 0 {
		t.Errorf("%d requests still pending", len(pend))
	}
}

func TestActivate(t *testing.T) {
	w := newWorld(t, product, nil)
	c := &clock{t0.Add(time.Minute)}
	v := w.verifier(machine(t, nil), c)
	req := w.request(v, w.inst, w.st)
	other := w.request(v, w.inst, w.st) // a second request, still waiting
	text := w.sign(req)

	lic, err := v.Activate(text)
	wantCode(t, err, result.Valid, nil)
	if lic.Product != product || !bytes.Equal(lic.RequestHash, req.Hash[:]) {
		t.Fatalf("Activate returned a license for %q answering %x", lic.Product, lic.RequestHash)
	}
	stored, err := w.st.License(product)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(stored, text) {
		t.Error("the stored license is not the one activated")
	}
	pend, err := w.st.Pending(product)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(pend, [][32]byte{other.Hash}) {
		t.Errorf("pending holds %d requests, want only the other one", len(pend))
	}
	if !w.lastSeen().Equal(c.t) {
		t.Errorf("LastSeen = %s, want the activation time %s", w.lastSeen(), c.t)
	}
	if got := names(t, filepath.Join(w.st.Dir, "licenses")); !slices.Equal(got, []string{".seen", product + ".lic"}) {
		t.Errorf("licenses/ holds %q", got)
	}

	// Installing the same license again is accepted.
	c.t = t0.Add(time.Hour)
	if _, err := v.Activate(text); err != nil {
		t.Fatalf("re-installing the same license: %v (%s)", err, result.CodeOf(err))
	}
	_, err = v.Verify()
	wantCode(t, err, result.Valid, nil)
}

func TestActivateEmptyProduct(t *testing.T) {
	w := newWorld(t, "Acme CAD/Pro 2030", nil)
	c := &clock{t0.Add(time.Minute)}
	v := w.verifier(machine(t, nil), c)
	text := w.sign(w.request(v, w.inst, w.st))
	anyProduct := *v
	anyProduct.Product = ""
	lic, err := anyProduct.Activate(text)
	wantCode(t, err, result.Valid, nil)
	if lic.Product != w.product {
		t.Errorf("product %q", lic.Product)
	}
	_, err = v.Verify()
	wantCode(t, err, result.Valid, nil)
}

func TestActivateInstallationMismatch(t *testing.T) {
	for _, ownPending := range []bool{false, true} {
		t.Run(fmt.Sprintf("own request pending %t", ownPending), func(t *testing.T) {
			w := newWorld(t, product, nil)
			c := &clock{t0.Add(time.Minute)}
			v := w.verifier(machine(t, nil), c)
			if ownPending {
				w.request(v, w.inst, w.st)
			}
			before, err := w.st.Pending(product)
			if err != nil {
				t.Fatal(err)
			}

			// Another installation on the same machine asks for a license.
			otherSt := newState(t)
			otherInst, err := otherSt.CreateInstallation(testkeys.Rand("client-test other installation"), nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			text := w.sign(w.request(v, otherInst, otherSt))

			_, err = v.Activate(text)
			wantCode(t, err, result.InstallationMismatch, result.ErrInstallationMismatch)
			_, err = w.st.License(product)
			wantCode(t, err, result.NotActivated, result.ErrNotActivated)
			if after, _ := w.st.Pending(product); !slices.Equal(after, before) {
				t.Error("a refused license changed the pending requests")
			}
		})
	}
}

func TestActivateRequestMismatch(t *testing.T) {
	for _, ownPending := range []bool{false, true} {
		t.Run(fmt.Sprintf("other request pending %t", ownPending), func(t *testing.T) {
			w := newWorld(t, product, nil)
			c := &clock{t0.Add(time.Minute)}
			v := w.verifier(machine(t, nil), c)
			if ownPending {
				w.request(v, w.inst, w.st)
			}
			before, err := w.st.Pending(product)
			if err != nil {
				t.Fatal(err)
			}
			// This installation's key signed the request, but the state
			// never recorded it.
			text := w.sign(w.request(v, w.inst, nil))
			_, err = v.Activate(text)
			wantCode(t, err, result.RequestMismatch, result.ErrRequestMismatch)
			_, err = w.st.License(product)
			wantCode(t, err, result.NotActivated, result.ErrNotActivated)
			if after, _ := w.st.Pending(product); !slices.Equal(after, before) {
				t.Error("a refused license changed the pending requests")
			}
		})
	}
}

// TestActivateReplacedLicense: once a newer license is installed, the older
// one no longer answers a pending request and cannot be put back.
func TestActivateReplacedLicense(t *testing.T) {
	w := newWorld(t, product, nil)
	c := &clock{t0.Add(time.Minute)}
	v := w.verifier(machine(t, nil), c)
	old := w.sign(w.request(v, w.inst, w.st))
	if _, err := v.Activate(old); err != nil {
		t.Fatal(err)
	}
	newer := w.sign(w.request(v, w.inst, w.st))
	if _, err := v.Activate(newer); err != nil {
		t.Fatal(err)
	}
	_, err := v.Activate(old)
	wantCode(t, err, result.RequestMismatch, result.ErrRequestMismatch)
	if stored, _ := w.st.License(product); !bytes.Equal(stored, newer) {
		t.Error("the refused license replaced the newer one")
	}
}

func TestActivateOtherMachine(t *testing.T) {
	w := newWorld(t, product, nil)
	c := &clock{t0.Add(time.Minute)}
	text := w.sign(w.request(w.verifier(machine(t, nil), c), w.inst, w.st))
	v := w.verifier(machine(t, reinstalledOS), c)
	_, err := v.Activate(text)
	wantCode(t, err, result.FingerprintMismatch, result.ErrFingerprintMismatch)
	_, err = w.st.License(product)
	wantCode(t, err, result.NotActivated, result.ErrNotActivated)
}

func TestActivateOtherProduct(t *testing.T) {
	w := newWorld(t, product, nil)
	c := &clock{t0.Add(time.Minute)}
	v := w.verifier(machine(t, nil), c)
	text := w.sign(w.request(v, w.inst, w.st))
	cam := *v
	cam.Product = "acme-cam"
	_, err := cam.Activate(text)
	wantCode(t, err, result.ProductMismatch, result.ErrProductMismatch)
	_, err = w.st.License("acme-cam")
	wantCode(t, err, result.NotActivated, result.ErrNotActivated)
}

func TestActivateRejectsBadInput(t *testing.T) {
	w := newWorld(t, product, nil)
	c := &clock{t0.Add(time.Minute)}
	v := w.verifier(machine(t, nil), c)
	text := w.sign(w.request(v, w.inst, w.st))

	_, err := v.Activate([]byte("not a license"))
	wantCode(t, err, result.Malformed, result.ErrMalformed)

	foreign := *v
	foreign.VendorKeys = []*crypto.Public{testkeys.Identity(crypto.RoleVendor, "client-test other vendor").Public()}
	_, err = foreign.Activate(text)
	wantCode(t, err, result.UnknownVendorKey, result.ErrUnknownVendorKey)

	// A clock turned back behind the last time seen.
	if err := w.st.Touch(t0.Add(10 * day)); err != nil {
		t.Fatal(err)
	}
	_, err = v.Activate(text)
	wantCode(t, err, result.ClockTampered, result.ErrClockTampered)
	_, err = w.st.License(product)
	wantCode(t, err, result.NotActivated, result.ErrNotActivated)
}
