package e2e

// The floating license server through the real binaries: activated offline
// through the desk, serving on loopback, seats shared by clients, and
// killed with SIGKILL under load.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/airlock-offline/airlock/client"
	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/floating"
)

var (
	serverOnce sync.Once
	serverBin  string
	serverErr  error
)

// airlockServer builds airlock-server (test build) once.
func airlockServer(t *testing.T) string {
	t.Helper()
	serverOnce.Do(func() {
		serverBin = filepath.Join(buildDir, "server", "airlock-server")
		serverErr = goBuild(moduleDir, "-tags", "airlocktest", "-o", serverBin, "./cmd/airlock-server")
	})
	if serverErr != nil {
		t.Fatal(serverErr)
	}
	return serverBin
}

// floatingSetup is a desk and a floating server activated through it.
type floatingSetup struct {
	e         *env
	desk      string
	vendorKey string // @file
	state     string // the server's state folder
	bin       string
	key       string // the license key of the server's license
}

func (f *floatingSetup) server(args ...string) out {
	f.e.t.Helper()
	return f.e.run(f.bin, nil, append([]string{"--state", f.state}, args...)...)
}

// newFloating makes a desk, a license for one server, and a server holding
// a pool license described by pool.
func newFloating(t *testing.T, pool string, initArgs ...string) *floatingSetup {
	e := newEnv(t)
	desk, vk := initDesk(t, e)
	f := &floatingSetup{e: e, desk: desk, vendorKey: vk, state: filepath.Join(t.TempDir(), "server"), bin: airlockServer(t)}
	key := createLicense(t, e, desk, "--max-machines", "1", "--feature", "render=0")
	f.key = key
	expectOK(t, f.server(append([]string{"init", "--vendor-key", vk}, initArgs...)...))
	req := filepath.Join(t.TempDir(), "server-request.txt")
	o := f.server("request", "--product", "acme-cad", "--license-key", key, "-o", req)
	expectOK(t, o)
	lic := filepath.Join(t.TempDir(), "pool.txt")
	expectOK(t, e.vendor("--dir", desk, "sign", "--pool", pool, req, "-o", lic))
	o = f.server("activate", lic)
	expectOK(t, o)
	expectContains(t, "activate stderr", o.stderr, "pool license for \"acme-cad\" installed")
	return f
}

