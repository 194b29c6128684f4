package client_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/airlock-offline/airlock/client"
	"github.com/airlock-offline/airlock/desk"
	"github.com/airlock-offline/airlock/result"
)

// phoneRequest makes a real request with a phone seed through v (as
// `airlock request --phone` does) and has the desk sign it, returning the
// desk's outcome: the license and the code read out on the phone.
func phoneRequest(t *testing.T, w *world, v *client.Verifier) *desk.Issued {
	t.Helper()
	inst, err := w.st.Installation(nil)
	if err != nil {
		t.Fatal(err)
	}
	conf, err := client.PhoneSeed()
	if err != nil {
		t.Fatal(err)
	}
	s, err := v.Request(inst, w.key, conf)
	if err != nil {
		t.Fatal(err)
	}
	iss, err := w.desk.Sign(context.Background(), s.Bytes)
	if err != nil {
		t.Fatalf("desk: %v", err)
	}
	if iss.PhoneCode == "" {
		t.Fatal("the desk made no phone code")
	}
	return iss
}

// TestProvisionalOffByDefault: a product that did not opt in refuses phone
// codes, and a provisional record found in the state counts for nothing.
func TestProvisionalOffByDefault(t *testing.T) {
	w := newWorld(t, product, nil)
	c := &clock{t0}
	v := w.verifier(machine(t, nil), c)
	iss := phoneRequest(t, w, v)
	_, err := v.ActivateCode(iss.PhoneCode, 0)
	if !errors.Is(err, client.ErrProvisionalOff) || result.CodeOf(err) != result.NotActivated {
		t.Fatalf("ActivateCode without opt-in: %v", err)
	}
	// Opted in once (another configuration), then verified without.
	on := *v
	on.Provisional = 72 * time.Hour
	if _, err := on.ActivateCode(iss.PhoneCode, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := on.Verify(); result.CodeOf(err) != result.Provisional {
		t.Fatalf("opted in: %v", err)
	}
	_, err = v.Verify()
	if result.CodeOf(err) != result.NotActivated || result.Runnable(err) {
		t.Fatalf("not opted in: %v, want NOT_ACTIVATED", err)
	}
	if result.Provisional.ExitCode() == 0 {
		t.Fatal("PROVISIONAL exits 0: scripts testing $? -eq 0 are fooled")
	}
}

// TestProvisionalOncePerInstallation: one provisional period per
// installation and product, ever; a new request does not reset it; the
// grace is capped by the product's opt-in; a forged record is ignored.
func TestProvisionalOncePerInstallation(t *testing.T) {
	w := newWorld(t, product, nil)
	c := &clock{t0}
	v := w.verifier(machine(t, nil), c)
	v.Provisional = 24 * time.Hour
	w.desk.Now = c.Now
	iss := phoneRequest(t, w, v)
	until, err := v.ActivateCode(iss.PhoneCode, 72*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if !until.Equal(t0.Add(24 * time.Hour)) {
		t.Fatalf("until %s, want the product's cap %s", until, t0.Add(24*time.Hour))
	}
	if _, err := v.Verify(); result.CodeOf(err) != result.Provisional {
		t.Fatalf("Verify: %v", err)
	}
	// The same code again: no extension.
	if u, err := v.ActivateCode(iss.PhoneCode, 0); err != nil || !u.Equal(until) {
		t.Fatalf("same code again: %s, %v", u, err)
	}
	// A new request and its code, after the period: refused.
	c.t = t0.Add(25 * time.Hour)
	if _, err := v.Verify(); result.CodeOf(err) != result.NotActivated {
		t.Fatalf("after the period: %v", err)
	}
	iss2 := phoneRequest(t, w, v)
	_, err = v.ActivateCode(iss2.PhoneCode, 0)
	if !errors.Is(err, client.ErrProvisionalUsed) {
		t.Fatalf("second period: %v, want ErrProvisionalUsed", err)
	}
	// Hand-editing the provisional record to extend it does not help:
	// the period is capped from its recorded start.
	rec := filepath.Join(w.st.Dir, "provisional", product)
	b, err := os.ReadFile(rec)
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b))
	if err := os.WriteFile(rec, []byte(f[0]+" 4102444800\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(); result.CodeOf(err) != result.NotActivated {
		t.Fatalf("extended record: %v", err)
	}
	// The desk's next request from this installation reports the period.
	inst, err := w.st.Installation(nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := v.Request(inst, w.key, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.Request.Provisional != t0.Unix() {
		t.Fatalf("request reports provisional since %d, want %d", s.Request.Provisional, t0.Unix())
	}
	if _, err := w.desk.Sign(context.Background(), s.Bytes); err != nil {
		t.Fatal(err)
	}
	log, err := w.led.AuditLog(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var codes, reported int
	for _, e := range log {
		switch e.Action {
		case "provisional.code":
			codes++
		case "provisional.reported":
			reported++
		}
	}
	if codes != 2 || reported != 2 {
		t.Fatalf("audit log: %d provisional.code, %d provisional.reported; want 2 and 2 (both requests made after the period began)", codes, reported)
	}
}

// TestClockRecordDeleted: after CLOCK_TAMPERED, deleting or rewinding the
// clock file does not make the license valid again.
func TestClockRecordDeleted(t *testing.T) {
	w := newWorld(t, product, nil)
	c := &clock{t0}
	v := w.verifier(machine(t, nil), c)
	w.activate(v)
	c.t = t0.Add(10 * day)
	if _, err := v.Verify(); err != nil {
		t.Fatal(err)
	}
	c.t = t0.Add(day)
	_, err := v.Verify()
	wantCode(t, err, result.ClockTampered, result.ErrClockTampered)

	clockPath := filepath.Join(w.st.Dir, "clock")
	if err := os.Remove(clockPath); err != nil {
		t.Fatal(err)
	}
	_, err = v.Verify()
	wantCode(t, err, result.ClockTampered, result.ErrClockTampered)

	// A rewound clock file: the other record still holds the later time.
	if err := os.WriteFile(clockPath, []byte("0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = v.Verify()
	wantCode(t, err, result.ClockTampered, result.ErrClockTampered)

	// Both deleted: still tampered while a license is installed.
	os.Remove(clockPath)
	os.Remove(filepath.Join(w.st.Dir, "licenses", ".seen"))
	_, err = v.Verify()
	wantCode(t, err, result.ClockTampered, result.ErrClockTampered)
}
