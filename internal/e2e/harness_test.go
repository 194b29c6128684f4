package e2e

// The harness: building the binaries once, running them in a sealed
// environment, fixture machines, and a small armor codec of our own (the
// tests must not trust the product's codec to check the product).

import (
	"bytes"
	"context"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Binaries built by TestMain.
var (
	moduleDir         string // the module root
	airlockBin        string // airlock, built with -tags airlocktest
	vendorBin         string // airlock-vendor, built with -tags airlocktest
	releaseAirlockBin string // airlock, release build (no test hooks)
	buildDir          string // where TestMain builds the binaries; removed at the end
)

// passphrase is the key passphrase of every encrypted key the tests make.
// It is distinctive so that a leak into any output is easy to spot.
const passphrase = "demo-pass-Q7v3x9"

// t0 is the simulated "now" of most tests.
var t0 = time.Date(2030, 3, 1, 12, 0, 0, 0, time.UTC)

const day = 24 * time.Hour

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	root, err := moduleRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	tmp, err := os.MkdirTemp("", "airlock-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	exe := ""
	if runtime.GOOS == "windows" {
		exe = ".exe"
	}
	testDir := filepath.Join(tmp, "test") + string(filepath.Separator)
	relDir := filepath.Join(tmp, "release") + string(filepath.Separator)
	if err := goBuild(root, "-tags", "airlocktest", "-o", testDir, "./cmd/airlock", "./cmd/airlock-vendor"); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	if err := goBuild(root, "-o", relDir, "./cmd/airlock"); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	moduleDir = root
	buildDir = tmp
	airlockBin = filepath.Join(testDir, "airlock"+exe)
	vendorBin = filepath.Join(testDir, "airlock-vendor"+exe)
	releaseAirlockBin = filepath.Join(relDir, "airlock"+exe)
	return m.Run()
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	// Not on PATH: the toolchain that runs this test is under GOROOT.
	if root := os.Getenv("GOROOT"); root != "" {
		return filepath.Join(root, "bin", "go")
	}
	return "go"
}

// moduleRoot finds the directory of go.mod: from `go env GOMOD`, else by
// walking up from the working directory.
func moduleRoot() (string, error) {
	if out, err := exec.Command(goTool(), "env", "GOMOD").Output(); err == nil {
		if p := strings.TrimSpace(string(out)); p != "" && p != os.DevNull {
			return filepath.Dir(p), nil
		}
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("cannot find go.mod")
		}
		dir = parent
	}
}

func goBuild(root string, args ...string) error {
	cmd := exec.Command(goTool(), append([]string{"build"}, args...)...)
	cmd.Dir = root
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return nil
}

// env is a sealed environment to run the binaries in: its own HOME and XDG
// directories, nothing inherited from the caller's AIRLOCK_* variables, and
// the test hooks' variables set explicitly.
type env struct {
	t    *testing.T
	home string
	work string
	vars map[string]string
}

// newEnv returns an environment with the passphrase set and the clock at t0.
func newEnv(t *testing.T) *env {
	t.Helper()
	return &env{
		t:    t,
		home: t.TempDir(),
		work: t.TempDir(),
		vars: map[string]string{
			"AIRLOCK_PASSPHRASE": passphrase,
			"AIRLOCK_TEST_NOW":   t0.Format(time.RFC3339),
		},
	}
}

