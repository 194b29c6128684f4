// Package e2e runs the real airlock and airlock-vendor binaries through the
// activation flow and its failure modes, and checks their standard output,
// standard error, exit codes and the files they leave behind.
//
// The binaries are built once, in TestMain, with the "airlocktest" tag, which
// lets AIRLOCK_TEST_NOW set the clock and AIRLOCK_TEST_MACHINE point the
// fingerprint at a fixture tree; a release build of airlock is checked to
// ignore both.
package e2e

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// secretLeaks lists what no command may ever print.
var secretLeaks = []string{passphrase, "AGE-SECRET-KEY", "SECRET KEY-----", "BEGIN AGE ENCRYPTED FILE"}

var secretTextRE = regexp.MustCompile(`AK1[A-Z2-7]{8,}`)

func expectNoSecrets(t *testing.T, outs []out, extra ...string) {
	t.Helper()
	for _, o := range outs {
		for _, s := range []string{o.stdout, o.stderr} {
			for _, leak := range append(slices.Clone(secretLeaks), extra...) {
				if leak != "" && strings.Contains(s, leak) {
					t.Errorf("output leaks %q\n%s", leak, o)
				}
			}
			if secretTextRE.MatchString(s) {
				t.Errorf("output holds secret key text %q\n%s", secretTextRE.FindString(s), o)
			}
		}
	}
}

type inspectJSON struct {
	Kind     string `json:"kind"`
	SignedBy string `json:"signed_by"`
	Verified bool   `json:"verified"`
	Result   string `json:"result"`
	Note     string `json:"note"`
	Fields   []struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	} `json:"fields"`
}

func (j inspectJSON) field(t *testing.T, name string) string {
	t.Helper()
	for _, f := range j.Fields {
		if f.Name == name {
			return f.Value
		}
	}
	t.Fatalf("inspect JSON has no field %q: %+v", name, j)
	return ""
}

type statusJSON struct {
	State        string       `json:"state_dir"`
	Installation string       `json:"installation_key_id"`
	Licenses     []verifyJSON `json:"licenses"`
}

type licenseShowJSON struct {
	Key         string `json:"license_key"`
	MaxMachines int    `json:"max_machines"`
	SeatsUsed   *int   `json:"seats_used"`
	Activations []struct {
		ID           string `json:"activation_id"`
		Installation string `json:"installation_key_id"`
		Fingerprint  string `json:"fingerprint"`
		Released     bool   `json:"released"`
	} `json:"activations"`
}

func licenseShow(t *testing.T, e *env, desk, key string) licenseShowJSON {
	t.Helper()
	o := e.vendor("--dir", desk, "license", "show", key, "--json")
	expectOK(t, o)
	j := decodeJSON[licenseShowJSON](t, o)
	if j.SeatsUsed == nil {
		t.Fatalf("license show --json has no seats_used\n%s", o)
	}
	return j
}

var hex16 = regexp.MustCompile(`^[0-9a-f]{16}$`)

// 1. The whole flow, and what each command prints on the way.
func TestRoundTrip(t *testing.T) {
	t.Parallel()
	e := newEnv(t).on(machineA.tree(t))
	var outs []out
	keep := func(o out) out { outs = append(outs, o); return o }

	desk, vk := initDesk(t, e)
	kid := keyID(t, e, desk)
	key := createLicense(t, e, desk, "--max-machines", "1", "--expires", "365d", "--feature", "export=1")
	expires := t0.Add(365 * day).Format(time.RFC3339)

	state := filepath.Join(t.TempDir(), "state")
	reqPath := filepath.Join(t.TempDir(), "req.txt")
	o := keep(e.airlock("--state", state, "request", "--product", "acme-cad", "--license-key", key,
		"--vendor-key", vk, "-o", reqPath, "--scrypt-work-factor", "10"))
	expectOK(t, o)
	expectStdout(t, o, "")
	expectContains(t, "request stderr", o.stderr, "new installation key ")
	expectContains(t, "request stderr", o.stderr, fmt.Sprintf("request for %q written to %s (", "acme-cad", reqPath))
	instKey := readFile(t, filepath.Join(state, "installation.key"))
	if !bytes.HasPrefix(instKey, []byte("-----BEGIN AGE ENCRYPTED FILE-----\n")) {
		t.Errorf("installation key is not age-encrypted:\n%.80s", instKey)
	}
	if runtime.GOOS != "windows" {
		if fi, err := os.Stat(filepath.Join(state, "installation.key")); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("installation.key: mode %v (%v), want 0600", fi.Mode().Perm(), err)
		}
	}

	licPath := filepath.Join(t.TempDir(), "lic.txt")
	o = keep(e.vendor("--dir", desk, "sign", reqPath, "-o", licPath))
	expectOK(t, o)
	expectStdout(t, o, "")
	expectStderr(t, o, fmt.Sprintf("airlock-vendor: signed license for %q, product %q (new seat), written to %s\n", "ACME Corp", "acme-cad", licPath))

	o = keep(e.airlock("--state", state, "activate", licPath, "--vendor-key", vk))
	expectOK(t, o)
	expectStdout(t, o, "")
	expectStderr(t, o, fmt.Sprintf("airlock: activated %q for %q (expires %s)\n", "acme-cad", "ACME Corp", expires))
	if !bytes.Equal(readFile(t, licensePath(state)), readFile(t, licPath)) {
		t.Errorf("the stored license differs from the one activated")
	}

	keep(verify(t, e, state, vk, "VALID", 0))

	j := verifyJSONOut(t, e, state, vk, 0)
	if j.Result != "VALID" || j.Licensee != "ACME Corp" || j.Expires != expires || j.Message != "" || j.Details != nil || j.Lease != "" {
		t.Errorf("verify --json = %+v", j)
	}
	if len(j.Features) != 1 || j.Features["export"] != 1 {
		t.Errorf("verify --json features = %v, want export=1", j.Features)
	}

	o = keep(e.airlock("--state", state, "status", "--json", "--vendor-key", vk))
	expectOK(t, o)
	st := decodeJSON[statusJSON](t, o)
	if st.State != state {
		t.Errorf("status state_dir %q, want %q", st.State, state)
	}
	if !hex16.MatchString(st.Installation) {
		t.Errorf("status installation_key_id %q", st.Installation)
	}
	if len(st.Licenses) != 1 || st.Licenses[0].Result != "VALID" || st.Licenses[0].ExitCode != 0 ||
		st.Licenses[0].Product != "acme-cad" || st.Licenses[0].Licensee != "ACME Corp" || st.Licenses[0].Features["export"] != 1 {
		t.Errorf("status licenses = %+v", st.Licenses)
	}
	o = keep(e.airlock("--state", state, "status", "--json"))
	expectOK(t, o)
	if st := decodeJSON[statusJSON](t, o); len(st.Licenses) != 1 || st.Licenses[0].Result != "UNCHECKED" {
		t.Errorf("status without a vendor key = %+v, want one UNCHECKED license", st.Licenses)
	}
	o = keep(e.airlock("--state", state, "status", "--vendor-key", vk))
	expectOK(t, o)
	expectContains(t, "status", o.stdout, "installation: key "+st.Installation+"\n")
	expectContains(t, "status", o.stdout, `license:      "acme-cad" VALID, licensee "ACME Corp", expires `+expires+"\n")

	// inspect: what the file is and who signed it.
	o = keep(e.airlock("inspect", reqPath, "--vendor-key", vk))
	expectOK(t, o)
	expectContains(t, "inspect request", o.stdout, "activation request\n  signed by key "+st.Installation+": verifies\n")
	expectContains(t, "inspect request", o.stdout, `"acme-cad"`)
	expectContains(t, "inspect request", o.stdout, key)
	expectContains(t, "inspect request", o.stdout, "vendor key id:       "+kid+"\n")
	o = keep(e.airlock("inspect", licPath, "--vendor-key", vk))
	expectOK(t, o)
	expectContains(t, "inspect license", o.stdout, "license\n  signed by key "+kid+": verifies\n")
	expectContains(t, "inspect license", o.stdout, `licensee:            "ACME Corp"`)
	expectContains(t, "inspect license", o.stdout, `feature:             "export" = 1`)
	expectContains(t, "inspect license", o.stdout, "expires:             "+expires+"\n")
	expectContains(t, "inspect license", o.stdout, "installation key id: "+st.Installation+"\n")
	o = keep(e.airlock("inspect", "-", "--vendor-key", vk))
	expect(t, o, 27) // empty stdin
	expectStdout(t, o, "")
	expectStderr(t, o, "airlock: error: MALFORMED: not an airlock file: input is empty\n")

	o = keep(e.vendor("--dir", desk, "inspect", reqPath, "--json"))
	expectOK(t, o)
	ij := decodeJSON[inspectJSON](t, o)
	if ij.Kind != "activation request" || !ij.Verified || ij.Result != "VALID" || ij.SignedBy != st.Installation {
		t.Errorf("vendor inspect request = %+v", ij)
	}
	reqFP := ij.field(t, "fingerprint")
	o = keep(e.vendor("--dir", desk, "inspect", licPath, "--json"))
	expectOK(t, o)
	if lj := decodeJSON[inspectJSON](t, o); lj.Kind != "license" || !lj.Verified || lj.Result != "VALID" || lj.SignedBy != kid ||
		lj.field(t, "licensee") != `"ACME Corp"` || lj.field(t, "fingerprint") != reqFP {
		t.Errorf("vendor inspect license = %+v", lj)
	}

	// The fingerprint the user can show is the one the vendor sees.
	o = keep(e.airlock("fingerprint", "--product", "acme-cad", "--vendor-key", vk, "--json"))
	expectOK(t, o)
	fj := decodeJSON[struct {
		Fingerprint string `json:"fingerprint"`
		Scope       string `json:"scope"`
		Environment string `json:"environment"`
	}](t, o)
	if strings.ReplaceAll(fj.Fingerprint, "-", "") != reqFP {
		t.Errorf("fingerprint --product --vendor-key = %q, the request carries %q", fj.Fingerprint, reqFP)
	}
	if fj.Environment != "none" {
		t.Errorf("fixture machine environment = %q, want none", fj.Environment)
	}
	o = keep(e.airlock("fingerprint", "--explain"))
	expectOK(t, o)
	for _, c := range []string{"machine-id", "product-uuid", "board-serial", "product-serial", "disk", "cpu"} {
		if !regexp.MustCompile(`(?m)^  ` + c + ` +\S+ +[0-9a-f]{16}$`).MatchString(o.stdout) {
			t.Errorf("fingerprint --explain: component %s is not available with a digest:\n%s", c, o.stdout)
		}
	}

	// The ledger shows the seat taken by this installation on this machine.
	ls := licenseShow(t, e, desk, key)
	if *ls.SeatsUsed != 1 || len(ls.Activations) != 1 || ls.Activations[0].Installation != st.Installation || ls.Activations[0].Fingerprint != reqFP {
		t.Errorf("license show = %+v", ls)
	}

	expectNoSecrets(t, outs, machineA.rawValues()...)
}

