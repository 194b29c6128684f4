package floating_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airlock-offline/airlock/client"
	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/floating"
	"github.com/airlock-offline/airlock/internal/testrig/testkeys"
	"github.com/airlock-offline/airlock/licensekey"
	"github.com/airlock-offline/airlock/request"
	"github.com/airlock-offline/airlock/response"
	"github.com/airlock-offline/airlock/result"
)

const product = "acme-cad"

var t0 = time.Date(2030, 3, 1, 12, 0, 0, 0, time.UTC)

// clock is a settable test clock.
type clock struct{ t atomic.Int64 }

func newClock(t time.Time) *clock { c := new(clock); c.t.Store(t.UnixNano()); return c }
func (c *clock) Now() time.Time   { return time.Unix(0, c.t.Load()) }
func (c *clock) Add(d time.Duration) {
	c.t.Add(int64(d))
}

// poolLicense signs a pool license for server, as the desk does.
func poolLicense(t testing.TB, vendor, server *crypto.Identity, pool *response.Pool, features map[string]uint64) []byte {
	t.Helper()
	return poolLicenseFor(t, product, vendor, server, pool, features)
}

func poolLicenseFor(t testing.TB, product string, vendor, server *crypto.Identity, pool *response.Pool, features map[string]uint64) []byte {
	t.Helper()
	key, err := licensekey.New(testkeys.Rand("pool key"))
	if err != nil {
		t.Fatal(err)
	}
	fp := bytes.Repeat([]byte{7}, request.FPSize)
	req, err := request.New(request.Params{Product: product, LicenseKey: key, Fingerprint: fp, Vendor: vendor.Public(), Now: t0.Add(-time.Hour), Rand: testkeys.Rand("pool request")}, server)
	if err != nil {
		t.Fatal(err)
	}
	s, err := response.New(vendor, req, response.Params{
		LicenseKey: key, ActivationID: bytes.Repeat([]byte{1}, 16), Product: product, Licensee: "ACME Corp",
		Features: features, Issued: t0.Add(-time.Hour), Pool: pool,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s.Bytes
}

type fixture struct {
	vendor, server *crypto.Identity
	lic            []byte
	clock          *clock
	db             string
	srv            *floating.Server
	addr           string
	hs             *http.Server
	auth           string
}

func defaultPool() *response.Pool {
	return &response.Pool{Seats: 2, LeaseTTL: 180, Heartbeat: 60, BorrowDays: 7, BorrowMax: 1,
		FeatureSeats:       map[string]uint32{"render": 1},
		Consumption:        &response.Allowance{Max: 100, Overage: 10},
		FeatureConsumption: map[string]response.Allowance{"export": {Max: 5}},
	}
}

func newFixture(t *testing.T, pool *response.Pool) *fixture {
	f := &fixture{
		vendor: testkeys.Identity(crypto.RoleVendor, "vendor"),
		server: testkeys.Identity(crypto.RoleInstallation, "server"),
		clock:  newClock(t0),
		db:     filepath.Join(t.TempDir(), "server.db"),
	}
	f.lic = poolLicense(t, f.vendor, f.server, pool, map[string]uint64{"render": 0, "base": 0})
	f.start(t)
	t.Cleanup(f.stop)
	return f
}

func (f *fixture) start(t *testing.T) {
	t.Helper()
	srv, err := floating.New(floating.Config{Identity: f.server, Licenses: [][]byte{f.lic}, DB: f.db, Now: f.clock.Now, Auth: f.auth})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := srv.Certificate([]string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.srv, f.addr = srv, ln.Addr().String()
	f.hs = &http.Server{Handler: srv.Handler(), TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13}, ReadHeaderTimeout: 5 * time.Second}
	go f.hs.ServeTLS(ln, "", "")
}

func (f *fixture) stop() {
	if f.hs != nil {
		f.hs.Close()
		f.srv.Close()
		f.hs = nil
	}
}

func (f *fixture) client(name string) *client.Floating {
	return &client.Floating{
		Servers: []string{f.addr}, Product: product, VendorKeys: []*crypto.Public{f.vendor.Public()},
		Installation: testkeys.Identity(crypto.RoleInstallation, name), Now: f.clock.Now, Hostname: name,
	}
}

func code(err error) string {
	var e *floating.Error
	if errors.As(err, &e) {
		return e.Code
	}
	if err == nil {
		return ""
	}
	return "other: " + err.Error()
}

// Three clients share two seats: the third is refused with a clear code,
// one releases, and the third gets in. The seats survive a restart.
func TestThreeClientsTwoSeats(t *testing.T) {
	f := newFixture(t, defaultPool())
	ctx := context.Background()
	a, b, c := f.client("a"), f.client("b"), f.client("c")
	sa, err := a.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	_, err = c.Acquire(ctx)
	if code(err) != floating.CodeNoSeat {
		t.Fatalf("third client: got %v, want %s", err, floating.CodeNoSeat)
	}
	if !strings.Contains(err.Error(), "all 2 seats") {
		t.Errorf("refusal does not say why: %v", err)
	}
	// Acquiring again keeps the same seat.
	again, err := a.Acquire(ctx)
	if err != nil || !bytes.Equal(again.Lease.ID, sa.Lease.ID) {
		t.Fatalf("re-acquire: %v (same lease: %v)", err, err == nil && bytes.Equal(again.Lease.ID, sa.Lease.ID))
	}
	if err := a.Release(ctx, sa); err != nil {
		t.Fatal(err)
	}
	sc, err := c.Acquire(ctx)
	if err != nil {
		t.Fatalf("after a release: %v", err)
	}
	// Restart: both seats are still held.
	f.stop()
	f.start(t)
	a.Servers, c.Servers = []string{f.addr}, []string{f.addr}
	if _, err := a.Acquire(ctx); code(err) != floating.CodeNoSeat {
		t.Fatalf("after restart: got %v, want %s", err, floating.CodeNoSeat)
	}
	if _, err := c.Renew(ctx, sc); err != nil {
		t.Fatalf("renew after restart: %v", err)
	}
}

// A crashed client's seat comes back within one lease TTL; a heartbeat
// keeps it.
func TestExpiryAndHeartbeat(t *testing.T) {
	f := newFixture(t, defaultPool())
	ctx := context.Background()
	a, b, c := f.client("a"), f.client("b"), f.client("c")
	sa, _ := a.Acquire(ctx)
	if _, err := b.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	for range 4 { // a renews every heartbeat; b has crashed
		f.clock.Add(60 * time.Second)
		var err error
		if sa, err = a.Renew(ctx, sa); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Acquire(ctx); err != nil {
		t.Fatalf("b's seat did not come back after one TTL: %v", err)
	}
	if _, err := f.client("d").Acquire(ctx); code(err) != floating.CodeNoSeat {
		t.Fatalf("a kept renewing; want %s, got %v", floating.CodeNoSeat, err)
	}
	// The lease verifies as a license from the vendor key alone, here,
	// and not on another installation or after it ends.
	exp := &floating.LeaseExpect{VendorKeys: []*crypto.Public{f.vendor.Public()}, Product: product, Installation: a.Installation.Public(), Now: f.clock.Now()}
	if _, _, err := floating.VerifyLease(sa.Token, exp); err != nil {
		t.Fatal(err)
	}
	other := *exp
	other.Installation = b.Installation.Public()
	if _, _, err := floating.VerifyLease(sa.Token, &other); result.CodeOf(err) != result.InstallationMismatch {
		t.Errorf("lease on another installation: %v", err)
	}
	later := *exp
	later.Now = sa.Expires()
	if _, _, err := floating.VerifyLease(sa.Token, &later); result.CodeOf(err) != result.LeaseExpired {
		t.Errorf("expired lease: %v", err)
	}
}

func TestFeatureSeatsBorrowConsume(t *testing.T) {
	f := newFixture(t, defaultPool())
	ctx := context.Background()
	a, b := f.client("a"), f.client("b")
	a.Features, b.Features = []string{"render"}, []string{"render"}
	if _, err := a.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Acquire(ctx); code(err) != floating.CodeFeatureSeats {
		t.Fatalf("feature pool of 1: got %v", err)
	}
	b.Features = nil
	if _, err := b.FeatureRegister(ctx, "render"); code(err) != floating.CodeFeatureSeats {
		t.Fatalf("feature register on a full feature pool: got %v", err)
	}
	if _, err := b.FeatureRegister(ctx, "nope"); code(err) != floating.CodeFeatureNotLicensed {
		t.Fatalf("unlicensed feature: got %v", err)
	}
	// Borrowing: up to 7 days, one at a time.
	b.Features = nil
	if _, err := b.Borrow(ctx, f.clock.Now().Add(8*24*time.Hour)); code(err) != floating.CodeBorrowTooLong {
		t.Fatalf("8 days: got %v", err)
	}
	sb, err := b.Borrow(ctx, f.clock.Now().Add(3*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if !sb.Lease.Borrowed {
		t.Fatal("lease is not marked borrowed")
	}
	// The borrowed lease verifies two days later with no server at all.
	f.stop()
	exp := &floating.LeaseExpect{VendorKeys: []*crypto.Public{f.vendor.Public()}, Installation: b.Installation.Public(), Now: f.clock.Now().Add(48 * time.Hour)}
	if _, _, err := floating.VerifyLease(sb.Token, exp); err != nil {
		t.Fatalf("borrowed lease offline: %v", err)
	}
	f.start(t)
	a.Servers, b.Servers = []string{f.addr}, []string{f.addr}
	st := f.srv.Status()
	if st[0].Held != 2 || st[0].Borrowed != 1 {
		t.Fatalf("status after restart: %+v", st[0])
	}
	if err := b.Return(ctx, sb); err != nil { // early return
		t.Fatal(err)
	}
	if st := f.srv.Status(); st[0].Held != 1 || st[0].Borrowed != 0 {
		t.Fatalf("status after return: %+v", st[0])
	}

	// Consumption: 100 + 10 overage; over the cap nothing is counted.
	got, err := a.Consume(ctx, "", 100)
	if err != nil || got.Used != 100 || got.OverageUsed != 0 {
		t.Fatalf("consume 100: %+v %v", got, err)
	}
	got, err = a.Consume(ctx, "", 10)
	if err != nil || got.Used != 110 || got.OverageUsed != 10 {
		t.Fatalf("consume into overage: %+v %v", got, err)
	}
	if _, err := a.Consume(ctx, "", 1); code(err) != floating.CodeConsumptionCap {
		t.Fatalf("over the cap: %v", err)
	}
	if _, err := a.Consume(ctx, "export", 6); code(err) != floating.CodeConsumptionCap {
		t.Fatalf("feature over the cap: %v", err)
	}
	if got, err := a.Consume(ctx, "export", 5); err != nil || got.Used != 5 {
		t.Fatalf("feature consume: %+v %v", got, err)
	}
	if _, err := a.Consume(ctx, "nope", 1); code(err) != floating.CodeUnknownCounter {
		t.Fatalf("unknown counter: %v", err)
	}
	f.stop()
	f.start(t)
	if st := f.srv.Status(); st[0].Counters[""] != 110 || st[0].Counters["export"] != 5 {
		t.Fatalf("counters after restart: %+v", st[0].Counters)
	}
}

// post sends raw JSON to the API and returns the coded error it answers.
func post(t *testing.T, f *fixture, path string, body []byte, hdr map[string]string) (int, floating.Error) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "https://"+f.addr+floating.APIPrefix+path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e floating.Error
	_ = json.NewDecoder(resp.Body).Decode(&e)
	return resp.StatusCode, e
}

func TestBadInput(t *testing.T) {
	f := newFixture(t, defaultPool())
	inst := testkeys.Identity(crypto.RoleInstallation, "x")
	nonce, _ := f.srv.Nonce()
	kid := f.server.ID()
	proof, err := floating.SignProof(inst, &floating.Proof{Op: floating.OpAcquire, Nonce: nonce, Server: kid[:], Product: product})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(floating.ProofRequest{Proof: proof})
	if st, e := post(t, f, "/leases/acquire", body, nil); st != 200 {
		t.Fatalf("first use: %d %+v", st, e)
	}
	otherKid := crypto.KeyIDOf(inst.Public().Sign)
	nonce2, _ := f.srv.Nonce()
	wrong, _ := floating.SignProof(inst, &floating.Proof{Op: floating.OpAcquire, Nonce: nonce2, Server: otherKid[:], Product: product})
	wrongBody, _ := json.Marshal(floating.ProofRequest{Proof: wrong})
	tampered := bytes.Clone(proof)
	tampered[len(tampered)-1] ^= 1
	tamperedBody, _ := json.Marshal(floating.ProofRequest{Proof: tampered})
	for _, tc := range []struct {
		name, path string
		body       []byte
		code       string
		status     int
	}{
		{"replayed nonce", "/leases/acquire", body, floating.CodeNonceInvalid, 401},
		{"another server", "/leases/acquire", wrongBody, floating.CodeWrongServer, 400},
		{"bad signature", "/leases/acquire", tamperedBody, floating.CodeProofInvalid, 401},
		{"proof for another operation", "/leases/renew", body, floating.CodeProofInvalid, 401},
		{"malformed json", "/leases/acquire", []byte(`{"proof":`), floating.CodeMalformed, 400},
		{"unknown field", "/leases/acquire", []byte(`{"proof":"","x":1}`), floating.CodeMalformed, 400},
		{"trailing data", "/leases/acquire", []byte(`{"proof":""} {}`), floating.CodeMalformed, 400},
		{"oversized", "/leases/acquire", bytes.Repeat([]byte(" "), floating.MaxBody+1), floating.CodeTooLarge, 413},
		{"unknown call", "/nope", []byte(`{}`), floating.CodeNotFound, 404},
	} {
		st, e := post(t, f, tc.path, tc.body, nil)
		if st != tc.status || e.Code != tc.code || e.Status != tc.status || e.Message == "" {
			t.Errorf("%s: got %d %+v, want %d %s", tc.name, st, e, tc.status, tc.code)
		}
	}
	if st := f.srv.Status(); st[0].Held != 1 {
		t.Errorf("bad input changed the seats: %+v", st[0])
	}
}

func TestAuthModes(t *testing.T) {
	t.Run("license-key", func(t *testing.T) {
		f := &fixture{vendor: testkeys.Identity(crypto.RoleVendor, "vendor"), server: testkeys.Identity(crypto.RoleInstallation, "server"),
			clock: newClock(t0), db: filepath.Join(t.TempDir(), "s.db"), auth: floating.AuthLicenseKey}
		f.lic = poolLicense(t, f.vendor, f.server, defaultPool(), nil)
		f.start(t)
		t.Cleanup(f.stop)
		c := f.client("a")
		if _, err := c.Acquire(context.Background()); code(err) != floating.CodeLicenseKey {
			t.Fatalf("no key: %v", err)
		}
		lic, _, _ := response.ParseUnverified(f.lic)
		c.LicenseKey = lic.LicenseKey
		if _, err := c.Acquire(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("users", func(t *testing.T) {
		f := &fixture{vendor: testkeys.Identity(crypto.RoleVendor, "vendor"), server: testkeys.Identity(crypto.RoleInstallation, "server"),
			clock: newClock(t0), db: filepath.Join(t.TempDir(), "s.db"), auth: floating.AuthUsers}
		f.lic = poolLicense(t, f.vendor, f.server, defaultPool(), nil)
		f.start(t)
		t.Cleanup(f.stop)
		c := f.client("a")
		if _, err := c.Acquire(context.Background()); code(err) != floating.CodeUnauthorized {
			t.Fatalf("no token: %v", err)
		}
		if err := f.srv.SetUser("alice", "correct horse battery", floating.RoleUser); err != nil {
			t.Fatal(err)
		}
		if _, err := f.srv.Login("127.0.0.1", "alice", "wrong password!!"); code(err) != floating.CodeUnauthorized {
			t.Fatalf("wrong password: %v", err)
		}
		lr, err := f.srv.Login("127.0.0.1", "alice", "correct horse battery")
		if err != nil {
			t.Fatal(err)
		}
		c.Bearer = lr.Token
		if _, err := c.Acquire(context.Background()); err != nil {
			t.Fatal(err)
		}
		// A user may not force-release; the token is revocable.
		req, _ := http.NewRequest(http.MethodDelete, "https://"+f.addr+floating.APIPrefix+"/leases/00000000000000000000000000000000", nil)
		req.Header.Set("Authorization", "Bearer "+lr.Token)
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("user force-release: %s", resp.Status)
		}
		if err := f.srv.RevokeToken(lr.Token); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Acquire(context.Background()); code(err) != floating.CodeUnauthorized {
			t.Fatalf("revoked token: %v", err)
		}
		// Login attempts are rate-limited.
		var last error
		for range 12 {
			_, last = f.srv.Login("10.0.0.9", "mallory", "guess guess guess")
		}
		if code(last) != floating.CodeRateLimited {
			t.Errorf("12 attempts: %v", last)
		}
	})
}

// A server whose TLS key is not the one its pool license names is not
// trusted, even though it presents a genuine pool license.
func TestImpostorServer(t *testing.T) {
	f := newFixture(t, defaultPool())
	impostor := testkeys.Identity(crypto.RoleInstallation, "impostor")
	srv, err := floating.New(floating.Config{Identity: impostor, DB: filepath.Join(t.TempDir(), "i.db"), Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	cert, _ := srv.Certificate(nil)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	// The impostor relays the genuine server's /info.
	mux := http.NewServeMux()
	var leaked atomic.Bool
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(floating.LicenseKeyHeader) != "" || r.Header.Get("Authorization") != "" {
			leaked.Store(true)
		}
		info := fmt.Sprintf(`{"server_key_id":"x","auth":"none","products":[{"product":%q,"license":%q}],"time":"2030-01-01T00:00:00Z"}`, product, mustB64(f.lic))
		w.Write([]byte(info))
	})
	hs := &http.Server{Handler: mux, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}}
	go hs.ServeTLS(ln, "", "")
	defer hs.Close()
	c := f.client("a")
	c.Servers = []string{ln.Addr().String(), f.addr} // the impostor first: the client moves on
	c.Bearer = "alst_secret"                         // the genuine server (mode none) ignores it
	s, err := c.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if leaked.Load() {
		t.Error("the client sent its credentials to a server no pool license certifies")
	}
	if s.Server != f.addr {
		t.Fatalf("seat from %s, want the genuine server %s", s.Server, f.addr)
	}
}

func mustB64(b []byte) string {
	out, _ := json.Marshal(b)
	return strings.Trim(string(out), `"`)
}

// Many clients at once: no seat over the pool, and every lease a client
// holds is one the server counts.
func TestConcurrentGrants(t *testing.T) {
	pool := defaultPool()
	pool.Seats = 50
	f := newFixture(t, pool)
	ctx := context.Background()
	var granted atomic.Int32
	var wg sync.WaitGroup
	for i := range 120 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := f.client(fmt.Sprint("c", i))
			_, err := c.Acquire(ctx)
			switch code(err) {
			case "":
				granted.Add(1)
			case floating.CodeNoSeat:
			default:
				t.Errorf("client %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	if granted.Load() != 50 || f.srv.Status()[0].Held != 50 {
		t.Fatalf("granted %d, held %d; want 50", granted.Load(), f.srv.Status()[0].Held)
	}
}

// The OpenAPI document is valid JSON, served, and names every error code
// and every route the handler has.
func TestOpenAPI(t *testing.T) {
	f := newFixture(t, defaultPool())
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := hc.Get("https://" + f.addr + floating.APIPrefix + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil || doc.OpenAPI == "" {
		t.Fatalf("openapi.json: %v", err)
	}
	for _, p := range []string{"/info", "/nonce", "/leases/acquire", "/leases/renew", "/leases/borrow", "/leases/release", "/consumptions", "/login", "/logout", "/status", "/leases", "/leases/{id}", "/users", "/products", "/licenses", "/reload", "/hardware-key", "/report"} {
		if doc.Paths[p] == nil {
			t.Errorf("openapi.json lacks %s", p)
		}
	}
	raw := string(floating.OpenAPI())
	codes := floating.ErrorCodes()
	if len(codes) < 30 {
		t.Fatalf("%d error codes", len(codes))
	}
	for _, c := range codes {
		if !strings.Contains(raw, `"`+c+`"`) {
			t.Errorf("openapi.json lacks error code %s", c)
		}
	}
}

// A seat stored in the client's state is a license for client.Verifier;
// Hold renews in the background and Close releases.
func TestVerifierAndHold(t *testing.T) {
	f := newFixture(t, defaultPool())
	ctx := context.Background()
	dir := t.TempDir()
	st, err := client.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := st.CreateInstallation(testkeys.Rand("verifier client"), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	c := f.client("unused")
	c.Installation = inst
	c.Features = []string{"render"}
	v := &client.Verifier{Product: product, VendorKeys: []*crypto.Public{f.vendor.Public()}, Dir: dir, Now: f.clock.Now}
	if _, err := v.Verify(); result.CodeOf(err) != result.NotActivated {
		t.Fatalf("before: %v", err)
	}
	var renewErrs atomic.Int32
	held, err := c.Hold(ctx, func(error) { renewErrs.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	if err := st.StoreLease(product, held.Seat().Token); err != nil {
		t.Fatal(err)
	}
	lic, err := v.Verify()
	if err != nil {
		t.Fatalf("verify with a lease: %v", err)
	}
	if _, ok := lic.Features["render"]; !ok || lic.LeaseUntil != held.Seat().Lease.Expires {
		t.Errorf("license from a lease: features %v, lease until %d", lic.Features, lic.LeaseUntil)
	}
	if _, ok := lic.Features["base"]; !ok {
		t.Errorf("unpooled license features are kept: %v", lic.Features)
	}
	v2 := *v
	v2.Now = func() time.Time { return held.Seat().Expires() }
	if _, err := v2.Verify(); result.CodeOf(err) != result.LeaseExpired {
		t.Errorf("after the lease: %v", err)
	}
	if err := held.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if s := f.srv.Status()[0]; s.Held != 0 {
		t.Errorf("Close did not release: %+v", s)
	}
	if renewErrs.Load() != 0 {
		t.Errorf("%d renewal errors", renewErrs.Load())
	}
}

// No lease outlives the pool license, and none is granted after it ends.
func TestPoolLicenseWindow(t *testing.T) {
	vendor := testkeys.Identity(crypto.RoleVendor, "vendor")
	server := testkeys.Identity(crypto.RoleInstallation, "server")
	key, _ := licensekey.New(testkeys.Rand("pool key"))
	req, err := request.New(request.Params{Product: product, LicenseKey: key, Fingerprint: bytes.Repeat([]byte{7}, request.FPSize), Vendor: vendor.Public(), Now: t0.Add(-time.Hour)}, server)
	if err != nil {
		t.Fatal(err)
	}
	s, err := response.New(vendor, req, response.Params{LicenseKey: key, ActivationID: bytes.Repeat([]byte{1}, 16), Product: product, Licensee: "ACME",
		Issued: t0.Add(-time.Hour), Expires: t0.Add(100 * time.Second), Pool: defaultPool()})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{vendor: vendor, server: server, lic: s.Bytes, clock: newClock(t0), db: filepath.Join(t.TempDir(), "w.db")}
	f.start(t)
	t.Cleanup(f.stop)
	seat, err := f.client("a").Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if seat.Expires() != t0.Add(100*time.Second) {
		t.Errorf("lease ends %s, after the pool license (%s)", seat.Expires(), t0.Add(100*time.Second))
	}
	f.clock.Add(100 * time.Second)
	if _, err := f.client("b").Acquire(context.Background()); code(err) != floating.CodeLicenseNotValid {
		t.Errorf("after the pool license: %v", err)
	}
}

// A server with a list of allowed clients refuses every other installation
// with a coded error, and counts nothing for it.
func TestAllowedClients(t *testing.T) {
	f := &fixture{vendor: testkeys.Identity(crypto.RoleVendor, "vendor"), server: testkeys.Identity(crypto.RoleInstallation, "server"),
		clock: newClock(t0), db: filepath.Join(t.TempDir(), "a.db")}
	f.lic = poolLicense(t, f.vendor, f.server, defaultPool(), nil)
	srv, err := floating.New(floating.Config{Identity: f.server, Licenses: [][]byte{f.lic}, DB: f.db, Now: f.clock.Now,
		AllowedClients: [][]byte{testkeys.Identity(crypto.RoleInstallation, "a").Public().Sign}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	kid := srv.KeyID()
	for _, name := range []string{"a", "b"} {
		inst := testkeys.Identity(crypto.RoleInstallation, name)
		n, _ := srv.Nonce()
		p, _ := floating.SignProof(inst, &floating.Proof{Op: floating.OpAcquire, Nonce: n, Server: kid[:], Product: product})
		_, err := srv.Acquire(p, floating.Credentials{})
		if name == "a" && err != nil || name == "b" && code(err) != floating.CodeClientNotAllowed {
			t.Errorf("%s: %v", name, err)
		}
	}
	if st := srv.Status()[0]; st.Held != 1 {
		t.Errorf("held %d", st.Held)
	}
}

// Several products on one server: each pool counts its own seats.
func TestTwoProducts(t *testing.T) {
	f := &fixture{vendor: testkeys.Identity(crypto.RoleVendor, "vendor"), server: testkeys.Identity(crypto.RoleInstallation, "server"),
		clock: newClock(t0), db: filepath.Join(t.TempDir(), "two.db")}
	one := &response.Pool{Seats: 1, LeaseTTL: 180, Heartbeat: 60}
	f.lic = poolLicense(t, f.vendor, f.server, one, nil)
	other := poolLicenseFor(t, "acme-cam", f.vendor, f.server, one, nil)
	srv, err := floating.New(floating.Config{Identity: f.server, Licenses: [][]byte{f.lic, other}, DB: f.db, Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	kid := srv.KeyID()
	take := func(client, prod string) error {
		inst := testkeys.Identity(crypto.RoleInstallation, client)
		n, _ := srv.Nonce()
		p, _ := floating.SignProof(inst, &floating.Proof{Op: floating.OpAcquire, Nonce: n, Server: kid[:], Product: prod})
		_, err := srv.Acquire(p, floating.Credentials{})
		return err
	}
	if err := take("a", product); err != nil {
		t.Fatal(err)
	}
	if err := take("a", "acme-cam"); err != nil {
		t.Fatalf("the other product's pool: %v", err)
	}
	if err := take("b", "acme-cam"); code(err) != floating.CodeNoSeat {
		t.Fatalf("second seat of a one-seat pool: %v", err)
	}
	if err := take("b", "acme-cax"); code(err) != floating.CodeUnknownProduct {
		t.Fatalf("unknown product: %v", err)
	}
	if st := srv.Status(); len(st) != 2 || st[0].Held != 1 || st[1].Held != 1 {
		t.Fatalf("status: %+v", st)
	}
}

// The admin changes the authentication mode while the server runs (the
// console's form, PUT /auth): it applies to the next grant at once, is
// kept for a start that names no mode, and a start that names one wins.
func TestAuthModeChanged(t *testing.T) {
	f := newFixture(t, defaultPool())
	ctx := context.Background()
	if f.srv.AuthMode() != floating.AuthNone {
		t.Fatalf("mode at first start: %s", f.srv.AuthMode())
	}
	if _, err := f.client("a").Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	tok, _, err := f.srv.CreateToken("admin", floating.RoleAdmin, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	admin := floating.NewAdmin(f.addr, f.server.Public().Sign, tok)
	if err := admin.Do(ctx, "PUT", "/auth", map[string]string{"mode": "password"}, nil); code(err) != floating.CodeMalformed {
		t.Fatalf("an unknown mode: %v", err)
	}
	var got floating.AuthRequest
	if err := admin.Do(ctx, "PUT", "/auth", floating.AuthRequest{Mode: floating.AuthLicenseKey}, &got); err != nil || got.Mode != floating.AuthLicenseKey {
		t.Fatalf("PUT /auth: %+v %v", got, err)
	}
	if _, err := f.client("b").Acquire(ctx); code(err) != floating.CodeLicenseKey {
		t.Fatalf("a grant without the key after the change: %v", err)
	}
	user := floating.NewAdmin(f.addr, f.server.Public().Sign, "")
	if err := user.Do(ctx, "PUT", "/auth", floating.AuthRequest{Mode: floating.AuthNone}, nil); code(err) != floating.CodeUnauthorized {
		t.Fatalf("a change without the admin token: %v", err)
	}
	f.stop()
	f.start(t) // no mode named: the kept one
	if f.srv.AuthMode() != floating.AuthLicenseKey {
		t.Fatalf("mode after a restart: %s", f.srv.AuthMode())
	}
	f.stop()
	f.auth = floating.AuthUsers
	f.start(t)
	f.stop()
	f.auth = ""
	f.start(t)
	if f.srv.AuthMode() != floating.AuthUsers {
		t.Fatalf("a mode named at start is not kept: %s", f.srv.AuthMode())
	}
}
