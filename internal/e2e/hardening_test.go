package e2e

// Issue 11's findings, each through the real binaries: bounded reads,
// self-issued phone codes, replayed sealed secrets, deleted clock records,
// and the small things (file modes, weak passphrases, test-only flags).

import (
	"bytes"
	"context"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/internal/armor"
	"github.com/airlock-offline/airlock/internal/testrig/testkeys"
	"github.com/airlock-offline/airlock/internal/wire"
	"github.com/airlock-offline/airlock/licensekey"
	"github.com/airlock-offline/airlock/phonecode"
	airrequest "github.com/airlock-offline/airlock/request"
)

// memCeilingKB is the most resident memory any command may use while it
// refuses an oversized input. Reading a 100 MB passphrase file whole used
// to cost about 700 MB.
const memCeilingKB = 96 << 10

// runBounded runs bin with stdin from the file stdinPath ("" for none) and
// reports its outcome and peak resident memory in KiB. A run that does not
// end within 20 s (an unbounded read of /dev/zero) fails the test.
func (e *env) runBounded(bin, stdinPath string, args ...string) (out, int64) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = e.environ()
	cmd.Dir = e.work
	if stdinPath != "" {
		f, err := os.Open(stdinPath)
		if err != nil {
			e.t.Fatal(err)
		}
		defer f.Close()
		cmd.Stdin = f
	}
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	o := e.exec(cmd, &so, &se)
	if o.code < 0 {
		e.t.Fatalf("%s was killed: an unbounded read?", o.cmd)
	}
	var rss int64
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		rss = ru.Maxrss
	}
	return o, rss
}

// bigFile makes a 100 MB file (sparse: it reads as zeros).
func bigFile(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "big")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(100 << 20); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestBoundedReads: every file or stdin a command reads has a limit; a
// huge file or /dev/zero is refused at once, naming the file and the
// limit, with a small memory footprint.
func TestBoundedReads(t *testing.T) {
	t.Parallel()
	e := newEnv(t).on(machineA.tree(t))
	f := activated(t, e)
	big := bigFile(t)
	if _, err := os.Stat("/dev/zero"); err != nil {
		t.Skip("no /dev/zero")
	}
	// A desk whose key files and ledger location are then replaced.
	damaged := func(name, src string) string {
		t.Helper()
		dir := filepath.Join(t.TempDir(), "desk")
		if err := os.CopyFS(dir, os.DirFS(f.desk)); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		os.Remove(p)
		if err := os.Symlink(src, p); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	type tc struct {
		name  string
		bin   string
		stdin string
		args  []string
		want  string // in stderr
	}
	var cases []tc
	for _, src := range []string{"/dev/zero", big} {
		cases = append(cases,
			tc{"passphrase file " + src, airlockBin, "", []string{"--state", filepath.Join(t.TempDir(), "s"), "--passphrase-file", src,
				"request", "--product", "acme-cad", "--license-key", f.key, "--vendor-key", f.vendorKey, "-o", filepath.Join(t.TempDir(), "r")},
				"the passphrase file " + quote(src) + " is larger than 4096 bytes"},
			tc{"desk passphrase file " + src, vendorBin, "", []string{"--dir", f.desk, "--passphrase-file", src, "sign", f.req, "-o", filepath.Join(t.TempDir(), "l")},
				"the passphrase file " + quote(src) + " is larger than 4096 bytes"},
			tc{"licensee secret file " + src, airlockBin, "", []string{"--state", f.state, "--licensee-secret-file", src,
				"verify", "--product", "acme-cad", "--vendor-key", f.vendorKey},
				"the licensee secret file " + quote(src) + " is larger than 4096 bytes"},
			tc{"vendor key file " + src, airlockBin, "", []string{"--state", f.state, "verify", "--product", "acme-cad", "--vendor-key", "@" + src},
				"the vendor key file " + quote(src) + " is larger than 16384 bytes"},
			tc{"vendor.key " + src, vendorBin, "", []string{"--dir", damaged("vendor.key", src), "sign", f.req, "-o", filepath.Join(t.TempDir(), "l")},
				"is larger than 16384 bytes"},
			tc{"vendor.pub " + src, vendorBin, "", []string{"--dir", damaged("vendor.pub", src), "pubkey"},
				"is larger than 16384 bytes"},
			tc{"ledger.url " + src, vendorBin, "", []string{"--dir", damaged("ledger.url", src), "license", "list"},
				"is larger than 4096 bytes"},
			tc{"license on stdin " + src, airlockBin, src, []string{"--state", f.state, "activate", "-", "--vendor-key", f.vendorKey},
				"the input (standard input) is larger than 1048576 bytes"},
			tc{"request on stdin " + src, vendorBin, src, []string{"--dir", f.desk, "sign", "-", "-o", filepath.Join(t.TempDir(), "l")},
				"the input (standard input) is larger than 1048576 bytes"},
		)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o, rss := e.runBounded(c.bin, c.stdin, c.args...)
			if o.code == 0 {
				t.Fatalf("accepted:\n%s", o)
			}
			expectContains(t, "stderr", o.stderr, c.want)
			if rss > memCeilingKB {
				t.Errorf("peak memory %d KiB, ceiling %d KiB", rss, memCeilingKB)
			}
		})
	}
}