// 2. One flipped bit in the signature, or one changed letter in the signed
// payload, and the license no longer verifies.
func TestTamperedLicense(t *testing.T) {
	t.Parallel()
	e := newEnv(t).on(machineA.tree(t))
	desk, vk := initDesk(t, e)
	key := createLicense(t, e, desk, "--expires", "365d", "--feature", "export=1")
	state := filepath.Join(t.TempDir(), "state")
	licFile := sign(t, e, desk, request(t, e, state, vk, key))
	orig := readFile(t, licFile)
	payload := dearmor(t, orig, "LICENSE", "AL1")
	if !bytes.Equal(rearmor("LICENSE", "AL1", payload), orig) {
		t.Fatalf("the test's armor codec does not reproduce the license byte for byte:\n%s", orig)
	}

	sigFlip := slices.Clone(payload)
	sigFlip[len(sigFlip)-1] ^= 0x01 // inside the Ed25519 signature
	if n := bytes.Count(payload, []byte("ACME Corp")); n != 1 {
		t.Fatalf("licensee appears %d times in the payload, want 1", n)
	}
	bodyFlip := slices.Clone(payload)
	bodyFlip[bytes.Index(payload, []byte("ACME Corp"))+5] = 'K' // "ACME Korp"
	tampered := []struct {
		name string
		data []byte
	}{
		{"signature", rearmor("LICENSE", "AL1", sigFlip)},
		{"payload", rearmor("LICENSE", "AL1", bodyFlip)},
	}

	for _, c := range tampered {
		t.Run("activate/"+c.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "tampered.txt")
			writeFile(t, p, c.data)
			o := e.airlock("--state", state, "activate", p, "--vendor-key", vk)
			expect(t, o, 11)
			expectStdout(t, o, "")
			expectContains(t, "stderr", o.stderr, "airlock: error: SIGNATURE_INVALID: license signature does not verify")
			expectNotContains(t, "stderr", o.stderr, "Korp")
			expectNoLicenses(t, state)
		})
	}

	activate(t, e, state, vk, licFile)
	verify(t, e, state, vk, "VALID", 0)

	for _, c := range tampered {
		t.Run("verify/"+c.name, func(t *testing.T) {
			writeFile(t, licensePath(state), c.data)
			o := verify(t, e, state, vk, "SIGNATURE_INVALID", 11)
			expectContains(t, "stderr", o.stderr, "license signature does not verify")
			expectNotContains(t, "stderr", o.stderr, "Korp")
			j := verifyJSONOut(t, e, state, vk, 11)
			if j.Result != "SIGNATURE_INVALID" || j.Licensee != "" || j.Features != nil || j.Expires != "" {
				t.Errorf("verify --json of a tampered license = %+v: it must not report unverified fields", j)
			}
			o = e.airlock("--state", state, "status", "--json", "--vendor-key", vk)
			expectOK(t, o)
			if st := decodeJSON[statusJSON](t, o); len(st.Licenses) != 1 || st.Licenses[0].Result != "SIGNATURE_INVALID" {
				t.Errorf("status of a tampered license = %+v", st.Licenses)
			}
		})
	}

	t.Run("verify/truncated", func(t *testing.T) {
		writeFile(t, licensePath(state), rearmor("LICENSE", "AL1", payload[:len(payload)-10]))
		verify(t, e, state, vk, "MALFORMED", 27)
	})
	t.Run("verify/garbled-armor", func(t *testing.T) {
		writeFile(t, licensePath(state), []byte("-----BEGIN AIRLOCK LICENSE-----\nAL1!!!!\n-----END AIRLOCK LICENSE-----\n"))
		o := verify(t, e, state, vk, "MALFORMED", 27)
		expectContains(t, "stderr", o.stderr, "the stored license is damaged")
	})

	// The genuine license put back verifies again.
	writeFile(t, licensePath(state), orig)
	verify(t, e, state, vk, "VALID", 0)
}

// 3. A license signed by a vendor key the product does not pin.
func TestUnknownVendorKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t).on(machineA.tree(t))
	desk1, vk1 := initDesk(t, e)
	desk2, vk2 := initDesk(t, e)
	kid1, kid2 := keyID(t, e, desk1), keyID(t, e, desk2)
	if kid1 == kid2 {
		t.Fatalf("two desks made the same key id %s", kid1)
	}
	key2 := createLicense(t, e, desk2, "--expires", "365d")
	state := filepath.Join(t.TempDir(), "state")
	req2 := request(t, e, state, vk2, key2)
	lic2 := sign(t, e, desk2, req2)

	why := fmt.Sprintf("signed by key %s, expected [%s]", kid2, kid1)
	o := e.airlock("--state", state, "activate", lic2, "--vendor-key", vk1)
	expect(t, o, 12)
	expectStdout(t, o, "")
	expectContains(t, "stderr", o.stderr, "airlock: error: UNKNOWN_VENDOR_KEY: ")
	expectContains(t, "stderr", o.stderr, why)
	expectNoLicenses(t, state)

	activate(t, e, state, vk2, lic2)
	o = verify(t, e, state, vk1, "UNKNOWN_VENDOR_KEY", 12)
	expectContains(t, "stderr", o.stderr, why)
	if j := verifyJSONOut(t, e, state, vk1, 12); j.Result != "UNKNOWN_VENDOR_KEY" || j.Licensee != "" {
		t.Errorf("verify --json = %+v", j)
	}
	verify(t, e, state, vk2, "VALID", 0)
	// During a key rotation the product pins both keys.
	o = e.airlock("--state", state, "verify", "--product", "acme-cad", "--vendor-key", vk1, "--vendor-key", vk2)
	expectOK(t, o)
	expectStdout(t, o, "VALID\n")

	// Vendor 1's desk will not sign a request made for vendor 2.
	out1 := filepath.Join(t.TempDir(), "out.txt")
	o = e.vendor("--dir", desk1, "sign", req2, "-o", out1)
	expect(t, o, 12)
	expectStdout(t, o, "")
	expectContains(t, "stderr", o.stderr, fmt.Sprintf("airlock-vendor: error: UNKNOWN_VENDOR_KEY: request was made for vendor key %s, this desk signs with %s", kid2, kid1))
	expectNoFile(t, out1)
}

// 4. The license of one machine on another.
func TestOtherMachine(t *testing.T) {
	t.Parallel()
	a, b := machineA.tree(t), machineB.tree(t)
	e := newEnv(t)
	desk, vk := initDesk(t, e)
	key := createLicense(t, e, desk, "--expires", "365d")
	state := filepath.Join(t.TempDir(), "state")
	lic := sign(t, e, desk, request(t, e.on(a), state, vk, key))

	all := []string{"changed: machine-id", "changed: product-uuid", "changed: board-serial", "changed: product-serial", "changed: disk", "changed: cpu"}
	secrets := append(machineA.rawValues(), machineB.rawValues()...)

	// Activation on machine B is refused and stores nothing.
	o := e.on(b).airlock("--state", state, "activate", lic, "--vendor-key", vk)
	expect(t, o, 13)
	expectStdout(t, o, "")
	expectContains(t, "stderr", o.stderr, "airlock: error: FINGERPRINT_MISMATCH: this machine does not match the license (0 of 6 components match, policy most)")
	expectNoLicenses(t, state)
	expectNoSecrets(t, []out{o}, secrets...)

	activate(t, e.on(a), state, vk, lic)
	verify(t, e.on(a), state, vk, "VALID", 0)

	o = verify(t, e.on(b), state, vk, "FINGERPRINT_MISMATCH", 13)
	expectContains(t, "stderr", o.stderr, "(0 of 6 components match, policy most)")
	for _, d := range all {
		expectContains(t, "stderr", o.stderr, d)
	}
	expectNoSecrets(t, []out{o}, secrets...)
	j := verifyJSONOut(t, e.on(b), state, vk, 13)
	if j.Result != "FINGERPRINT_MISMATCH" || !sameSet(j.Details, all) {
		t.Errorf("verify --json on machine B = %+v, want details %v", j, all)
	}

	// Under the default policy ("most": more than half) a machine keeps
	// its license through a new disk and a new processor...
	upgraded := machineA
	upgraded.diskSerial, upgraded.cpuModel = machineB.diskSerial, machineB.cpuModel
	verify(t, e.on(upgraded.tree(t)), state, vk, "VALID", 0)

	// ...but not when half its identity changed.
	half := machineA
	half.machineID, half.productUUID, half.boardSerial = machineB.machineID, machineB.productUUID, machineB.boardSerial
	j = verifyJSONOut(t, e.on(half.tree(t)), state, vk, 13)
	if want := []string{"changed: machine-id", "changed: product-uuid", "changed: board-serial"}; j.Result != "FINGERPRINT_MISMATCH" || !sameSet(j.Details, want) {
		t.Errorf("verify --json with 3 of 6 changed = %+v, want details %v", j, want)
	}
	expectContains(t, "message", j.Message, "3 of 6 components match")

	// Components that disappeared are named as missing.
	noDMI := machineA
	noDMI.noDMI, noDMI.diskSerial = true, ""
	j = verifyJSONOut(t, e.on(noDMI.tree(t)), state, vk, 13)
	if want := []string{"missing: product-uuid", "missing: board-serial", "missing: product-serial", "missing: disk"}; j.Result != "FINGERPRINT_MISMATCH" || !sameSet(j.Details, want) {
		t.Errorf("verify --json without DMI and disk = %+v, want details %v", j, want)
	}

	// And machine A is still fine.
	verify(t, e.on(a), state, vk, "VALID", 0)
}