// with returns a copy of e with variables set; an empty value unsets one.
func (e *env) with(kv ...string) *env {
	if len(kv)%2 != 0 {
		panic("with: odd argument count")
	}
	c := *e
	c.vars = make(map[string]string, len(e.vars)+len(kv)/2)
	for k, v := range e.vars {
		c.vars[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == "" {
			delete(c.vars, kv[i])
		} else {
			c.vars[kv[i]] = kv[i+1]
		}
	}
	return &c
}

// at sets the simulated clock.
func (e *env) at(t time.Time) *env { return e.with("AIRLOCK_TEST_NOW", t.UTC().Format(time.RFC3339)) }

// on sets the simulated machine (a fixture tree).
func (e *env) on(machineDir string) *env { return e.with("AIRLOCK_TEST_MACHINE", machineDir) }

// environ is the complete environment of a child process.
func (e *env) environ() []string {
	vs := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + e.home,
		"USERPROFILE=" + e.home,
		"XDG_CONFIG_HOME=" + filepath.Join(e.home, ".config"),
		"XDG_STATE_HOME=" + filepath.Join(e.home, ".local", "state"),
		"XDG_DATA_HOME=" + filepath.Join(e.home, ".local", "share"),
		"XDG_CACHE_HOME=" + filepath.Join(e.home, ".cache"),
		"TMPDIR=" + os.TempDir(),
	}
	for k, v := range e.vars {
		vs = append(vs, k+"="+v)
	}
	return vs
}

// out is the outcome of one run.
type out struct {
	cmd    string
	stdout string
	stderr string
	code   int
}

func (o out) String() string {
	return fmt.Sprintf("$ %s\nexit %d\n--- stdout ---\n%s--- stderr ---\n%s", o.cmd, o.code, o.stdout, o.stderr)
}

// run runs bin with args and stdin (nil: empty) and returns what it did.
// A panic in the child is always a failure.
func (e *env) run(bin string, stdin []byte, args ...string) out {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = e.environ()
	cmd.Dir = e.work
	cmd.Stdin = bytes.NewReader(stdin)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	cmd.WaitDelay = 5 * time.Second
	return e.exec(cmd, &so, &se)
}

// exec runs cmd, whose stdout and stderr go to so and se, and returns what
// it did. A panic in the child is always a failure.
func (e *env) exec(cmd *exec.Cmd, so, se *bytes.Buffer) out {
	e.t.Helper()
	detach(cmd) // no controlling terminal: a passphrase prompt must fail, not hang
	o := out{cmd: filepath.Base(cmd.Path) + " " + strings.Join(cmd.Args[1:], " ")}
	err := cmd.Run()
	o.stdout, o.stderr = so.String(), se.String()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ee.ExitCode() >= 0:
		o.code = ee.ExitCode()
	default:
		// Errorf, not Fatalf: run may be called from other goroutines.
		e.t.Errorf("%s: %v\n%s", o.cmd, err, o)
		o.code = -1
	}
	if strings.Contains(o.stderr, "panic:") || strings.Contains(o.stderr, "goroutine ") {
		e.t.Errorf("%s panicked:\n%s", o.cmd, o)
	}
	return o
}

func (e *env) airlock(args ...string) out { e.t.Helper(); return e.run(airlockBin, nil, args...) }
func (e *env) vendor(args ...string) out  { e.t.Helper(); return e.run(vendorBin, nil, args...) }

// expect fails the test unless o exited with code.
func expect(t *testing.T, o out, code int) {
	t.Helper()
	if o.code != code {
		t.Fatalf("exit code %d, want %d\n%s", o.code, code, o)
	}
}

// expectOK fails the test unless o exited 0.
func expectOK(t *testing.T, o out) { t.Helper(); expect(t, o, 0) }

func expectStdout(t *testing.T, o out, want string) {
	t.Helper()
	if o.stdout != want {
		t.Errorf("stdout = %q, want %q\n%s", o.stdout, want, o)
	}
}

func expectStderr(t *testing.T, o out, want string) {
	t.Helper()
	if o.stderr != want {
		t.Errorf("stderr = %q, want %q\n%s", o.stderr, want, o)
	}
}

func expectContains(t *testing.T, what, s, sub string) {
	t.Helper()
	if !strings.Contains(s, sub) {
		t.Errorf("%s does not contain %q:\n%s", what, sub, s)
	}
}

func expectNotContains(t *testing.T, what, s, sub string) {
	t.Helper()
	if strings.Contains(s, sub) {
		t.Errorf("%s contains %q:\n%s", what, sub, s)
	}
}