func quote(s string) string { return `"` + s + `"` }

// TestSelfIssuedPhoneCode: the phone-code seed is in the client's state,
// so a licensee can compute a code without the vendor. What bounds it:
// off unless the product opts in; once per installation and product, ever;
// a license key the desk never issued produces no seat; and the vendor
// learns of the provisional period when a signed license is issued.
func TestSelfIssuedPhoneCode(t *testing.T) {
	t.Parallel()
	e := newEnv(t).on(machineA.tree(t))
	desk, vk := initDesk(t, e)
	state := filepath.Join(t.TempDir(), "s")
	bogus, err := licensekey.New(testkeys.Rand("e2e bogus license key"))
	if err != nil {
		t.Fatal(err)
	}
	// selfCode makes a --phone request and computes its code from the
	// state, as a licensee with a text editor can.
	selfCode := func(e *env, key string, at time.Time) (req, code string) {
		t.Helper()
		req = filepath.Join(t.TempDir(), "req.txt")
		expectOK(t, e.airlock("--state", state, "request", "--product", "acme-cad", "--license-key", key,
			"--vendor-key", vk, "--phone", "-o", req, "--plaintext-key"))
		lines := strings.Split(strings.TrimSpace(string(readFile(t, filepath.Join(state, "pending")))), "\n")
		fs := strings.Fields(lines[len(lines)-1])
		if len(fs) != 4 {
			t.Fatalf("pending line %q has no seed", lines[len(lines)-1])
		}
		h, _ := hex.DecodeString(fs[2])
		seed, _ := hex.DecodeString(fs[3])
		c, err := phonecode.Code(seed, [32]byte(h), at)
		if err != nil {
			t.Fatal(err)
		}
		return req, c
	}
	req, code := selfCode(e, bogus, t0)

	// Off unless the product opts in.
	o := e.airlock("--state", state, "activate", "--product", "acme-cad", "--code", code, "--vendor-key", vk)
	expect(t, o, 10)
	verify(t, e, state, vk, "NOT_ACTIVATED", 10)

	// Opted in: the self-made code works once (the honest limit).
	on := e.with("AIRLOCK_PROVISIONAL_GRACE", "72h")
	expectOK(t, on.airlock("--state", state, "activate", "--product", "acme-cad", "--code", code, "--vendor-key", vk))
	o = on.airlock("--state", state, "verify", "--product", "acme-cad", "--vendor-key", vk)
	expectOK(t, o)
	expectStdout(t, o, "PROVISIONAL\n")

	// A new request and a new self-made code, after the period: refused.
	later := on.at(t0.Add(73 * time.Hour))
	verify(t, later, state, vk, "NOT_ACTIVATED", 10)
	_, c2 := selfCode(later, bogus, t0.Add(73*time.Hour))
	o = later.airlock("--state", state, "activate", "--product", "acme-cad", "--code", c2, "--vendor-key", vk)
	expect(t, o, 10)
	expectContains(t, "stderr", o.stderr, "already had its provisional activation")
	verify(t, later, state, vk, "NOT_ACTIVATED", 10)

	// The documented limit: a fresh installation key (a new state folder)
	// starts afresh, as nothing a licensee's machine remembers can stop.
	fresh := filepath.Join(t.TempDir(), "fresh")
	origState := state
	state = fresh
	_, c3 := selfCode(later, bogus, t0.Add(73*time.Hour))
	expectOK(t, later.airlock("--state", fresh, "activate", "--product", "acme-cad", "--code", c3, "--vendor-key", vk))
	state = origState

	// The key was never issued: the desk refuses it and no seat exists.
	o = e.vendor("--dir", desk, "sign", req, "-o", filepath.Join(t.TempDir(), "l"))
	expect(t, o, 24)
	expectNotContains(t, "license list", e.vendor("--dir", desk, "license", "list", "--json").stdout, bogus)

	// A real license later: the desk's audit log learns of the period.
	key := createLicense(t, e, desk)
	req3 := filepath.Join(t.TempDir(), "req3.txt")
	expectOK(t, later.airlock("--state", state, "request", "--product", "acme-cad", "--license-key", key,
		"--vendor-key", vk, "-o", req3))
	expectOK(t, later.vendor("--dir", desk, "sign", req3, "-o", filepath.Join(t.TempDir(), "l3")))
	o = e.vendor("--dir", desk, "audit", "list", "--json")
	expectOK(t, o)
	expectContains(t, "audit list", o.stdout, `"action": "provisional.reported"`)
	expectContains(t, "audit list", o.stdout, "ran provisionally (phone code) since "+t0.Format(time.RFC3339))
}