func sameSet(got, want []string) bool {
	g, w := slices.Clone(got), slices.Clone(want)
	slices.Sort(g)
	slices.Sort(w)
	return slices.Equal(g, w)
}

// 5. Expiry, at the second, and a license not valid yet.
func TestExpired(t *testing.T) {
	t.Parallel()
	e := newEnv(t).on(machineA.tree(t))
	f := activated(t, e, "--expires", "1d")
	exp := t0.Add(day)

	verify(t, e.at(t0.Add(23*time.Hour)), f.state, f.vendorKey, "VALID", 0)
	verify(t, e.at(exp.Add(-time.Second)), f.state, f.vendorKey, "VALID", 0)
	o := verify(t, e.at(exp), f.state, f.vendorKey, "EXPIRED", 16)
	expectStderr(t, o, "airlock: error: EXPIRED: license expired on "+exp.Format(time.RFC3339)+"\n")
	later := e.at(t0.Add(2 * day))
	verify(t, later, f.state, f.vendorKey, "EXPIRED", 16)
	j := verifyJSONOut(t, later, f.state, f.vendorKey, 16)
	if j.Result != "EXPIRED" || j.Licensee != "ACME Corp" || j.Expires != exp.Format(time.RFC3339) ||
		j.Message != "license expired on "+exp.Format(time.RFC3339) {
		t.Errorf("verify --json after expiry = %+v", j)
	}

	// The desk will not sign an expired license either, and writes nothing.
	req := request(t, later, f.state, f.vendorKey, f.key)
	outPath := filepath.Join(t.TempDir(), "out.txt")
	o = later.vendor("--dir", f.desk, "sign", req, "-o", outPath)
	expect(t, o, 16)
	expectStdout(t, o, "")
	expectContains(t, "stderr", o.stderr, "airlock-vendor: error: EXPIRED: license expired on "+exp.Format(time.RFC3339))
	expectNoFile(t, outPath)
}

func TestNotYetValid(t *testing.T) {
	t.Parallel()
	e := newEnv(t).on(machineA.tree(t))
	desk, vk := initDesk(t, e)
	key := createLicense(t, e, desk, "--expires", "365d")
	state := filepath.Join(t.TempDir(), "state")
	req := request(t, e, state, vk, key)
	// The desk's clock is three hours ahead of the machine's: more than
	// the hour of skew allowed.
	lic := sign(t, e.at(t0.Add(3*time.Hour)), desk, req)
	o := e.airlock("--state", state, "activate", lic, "--vendor-key", vk)
	expect(t, o, 15)
	expectStdout(t, o, "")
	expectStderr(t, o, "airlock: error: NOT_YET_VALID: license is not valid yet (valid from "+t0.Add(3*time.Hour).Format(time.RFC3339)+")\n")
	expectNoLicenses(t, state)
	// Within the skew it is accepted.
	activate(t, e.at(t0.Add(2*time.Hour+time.Minute)), state, vk, lic)
	verify(t, e.at(t0.Add(3*time.Hour)), state, vk, "VALID", 0)
}

// 6. A clock turned back past the last time seen.
func TestClockTurnedBack(t *testing.T) {
	t.Parallel()
	e := newEnv(t).on(machineA.tree(t))
	f := activated(t, e, "--expires", "365d")
	t10 := t0.Add(10 * day)

	verify(t, e.at(t10), f.state, f.vendorKey, "VALID", 0)
	o := verify(t, e.at(t0.Add(day)), f.state, f.vendorKey, "CLOCK_TAMPERED", 18)
	expectStderr(t, o, "airlock: error: CLOCK_TAMPERED: the clock is behind the last time seen ("+t10.Format(time.RFC3339)+"); it was turned back\n")
	if j := verifyJSONOut(t, e.at(t0.Add(day)), f.state, f.vendorKey, 18); j.Result != "CLOCK_TAMPERED" {
		t.Errorf("verify --json = %+v", j)
	}
	// A few minutes back (an NTP correction) is tolerated; more is not.
	verify(t, e.at(t10.Add(-14*time.Minute)), f.state, f.vendorKey, "VALID", 0)
	verify(t, e.at(t10.Add(-16*time.Minute)), f.state, f.vendorKey, "CLOCK_TAMPERED", 18)
	// Activation checks the clock too.
	o = e.at(t0.Add(day)).airlock("--state", f.state, "activate", f.lic, "--vendor-key", f.vendorKey)
	expect(t, o, 18)
	// The clock set right again: valid again.
	verify(t, e.at(t10), f.state, f.vendorKey, "VALID", 0)
}

// 7. A license answers one installation's request, not another's.
func TestOtherInstallation(t *testing.T) {
	t.Parallel()
	e := newEnv(t).on(machineA.tree(t))
	desk, vk := initDesk(t, e)
	key := createLicense(t, e, desk, "--max-machines", "2", "--expires", "365d")
	c1 := filepath.Join(t.TempDir(), "c1")
	c2 := filepath.Join(t.TempDir(), "c2")
	req1 := request(t, e, c1, vk, key)
	request(t, e, c2, vk, key)
	lic1 := sign(t, e, desk, req1)

	o := e.airlock("--state", c2, "activate", lic1, "--vendor-key", vk)
	expect(t, o, 28)
	expectStdout(t, o, "")
	expectStderr(t, o, "airlock: error: INSTALLATION_MISMATCH: license was issued to another installation\n")
	expectNoLicenses(t, c2)

	// A state that never made a request.
	c3 := filepath.Join(t.TempDir(), "c3")
	o = e.airlock("--state", c3, "activate", lic1, "--vendor-key", vk)
	expect(t, o, 28)
	expectContains(t, "stderr", o.stderr, "airlock: error: INSTALLATION_MISMATCH: no request was made from here: this installation has no key yet\n")
	expectContains(t, "stderr", o.stderr, "airlock: hint: make a request first: airlock request")
	expectNoLicenses(t, c3)

	// The same installation key, but no request waiting for this license.
	c4 := filepath.Join(t.TempDir(), "c4")
	for _, n := range []string{"installation.key", "installation.pub"} {
		writeFile(t, filepath.Join(c4, n), readFile(t, filepath.Join(c1, n)))
	}
	o = e.airlock("--state", c4, "activate", lic1, "--vendor-key", vk)
	expect(t, o, 29)
	expectStderr(t, o, "airlock: error: REQUEST_MISMATCH: this installation has no pending request for product \"acme-cad\"\n")
	expectNoLicenses(t, c4)

	activate(t, e, c1, vk, lic1)
	verify(t, e, c1, vk, "VALID", 0)
	o = e.airlock("--state", c2, "verify", "--product", "acme-cad", "--vendor-key", vk)
	expect(t, o, 10)
	expectStdout(t, o, "NOT_ACTIVATED\n")
	expectStderr(t, o, "airlock: error: NOT_ACTIVATED: product \"acme-cad\" is not activated on this machine\n")
}

// 8. Seats: a full license is refused, the same machine keeps its seat.
func TestTooManyMachines(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b := e.on(machineA.tree(t)), e.on(machineB.tree(t))
	desk, vk := initDesk(t, e)
	key := createLicense(t, e, desk, "--max-machines", "1", "--expires", "365d")
	c1 := filepath.Join(t.TempDir(), "c1")
	c2 := filepath.Join(t.TempDir(), "c2")
	lic1 := sign(t, e, desk, request(t, a, c1, vk, key))
	activate(t, a, c1, vk, lic1)

	outPath := filepath.Join(t.TempDir(), "out.txt")
	o := e.vendor("--dir", desk, "sign", request(t, b, c2, vk, key), "-o", outPath)
	expect(t, o, 23)
	expectStdout(t, o, "")
	expectStderr(t, o, "airlock-vendor: error: TOO_MANY_MACHINES: license allows 1 machine(s) and all seats are taken\n")
	expectNoFile(t, outPath)
	// To stdout, nothing is written either.
	o = e.vendor("--dir", desk, "sign", request(t, b, c2, vk, key))
	expect(t, o, 23)
	expectStdout(t, o, "")
	if ls := licenseShow(t, e, desk, key); *ls.SeatsUsed != 1 || len(ls.Activations) != 1 {
		t.Errorf("after a refusal: %+v", ls)
	}

	// Machine A asking again gets its seat again.
	again := filepath.Join(t.TempDir(), "again.txt")
	o = e.vendor("--dir", desk, "sign", request(t, a, c1, vk, key), "-o", again)
	expectOK(t, o)
	expectStderr(t, o, fmt.Sprintf("airlock-vendor: signed license for %q, product %q (same machine, seat reused), written to %s\n", "ACME Corp", "acme-cad", again))
	ls := licenseShow(t, e, desk, key)
	if *ls.SeatsUsed != 1 || len(ls.Activations) != 1 {
		t.Errorf("after the same machine asked again: seats_used %d, %d activations, want 1 and 1", *ls.SeatsUsed, len(ls.Activations))
	}
	activate(t, a, c1, vk, again)
	verify(t, a, c1, vk, "VALID", 0)
}