// expectNoFile fails the test if path, or a temporary file for it, exists.
func expectNoFile(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Lstat(path); err == nil {
		t.Errorf("%s exists after a failure", path)
	} else if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stat %s: %v", path, err)
	}
	tmps, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*"))
	if len(tmps) > 0 {
		t.Errorf("temporary files left behind: %v", tmps)
	}
}

// expectNoLicenses fails the test if the state directory holds a license.
func expectNoLicenses(t *testing.T, state string) {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(state, "licenses"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	for _, e := range ents {
		t.Errorf("state %s holds %s after a refused activation", state, e.Name())
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func decodeJSON[T any](t *testing.T, o out) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(o.stdout), &v); err != nil {
		t.Fatalf("stdout is not the expected JSON: %v\n%s", err, o)
	}
	return v
}

// verifyJSON is the output of `airlock verify --json`.
type verifyJSON struct {
	Result      string            `json:"result"`
	ExitCode    int               `json:"exit_code"`
	Message     string            `json:"message"`
	Details     []string          `json:"details"`
	Product     string            `json:"product"`
	Licensee    string            `json:"licensee"`
	Expires     string            `json:"expires"`
	Lease       string            `json:"lease_until"`
	Features    map[string]uint64 `json:"features"`
	Provisional bool              `json:"provisional"`
}

// ---------------------------------------------------------------------------
// Fixture machines (fingerprint.DirSource layout).

type machine struct {
	machineID     string // /etc/machine-id, 32 hex digits
	productUUID   string // /sys/class/dmi/id/product_uuid
	boardSerial   string // /sys/class/dmi/id/board_serial
	productSerial string // /sys/class/dmi/id/product_serial
	diskSerial    string // /sys/block/sda/device/serial, the disk of "/"
	cpuModel      string // /proc/cpuinfo "model name"
	noDMI         bool   // no /sys/class/dmi at all (ARM board, WSL)
}

var machineA = machine{
	machineID:     "3f2a9c4e8b1d4f6a9e0c7b5d2a1f8e6c",
	productUUID:   "4C4C4544-0042-3510-8051-B4C04F4E4E31",
	boardSerial:   "BSN-ALPHA-7731",
	productSerial: "PSN-ALPHA-0042",
	diskSerial:    "S3Z9NX0M123456A",
	cpuModel:      "Intel(R) Core(TM) i7-8650U CPU @ 1.90GHz",
}

var machineB = machine{
	machineID:     "9d8c7b6a5f4e3d2c1b0a998877665544",
	productUUID:   "EC2A1F3B-77D4-4E1C-9A0B-5F6E7D8C9B0A",
	boardSerial:   "BSN-BRAVO-1188",
	productSerial: "PSN-BRAVO-9913",
	diskSerial:    "WD-WX12A3456789",
	cpuModel:      "AMD Ryzen 7 5800X 8-Core Processor",
}

// rawValues are the raw hardware values of m, which must never be printed.
func (m machine) rawValues() []string {
	return []string{m.machineID, m.productUUID, strings.ToLower(m.productUUID), m.boardSerial, m.productSerial, m.diskSerial, m.cpuModel}
}

// tree writes m as a fixture tree of a Linux machine and returns its root.
func (m machine) tree(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	w := func(p, content string) { writeFile(t, filepath.Join(root, filepath.FromSlash(p)), []byte(content)) }
	w("etc/machine-id", m.machineID+"\n")
	if !m.noDMI {
		w("sys/class/dmi/id/product_uuid", m.productUUID+"\n")
		w("sys/class/dmi/id/board_serial", m.boardSerial+"\n")
		w("sys/class/dmi/id/product_serial", m.productSerial+"\n")
		w("sys/class/dmi/id/sys_vendor", "Dell Inc.\n")
		w("sys/class/dmi/id/product_name", "Latitude 7490\n")
	}
	vendor := "GenuineIntel"
	if strings.HasPrefix(m.cpuModel, "AMD") {
		vendor = "AuthenticAMD"
	}
	cpu := fmt.Sprintf("processor\t: 0\nvendor_id\t: %s\ncpu family\t: 6\nmodel\t\t: 142\nmodel name\t: %s\nstepping\t: 10\ncpu MHz\t\t: 1900.000\nflags\t\t: fpu vme de pse\n\n", vendor, m.cpuModel)
	w("proc/cpuinfo", cpu+strings.Replace(cpu, "processor\t: 0", "processor\t: 1", 1))
	// "/" is ext4 on /dev/sda2 (8:2); sda2 is a partition of sda.
	w("proc/self/mountinfo", "25 1 8:2 / / rw,relatime shared:1 - ext4 /dev/sda2 rw,errors=remount-ro\n"+
		"26 25 0:22 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw\n")
	w("sys/class/block/sda2/partition", "2\n")
	if m.diskSerial != "" {
		w("sys/block/sda/device/serial", m.diskSerial+"\n")
	}
	w(".fixture/links", "/sys/dev/block/8:2 -> ../../devices/pci0000:00/0000:00:17.0/ata1/host0/target0:0:0/0:0:0:0/block/sda/sda2\n"+
		"/sys/class/block/sda2 -> ../../devices/pci0000:00/0000:00:17.0/ata1/host0/target0:0:0/0:0:0:0/block/sda/sda2\n")
	return root
}

// ---------------------------------------------------------------------------
// The activation flow.

// deskDir makes a vendor desk (init, low scrypt work factor) and returns its
// directory and the --vendor-key value that names its public key.
func initDesk(t *testing.T, e *env, extra ...string) (dir, vendorKey string) {
	t.Helper()
	dir = filepath.Join(t.TempDir(), "desk")
	o := e.vendor(append([]string{"--dir", dir, "init", "--scrypt-work-factor", "10"}, extra...)...)
	expectOK(t, o)
	if !regexp.MustCompile(`^AV1[A-Z2-7]+\n$`).MatchString(o.stdout) {
		t.Fatalf("init stdout is not a vendor public key:\n%s", o)
	}
	return dir, "@" + filepath.Join(dir, "vendor.pub")
}

// keyID returns the key id of a desk's vendor key.
func keyID(t *testing.T, e *env, dir string) string {
	t.Helper()
	o := e.vendor("--dir", dir, "pubkey", "--json")
	expectOK(t, o)
	j := decodeJSON[struct {
		PublicKey string `json:"public_key"`
		KeyID     string `json:"key_id"`
	}](t, o)
	if !regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(j.KeyID) {
		t.Fatalf("key id %q is not 16 hex digits", j.KeyID)
	}
	return j.KeyID
}

var licenseKeyRE = regexp.MustCompile(`^[0-9A-HJKMNP-TV-Z]{5}(-[0-9A-HJKMNP-TV-Z]{5}){3}-[0-9A-HJKMNP-TV-Z*~$=U]$`)

// createLicense adds an acme-cad license for "ACME Corp" and returns its key.
func createLicense(t *testing.T, e *env, dir string, extra ...string) string {
	t.Helper()
	args := append([]string{"--dir", dir, "license", "create", "--product", "acme-cad", "--licensee", "ACME Corp"}, extra...)
	o := e.vendor(args...)
	expectOK(t, o)
	key := strings.TrimSuffix(o.stdout, "\n")
	if !licenseKeyRE.MatchString(key) {
		t.Fatalf("license create printed %q, not a license key\n%s", key, o)
	}
	return key
}

// request makes an activation request from state and returns its file.
func request(t *testing.T, e *env, state, vendorKey, key string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "request.txt")
	o := e.airlock("--state", state, "request", "--product", "acme-cad", "--license-key", key,
		"--vendor-key", vendorKey, "-o", path, "--scrypt-work-factor", "10")
	expectOK(t, o)
	expectStdout(t, o, "")
	return path
}