// serve starts the server on a free loopback port and returns its address
// and process.
func (f *floatingSetup) serve(t *testing.T, extra ...string) (string, *exec.Cmd) {
	t.Helper()
	os.Remove(filepath.Join(f.state, "serve.json"))
	cmd := exec.Command(f.bin, append([]string{"--state", f.state, "serve", "--listen", "127.0.0.1:0"}, extra...)...)
	cmd.Env = f.e.environ()
	var se bytes.Buffer
	cmd.Stderr = &se
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(filepath.Join(f.state, "serve.json")); err == nil {
			var info struct{ Address string }
			if json.Unmarshal(b, &info) == nil && info.Address != "" {
				return info.Address, cmd
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the server did not start:\n%s", se.String())
	return "", nil
}

type floatingJSON struct {
	Result  string `json:"result"`
	Message string `json:"message"`
	LeaseID string `json:"lease_id"`
}

// Three clients share two seats: the third is refused with a clear code;
// one gives its seat back and the third gets in. The seats survive a
// SIGKILL of the server.
func TestFloatingThreeClientsTwoSeats(t *testing.T) {
	f := newFloating(t, "seats=2,ttl=180,heartbeat=60,borrow-days=7")
	// The desk's ledger shows the pool as what it is: one server, N seats.
	o := f.e.vendor("--dir", f.desk, "license", "show", f.key)
	expectOK(t, o)
	expectContains(t, "license show", o.stdout, "seats:        1 of 1 used")
	expectContains(t, "license show", o.stdout, "floating server: 2 seats, lease 180s (heartbeat 60s), borrow up to 7 days")
	addr, cmd := f.serve(t)
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Fatalf("server listens on %s, not loopback", addr)
	}
	clientState := func(i int) string { return filepath.Join(f.e.work, fmt.Sprint("client-", i)) }
	acquire := func(i int) (out, floatingJSON) {
		o := f.e.airlock("--state", clientState(i), "floating", "acquire", "--server", addr, "--product", "acme-cad",
			"--vendor-key", f.vendorKey, "--plaintext-key", "--json")
		return o, decodeJSON[floatingJSON](t, o)
	}
	for i := 1; i <= 2; i++ {
		o, j := acquire(i)
		expectOK(t, o)
		if j.Result != "ok" || len(j.LeaseID) != 32 {
			t.Fatalf("client %d: %+v\n%s", i, j, o)
		}
	}
	o, j := acquire(3)
	expect(t, o, 1)
	if j.Result != floating.CodeNoSeat || !strings.Contains(j.Message, "all 2 seats") {
		t.Fatalf("third client: %+v\n%s", j, o)
	}
	// A seat is a license: airlock verify accepts it, with no server.
	o = f.e.airlock("--state", clientState(1), "verify", "--product", "acme-cad", "--vendor-key", f.vendorKey)
	expectOK(t, o)
	expectStdout(t, o, "VALID\n")
	o = f.e.airlock("--state", clientState(3), "verify", "--product", "acme-cad", "--vendor-key", f.vendorKey)
	expectStdout(t, o, "NOT_ACTIVATED\n")
	// A lease copied to another installation does not verify there.
	lease := readFile(t, filepath.Join(clientState(1), "leases", "acme-cad.lease"))
	writeFile(t, filepath.Join(clientState(3), "leases", "acme-cad.lease"), lease)
	o = f.e.airlock("--state", clientState(3), "verify", "--product", "acme-cad", "--vendor-key", f.vendorKey)
	expectStdout(t, o, "INSTALLATION_MISMATCH\n")
	os.Remove(filepath.Join(clientState(3), "leases", "acme-cad.lease"))

	expectOK(t, f.e.airlock("--state", clientState(1), "floating", "release", "--server", addr, "--product", "acme-cad", "--vendor-key", f.vendorKey))
	o, j = acquire(3)
	expectOK(t, o)
	if j.Result != "ok" {
		t.Fatalf("third client after a release: %+v", j)
	}

	// SIGKILL, restart: both seats are still held.
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	addr, _ = f.serve(t)
	o, j = acquire(1)
	expect(t, o, 1)
	if j.Result != floating.CodeNoSeat {
		t.Fatalf("after a restart: %+v", j)
	}
	o = f.server("status", "--json")
	expectOK(t, o)
	var st struct {
		Running bool                  `json:"running"`
		Pools   []floating.PoolStatus `json:"pools"`
	}
	if err := json.Unmarshal([]byte(o.stdout), &st); err != nil || !st.Running || len(st.Pools) != 1 || st.Pools[0].Held != 2 {
		t.Fatalf("status: %v\n%s", err, o)
	}
	// The admin force-releases client 2's seat.
	o = f.server("leases", "--json")
	expectOK(t, o)
	var leases []floating.LeaseInfo
	if err := json.Unmarshal([]byte(o.stdout), &leases); err != nil || len(leases) != 2 {
		t.Fatalf("leases: %v\n%s", err, o)
	}
	expectOK(t, f.server("release", leases[0].ID))
	o, j = acquire(1)
	expectOK(t, o)
}

// The server is killed with SIGKILL at random points while clients
// acquire, renew and release: after each restart, every lease a client
// holds is one the server counts, and no pool is over its seats.
func TestFloatingSIGKILLUnderLoad(t *testing.T) {
	const seats, clients = 20, 40
	f := newFloating(t, fmt.Sprintf("seats=%d,ttl=180,heartbeat=60", seats))
	vendorPub, err := crypto.ParsePublic(strings.TrimSpace(string(readFile(t, strings.TrimPrefix(f.vendorKey, "@")))))
	if err != nil {
		t.Fatal(err)
	}
	type holder struct {
		mu        sync.Mutex
		seat      *client.Seat // held, as far as the client knows
		uncertain bool         // a release was cut off: the seat may or may not be back
	}
	hs := make([]*holder, clients)
	fs := make([]*client.Floating, clients)
	for i := range hs {
		hs[i] = &holder{}
		inst, err := crypto.Generate(crypto.RoleInstallation, nil)
		if err != nil {
			t.Fatal(err)
		}
		fs[i] = &client.Floating{Product: "acme-cad", VendorKeys: []*crypto.Public{vendorPub}, Installation: inst,
			Now: func() time.Time { return t0 }, Timeout: 5 * time.Second}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 3 {
		addr, cmd := f.serve(t)
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for i := range clients {
			fs[i].Servers = []string{addr}
			wg.Add(1)
			go func() {
				defer wg.Done()
				h, c := hs[i], fs[i]
				for ctx.Err() == nil {
					h.mu.Lock()
					cur, unsure := h.seat, h.uncertain
					h.mu.Unlock()
					var err error
					switch {
					case cur == nil:
						var s *client.Seat
						if s, err = c.Acquire(ctx); err == nil {
							h.mu.Lock()
							h.seat, h.uncertain = s, false
							h.mu.Unlock()
						}
					case rand.IntN(3) == 0 || unsure:
						if err = c.Release(ctx, cur); err == nil {
							h.mu.Lock()
							h.seat = nil
							h.mu.Unlock()
						} else if !floating.IsCode(err, floating.CodeLeaseUnknown) {
							h.mu.Lock()
							h.uncertain = true
							h.mu.Unlock()
						}
					default:
						var s *client.Seat
						if s, err = c.Renew(ctx, cur); err == nil {
							h.mu.Lock()
							h.seat = s
							h.mu.Unlock()
						}
					}
					if floating.IsCode(err, floating.CodeLeaseUnknown) {
						// Released by a request whose answer was cut off.
						h.mu.Lock()
						h.seat, h.uncertain = nil, false
						h.mu.Unlock()
						continue
					}
					var fe *floating.Error
					if err != nil && errors.As(err, &fe) && fe.Code != floating.CodeNoSeat && fe.Code != floating.CodeNonceInvalid {
						t.Errorf("client %d: %v", i, err)
					}
					if err != nil {
						time.Sleep(5 * time.Millisecond)
					}
				}
			}()
		}
		time.Sleep(time.Duration(300+rng.IntN(900)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		cancel()
		wg.Wait()

		// Restart and compare.
		_, _ = f.serve(t)
		o := f.server("leases", "--json")
		expectOK(t, o)
		var leases []floating.LeaseInfo
		if err := json.Unmarshal([]byte(o.stdout), &leases); err != nil {
			t.Fatal(err)
		}
		if len(leases) > seats {
			t.Fatalf("round %d: %d leases held, pool of %d", round, len(leases), seats)
		}
		counted := map[string]bool{}
		for _, l := range leases {
			counted[l.ID] = true
		}
		held := 0
		for i, h := range hs {
			if h.seat == nil || h.uncertain {
				continue
			}
			held++
			if !counted[h.seat.Lease.IDString()] {
				t.Errorf("round %d: client %d holds lease %s, which the server does not count", round, i, h.seat.Lease.IDString())
			}
		}
		t.Logf("round %d: killed after load; clients hold %d leases, the server counts %d", round, held, len(leases))
		// Stop this instance before the next round.
		b, _ := os.ReadFile(filepath.Join(f.state, "serve.json"))
		var info struct{ PID int }
		_ = json.Unmarshal(b, &info)
		if p, err := os.FindProcess(info.PID); err == nil && info.PID > 0 {
			p.Signal(syscall.SIGKILL)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// The seed's addProduct through the admin API: a server started with no
// license makes its request, the desk signs it, the license goes in through
// the API, and the pool is served at once, with no restart.
func TestFloatingAdminActivation(t *testing.T) {
	e := newEnv(t)
	desk, vk := initDesk(t, e)
	f := &floatingSetup{e: e, desk: desk, vendorKey: vk, state: filepath.Join(t.TempDir(), "server"), bin: airlockServer(t)}
	key := createLicense(t, e, desk, "--max-machines", "1")
	addr, _ := f.serve(t) // a fresh machine: serve makes its state
	expectOK(t, f.server("init", "--vendor-key", vk))
	tok := strings.TrimSpace(string(readFile(t, filepath.Join(f.state, "admin.token"))))
	pub, err := crypto.ParsePublic(strings.TrimSpace(string(readFile(t, filepath.Join(f.state, "installation.pub")))))
	if err != nil {
		t.Fatal(err)
	}
	ad := floating.NewAdmin(addr, pub.Sign, tok)
	ctx := context.Background()
	var pr floating.ProductResponse
	if err := ad.Do(ctx, "POST", "/products", floating.ProductRequest{Product: "acme-cad", LicenseKey: key}, &pr); err != nil {
		t.Fatal(err)
	}
	req := filepath.Join(t.TempDir(), "req.txt")
	writeFile(t, req, []byte(pr.Request))
	lic := filepath.Join(t.TempDir(), "lic.txt")
	expectOK(t, e.vendor("--dir", desk, "sign", "--pool", "seats=3", req, "-o", lic))
	var st floating.PoolStatus
	if err := ad.Do(ctx, "POST", "/licenses", floating.LicenseRequest{License: string(readFile(t, lic))}, &st); err != nil {
		t.Fatal(err)
	}
	if st.Product != "acme-cad" || st.Seats != 3 {
		t.Fatalf("installed: %+v", st)
	}
	o := e.airlock("--state", filepath.Join(e.work, "c1"), "floating", "acquire", "--server", addr, "--product", "acme-cad",
		"--vendor-key", vk, "--plaintext-key", "--json")
	expectOK(t, o)
	// Without the admin token: refused.
	bad := floating.NewAdmin(addr, pub.Sign, "alst_nope")
	if err := bad.Do(ctx, "POST", "/products", floating.ProductRequest{Product: "x", LicenseKey: key}, nil); !floating.IsCode(err, floating.CodeUnauthorized) {
		t.Fatalf("no token: %v", err)
	}
}

// The server on PostgreSQL (--db): seats shared and kept across a SIGKILL,
// and the URL's password never printed.
func TestFloatingPostgres(t *testing.T) {
	target, password := postgresLedger(t)
	f := newFloating(t, "seats=1", "--db", target)
	addr, cmd := f.serve(t)
	acquire := func(name string) (out, floatingJSON) {
		o := f.e.airlock("--state", filepath.Join(f.e.work, name), "floating", "acquire", "--server", addr, "--product", "acme-cad",
			"--vendor-key", f.vendorKey, "--plaintext-key", "--json")
		return o, decodeJSON[floatingJSON](t, o)
	}
	o, _ := acquire("a")
	expectOK(t, o)
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	addr, _ = f.serve(t)
	o, j := acquire("b")
	expect(t, o, 1)
	if j.Result != floating.CodeNoSeat {
		t.Fatalf("after SIGKILL on PostgreSQL: %+v", j)
	}
	st := f.server("status")
	expectOK(t, st)
	expectContains(t, "status", st.stdout, "1 of 1 held")
	// A copy of the server's state, pointed at the same database while it
	// serves, is refused at start, as docs/floating.md says.
	twin := filepath.Join(t.TempDir(), "twin")
	if err := exec.Command("cp", "-a", f.state, twin).Run(); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(twin, "serve.json"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	second := exec.CommandContext(ctx, f.bin, "--state", twin, "serve", "--listen", "127.0.0.1:0")
	second.Env = f.e.environ()
	b, err := second.CombinedOutput()
	if err == nil || ctx.Err() != nil || !strings.Contains(string(b), "another airlock-server serves this database") {
		t.Fatalf("a second server on the database: %v\n%s", err, b)
	}
	if password != "" {
		for _, x := range []out{o, st} {
			expectNotContains(t, "output", x.stdout+x.stderr, password)
		}
	}
}

// Borrowing, returning and consuming through airlock floating, and the
// commands' usage errors.
func TestFloatingBorrowConsumeCLI(t *testing.T) {
	f := newFloating(t, "seats=1,borrow-days=7,consumption=10+2")
	addr, cmd := f.serve(t)
	state := filepath.Join(f.e.work, "laptop")
	fl := func(args ...string) out {
		return f.e.airlock(append([]string{"--state", state, "floating"}, append(args, "--product", "acme-cad", "--vendor-key", f.vendorKey)...)...)
	}
	o := fl("borrow", "--server", addr, "--until", "3d", "--plaintext-key", "--json")
	expectOK(t, o)
	if j := decodeJSON[floatingJSON](t, o); j.Result != "ok" {
		t.Fatalf("borrow: %+v", j)
	}
	// The server goes away: the borrowed seat verifies with no server.
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	o = f.e.at(t0.Add(2*day)).airlock("--state", state, "verify", "--product", "acme-cad", "--vendor-key", f.vendorKey)
	expectOK(t, o)
	o = fl("status", "--json")
	expectOK(t, o)
	addr, _ = f.serve(t)
	o = f.e.airlock("--state", filepath.Join(f.e.work, "desktop"), "floating", "acquire", "--server", addr, "--product", "acme-cad",
		"--vendor-key", f.vendorKey, "--plaintext-key", "--json")
	expect(t, o, 1) // the one seat is borrowed
	expectOK(t, fl("return", "--server", addr))
	o = f.e.airlock("--state", filepath.Join(f.e.work, "desktop"), "floating", "acquire", "--server", addr, "--product", "acme-cad",
		"--vendor-key", f.vendorKey, "--json")
	expectOK(t, o)
	// Consumption: 10 + 2 overage; past it nothing is counted.
	o = fl("consume", "--server", addr, "--amount", "11", "--json")
	expectOK(t, o)
	expectContains(t, "consume", o.stdout, `"overage_used": 1`)
	o = fl("consume", "--server", addr, "--amount", "2", "--json")
	expect(t, o, 1)
	if j := decodeJSON[floatingJSON](t, o); j.Result != floating.CodeConsumptionCap {
		t.Fatalf("over the cap: %+v", j)
	}
	o = f.server("status", "--json")
	expectContains(t, "status", o.stdout, `"": 11`)

	// Usage errors: exit 2, nothing done.
	for _, args := range [][]string{
		{"floating"},
		{"floating", "acquire", "--product", "acme-cad", "--vendor-key", f.vendorKey},
		{"floating", "borrow", "--server", addr, "--product", "acme-cad", "--vendor-key", f.vendorKey},
		{"floating", "consume", "--server", addr, "--product", "acme-cad", "--vendor-key", f.vendorKey},
		{"floating", "fly", "--product", "acme-cad"},
	} {
		o := f.e.airlock(append([]string{"--state", state}, args...)...)
		expect(t, o, 2)
	}
	for _, args := range [][]string{{"release"}, {"release", "xyz"}, {"serve", "extra"}, {"nope"}, {"serve", "--db", "mysql://x"}} {
		expect(t, f.server(args...), 2)
	}
	out := filepath.Join(t.TempDir(), "req.txt")
	o = f.server("request", "--product", "acme-cad", "--license-key", "not-a-key", "-o", out)
	expect(t, o, 2)
	expectNoFile(t, out)
}

// The pool license goes through the rest of the lifecycle like any
// license: renewal keeps the pool (with plain airlock-vendor sign), and a
// deactivation receipt frees the server's seat at the desk.
func TestFloatingRenewAndDeactivate(t *testing.T) {
	e := newEnv(t)
	desk, vk := initDesk(t, e)
	f := &floatingSetup{e: e, desk: desk, vendorKey: vk, state: filepath.Join(t.TempDir(), "server"), bin: airlockServer(t)}
	f.key = createLicense(t, e, desk, "--max-machines", "1", "--lease", "30d")
	expectOK(t, f.server("init", "--vendor-key", vk))
	req := filepath.Join(t.TempDir(), "req.txt")
	expectOK(t, f.server("request", "--product", "acme-cad", "--license-key", f.key, "-o", req))
	lic := filepath.Join(t.TempDir(), "pool.txt")
	expectOK(t, e.vendor("--dir", desk, "sign", "--pool", "seats=4,borrow-days=2", req, "-o", lic))
	expectOK(t, f.server("activate", lic))

	// A day later the server renews its lease with the desk.
	later := &floatingSetup{e: e.at(t0.Add(day)), desk: desk, vendorKey: vk, state: f.state, bin: f.bin}
	ren := filepath.Join(t.TempDir(), "renew.txt")
	expectOK(t, later.server("request", "--renew", "--product", "acme-cad", "-o", ren))
	lic2 := filepath.Join(t.TempDir(), "pool2.txt")
	expectOK(t, later.e.vendor("--dir", desk, "sign", ren, "-o", lic2))
	o := later.server("activate", lic2)
	expectOK(t, o)
	expectContains(t, "activate", o.stderr, "4 seats, lease 180s (heartbeat 60s), borrow up to 2 days")

	// Deactivation: a receipt, imported at the desk, frees the seat.
	rcpt := filepath.Join(t.TempDir(), "receipt.txt")
	o = later.server("deactivate", "--product", "acme-cad", "-o", rcpt)
	expectOK(t, o)
	expectOK(t, later.e.vendor("--dir", desk, "receipt", "import", rcpt))
	o = later.e.vendor("--dir", desk, "license", "show", f.key)
	expectOK(t, o)
	expectContains(t, "license show", o.stdout, "seats:        0 of 1 used")
}

// acquire --hold keeps the seat until it is interrupted, then releases it
// at once (a clean exit frees the seat without waiting for the TTL).
func TestFloatingHold(t *testing.T) {
	f := newFloating(t, "seats=1")
	addr, _ := f.serve(t)
	state := filepath.Join(f.e.work, "holder")
	cmd := exec.Command(airlockBin, "--state", state, "floating", "acquire", "--hold", "--server", addr, "--product", "acme-cad",
		"--vendor-key", f.vendorKey, "--plaintext-key")
	cmd.Env = f.e.environ()
	cmd.Dir = f.e.work
	se := new(syncBuffer)
	cmd.Stderr = se
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lease := filepath.Join(state, "leases", "acme-cad.lease")
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(se.String(), "holding the seat") {
		if time.Now().After(deadline) {
			t.Fatalf("no seat held:\n%s", se.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := os.Stat(lease); err != nil {
		t.Fatalf("no lease stored: %v", err)
	}
	o := f.e.airlock("--state", filepath.Join(f.e.work, "other"), "floating", "acquire", "--server", addr, "--product", "acme-cad",
		"--vendor-key", f.vendorKey, "--plaintext-key", "--json")
	expect(t, o, 1)
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("hold exited with %v:\n%s", err, se.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("hold did not stop on SIGTERM")
	}
	expectContains(t, "hold stderr", se.String(), "released")
	if _, err := os.Stat(lease); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the lease file stays after the release: %v", err)
	}
	o = f.e.airlock("--state", filepath.Join(f.e.work, "other"), "floating", "acquire", "--server", addr, "--product", "acme-cad",
		"--vendor-key", f.vendorKey, "--json")
	expectOK(t, o)
}

// syncBuffer is a bytes.Buffer a child process writes while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Authentication mode users: an admin adds a user, the user logs in with
// airlock floating login and takes a seat with the token; without it, or
// with a wrong password, nothing.
func TestFloatingUsersMode(t *testing.T) {
	f := newFloating(t, "seats=2")
	addr, cmd := f.serve(t, "--auth", "users")
	pw := filepath.Join(t.TempDir(), "pw")
	writeFile(t, pw, []byte("correct horse battery staple\n"))
	expectOK(t, f.server("user", "add", "alice", "--role", "user", "--password-file", pw))
	state := filepath.Join(f.e.work, "alice")
	acquire := func(extra ...string) out {
		return f.e.airlock(append([]string{"--state", state, "floating", "acquire", "--server", addr, "--product", "acme-cad",
			"--vendor-key", f.vendorKey, "--plaintext-key", "--json"}, extra...)...)
	}
	o := acquire()
	expect(t, o, 1)
	if j := decodeJSON[floatingJSON](t, o); j.Result != floating.CodeUnauthorized {
		t.Fatalf("no token: %+v", j)
	}
	bad := filepath.Join(t.TempDir(), "bad")
	writeFile(t, bad, []byte("wrong password!!\n"))
	o = f.e.airlock("floating", "login", "--server", addr, "--product", "acme-cad", "--vendor-key", f.vendorKey, "--user", "alice", "--password-file", bad)
	expect(t, o, 1)
	expectContains(t, "login stderr", o.stderr, "unauthorized")
	o = f.e.airlock("floating", "login", "--server", addr, "--product", "acme-cad", "--vendor-key", f.vendorKey, "--user", "alice", "--password-file", pw)
	expectOK(t, o)
	tok := strings.TrimSpace(o.stdout)
	if !strings.HasPrefix(tok, "alst_") {
		t.Fatalf("login printed %q", tok)
	}
	expectNotContains(t, "login output", o.stdout+o.stderr, "correct horse")
	expectOK(t, acquire("--token", tok))

	// The mode is kept in the database: serve without --auth keeps users
	// (README, docs/floating.md "Authentication"); --auth none changes it.
	restart := func(extra ...string) {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		addr, cmd = f.serve(t, extra...)
	}
	restart()
	state = filepath.Join(f.e.work, "bob")
	o = acquire()
	expect(t, o, 1)
	if j := decodeJSON[floatingJSON](t, o); j.Result != floating.CodeUnauthorized {
		t.Fatalf("serve without --auth after --auth users: %+v", j)
	}
	restart("--auth", "none")
	expectOK(t, acquire())
}