// 9. A release build has no test hooks, whatever the environment says.
func TestReleaseIgnoresHooks(t *testing.T) {
	t.Parallel()
	bin := readFile(t, releaseAirlockBin)
	if bytes.Contains(bin, []byte("AIRLOCK_TEST_")) {
		t.Errorf("the release binary contains the test hooks' variable names")
	}
	if !bytes.Contains(readFile(t, airlockBin), []byte("AIRLOCK_TEST_NOW")) {
		t.Fatalf("the test binary has no test hooks: was it built with -tags airlocktest?")
	}

	// The real clock and the real machine throughout.
	e := newEnv(t).with("AIRLOCK_TEST_NOW", "")
	desk, vk := initDesk(t, e)
	key := createLicense(t, e, desk, "--expires", "30d")
	state := filepath.Join(t.TempDir(), "state")
	req := filepath.Join(t.TempDir(), "req.txt")
	// (The release build has no --scrypt-work-factor: a plaintext key
	// keeps this test fast.)
	o := e.run(releaseAirlockBin, nil, "--state", state, "request", "--product", "acme-cad", "--license-key", key,
		"--vendor-key", vk, "-o", req, "--plaintext-key")
	expectOK(t, o)
	lic := sign(t, e, desk, req)
	o = e.run(releaseAirlockBin, nil, "--state", state, "activate", lic, "--vendor-key", vk)
	expectOK(t, o)

	release := func(e *env, args ...string) out {
		t.Helper()
		return e.run(releaseAirlockBin, nil, args...)
	}
	verifyArgs := []string{"--state", state, "verify", "--product", "acme-cad", "--vendor-key", vk}
	o = release(e, verifyArgs...)
	expectOK(t, o)
	expectStdout(t, o, "VALID\n")

	future := time.Now().Add(400 * day).UTC().Format(time.RFC3339)
	fixtureB := machineB.tree(t)
	for _, hooks := range [][]string{
		{"AIRLOCK_TEST_NOW", future},
		{"AIRLOCK_TEST_NOW", "not a time"}, // the test build panics on this
		{"AIRLOCK_TEST_MACHINE", fixtureB},
		{"AIRLOCK_TEST_NOW", future, "AIRLOCK_TEST_MACHINE", fixtureB},
	} {
		o := release(e.with(hooks...), verifyArgs...)
		expectOK(t, o)
		expectStdout(t, o, "VALID\n")
		expectStderr(t, o, "")
	}

	// The machine's fingerprint (--json's "fingerprint"), not the hardware
	// ID, which is a card's serial while another test has one plugged in.
	machineFP := func(o out) string {
		t.Helper()
		expectOK(t, o)
		return decodeJSON[struct {
			Fingerprint string `json:"fingerprint"`
		}](t, o).Fingerprint
	}
	fp := machineFP(release(e, "fingerprint", "--product", "acme-cad", "--vendor-key", vk, "--json"))
	fpHooked := machineFP(release(e.on(fixtureB), "fingerprint", "--product", "acme-cad", "--vendor-key", vk, "--json"))
	if fp == "" || fp != fpHooked {
		t.Errorf("release fingerprint changes with AIRLOCK_TEST_MACHINE: %q vs %q", fp, fpHooked)
	}
	// The comparison means something: the test build does follow the hooks.
	if machineFP(e.on(fixtureB).airlock("fingerprint", "--product", "acme-cad", "--vendor-key", vk, "--json")) == fp {
		t.Errorf("the test build's fingerprint ignores AIRLOCK_TEST_MACHINE")
	}
	o = e.with("AIRLOCK_TEST_NOW", future).airlock(verifyArgs...)
	expect(t, o, 16)
	expectStdout(t, o, "EXPIRED\n")
}

// 10. Usage errors exit 2 and say what is wrong.
func TestUsageErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	desk, vk := initDesk(t, e)
	key := createLicense(t, e, desk)
	typo := []byte(key)
	// One symbol changed: the check symbol catches every single substitution.
	if typo[0] == '7' {
		typo[0] = '8'
	} else {
		typo[0] = '7'
	}
	state := filepath.Join(t.TempDir(), "state")

	for _, c := range []struct {
		name   string
		bin    string
		args   []string
		stderr []string // lines, in order
	}{
		{"airlock/unknown-command", airlockBin, []string{"frobnicate"},
			[]string{`airlock: error: unknown command "frobnicate"`, "airlock: hint: run `airlock --help` for usage"}},
		{"airlock/unknown-flag", airlockBin, []string{"verify", "--product", "acme-cad", "--vendor-key", vk, "--bogus"},
			[]string{"airlock: error: unknown flag: --bogus", "airlock: hint: run `airlock --help` for usage"}},
		{"airlock/verify-without-product", airlockBin, []string{"--state", state, "verify", "--vendor-key", vk},
			[]string{"airlock: error: verify needs --product", "airlock: hint: run `airlock --help` for usage"}},
		{"airlock/verify-without-vendor-key", airlockBin, []string{"--state", state, "verify", "--product", "acme-cad"},
			[]string{"airlock: error: the vendor's public key is needed: pass --vendor-key AV1… (or @FILE) or set AIRLOCK_VENDOR_KEY", "airlock: hint: run `airlock --help` for usage"}},
		{"airlock/request-key-typo", airlockBin, []string{"--state", state, "request", "--product", "acme-cad", "--license-key", string(typo), "--vendor-key", vk, "--scrypt-work-factor", "10"},
			[]string{"airlock: error: --license-key: license key has a typo: its check symbol does not match", "airlock: hint: run `airlock --help` for usage"}},
		{"airlock/request-key-short", airlockBin, []string{"--state", state, "request", "--product", "acme-cad", "--license-key", key[:10], "--vendor-key", vk, "--scrypt-work-factor", "10"},
			[]string{"airlock: error: --license-key: license key must be 21 letters and digits, dashes optional", "airlock: hint: run `airlock --help` for usage"}},
		{"airlock/bad-vendor-key", airlockBin, []string{"inspect", "--vendor-key", "AV1NOTAKEY", "/dev/null"}, nil},
		{"airlock-vendor/unknown-command", vendorBin, []string{"--dir", desk, "frobnicate"},
			[]string{`airlock-vendor: error: unknown command "frobnicate"`, "airlock-vendor: hint: run `airlock-vendor --help` for usage"}},
		{"airlock-vendor/license-without-subcommand", vendorBin, []string{"--dir", desk, "license"},
			[]string{"airlock-vendor: error: license needs a subcommand: create, list or show", "airlock-vendor: hint: run `airlock-vendor --help` for usage"}},
		{"airlock-vendor/create-without-product", vendorBin, []string{"--dir", desk, "license", "create", "--licensee", "X"}, nil},
		{"airlock-vendor/create-expired", vendorBin, []string{"--dir", desk, "license", "create", "--product", "p", "--licensee", "X", "--expires", "2001-01-01"},
			[]string{"airlock-vendor: error: --expires is in the past", "airlock-vendor: hint: run `airlock-vendor --help` for usage"}},
		{"airlock-vendor/show-key-typo", vendorBin, []string{"--dir", desk, "license", "show", string(typo)},
			[]string{"airlock-vendor: error: license key has a typo: its check symbol does not match", "airlock-vendor: hint: run `airlock-vendor --help` for usage"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			o := e.run(c.bin, nil, c.args...)
			expect(t, o, 2)
			expectStdout(t, o, "")
			if c.stderr != nil {
				expectStderr(t, o, strings.Join(c.stderr, "\n")+"\n")
			} else if !strings.Contains(o.stderr, ": error: ") || !strings.Contains(o.stderr, "--help` for usage") {
				t.Errorf("usage error without an error line and a hint:\n%s", o)
			}
		})
	}

	// The mistyped key made no installation key.
	if _, err := os.Stat(filepath.Join(state, "installation.key")); err == nil {
		t.Errorf("a request refused for a typo created an installation key")
	}

	// No command: usage on stderr, exit 2. --help: usage on stdout, exit 0.
	for _, c := range []struct {
		bin, first string
	}{{airlockBin, "airlock: offline activation"}, {vendorBin, "airlock-vendor: the vendor's desk"}} {
		o := e.run(c.bin, nil)
		expect(t, o, 2)
		expectStdout(t, o, "")
		if !strings.HasPrefix(o.stderr, c.first) || !strings.Contains(o.stderr, "Exit codes") {
			t.Errorf("no command: stderr is not the usage\n%s", o)
		}
		o = e.run(c.bin, nil, "--help")
		expectOK(t, o)
		expectStderr(t, o, "")
		if !strings.HasPrefix(o.stdout, c.first) || !strings.Contains(o.stdout, "Examples:") {
			t.Errorf("--help: stdout is not the usage\n%s", o)
		}
	}
}

