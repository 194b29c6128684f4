package vectors

import (
	"bytes"
	"crypto/ecdh"
	"encoding/hex"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/fingerprint"
	"github.com/airlock-offline/airlock/internal/armor"
	"github.com/airlock-offline/airlock/internal/testrig/testkeys"
	"github.com/airlock-offline/airlock/internal/wire"
	"github.com/airlock-offline/airlock/receipt"
	"github.com/airlock-offline/airlock/request"
	"github.com/airlock-offline/airlock/response"
	"github.com/airlock-offline/airlock/result"
	"github.com/airlock-offline/airlock/usage"
)

var update = flag.Bool("update", false, "regenerate testdata/vectors")

// TestVectors runs every vector: the result code must be the expect: one.
func TestVectors(t *testing.T) {
	vs, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) < 50 {
		t.Fatalf("only %d vectors found", len(vs))
	}
	codes := map[string]bool{}
	for _, v := range vs {
		codes[v.Headers["expect"]] = true
		t.Run(v.Name, func(t *testing.T) {
			t.Parallel()
			got, err := Run(v)
			if err != nil {
				t.Fatal(err)
			}
			if want := v.Headers["expect"]; string(got.code) != want {
				t.Errorf("got %s (%v), want %s", got.code, got.err, want)
			}
		})
	}
	// The vectors must exercise every way the format can fail.
	for _, c := range []result.Code{result.Valid, result.Malformed, result.SignatureInvalid, result.UnknownVendorKey,
		result.ProductMismatch, result.InstallationMismatch, result.FingerprintMismatch, result.NotYetValid,
		result.Expired, result.LeaseExpired, result.HardwareKeyNotAccessible, result.LicenseeSecretMismatch,
		result.EnvironmentRefused} {
		if !codes[string(c)] {
			t.Errorf("no vector expects %s", c)
		}
	}
}

type outcome struct {
	code result.Code
	err  error
}

// Run verifies one vector as an implementation would.
func Run(v Vector) (outcome, error) {
	h := v.Headers
	switch h["kind"] {
	case "request":
		_, err := request.ParseText(v.Body)
		return outcome{result.CodeOf(err), err}, nil
	case "receipt":
		_, err := receipt.ParseText(v.Body)
		return outcome{result.CodeOf(err), err}, nil
	case "usage":
		_, err := usage.ParseText(v.Body)
		return outcome{result.CodeOf(err), err}, nil
	case "license":
		e := &response.Expect{Product: h["product"]}
		vk, err := crypto.ParsePublic(h["vendor-key"])
		if err != nil {
			return outcome{}, fmt.Errorf("vendor-key header: %v", err)
		}
		e.VendorKeys = []*crypto.Public{vk}
		if e.Installation, err = crypto.ParsePublic(h["installation"]); err != nil {
			return outcome{}, fmt.Errorf("installation header: %v", err)
		}
		if e.Now, err = time.Parse(time.RFC3339, h["now"]); err != nil {
			return outcome{}, fmt.Errorf("now header: %v", err)
		}
		fp, err := parseMachine(h["machine"])
		if err != nil {
			return outcome{}, err
		}
		if env, ok := h["env"]; ok {
			if fp.Env, err = fingerprint.ParseEnv(env); err != nil {
				return outcome{}, fmt.Errorf("env header: %v", err)
			}
		}
		e.Fingerprint = &fp
		data, err := armor.DecodeKind(v.Body, armor.License)
		if err != nil {
			return outcome{result.Malformed, err}, nil
		}
		_, err = response.Verify(data, e)
		return outcome{result.CodeOf(err), err}, nil
	}
	return outcome{}, fmt.Errorf("unknown kind %q", h["kind"])
}