// sign signs a request at the desk and returns the license file.
func sign(t *testing.T, e *env, dir, req string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "license.txt")
	o := e.vendor("--dir", dir, "sign", req, "-o", path)
	expectOK(t, o)
	expectStdout(t, o, "")
	return path
}

// activate installs a license into state.
func activate(t *testing.T, e *env, state, vendorKey, lic string) {
	t.Helper()
	o := e.airlock("--state", state, "activate", lic, "--vendor-key", vendorKey)
	expectOK(t, o)
	expectStdout(t, o, "")
}

// verify runs `airlock verify` and checks its plain output for code.
func verify(t *testing.T, e *env, state, vendorKey, code string, exit int) out {
	t.Helper()
	o := e.airlock("--state", state, "verify", "--product", "acme-cad", "--vendor-key", vendorKey)
	expect(t, o, exit)
	expectStdout(t, o, code+"\n")
	if exit == 0 {
		expectStderr(t, o, "")
	} else {
		expectContains(t, "stderr", o.stderr, "airlock: error: "+code+": ")
	}
	return o
}

// verifyJSONAt runs `airlock verify --json` and decodes it.
func verifyJSONOut(t *testing.T, e *env, state, vendorKey string, exit int) verifyJSON {
	t.Helper()
	o := e.airlock("--state", state, "verify", "--product", "acme-cad", "--vendor-key", vendorKey, "--json")
	expect(t, o, exit)
	expectStderr(t, o, "")
	j := decodeJSON[verifyJSON](t, o)
	if j.ExitCode != exit {
		t.Errorf("exit_code %d in JSON, process exited %d", j.ExitCode, exit)
	}
	if j.Product != "acme-cad" {
		t.Errorf("product %q in JSON, want acme-cad", j.Product)
	}
	return j
}