// TestSealedSecretReplay: someone who saw a request (a QR photo) moves its
// sealed licensee secret into a request of their own: the desk refuses it
// (MALFORMED), writes no license, takes no seat, binds no secret, and the
// real licensee then activates.
func TestSealedSecretReplay(t *testing.T) {
	t.Parallel()
	e := newEnv(t).on(machineA.tree(t))
	desk, vk := initDesk(t, e)
	key := createLicense(t, e, desk, "--secret-mode", "client")
	state := filepath.Join(t.TempDir(), "s")
	secretFile := filepath.Join(t.TempDir(), "secret")
	writeFile(t, secretFile, []byte("Wq3-random-token-9f8e7d6c5b4a\n"))
	req := filepath.Join(t.TempDir(), "req.txt")
	expectOK(t, e.airlock("--state", state, "--licensee-secret-file", secretFile, "request", "--product", "acme-cad",
		"--license-key", key, "--vendor-key", vk, "-o", req, "--plaintext-key"))

	victim, err := airrequest.ParseText(readFile(t, req))
	if err != nil {
		t.Fatal(err)
	}
	thief := testkeys.Identity(crypto.RoleInstallation, "e2e thief")
	forged := *victim.Request
	forged.InstallSign = thief.Public().Sign
	forged.InstallBox = thief.Public().Box[:]
	forged.Nonce = bytes.Repeat([]byte{7}, len(forged.Nonce))
	payload, err := wire.Marshal(&forged)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := crypto.Sign(thief, crypto.TagRequest, payload)
	if err != nil {
		t.Fatal(err)
	}
	forgedPath := filepath.Join(t.TempDir(), "forged.txt")
	writeFile(t, forgedPath, armor.Encode(armor.Request, signed))
	lic := filepath.Join(t.TempDir(), "forged-license.txt")
	o := e.vendor("--dir", desk, "sign", forgedPath, "-o", lic)
	expect(t, o, 27)
	expectContains(t, "stderr", o.stderr, "MALFORMED")
	expectContains(t, "stderr", o.stderr, "not made for this request")
	expectNoFile(t, lic)
	expectNotContains(t, "license list", e.vendor("--dir", desk, "license", "list", "--json").stdout, `"seats_used": 1`)

	// The real licensee activates (the secret was not bound by the thief).
	f := sign(t, e, desk, req)
	expectOK(t, e.airlock("--state", state, "--licensee-secret-file", secretFile, "activate", f, "--vendor-key", vk))
	o = e.airlock("--state", state, "--licensee-secret-file", secretFile, "verify", "--product", "acme-cad", "--vendor-key", vk)
	expectOK(t, o)
}