func parseMachine(s string) (fingerprint.Fingerprint, error) {
	var fp fingerprint.Fingerprint
	id, comps, _ := strings.Cut(s, " ")
	b, err := hex.DecodeString(id)
	if err != nil || len(b) != 16 {
		return fp, fmt.Errorf("machine header: bad id")
	}
	copy(fp.ID[:], b)
	for _, c := range strings.Split(comps, ",") {
		k, val, ok := strings.Cut(c, "=")
		n, err1 := strconv.Atoi(k)
		d, err2 := hex.DecodeString(val)
		if !ok || err1 != nil || err2 != nil || len(d) != 8 {
			return fp, fmt.Errorf("machine header: bad component %q", c)
		}
		dg := fingerprint.Digest{ID: fingerprint.ComponentID(n)}
		copy(dg.Sum[:], d)
		fp.Components = append(fp.Components, dg)
	}
	return fp, nil
}

func formatMachine(fp fingerprint.Fingerprint) string {
	var parts []string
	for _, d := range fp.Components {
		parts = append(parts, fmt.Sprintf("%d=%x", d.ID, d.Sum))
	}
	return fmt.Sprintf("%x %s", fp.ID, strings.Join(parts, ","))
}

func machine(label string, ids ...fingerprint.ComponentID) fingerprint.Fingerprint {
	var fp fingerprint.Fingerprint
	testkeys.Rand(label + "/id").Read(fp.ID[:])
	for _, id := range ids {
		d := fingerprint.Digest{ID: id}
		testkeys.Rand(fmt.Sprintf("%s/%d", label, id)).Read(d.Sum[:])
		fp.Components = append(fp.Components, d)
	}
	return fp
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestGenerate rewrites testdata/vectors when run with -update. The
// generator is deterministic: keys, nonces and times are fixed, and no
// vector carries sealed fields (age encryption is randomized).
func TestGenerate(t *testing.T) {
	if !*update {
		t.Skip("run with -update to regenerate the vectors")
	}
	dir := must(Dir())
	old, _ := filepath.Glob(filepath.Join(dir, "*.txt"))
	for _, f := range old {
		os.Remove(f)
	}
	t0 := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	vendor := testkeys.Identity(crypto.RoleVendor, "vendor")
	vendor2 := testkeys.Identity(crypto.RoleVendor, "vendor2")
	inst := testkeys.Identity(crypto.RoleInstallation, "installation")
	inst2 := testkeys.Identity(crypto.RoleInstallation, "installation2")
	ids := []fingerprint.ComponentID{1, 2, 5, 6}
	here := machine("here", ids...)
	elsewhere := machine("elsewhere", ids...)
	newDisk := here
	newDisk.Components = append([]fingerprint.Digest(nil), here.Components...)
	newDisk.Components[2].Sum[0] ^= 0xff
	newDisk.ID[0] ^= 0xff

	comps := map[uint8][]byte{}
	for _, d := range here.Components {
		comps[uint8(d.ID)] = append([]byte(nil), d.Sum[:]...)
	}
	req := must(request.New(request.Params{
		Product: "acme-cad", LicenseKey: "51NKE-B51YC-93SW3-MNXGX-C", Fingerprint: here.ID[:], Components: comps,
		Vendor: vendor.Public(), Now: t0, Rand: testkeys.Rand("nonce"),
	}, inst))
	params := response.Params{
		LicenseKey: "51NKE-B51YC-93SW3-MNXGX-C", ActivationID: make([]byte, 16), Product: "acme-cad",
		Licensee: "ACME Corp", Features: map[string]uint64{"export": 1, "seats": 25},
		Issued: t0.Add(time.Hour), Expires: t0.AddDate(1, 0, 0), Policy: fingerprint.MatchMost,
	}
	lic := must(response.New(vendor, req, params))
	leased := params
	leased.LeaseUntil = t0.AddDate(0, 1, 0)
	licLeased := must(response.New(vendor, req, leased))
	lic2 := must(response.New(vendor2, req, params))

	licHeaders := func(now time.Time, product string, in *crypto.Identity, m fingerprint.Fingerprint) string {
		return fmt.Sprintf("now: %s\nproduct: %s\nvendor-key: %s\ninstallation: %s\nmachine: %s\n",
			now.Format(time.RFC3339), product, vendor.Public(), in.Public(), formatMachine(m))
	}
	during := t0.AddDate(0, 0, 10)
	std := licHeaders(during, "acme-cad", inst, here)
	write := func(name, kind, expect, desc, headers string, body []byte) {
		content := fmt.Sprintf("expect: %s\nkind: %s\ndescription: %s\n%s\n", expect, kind, desc, headers)
		if err := os.WriteFile(filepath.Join(dir, name+".txt"), append([]byte(content), body...), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	scanner := func(k armor.Kind, b []byte) []byte {
		// What a keyboard-wedge scanner types: lower case, spaces, CRLF.
		s := strings.ToLower(armor.Text(k, b))
		return []byte(" " + s[:40] + " \r\n\t" + s[40:100] + "  " + s[100:] + "\r\n")
	}
	flip := func(b []byte, i int) []byte {
		c := bytes.Clone(b)
		c[i] ^= 0x01
		return c
	}
	// resign signs a hand-edited payload, so that only the edit is wrong.
	resign := func(id *crypto.Identity, tag string, payload []byte) []byte {
		return must(crypto.Sign(id, tag, payload))
	}
	payloadOf := func(b []byte) []byte { return must(crypto.ParseSigned(b)).Payload }
	addUnknownKey := func(p []byte) []byte {
		c := bytes.Clone(p)
		c[0]++ // map header 0xa0+n, n < 23
		return append(c, 0x18, 0x63, 0x00)
	}
	nonCanonical := func(p []byte) []byte {
		// version: key 1, value 1 -> value 1 written in two bytes.
		if p[1] != 0x01 || p[2] != 0x01 {
			t.Fatal("unexpected payload start")
		}
		return append([]byte{p[0], 0x01, 0x18, 0x01}, p[3:]...)
	}
	version2 := func(p []byte) []byte {
		c := bytes.Clone(p)
		c[2] = 0x02
		return c
	}
	at := func(b []byte, s string) int {
		i := bytes.Index(b, []byte(s))
		if i < 0 {
			t.Fatalf("%q not found", s)
		}
		return i
	}

	// Requests.
	write("request-valid", "request", "VALID", "a request as airlock request writes it", "", req.Text())
	write("request-scanner-typed", "request", "VALID", "the same request typed by a barcode scanner: lower case, spaces, tabs, CRLF, no armor lines", "", scanner(armor.Request, req.Bytes))
	write("request-bad-signature", "request", "SIGNATURE_INVALID", "one bit of the signature flipped", "", armor.Encode(armor.Request, flip(req.Bytes, len(req.Bytes)-1)))
	write("request-tampered-product", "request", "SIGNATURE_INVALID", "one letter of the product changed after signing", "", armor.Encode(armor.Request, flip(req.Bytes, at(req.Bytes, "acme-cad"))))
	write("request-signed-by-other-key", "request", "SIGNATURE_INVALID", "payload names one installation key, another key signed it", "", armor.Encode(armor.Request, resign(inst2, crypto.TagRequest, payloadOf(req.Bytes))))
	write("request-unknown-field", "request", "MALFORMED", "a map key (99) that version 1 does not define, correctly signed", "", armor.Encode(armor.Request, resign(inst, crypto.TagRequest, addUnknownKey(payloadOf(req.Bytes)))))
	write("request-noncanonical", "request", "MALFORMED", "an integer in a longer encoding than needed, correctly signed", "", armor.Encode(armor.Request, resign(inst, crypto.TagRequest, nonCanonical(payloadOf(req.Bytes)))))
	write("request-version-2", "request", "MALFORMED", "format version 2, correctly signed", "", armor.Encode(armor.Request, resign(inst, crypto.TagRequest, version2(payloadOf(req.Bytes)))))
	write("request-license-tag", "request", "MALFORMED", "request payload signed under the license domain tag", "", armor.Encode(armor.Request, resign(inst, crypto.TagLicense, payloadOf(req.Bytes))))
	write("request-armored-as-license", "request", "MALFORMED", "request bytes behind the license tag AL1", "", armor.Encode(armor.License, req.Bytes))
	text := armor.Text(armor.Request, req.Bytes)
	write("request-truncated", "request", "MALFORMED", "the text cut short", "", []byte(text[:len(text)-7]+"\n"))
	write("request-bad-character", "request", "MALFORMED", "a character outside the base32 alphabet", "", []byte(text[:50]+"#"+text[51:]+"\n"))
	write("request-empty", "request", "MALFORMED", "nothing but white space", "", []byte(" \r\n\t\n"))
	write("request-trailing-text", "request", "MALFORMED", "text after the END line", "", append(req.Text(), []byte("thanks!\n")...))

	// Licenses.
	write("license-valid", "license", "VALID", "a license as airlock-vendor sign writes it", std, lic.Text())
	write("license-scanner-typed", "license", "VALID", "the same license typed by a barcode scanner", std, scanner(armor.License, lic.Bytes))
	write("license-one-component-changed", "license", "VALID", "one of four components changed (a new disk), policy most", licHeaders(during, "acme-cad", inst, newDisk), lic.Text())
	write("license-bad-signature", "license", "SIGNATURE_INVALID", "one bit of the signature flipped", std, armor.Encode(armor.License, flip(lic.Bytes, len(lic.Bytes)-1)))
	write("license-tampered-licensee", "license", "SIGNATURE_INVALID", "one letter of the licensee changed after signing", std, armor.Encode(armor.License, flip(lic.Bytes, at(lic.Bytes, "ACME"))))
	write("license-other-vendor", "license", "UNKNOWN_VENDOR_KEY", "signed by a vendor key the product does not pin", std, lic2.Text())
	write("license-wrong-product", "license", "PRODUCT_MISMATCH", "verified by another product", licHeaders(during, "acme-viewer", inst, here), lic.Text())
	write("license-other-installation", "license", "INSTALLATION_MISMATCH", "verified by another installation", licHeaders(during, "acme-cad", inst2, here), lic.Text())
	write("license-other-machine", "license", "FINGERPRINT_MISMATCH", "verified on a machine whose components all differ", licHeaders(during, "acme-cad", inst, elsewhere), lic.Text())
	write("license-not-yet-valid", "license", "NOT_YET_VALID", "verified a day before it was issued", licHeaders(t0.Add(-24*time.Hour), "acme-cad", inst, here), lic.Text())
	write("license-expired", "license", "EXPIRED", "verified a day after it expired", licHeaders(t0.AddDate(1, 0, 1), "acme-cad", inst, here), lic.Text())
	write("license-lease-expired", "license", "LEASE_EXPIRED", "verified after its lease ended", licHeaders(t0.AddDate(0, 2, 0), "acme-cad", inst, here), licLeased.Text())
	write("license-lease-valid", "license", "VALID", "verified within its lease", std, licLeased.Text())
	write("license-unknown-field", "license", "MALFORMED", "a map key (99) that version 1 does not define, correctly signed", std, armor.Encode(armor.License, resign(vendor, crypto.TagLicense, addUnknownKey(payloadOf(lic.Bytes)))))
	write("license-noncanonical", "license", "MALFORMED", "an integer in a longer encoding than needed, correctly signed", std, armor.Encode(armor.License, resign(vendor, crypto.TagLicense, nonCanonical(payloadOf(lic.Bytes)))))
	write("license-version-2", "license", "MALFORMED", "format version 2, correctly signed", std, armor.Encode(armor.License, resign(vendor, crypto.TagLicense, version2(payloadOf(lic.Bytes)))))
	write("license-request-tag", "license", "MALFORMED", "license payload signed under the request domain tag", std, armor.Encode(armor.License, resign(vendor, crypto.TagRequest, payloadOf(lic.Bytes))))
	other := *lic.License
	vid := vendor2.ID()
	other.VendorKeyID = vid[:]
	write("license-names-other-vendor-key", "license", "MALFORMED", "the payload names another vendor key than the one that signed it", std, armor.Encode(armor.License, resign(vendor, crypto.TagLicense, must(wire.Marshal(&other)))))
	write("license-armored-as-request", "license", "MALFORMED", "license bytes behind the request tag AR1", std, armor.Encode(armor.Request, lic.Bytes))
	write("license-mismatched-armor", "license", "MALFORMED", "BEGIN LICENSE closed by END REQUEST", std, bytes.Replace(lic.Text(), []byte("END AIRLOCK LICENSE"), []byte("END AIRLOCK REQUEST"), 1))
	write("license-request-as-license", "license", "MALFORMED", "a request re-armored as a license (AL1)", std, armor.Encode(armor.License, req.Bytes))

	// Field rules, each in a correctly signed message.
	signReq := func(mod func(r *request.Request)) []byte {
		r := *req.Request
		r.Components = maps.Clone(r.Components)
		mod(&r)
		return armor.Encode(armor.Request, resign(inst, crypto.TagRequest, must(wire.Marshal(&r))))
	}
	signLic := func(mod func(l *response.License)) []byte {
		l := *lic.License
		l.Binding.Components = maps.Clone(l.Binding.Components)
		mod(&l)
		return armor.Encode(armor.License, resign(vendor, crypto.TagLicense, must(wire.Marshal(&l))))
	}
	write("request-license-key-not-canonical", "request", "MALFORMED", "license key in lower case", "", signReq(func(r *request.Request) { r.LicenseKey = strings.ToLower(r.LicenseKey) }))
	write("request-license-key-check", "request", "MALFORMED", "license key whose check symbol is wrong", "", signReq(func(r *request.Request) { r.LicenseKey = r.LicenseKey[:24] + "D" }))
	write("request-zero-fingerprint", "request", "MALFORMED", "all-zero fingerprint id (no readable component)", "", signReq(func(r *request.Request) { r.Fingerprint = make([]byte, 16) }))
	write("request-component-zero", "request", "MALFORMED", "component id 0, which is never assigned", "", signReq(func(r *request.Request) { r.Components[0] = make([]byte, 8) }))
	write("request-short-nonce", "request", "MALFORMED", "a nonce of 8 bytes", "", signReq(func(r *request.Request) { r.Nonce = r.Nonce[:8] }))
	write("request-generic-card-with-key", "request", "MALFORMED", "a generic card claiming a public key", "", signReq(func(r *request.Request) {
		r.HardwareKey = &request.HardwareKey{Type: request.HWGeneric, Serial: []byte{1, 2, 3, 4}, PublicKey: []byte{5}}
	}))
	write("license-policy-count-on-most", "license", "MALFORMED", "a policy count on the policy most, which has none", std, signLic(func(l *response.License) { l.Binding.PolicyN = 7 }))
	write("license-atleast-over-components", "license", "MALFORMED", "atleast:5 with four components bound", std, signLic(func(l *response.License) {
		l.Binding.Policy, l.Binding.PolicyN = uint8(fingerprint.PolicyAtLeast), 5
	}))
	write("license-atleast-valid", "license", "VALID", "atleast:3 with one of four components changed", licHeaders(during, "acme-cad", inst, newDisk), signLic(func(l *response.License) {
		l.Binding.Policy, l.Binding.PolicyN = uint8(fingerprint.PolicyAtLeast), 3
	}))
	write("license-exact-one-changed", "license", "FINGERPRINT_MISMATCH", "policy exact with one of four components changed", licHeaders(during, "acme-cad", inst, newDisk), signLic(func(l *response.License) {
		l.Binding.Policy = uint8(fingerprint.PolicyExact)
	}))
	write("license-lease-before-not-before", "license", "MALFORMED", "lease ending before the not-before time", std, signLic(func(l *response.License) { l.LeaseUntil = l.NotBefore - 1 }))
	write("license-zero-fingerprint", "license", "MALFORMED", "binding to the all-zero fingerprint id", std, signLic(func(l *response.License) { l.Binding.Fingerprint = make([]byte, 16) }))
	write("license-hardware-key-bound", "license", "HARDWARE_KEY_NOT_ACCESSIBLE", "bound to a hardware key, verified where none can be checked (fails closed)", std, signLic(func(l *response.License) {
		l.Binding.HardwareKey = &request.HardwareKey{Type: request.HWPIV, Serial: []byte{1, 2, 3, 4}, PublicKey: append([]byte{2}, p256Point()...)}
	}))
	write("license-secret-bound", "license", "LICENSEE_SECRET_MISMATCH", "bound to a licensee secret, verified without one (fails closed)", std, signLic(func(l *response.License) { l.Binding.SecretHash = bytes.Repeat([]byte{7}, 32) }))
	write("license-refused-environment", "license", "ENVIRONMENT_REFUSED", "a license that refuses VMs, verified in a VM", std+"env: vm,cloud\n", signLic(func(l *response.License) {
		l.Binding.RefuseEnv = uint16(fingerprint.EnvVM)
	}))
	write("license-refused-environment-elsewhere", "license", "VALID", "a license that refuses VMs, verified in a container", std+"env: container\n", signLic(func(l *response.License) {
		l.Binding.RefuseEnv = uint16(fingerprint.EnvVM)
	}))
	rc := must(receipt.New(inst, lic.License, lic.Bytes, t0.AddDate(0, 0, 20), testkeys.Rand("receipt")))
	write("receipt-valid", "receipt", "VALID", "a deactivation receipt as airlock deactivate writes it", "", rc.Text())
	write("receipt-bad-signature", "receipt", "SIGNATURE_INVALID", "one bit of the signature flipped", "", armor.Encode(armor.Receipt, flip(rc.Bytes, len(rc.Bytes)-1)))
	write("receipt-signed-by-other-key", "receipt", "SIGNATURE_INVALID", "payload names one installation key, another key signed it", "", armor.Encode(armor.Receipt, resign(inst2, crypto.TagReceipt, payloadOf(rc.Bytes))))
	write("receipt-request-tag", "receipt", "MALFORMED", "receipt payload signed under the request domain tag", "", armor.Encode(armor.Receipt, resign(inst, crypto.TagRequest, payloadOf(rc.Bytes))))

	ur := must(usage.Sign(inst, &usage.Report{Seq: 1, From: t0.Unix(), To: t0.AddDate(0, 0, 30).Unix(), Products: []usage.Product{{
		Product: "acme-cad", LicenseKey: "51NKE-B51YC-93SW3-MNXGX-C", Seats: 25,
		Usage:    usage.Usage{Peak: 23, AverageMilli: 11500, Borrowed: 2, Denials: 4, Consumed: 900, OverageUsed: 12},
		Features: []usage.Feature{{Name: "render", Usage: usage.Usage{Peak: 5, AverageMilli: 2250, Denials: 1}}},
		Holders:  []usage.Holder{{Host: "ws-17", Installation: "0123456789abcdef", Grants: 40}},
	}}, Events: []usage.EventCount{{Kind: "clock.back", Count: 1}}, ClockJumps: []usage.ClockJump{{At: t0.AddDate(0, 0, 3).Unix(), Seconds: -7200}}}))
	write("usage-valid", "usage", "VALID", "a floating server's usage report 1, as airlock-server report writes it", "", ur.Text())
	write("usage-bad-signature", "usage", "SIGNATURE_INVALID", "one bit of the signature flipped", "", armor.Encode(armor.UsageReport, flip(ur.Bytes, len(ur.Bytes)-1)))
	write("usage-signed-by-other-key", "usage", "SIGNATURE_INVALID", "payload names one server key, another key signed it", "", armor.Encode(armor.UsageReport, resign(inst2, usage.Tag, payloadOf(ur.Bytes))))
	write("usage-receipt-tag", "usage", "MALFORMED", "usage report payload signed under the receipt domain tag", "", armor.Encode(armor.UsageReport, resign(inst, crypto.TagReceipt, payloadOf(ur.Bytes))))
	long := bytes.Clone(lic.Bytes)
	if long[2] != 0x58 {
		t.Fatal("unexpected COSE layout")
	}
	long = append([]byte{0xd2, 0x84, 0x59, 0x00}, long[3:]...)
	write("license-cose-long-length", "license", "MALFORMED", "the protected header's length in a longer form: same signature, different bytes", std, armor.Encode(armor.License, long))
	write("license-cose-untagged", "license", "MALFORMED", "COSE_Sign1 without its CBOR tag 18", std, armor.Encode(armor.License, lic.Bytes[1:]))
}

// p256Point is a fixed valid P-256 public key, uncompressed.
func p256Point() []byte {
	k, err := ecdh.P256().NewPrivateKey(bytes.Repeat([]byte{1}, 32))
	if err != nil {
		panic(err)
	}
	return k.PublicKey().Bytes()
}
