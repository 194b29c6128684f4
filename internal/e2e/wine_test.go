package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The version line: the program, a version (the module's, or one set at
// link time), the Go version.
func TestVersion(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, bin := range []string{airlockBin, vendorBin} {
		o := e.run(bin, nil, "--version")
		expectOK(t, o)
		name := strings.TrimSuffix(filepath.Base(bin), ".exe")
		if !regexp.MustCompile(`^` + name + ` \S+( \([0-9a-f]+(\+changes)?(, \S+)?\))? go1\.\S+\n$`).MatchString(o.stdout) {
			t.Errorf("%s --version printed %q", name, o.stdout)
		}
	}
}

// wine64 finds Debian's wine64 (package wine64: /usr/lib/wine/wine64).
func wine64() string {
	for _, p := range []string{"/usr/lib/wine/wine64", "/usr/bin/wine64"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("wine64"); err == nil {
		return p
	}
	return ""
}

// TestWindowsUnderWine runs the Windows binaries (CGO_ENABLED=0,
// GOOS=windows) under Debian's wine64: a round trip on the real clock and
// the machine wine presents (desk init, license, request, sign, activate,
// verify VALID) and a fingerprint that is the same on two runs. Where wine
// cannot start a Go program at all, the test says exactly why and is
// skipped: it is kept for a wine that can.
func TestWindowsUnderWine(t *testing.T) {
	wine := wine64()
	if wine == "" {
		t.Skip("wine64 is not installed (apt-get install wine64): the Windows binaries were not run")
	}
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	build := exec.Command(goTool(), "build", "-o", bin+string(filepath.Separator), "./cmd/airlock", "./cmd/airlock-vendor")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=windows", "GOARCH=amd64")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build for windows: %v\n%s", err, out)
	}
	prefix := t.TempDir()
	work := t.TempDir()
	run := func(exe string, args ...string) out {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 180*time.Second)
		defer cancel()
		path := filepath.Join(bin, exe)
		if exe == "cmd.exe" { // wine's own
			path = exe
		}
		cmd := exec.CommandContext(ctx, wine, append([]string{path}, args...)...)
		cmd.Dir = work
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + work, "WINEPREFIX=" + prefix, "WINEDEBUG=-all",
			"AIRLOCK_PASSPHRASE=" + passphrase, "DISPLAY="}
		var so, se bytes.Buffer
		cmd.Stdout, cmd.Stderr = &so, &se
		err := cmd.Run()
		o := out{cmd: "wine64 " + exe + " " + strings.Join(args, " "), stdout: so.String(), stderr: se.String()}
		if ee, ok := err.(*exec.ExitError); ok {
			o.code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("%s: %v", o.cmd, err)
		}
		return o
	}
	noPrng := func(o out) {
		if strings.Contains(o.stderr, "bcryptprimitives.dll not found") {
			t.Skipf("wine cannot run Go %s Windows programs: the Go runtime needs ProcessPrng from bcryptprimitives.dll, which this wine (%s) lacks; the Windows binaries were built but not run", strings.TrimPrefix(goVersion(t), "go"), wineVersion(wine))
		}
	}
	o := run("airlock.exe", "--version")
	if o.code != 0 {
		noPrng(o)
		// Where wine cannot start even its own cmd.exe, no Windows program
		// runs on this machine (seen on a CI machine: "could not load
		// kernel32.dll, status c0000135"): that is the machine, not us.
		if probe := run("cmd.exe", "/c", "exit", "0"); probe.code != 0 {
			t.Skipf("wine (%s) cannot start even its own cmd.exe here (exit %d: %s); the Windows binaries were built but not run", wineVersion(wine), probe.code, strings.TrimSpace(probe.stderr))
		}
		// Wine runs its own programs, so ours must run too: a second try
		// (the prefix now made) is the last word.
		t.Logf("the first start failed, wine's cmd.exe runs; trying again:\n%s", o)
		if o = run("airlock.exe", "--version"); o.code != 0 {
			noPrng(o)
			t.Fatalf("wine runs its own cmd.exe but not airlock.exe:\n%s", o)
		}
	}
	desk := `C:\airlock-desk`
	state := `C:\airlock-state`
	o = run("airlock-vendor.exe", "--dir", desk, "init")
	expectOK(t, o)
	vk := strings.TrimSpace(o.stdout)
	o = run("airlock-vendor.exe", "--dir", desk, "license", "create", "--product", "acme-cad", "--licensee", "ACME Corp")
	expectOK(t, o)
	key := strings.TrimSpace(o.stdout)
	expectOK(t, run("airlock.exe", "--state", state, "request", "--product", "acme-cad", "--license-key", key,
		"--vendor-key", vk, "-o", `C:\req.txt`, "--plaintext-key"))
	expectOK(t, run("airlock-vendor.exe", "--dir", desk, "sign", `C:\req.txt`, "-o", `C:\lic.txt`))
	expectOK(t, run("airlock.exe", "--state", state, "activate", `C:\lic.txt`, "--vendor-key", vk))
	o = run("airlock.exe", "--state", state, "verify", "--product", "acme-cad", "--vendor-key", vk)
	expectOK(t, o)
	expectStdout(t, o, "VALID\n")
	start := time.Now()
	fp1 := run("airlock.exe", "fingerprint", "--product", "acme-cad", "--vendor-key", vk)
	fp2 := run("airlock.exe", "fingerprint", "--product", "acme-cad", "--vendor-key", vk)
	t.Logf("windows fingerprint under wine: %v per run, process start included", time.Since(start)/2)
	expectOK(t, fp1)
	if fp1.stdout == "" || fp1.stdout != fp2.stdout {
		t.Errorf("the Windows fingerprint changed between two runs: %q, %q", fp1.stdout, fp2.stdout)
	}
}

func goVersion(t *testing.T) string {
	out, err := exec.Command(goTool(), "env", "GOVERSION").Output()
	if err != nil {
		return "go?"
	}
	return strings.TrimSpace(string(out))
}

func wineVersion(wine string) string {
	out, err := exec.Command(wine, "--version").Output()
	if err != nil {
		return "unknown version"
	}
	return strings.TrimSpace(string(out))
}