// flow is a license activated on one state.
type flow struct {
	desk, vendorKey, key, state, req, lic string
}

// activated runs the whole flow: desk, license, request, sign, activate.
func activated(t *testing.T, e *env, createArgs ...string) flow {
	t.Helper()
	var f flow
	f.desk, f.vendorKey = initDesk(t, e)
	f.key = createLicense(t, e, f.desk, createArgs...)
	f.state = filepath.Join(t.TempDir(), "state")
	f.req = request(t, e, f.state, f.vendorKey, f.key)
	f.lic = sign(t, e, f.desk, f.req)
	activate(t, e, f.state, f.vendorKey, f.lic)
	return f
}

func licensePath(state string) string { return filepath.Join(state, "licenses", "acme-cad.lic") }

// ---------------------------------------------------------------------------
// Armor, written from the spec: a three-character tag, then base32 (RFC
// 4648, upper case, no padding), wrapped at 64 columns between BEGIN and END
// lines.

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

func dearmor(t *testing.T, text []byte, label, tag string) []byte {
	t.Helper()
	lines := strings.Split(strings.TrimRight(string(text), "\n"), "\n")
	if len(lines) < 3 || lines[0] != "-----BEGIN AIRLOCK "+label+"-----" || lines[len(lines)-1] != "-----END AIRLOCK "+label+"-----" {
		t.Fatalf("not an armored %s:\n%s", label, text)
	}
	body := strings.Join(lines[1:len(lines)-1], "")
	rest, ok := strings.CutPrefix(body, tag)
	if !ok {
		t.Fatalf("armored %s does not start with %s", label, tag)
	}
	payload, err := b32.DecodeString(rest)
	if err != nil {
		t.Fatalf("armored %s: %v", label, err)
	}
	return payload
}

func rearmor(label, tag string, payload []byte) []byte {
	text := tag + b32.EncodeToString(payload)
	var b strings.Builder
	b.WriteString("-----BEGIN AIRLOCK " + label + "-----\n")
	for len(text) > 64 {
		b.WriteString(text[:64] + "\n")
		text = text[64:]
	}
	b.WriteString(text + "\n")
	b.WriteString("-----END AIRLOCK " + label + "-----\n")
	return []byte(b.String())
}