// 11. Bad inputs: garbage, scanner-typed text, stale requests.
func TestBadInputs(t *testing.T) {
	t.Parallel()
	e := newEnv(t).on(machineA.tree(t))
	desk, vk := initDesk(t, e)
	key := createLicense(t, e, desk, "--max-machines", "5", "--expires", "365d")
	state := filepath.Join(t.TempDir(), "state")
	req := request(t, e, state, vk, key)
	lic := sign(t, e, desk, req)

	t.Run("garbage", func(t *testing.T) {
		for _, g := range []struct {
			name string
			data []byte
			msg  string
		}{
			{"text", []byte("Hello this is not a license\n"), "not a valid license: line 1: not an airlock message (unknown tag)"},
			{"binary", []byte{0x00, 0xff, 0xfe, 0x1b, '[', '2', 'J', 0x80, '\n'}, "not a valid license: line 1: column 1: character not allowed in airlock text"},
			{"empty", nil, "not a valid license: input is empty"},
			{"request", readFile(t, req), "not a valid license: this is a request, not a license"},
			{"cut-short", readFile(t, lic)[:200], "not a valid license: "},
		} {
			t.Run(g.name, func(t *testing.T) {
				p := filepath.Join(t.TempDir(), "in.txt")
				writeFile(t, p, g.data)
				o := e.airlock("--state", state, "activate", p, "--vendor-key", vk)
				expect(t, o, 27)
				expectStdout(t, o, "")
				expectContains(t, "stderr", o.stderr, "airlock: error: MALFORMED: "+g.msg)
				if strings.Count(o.stderr, "\n") != 1 {
					t.Errorf("want a one-line message:\n%s", o)
				}
				if strings.IndexFunc(o.stderr, func(r rune) bool { return r == 0 || r == 0x1b || r == utf8.RuneError }) >= 0 || strings.Contains(o.stderr, "\x80") || strings.Contains(o.stderr, "\xff") {
					t.Errorf("the message echoes the input's bytes: %q", o.stderr)
				}
				expectNoLicenses(t, state)
			})
		}
		o := e.vendor("--dir", desk, "sign", "-")
		expect(t, o, 27)
		expectContains(t, "stderr", o.stderr, "airlock-vendor: error: MALFORMED: not a valid request: input is empty")
	})

	t.Run("keyboard-wedge", func(t *testing.T) {
		// What a barcode scanner typing into a text editor leaves: lower
		// case, CRLF, stray spaces and tabs.
		var b strings.Builder
		for i, line := range strings.Split(strings.TrimRight(string(readFile(t, lic)), "\n"), "\n") {
			line = strings.ToLower(line)
			if !strings.HasPrefix(line, "-----") && len(line) > 20 {
				line = line[:10] + " " + line[10:20] + "\t " + line[20:]
			}
			fmt.Fprintf(&b, "  %s \r\n", line)
			if i == 0 {
				b.WriteString("\r\n")
			}
		}
		p := filepath.Join(t.TempDir(), "typed.txt")
		writeFile(t, p, []byte(b.String()))
		activate(t, e, state, vk, p)
		verify(t, e, state, vk, "VALID", 0)
		// What is stored is the canonical form.
		if !bytes.Equal(readFile(t, licensePath(state)), readFile(t, lic)) {
			t.Errorf("the stored license is not the canonical armored form")
		}

		// The bare text form, on one line, through stdin.
		payload := dearmor(t, readFile(t, lic), "LICENSE", "AL1")
		bare := strings.ToLower("AL1"+b32.EncodeToString(payload)) + "\r\n"
		o := e.run(airlockBin, []byte(bare), "--state", state, "activate", "-", "--vendor-key", vk)
		expectOK(t, o)
		verify(t, e, state, vk, "VALID", 0)
	})

	t.Run("stale-request", func(t *testing.T) {
		st := filepath.Join(t.TempDir(), "state")
		for _, c := range []struct {
			name    string
			made    time.Time
			code    int
			message string
		}{
			{"8-days-old", t0.Add(-8 * day), 26, "REQUEST_STALE: request was made on " + t0.Add(-8*day).Format(time.RFC3339) + ", more than 168h0m0s ago; make a new one"},
			{"from-the-future", t0.Add(2 * time.Hour), 26, "REQUEST_STALE: request was made in the future: the requesting machine's clock is ahead"},
			{"6-days-old", t0.Add(-6 * day), 0, ""},
		} {
			t.Run(c.name, func(t *testing.T) {
				r := request(t, e.at(c.made), st, vk, key)
				outPath := filepath.Join(t.TempDir(), "out.txt")
				o := e.vendor("--dir", desk, "sign", r, "-o", outPath)
				expect(t, o, c.code)
				expectStdout(t, o, "")
				if c.code != 0 {
					expectStderr(t, o, "airlock-vendor: error: "+c.message+"\n")
					expectNoFile(t, outPath)
				}
			})
		}
		// Only the fresh request took a seat: the first state, and this one.
		if ls := licenseShow(t, e, desk, key); *ls.SeatsUsed != 2 {
			t.Errorf("seats_used %d, want 2", *ls.SeatsUsed)
		}
	})
}

// 12. init: never replaces a key; the key file is secret and encrypted.
func TestVendorInit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	desk, _ := initDesk(t, e)
	keyPath, pubPath := filepath.Join(desk, "vendor.key"), filepath.Join(desk, "vendor.pub")
	key, pub := readFile(t, keyPath), readFile(t, pubPath)
	licKey := createLicense(t, e, desk)

	if !bytes.HasPrefix(key, []byte("-----BEGIN AGE ENCRYPTED FILE-----\n")) {
		t.Errorf("vendor.key is not an age-encrypted file:\n%.80s", key)
	}
	if bytes.Contains(key, []byte("AK1")) || bytes.Contains(key, []byte("SECRET KEY")) {
		t.Errorf("vendor.key holds the key in clear")
	}
	// The hidden --scrypt-work-factor flag took effect.
	if hdr := ageHeader(t, key); !regexp.MustCompile(`(?m)^-> scrypt \S+ 10$`).MatchString(hdr) {
		t.Errorf("vendor.key is not scrypt-encrypted with work factor 10:\n%s", hdr)
	}
	if runtime.GOOS != "windows" {
		if fi, _ := os.Stat(keyPath); fi.Mode().Perm() != 0o600 {
			t.Errorf("vendor.key mode %v, want 0600", fi.Mode().Perm())
		}
	}

	for _, args := range [][]string{
		{"--dir", desk, "init", "--scrypt-work-factor", "10"},
		{"--dir", desk, "init", "--plaintext"},
	} {
		o := e.with("AIRLOCK_PASSPHRASE", "another-passphrase").vendor(args...)
		expect(t, o, 1)
		expectStdout(t, o, "")
		expectStderr(t, o, "airlock-vendor: error: a vendor key already exists at "+keyPath+"; refusing to replace it\n")
	}
	if !bytes.Equal(readFile(t, keyPath), key) || !bytes.Equal(readFile(t, pubPath), pub) {
		t.Fatalf("a second init changed the key")
	}
	// The ledger and the key still work together.
	o := e.vendor("--dir", desk, "license", "list", "--json")
	expectOK(t, o)
	expectContains(t, "license list", o.stdout, licKey)
	o = e.vendor("--dir", desk, "pubkey")
	expectOK(t, o)
	expectStdout(t, o, string(pub))

	// --plaintext: a warning, no passphrase needed, still mode 0600.
	plain := filepath.Join(t.TempDir(), "plain")
	o = e.with("AIRLOCK_PASSPHRASE", "").vendor("--dir", plain, "init", "--plaintext")
	expectOK(t, o)
	pk := filepath.Join(plain, "vendor.key")
	expectContains(t, "stderr", o.stderr, "airlock-vendor: warning: the private key is stored UNENCRYPTED at "+pk)
	pkData := readFile(t, pk)
	if !bytes.HasPrefix(pkData, []byte("-----BEGIN AIRLOCK SECRET KEY-----\n")) {
		t.Errorf("plaintext vendor.key:\n%.80s", pkData)
	}
	if runtime.GOOS != "windows" {
		if fi, _ := os.Stat(pk); fi.Mode().Perm() != 0o600 {
			t.Errorf("plaintext vendor.key mode %v, want 0600", fi.Mode().Perm())
		}
	}
	// inspect never shows the secret.
	secretBody := strings.Split(string(pkData), "\n")[1]
	for _, o := range []out{e.airlock("inspect", pk), e.vendor("--dir", plain, "inspect", pk), e.vendor("--dir", plain, "inspect", pk, "--json")} {
		expectOK(t, o)
		expectNoSecrets(t, []out{o}, secretBody[:16])
	}

	// Without a passphrase and without a terminal, init fails cleanly.
	none := filepath.Join(t.TempDir(), "none")
	o = e.with("AIRLOCK_PASSPHRASE", "").vendor("--dir", none, "init", "--scrypt-work-factor", "10")
	expect(t, o, 1)
	expectStderr(t, o, "airlock-vendor: error: a passphrase is needed: set AIRLOCK_PASSPHRASE or AIRLOCK_PASSPHRASE_FILE, or pass --passphrase-file\n")
	expectNoFile(t, filepath.Join(none, "vendor.key"))
}

// ageHeader returns the header of an armored age file.
func ageHeader(t *testing.T, armored []byte) string {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(string(armored)), "\n")
	if len(lines) < 3 {
		t.Fatalf("short age file")
	}
	raw, err := base64.StdEncoding.DecodeString(strings.Join(lines[1:len(lines)-1], ""))
	if err != nil {
		t.Fatalf("age armor: %v", err)
	}
	hdr, _, _ := strings.Cut(string(raw), "\n---")
	return hdr
}

// 13. A wrong passphrase: a clear error, exit 1, nothing written.
func TestWrongPassphrase(t *testing.T) {
	t.Parallel()
	e := newEnv(t).on(machineA.tree(t))
	desk, vk := initDesk(t, e)
	key := createLicense(t, e, desk)
	state := filepath.Join(t.TempDir(), "state")
	req := request(t, e, state, vk, key)
	const wrong = "hunter2-not-it"

	outPath := filepath.Join(t.TempDir(), "out.txt")
	o := e.with("AIRLOCK_PASSPHRASE", wrong).vendor("--dir", desk, "sign", req, "-o", outPath)
	expect(t, o, 1)
	expectStdout(t, o, "")
	expectStderr(t, o, "airlock-vendor: error: cannot load the vendor key: wrong passphrase, or the key file is damaged\n")
	expectNoFile(t, outPath)

	// The same through --passphrase-file, which wins over the variable.
	pf := filepath.Join(t.TempDir(), "pass.txt")
	writeFile(t, pf, []byte(wrong+"\n"))
	o = e.vendor("--dir", desk, "--passphrase-file", pf, "sign", req, "-o", outPath)
	expect(t, o, 1)
	expectStderr(t, o, "airlock-vendor: error: cannot load the vendor key: wrong passphrase, or the key file is damaged\n")
	expectNoFile(t, outPath)
	expectNoSecrets(t, []out{o}, wrong)

	if ls := licenseShow(t, e, desk, key); *ls.SeatsUsed != 0 || len(ls.Activations) != 0 {
		t.Errorf("a refused signature took a seat: %+v", ls)
	}

	// The installation key too.
	pending := readFile(t, filepath.Join(state, "pending"))
	reqOut := filepath.Join(t.TempDir(), "req2.txt")
	o = e.with("AIRLOCK_PASSPHRASE", wrong).airlock("--state", state, "request", "--product", "acme-cad",
		"--license-key", key, "--vendor-key", vk, "-o", reqOut)
	expect(t, o, 1)
	expectStdout(t, o, "")
	expectStderr(t, o, "airlock: error: cannot load the installation key: wrong passphrase, or the key file is damaged\n")
	expectNoFile(t, reqOut)
	if !bytes.Equal(readFile(t, filepath.Join(state, "pending")), pending) {
		t.Errorf("a failed request changed the pending requests")
	}

	// With the right passphrase all is well.
	o = e.vendor("--dir", desk, "sign", req, "-o", outPath)
	expectOK(t, o)
	activate(t, e, state, vk, outPath)
	verify(t, e, state, vk, "VALID", 0)
}