// TestClockRecordRemoved: `rm <state>/clock` after CLOCK_TAMPERED used to
// give VALID again.
func TestClockRecordRemoved(t *testing.T) {
	t.Parallel()
	e := newEnv(t).on(machineA.tree(t))
	f := activated(t, e, "--expires", "365d")
	t10 := t0.Add(10 * day)
	verify(t, e.at(t10), f.state, f.vendorKey, "VALID", 0)
	verify(t, e.at(t0.Add(day)), f.state, f.vendorKey, "CLOCK_TAMPERED", 18)
	if err := os.Remove(filepath.Join(f.state, "clock")); err != nil {
		t.Fatal(err)
	}
	verify(t, e.at(t0.Add(day)), f.state, f.vendorKey, "CLOCK_TAMPERED", 18)
	// Rewinding the file instead of removing it does not help either.
	writeFile(t, filepath.Join(f.state, "clock"), []byte("1\n"))
	verify(t, e.at(t0.Add(day)), f.state, f.vendorKey, "CLOCK_TAMPERED", 18)
	// Nor does removing both records.
	os.Remove(filepath.Join(f.state, "clock"))
	os.Remove(filepath.Join(f.state, "licenses", ".seen"))
	verify(t, e.at(t0.Add(day)), f.state, f.vendorKey, "CLOCK_TAMPERED", 18)
}

// TestFileModesAndFlags: licenses are stored 0600; a state or desk folder
// made 0755 beforehand is made private; a short desk passphrase is warned
// about; the scrypt work factor flag exists in test builds only and is
// bounded there.
func TestFileModesAndFlags(t *testing.T) {
	t.Parallel()
	e := newEnv(t).on(machineA.tree(t))
	f := activated(t, e)
	wantPerm := func(p string, want os.FileMode) {
		t.Helper()
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s has mode %04o, want %04o", p, fi.Mode().Perm(), want)
		}
	}
	wantPerm(licensePath(f.state), 0o600)
	wantPerm(filepath.Join(f.state, "clock"), 0o600)

	open := filepath.Join(t.TempDir(), "open-state")
	if err := os.Mkdir(open, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(open, 0o755)
	expectOK(t, e.airlock("--state", open, "request", "--product", "acme-cad", "--license-key", f.key,
		"--vendor-key", f.vendorKey, "-o", filepath.Join(t.TempDir(), "r"), "--plaintext-key"))
	wantPerm(open, 0o700)

	openDesk := filepath.Join(t.TempDir(), "open-desk")
	if err := os.Mkdir(openDesk, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(openDesk, 0o755)
	o := e.with("AIRLOCK_PASSPHRASE", "short").vendor("--dir", openDesk, "init", "--scrypt-work-factor", "10")
	expectOK(t, o)
	wantPerm(openDesk, 0o700)
	expectContains(t, "stderr", o.stderr, "airlock-vendor: warning: "+openDesk+" was accessible to other users")
	expectContains(t, "stderr", o.stderr, "airlock-vendor: warning: the passphrase has only 5 characters")
	o = e.vendor("--dir", filepath.Join(t.TempDir(), "d2"), "init", "--scrypt-work-factor", "10")
	expectOK(t, o)
	expectNotContains(t, "stderr", o.stderr, "passphrase has only")

	// Out-of-range work factors are refused, not a panic inside age.
	for _, wf := range []string{"-1", "0x7fffffff", "3"} {
		o = e.vendor("--dir", filepath.Join(t.TempDir(), "d"), "init", "--scrypt-work-factor", wf)
		if o.code == 0 {
			t.Errorf("work factor %s accepted", wf)
		}
	}
	// The release build has no such flag.
	o = e.run(releaseAirlockBin, nil, "--state", filepath.Join(t.TempDir(), "rel"), "request", "--product", "acme-cad",
		"--license-key", f.key, "--vendor-key", f.vendorKey, "--scrypt-work-factor", "10")
	expect(t, o, 2)
	expectContains(t, "stderr", o.stderr, "unknown flag: --scrypt-work-factor")
}

// Standard input serves one purpose per call: `--licensee-secret-file -`
// with `activate -` is a usage error naming both, not "the licensee
// secret file is empty".
func TestStdinOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t).on(machineA.tree(t))
	f := activated(t, e)
	o := e.run(airlockBin, readFile(t, f.lic), "--state", f.state, "--licensee-secret-file", "-", "activate", "-", "--vendor-key", f.vendorKey)
	expect(t, o, 2)
	expectContains(t, "stderr", o.stderr, "airlock: error: standard input can be read only once: it is already the input, so the licensee secret file cannot be - too")
}