// A product name that is not a plain file name (here, with spaces) is
// stored under a hashed file name; status must still name and check the
// product itself.
func TestProductNameWithSpaces(t *testing.T) {
	t.Parallel()
	const product = "Acme CAD 2030"
	e := newEnv(t).on(machineA.tree(t))
	desk, vk := initDesk(t, e)
	o := e.vendor("--dir", desk, "license", "create", "--product", product, "--licensee", "ACME Corp", "--expires", "365d")
	expectOK(t, o)
	key := strings.TrimSpace(o.stdout)
	state := filepath.Join(t.TempDir(), "state")
	req := filepath.Join(t.TempDir(), "req.txt")
	expectOK(t, e.airlock("--state", state, "request", "--product", product, "--license-key", key,
		"--vendor-key", vk, "-o", req, "--scrypt-work-factor", "10"))
	activate(t, e, state, vk, sign(t, e, desk, req))

	o = e.airlock("--state", state, "verify", "--product", product, "--vendor-key", vk)
	expectOK(t, o)
	expectStdout(t, o, "VALID\n")

	o = e.airlock("--state", state, "status", "--json", "--vendor-key", vk)
	expectOK(t, o)
	st := decodeJSON[statusJSON](t, o)
	if len(st.Licenses) != 1 || st.Licenses[0].Product != product || st.Licenses[0].Result != "VALID" {
		t.Errorf("status --json lists %+v, want product %q VALID", st.Licenses, product)
	}
}

// The desk's other refusals, and a license key typed the way people do.
func TestDeskRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t).on(machineA.tree(t))
	desk, vk := initDesk(t, e)
	desk2, _ := initDesk(t, e)
	key := createLicense(t, e, desk, "--max-machines", "3", "--expires", "365d")

	refused := func(t *testing.T, req string, code int, msg string) {
		t.Helper()
		outPath := filepath.Join(t.TempDir(), "out.txt")
		o := e.vendor("--dir", desk, "sign", req, "-o", outPath)
		expect(t, o, code)
		expectStdout(t, o, "")
		expectStderr(t, o, "airlock-vendor: error: "+msg+"\n")
		expectNoFile(t, outPath)
	}

	t.Run("license-unknown", func(t *testing.T) {
		other := createLicense(t, e, desk2) // valid check symbol, another desk's ledger
		req := request(t, e, filepath.Join(t.TempDir(), "s"), vk, other)
		refused(t, req, 24, "LICENSE_UNKNOWN: no such license key")
	})
	t.Run("product-mismatch", func(t *testing.T) {
		req := filepath.Join(t.TempDir(), "req.txt")
		expectOK(t, e.airlock("--state", filepath.Join(t.TempDir(), "s"), "request", "--product", "other-app", "--license-key", key,
			"--vendor-key", vk, "-o", req, "--scrypt-work-factor", "10"))
		refused(t, req, 14, `PRODUCT_MISMATCH: license is for product "acme-cad", the request for "other-app"`)
	})
	t.Run("typed-key", func(t *testing.T) {
		// Lower case, spaces for dashes, o for 0 and i for 1.
		typed := strings.NewReplacer("-", " ", "0", "o", "1", "i").Replace(strings.ToLower(key))
		state := filepath.Join(t.TempDir(), "s")
		lic := sign(t, e, desk, request(t, e, state, vk, typed))
		activate(t, e, state, vk, lic)
		verify(t, e, state, vk, "VALID", 0)
	})
	if ls := licenseShow(t, e, desk, key); *ls.SeatsUsed != 1 {
		t.Errorf("seats_used %d, want 1 (only the typed key's request was signed)", *ls.SeatsUsed)
	}
}

// Desks signing at the same time never hand out more seats than the
// license has.
func TestConcurrentSigning(t *testing.T) {
	t.Parallel()
	const seats, machines = 2, 6
	e := newEnv(t)
	desk, vk := initDesk(t, e)
	key := createLicense(t, e, desk, "--max-machines", fmt.Sprint(seats), "--expires", "365d")
	var reqs, outs []string
	for i := range machines {
		m := machineA
		m.machineID = fmt.Sprintf("%032x", 0xa11c0ffee+i)
		m.productUUID = fmt.Sprintf("00000000-0000-4000-8000-%012x", i)
		m.boardSerial, m.productSerial, m.diskSerial = fmt.Sprint("BSN-", i), fmt.Sprint("PSN-", i), fmt.Sprint("DSK-", i)
		reqs = append(reqs, request(t, e.on(m.tree(t)), filepath.Join(t.TempDir(), "s"), vk, key))
		outs = append(outs, filepath.Join(t.TempDir(), "lic.txt"))
	}
	results := make([]out, machines)
	done := make(chan int)
	for i := range machines {
		go func() {
			results[i] = e.vendor("--dir", desk, "sign", reqs[i], "-o", outs[i])
			done <- i
		}()
	}
	for range machines {
		<-done
	}
	signed := 0
	for i, o := range results {
		switch o.code {
		case 0:
			signed++
			if _, err := os.Stat(outs[i]); err != nil {
				t.Errorf("signed, but %v", err)
			}
		case 23:
			expectNoFile(t, outs[i])
		default:
			t.Errorf("concurrent sign: exit %d, want 0 or 23\n%s", o.code, o)
		}
	}
	if signed != seats {
		t.Errorf("%d licenses signed for %d seats", signed, seats)
	}
	if ls := licenseShow(t, e, desk, key); *ls.SeatsUsed != seats || len(ls.Activations) != seats {
		t.Errorf("ledger: seats_used %d, %d activations, want %d", *ls.SeatsUsed, len(ls.Activations), seats)
	}
}

// A lease ends; the same machine asking again gets a new one on its seat.
func TestLeaseExpired(t *testing.T) {
	t.Parallel()
	e := newEnv(t).on(machineA.tree(t))
	f := activated(t, e, "--expires", "365d", "--lease", "2d")
	end := t0.Add(2 * day)
	verify(t, e.at(end.Add(-time.Minute)), f.state, f.vendorKey, "VALID", 0)
	o := verify(t, e.at(end), f.state, f.vendorKey, "LEASE_EXPIRED", 17)
	expectStderr(t, o, "airlock: error: LEASE_EXPIRED: license lease ended on "+end.Format(time.RFC3339)+"; renew it\n")
	j := verifyJSONOut(t, e.at(end), f.state, f.vendorKey, 17)
	if j.Lease != end.Format(time.RFC3339) || j.Expires != t0.Add(365*day).Format(time.RFC3339) {
		t.Errorf("verify --json = %+v", j)
	}

	later := e.at(end)
	lic := sign(t, later, f.desk, request(t, later, f.state, f.vendorKey, f.key))
	activate(t, later, f.state, f.vendorKey, lic)
	j = verifyJSONOut(t, later, f.state, f.vendorKey, 0)
	if j.Lease != end.Add(2*day).Format(time.RFC3339) {
		t.Errorf("renewed lease_until %q, want %s", j.Lease, end.Add(2*day).Format(time.RFC3339))
	}
	if ls := licenseShow(t, e, f.desk, f.key); *ls.SeatsUsed != 1 {
		t.Errorf("seats_used %d after a renewal on the same machine, want 1", *ls.SeatsUsed)
	}
}

// Confidential fields are sealed to the installation: they appear in no
// file in clear and in no output.
func TestConfidentialFields(t *testing.T) {
	t.Parallel()
	const secret = "SERIAL-TOPSECRET-7731"
	e := newEnv(t).on(machineA.tree(t))
	f := activated(t, e, "--expires", "365d", "--confidential", "serial="+secret)
	for _, p := range []string{f.req, f.lic, licensePath(f.state)} {
		if bytes.Contains(readFile(t, p), []byte(secret)) {
			t.Errorf("%s holds the confidential value in clear", p)
		}
	}
	var outs []out
	for _, o := range []out{
		e.airlock("--state", f.state, "verify", "--product", "acme-cad", "--vendor-key", f.vendorKey, "--json"),
		e.airlock("--state", f.state, "status", "--json", "--vendor-key", f.vendorKey),
		e.airlock("inspect", f.lic, "--vendor-key", f.vendorKey),
		e.vendor("--dir", f.desk, "inspect", f.lic, "--json"),
		e.vendor("--dir", f.desk, "license", "show", f.key),
		e.vendor("--dir", f.desk, "license", "show", f.key, "--json"),
		e.vendor("--dir", f.desk, "license", "list", "--json"),
	} {
		expectOK(t, o)
		outs = append(outs, o)
	}
	expectContains(t, "license show", outs[4].stdout, `confidential: "serial" (value not shown)`)
	expectNoSecrets(t, outs, secret)
}

// The vendor's policy for virtual machines and containers is applied to the
// environment the request reports, from the fingerprint fixtures of a KVM
// guest and a Docker container.
func TestEnvironmentPolicy(t *testing.T) {
	t.Parallel()
	kvm := filepath.Join(moduleDir, "testdata", "fingerprint", "kvm")
	docker := filepath.Join(moduleDir, "testdata", "fingerprint", "docker")
	e := newEnv(t).on(machineA.tree(t))
	desk, vk := initDesk(t, e)
	key := createLicense(t, e, desk, "--max-machines", "5", "--refuse-env", "vm", "--hardware-key-env", "container")
	show := e.vendor("--dir", desk, "license", "show", key)
	expectOK(t, show)
	expectContains(t, "stdout", show.stdout, "refuses:      vm\n")
	expectContains(t, "stdout", show.stdout, "hardware key: required on container\n")

	refused := func(t *testing.T, machine string, code int, msg string) {
		t.Helper()
		req := request(t, e.on(machine), filepath.Join(t.TempDir(), "s"), vk, key)
		outPath := filepath.Join(t.TempDir(), "out.txt")
		o := e.vendor("--dir", desk, "sign", req, "-o", outPath)
		expect(t, o, code)
		expectStderr(t, o, "airlock-vendor: error: "+msg+"\n")
		expectNoFile(t, outPath)
	}
	t.Run("vm-refused", func(t *testing.T) {
		refused(t, kvm, 30, "ENVIRONMENT_REFUSED: license does not allow activation on this kind of machine (vm)")
	})
	t.Run("container-needs-hardware-key", func(t *testing.T) {
		refused(t, docker, 19, "HARDWARE_KEY_NOT_ACCESSIBLE: license requires a hardware key on this kind of machine (container)")
	})
	t.Run("bare-metal-allowed", func(t *testing.T) {
		state := filepath.Join(t.TempDir(), "s")
		lic := sign(t, e, desk, request(t, e, state, vk, key))
		activate(t, e, state, vk, lic)
		verify(t, e, state, vk, "VALID", 0)
	})
	if ls := licenseShow(t, e, desk, key); *ls.SeatsUsed != 1 {
		t.Errorf("seats_used %d, want 1: refused requests must take no seat", *ls.SeatsUsed)
	}
	o := e.vendor("--dir", desk, "license", "create", "--product", "p", "--licensee", "l", "--refuse-env", "vm,spaceship")
	expect(t, o, 2)
	expectContains(t, "stderr", o.stderr, `unknown environment "spaceship"`)
}

// examples/embed verifies its license the way an ISV embeds airlock: the
// vendor key pinned at build time, the real machine, the real clock.
func TestEmbeddedExample(t *testing.T) {
	t.Parallel()
	e := newEnv(t).with("AIRLOCK_TEST_NOW", "") // no hooks: the real machine and clock, as the product sees them
	desk, vk := initDesk(t, e)
	pub := strings.TrimSpace(e.vendor("--dir", desk, "pubkey").stdout)
	bin := filepath.Join(t.TempDir(), "embed")
	if err := goBuild(moduleDir, "-ldflags", "-X main.vendorKey="+pub, "-o", bin, "./examples/embed"); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(t.TempDir(), "state")
	run := func() out { return e.with("AIRLOCK_HOME", state).run(bin, nil) }

	o := run()
	expect(t, o, 10)
	expectContains(t, "stderr", o.stderr, "[NOT_ACTIVATED]")

	key := createLicense(t, e, desk, "--feature", "export=2")
	lic := sign(t, e, desk, request(t, e, state, vk, key))
	activate(t, e, state, vk, lic)
	o = run()
	expectOK(t, o)
	expectStdout(t, o, "acme-cad is licensed to ACME Corp (export: 2)\n")
}

// A seat comes back only with a receipt signed by the installation that
// held it; the receipt can be written again and imported twice harmlessly.
func TestDeactivation(t *testing.T) {
	t.Parallel()
	a, b := newEnv(t).on(machineA.tree(t)), newEnv(t).on(machineB.tree(t))
	desk, vk := initDesk(t, a)
	key := createLicense(t, a, desk, "--max-machines", "1")
	stateA, stateB := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	activate(t, a, stateA, vk, sign(t, a, desk, request(t, a, stateA, vk, key)))
	reqB := request(t, b, stateB, vk, key)
	o := b.vendor("--dir", desk, "sign", reqB, "-o", filepath.Join(t.TempDir(), "x.txt"))
	expect(t, o, 23)

	rcpt := filepath.Join(t.TempDir(), "receipt.txt")
	o = a.airlock("--state", stateA, "deactivate", "--product", "acme-cad", "--vendor-key", vk, "-o", rcpt)
	expectOK(t, o)
	expectContains(t, "stderr", o.stderr, "deactivated: take the receipt to the vendor")
	expectContains(t, "receipt", string(readFile(t, rcpt)), "-----BEGIN AIRLOCK RECEIPT-----")
	verify(t, a, stateA, vk, "NOT_ACTIVATED", 10)
	o = a.vendor("--dir", desk, "inspect", rcpt)
	expectOK(t, o)
	expectContains(t, "inspect", o.stdout, "deactivation receipt\n")
	expectContains(t, "inspect", o.stdout, ": verifies\n")
	expectContains(t, "inspect", o.stdout, key)
	// Lost on the way? The same receipt again.
	again := filepath.Join(t.TempDir(), "again.txt")
	o = a.airlock("--state", stateA, "deactivate", "--product", "acme-cad", "--vendor-key", vk, "-o", again)
	expectOK(t, o)
	if string(readFile(t, again)) != string(readFile(t, rcpt)) {
		t.Fatal("the receipt written again differs")
	}
	if ls := licenseShow(t, a, desk, key); *ls.SeatsUsed != 1 {
		t.Fatalf("seat freed before the receipt was imported: %d", *ls.SeatsUsed)
	}
	o = a.vendor("--dir", desk, "receipt", "import", rcpt)
	expectOK(t, o)
	expectContains(t, "stderr", o.stderr, "seat freed: license "+key)
	o = a.vendor("--dir", desk, "receipt", "import", again)
	expectOK(t, o)
	expectContains(t, "stderr", o.stderr, "imported before")
	if ls := licenseShow(t, a, desk, key); *ls.SeatsUsed != 0 {
		t.Fatalf("seat not freed: %d", *ls.SeatsUsed)
	}
	// Now the other machine gets the seat.
	lic := sign(t, b, desk, reqB)
	activate(t, b, stateB, vk, lic)
	verify(t, b, stateB, vk, "VALID", 0)

	// A tampered receipt frees nothing.
	bad := []byte(strings.Replace(string(readFile(t, rcpt)), "A", "B", 1))
	writeFile(t, rcpt, bad)
	o = a.vendor("--dir", desk, "receipt", "import", rcpt)
	if o.code != 11 && o.code != 27 {
		t.Fatalf("tampered receipt: exit %d\n%s", o.code, o)
	}
}

// A lease renews from the same installation without a new seat, and a
// renewal request cannot be used twice.
func TestRenewal(t *testing.T) {
	t.Parallel()
	e := newEnv(t).on(machineA.tree(t))
	desk, vk := initDesk(t, e)
	key := createLicense(t, e, desk, "--lease", "30d", "--max-machines", "1")
	state := filepath.Join(t.TempDir(), "s")
	activate(t, e, state, vk, sign(t, e, desk, request(t, e, state, vk, key)))
	later := e.at(t0.Add(20 * 24 * time.Hour))
	req := filepath.Join(t.TempDir(), "renew.txt")
	expectOK(t, later.airlock("--state", state, "request", "--product", "acme-cad", "--renew", "--vendor-key", vk, "-o", req))
	lic := filepath.Join(t.TempDir(), "renewed.txt")
	o := later.vendor("--dir", desk, "sign", req, "-o", lic)
	expectOK(t, o)
	expectOK(t, later.airlock("--state", state, "activate", lic, "--vendor-key", vk))
	verify(t, e.at(t0.Add(45*24*time.Hour)), state, vk, "VALID", 0)
	verify(t, e.at(t0.Add(51*24*time.Hour)), state, vk, "LEASE_EXPIRED", 17)
	if ls := licenseShow(t, e, desk, key); *ls.SeatsUsed != 1 {
		t.Fatalf("renewal took a seat: %d", *ls.SeatsUsed)
	}
	o = later.vendor("--dir", desk, "sign", req, "-o", filepath.Join(t.TempDir(), "again.txt"))
	expect(t, o, 24)
	expectContains(t, "stderr", o.stderr, "renewed or released already")
	o = later.airlock("--state", state, "request", "--product", "acme-cad", "--renew", "--license-key", key, "--vendor-key", vk)
	expect(t, o, 2)
}

// Licensee secrets (NetLicensing's modes): predefined at the desk, or bound
// by the first activation; verify needs the secret; it never shows.
func TestLicenseeSecret(t *testing.T) {
	t.Parallel()
	e := newEnv(t).on(machineA.tree(t))
	desk, vk := initDesk(t, e)
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "secret")
	const secret = "s3cret-token-9f1c2b7e44aa"
	writeFile(t, secretFile, []byte(secret+"\n"))
	withSecret := e.with("AIRLOCK_LICENSEE_SECRET", secret)
	wrong := e.with("AIRLOCK_LICENSEE_SECRET", "not-the-secret-at-all")

	t.Run("predefined", func(t *testing.T) {
		key := createLicense(t, e, desk, "--secret-mode", "predefined", "--secret-file", secretFile, "--max-machines", "3")
		show := e.vendor("--dir", desk, "license", "show", key)
		expectContains(t, "stdout", show.stdout, "secret:       predefined")
		expectNotContains(t, "stdout", show.stdout, secret)
		// Without the secret, and with a wrong one: refused, no seat.
		for _, env := range []*env{e, wrong} {
			req := request(t, env, filepath.Join(t.TempDir(), "s"), vk, key)
			o := e.vendor("--dir", desk, "sign", req, "-o", filepath.Join(t.TempDir(), "l.txt"))
			expect(t, o, 22)
			expectNotContains(t, "stderr", o.stderr, secret)
		}
		state := filepath.Join(t.TempDir(), "s")
		lic := sign(t, e, desk, request(t, withSecret, state, vk, key))
		expectNotContains(t, "license", string(readFile(t, lic)), secret)
		activate(t, withSecret, state, vk, lic)
		verify(t, withSecret, state, vk, "VALID", 0)
		verify(t, e, state, vk, "LICENSEE_SECRET_MISMATCH", 22)
		verify(t, wrong, state, vk, "LICENSEE_SECRET_MISMATCH", 22)
		o := e.airlock("--state", state, "--licensee-secret-file", secretFile, "verify", "--product", "acme-cad", "--vendor-key", vk)
		expectOK(t, o)
		// A renewal brings the secret again; without it, it is refused.
		renew := filepath.Join(t.TempDir(), "renew.txt")
		expect(t, e.airlock("--state", state, "request", "--product", "acme-cad", "--renew", "--vendor-key", vk, "-o", renew), 22)
		expectOK(t, withSecret.airlock("--state", state, "request", "--product", "acme-cad", "--renew", "--vendor-key", vk, "-o", renew))
		expectOK(t, e.vendor("--dir", desk, "sign", renew, "-o", filepath.Join(t.TempDir(), "renewed.txt")))
		if ls := licenseShow(t, e, desk, key); *ls.SeatsUsed != 1 {
			t.Fatalf("refused requests took seats: %d", *ls.SeatsUsed)
		}
	})
	t.Run("client", func(t *testing.T) {
		key := createLicense(t, e, desk, "--secret-mode", "client", "--max-machines", "3")
		first := filepath.Join(t.TempDir(), "s")
		activate(t, withSecret, first, vk, sign(t, e, desk, request(t, withSecret, first, vk, key)))
		verify(t, withSecret, first, vk, "VALID", 0)
		// Later requests must bring the same secret.
		req := request(t, wrong, filepath.Join(t.TempDir(), "s"), vk, key)
		expect(t, e.vendor("--dir", desk, "sign", req, "-o", filepath.Join(t.TempDir(), "l.txt")), 22)
		second := filepath.Join(t.TempDir(), "s")
		activate(t, withSecret, second, vk, sign(t, e, desk, request(t, withSecret, second, vk, key)))
	})
	o := e.vendor("--dir", desk, "license", "create", "--product", "p", "--licensee", "l", "--secret-mode", "predefined")
	expect(t, o, 2)
}

// A folder of requests is signed in one go; each failure is reported per
// file and stops nothing.
func TestBatchSign(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	desk, vk := initDesk(t, e)
	key := createLicense(t, e, desk, "--max-machines", "2")
	dir := t.TempDir()
	var states []string
	for i, m := range []machine{machineA, machineB, {machineID: "77777777777777777777777777777777", productUUID: "11111111-2222-3333-4444-555555555555", boardSerial: "BSN-C", productSerial: "PSN-C", diskSerial: "DISK-C", cpuModel: "CPU C"}} {
		state := filepath.Join(t.TempDir(), "s")
		states = append(states, state)
		req := request(t, e.on(m.tree(t)), state, vk, key)
		writeFile(t, filepath.Join(dir, fmt.Sprintf("req-%d.txt", i)), readFile(t, req))
	}
	writeFile(t, filepath.Join(dir, "garbage.txt"), []byte("not a request\n"))
	o := e.vendor("--dir", desk, "sign", "--batch", dir)
	expect(t, o, 1)
	expectContains(t, "stderr", o.stderr, "airlock-vendor: error: garbage.txt: MALFORMED: ")
	expectContains(t, "stderr", o.stderr, "airlock-vendor: error: req-2.txt: TOO_MANY_MACHINES: ")
	expectContains(t, "stderr", o.stderr, "signed 2 of 4 requests")
	for i := 0; i < 2; i++ {
		lic := filepath.Join(dir, fmt.Sprintf("req-%d.license.txt", i))
		m := []machine{machineA, machineB}[i]
		activate(t, e.on(m.tree(t)), states[i], vk, lic)
	}
	expectNoFile(t, filepath.Join(dir, "req-2.license.txt"))
	expectNoFile(t, filepath.Join(dir, "garbage.license.txt"))
	if ls := licenseShow(t, e, desk, key); *ls.SeatsUsed != 2 {
		t.Fatalf("seats %d", *ls.SeatsUsed)
	}
}

// Every desk action is in the audit log, the log verifies, and the ledger
// exports without secrets.
func TestAuditAndExport(t *testing.T) {
	t.Parallel()
	e := newEnv(t).on(machineA.tree(t))
	desk, vk := initDesk(t, e)
	key := createLicense(t, e, desk, "--max-machines", "1", "--confidential", "db-password=hunter2")
	state := filepath.Join(t.TempDir(), "s")
	activate(t, e, state, vk, sign(t, e, desk, request(t, e, state, vk, key)))
	req := request(t, e.on(machineB.tree(t)), filepath.Join(t.TempDir(), "b"), vk, key)
	expect(t, e.vendor("--dir", desk, "sign", req, "-o", filepath.Join(t.TempDir(), "x.txt")), 23)

	o := e.vendor("--dir", desk, "audit", "list")
	expectOK(t, o)
	for _, want := range []string{"license.created", "activation.recorded", "refused", "TOO_MANY_MACHINES", "audit.checkpoint"} {
		expectContains(t, "audit list", o.stdout, want)
	}
	o = e.vendor("--dir", desk, "audit", "verify")
	expectOK(t, o)
	// Three actions, each followed by the checkpoint its command signed.
	expectContains(t, "stderr", o.stderr, "audit log intact: 6 entries")
	head := strings.TrimSpace(o.stdout)
	expectOK(t, e.vendor("--dir", desk, "audit", "verify", "--head", head))

	for _, format := range []string{"--json", "--csv"} {
		o = e.vendor("--dir", desk, "ledger", "export", format)
		expectOK(t, o)
		expectContains(t, "export", o.stdout, key)
		expectNotContains(t, "export", o.stdout, "hunter2")
	}
}

// The phone fallback: the desk reads out a code that only it could compute
// (the seed is sealed to it); the machine runs provisionally for the grace
// period, retyping does not extend it, wrong codes are limited, and the
// signed license replaces it.
func TestPhoneCode(t *testing.T) {
	t.Parallel()
	e := newEnv(t).on(machineA.tree(t))
	desk, vk := initDesk(t, e)
	key := createLicense(t, e, desk)
	state := filepath.Join(t.TempDir(), "s")
	req := filepath.Join(t.TempDir(), "req.txt")
	expectOK(t, e.airlock("--state", state, "request", "--product", "acme-cad", "--license-key", key, "--vendor-key", vk,
		"--phone", "-o", req, "--scrypt-work-factor", "10"))
	lic := filepath.Join(t.TempDir(), "lic.txt")
	o := e.vendor("--dir", desk, "sign", req, "-o", lic)
	expectOK(t, o)
	m := regexp.MustCompile(`phone code: (\d{4} \d{4})`).FindStringSubmatch(o.stderr)
	if m == nil {
		t.Fatalf("no phone code printed:\n%s", o)
	}
	code := m[1]
	// The code is nowhere in the request: only the desk can compute it.
	expectNotContains(t, "request", string(readFile(t, req)), strings.ReplaceAll(code, " ", ""))

	verify(t, e, state, vk, "NOT_ACTIVATED", 10)
	// A product that did not opt in refuses the code, with a hint.
	o = e.airlock("--state", state, "activate", "--product", "acme-cad", "--code", code, "--vendor-key", vk)
	expect(t, o, 10)
	expectContains(t, "stderr", o.stderr, "does not accept phone codes")
	expectContains(t, "stderr", o.stderr, "airlock: hint: ")
	e = e.with("AIRLOCK_PROVISIONAL_GRACE", "72h")
	wrong := "0000 0000"
	if wrong == code {
		wrong = "1111 1111"
	}
	o = e.airlock("--state", state, "activate", "--product", "acme-cad", "--code", wrong, "--vendor-key", vk)
	expect(t, o, 29)
	expectContains(t, "stderr", o.stderr, "wrong phone code (4 tries left)")
	o = e.airlock("--state", state, "activate", "--product", "acme-cad", "--code", code, "--vendor-key", vk)
	expectOK(t, o)
	expectContains(t, "stderr", o.stderr, "provisionally activated by phone code until 2030-03-04T12:00:00Z")
	o = e.airlock("--state", state, "verify", "--product", "acme-cad", "--vendor-key", vk)
	expectOK(t, o)
	expectStdout(t, o, "PROVISIONAL\n")
	expectContains(t, "stderr", o.stderr, "airlock: warning: provisionally activated by phone code until 2030-03-04T12:00:00Z")
	if j := verifyJSONOut(t, e, state, vk, 0); j.Result != "PROVISIONAL" || !j.Provisional {
		t.Errorf("verify --json = %+v, want PROVISIONAL with provisional: true", j)
	}
	// The same state checked by a product that did not opt in: not runnable.
	verify(t, e.with("AIRLOCK_PROVISIONAL_GRACE", ""), state, vk, "NOT_ACTIVATED", 10)
	// Typing the code again later does not extend the grace period.
	later := e.at(t0.Add(5 * time.Minute))
	o = later.airlock("--state", state, "activate", "--product", "acme-cad", "--code", code, "--vendor-key", vk)
	expectOK(t, o)
	expectContains(t, "stderr", o.stderr, "until 2030-03-04T12:00:00Z")
	verify(t, e.at(t0.Add(73*time.Hour)), state, vk, "NOT_ACTIVATED", 10)
	// The signed license replaces the provisional activation.
	expectOK(t, e.at(t0.Add(73*time.Hour)).airlock("--state", state, "activate", lic, "--vendor-key", vk))
	verify(t, e.at(t0.Add(73*time.Hour)), state, vk, "VALID", 0)
}

// Wrong phone codes are limited, so the 10^8 codes cannot be tried.
func TestPhoneCodeTries(t *testing.T) {
	t.Parallel()
	e := newEnv(t).on(machineA.tree(t))
	desk, vk := initDesk(t, e)
	key := createLicense(t, e, desk)
	state := filepath.Join(t.TempDir(), "s")
	req := filepath.Join(t.TempDir(), "req.txt")
	e = e.with("AIRLOCK_PROVISIONAL_GRACE", "72h")
	expectOK(t, e.airlock("--state", state, "request", "--product", "acme-cad", "--license-key", key, "--vendor-key", vk,
		"--phone", "-o", req, "--plaintext-key"))
	o := e.vendor("--dir", desk, "sign", req, "-o", filepath.Join(t.TempDir(), "l.txt"))
	code := regexp.MustCompile(`phone code: (\d{4} \d{4})`).FindStringSubmatch(o.stderr)[1]
	for i := 0; i < 5; i++ {
		o = e.airlock("--state", state, "activate", "--product", "acme-cad", "--code", fmt.Sprintf("%08d", i), "--vendor-key", vk)
		if strings.ReplaceAll(code, " ", "") == fmt.Sprintf("%08d", i) {
			t.Skip("the code happened to be one of the wrong guesses")
		}
		expect(t, o, 29)
	}
	o = e.airlock("--state", state, "activate", "--product", "acme-cad", "--code", code, "--vendor-key", vk)
	expect(t, o, 29)
	expectContains(t, "stderr", o.stderr, "too many wrong phone codes")
}
