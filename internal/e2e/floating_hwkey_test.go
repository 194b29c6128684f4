package e2e

// The floating server with pools bound to a hardware key (the seed's
// "Hardware Key" page), through the real binaries, a real pcscd and a
// virtual OpenPGP card: the key's serial is the server's hardware ID while
// it is plugged in; pulled, every action on the pool is refused with
// hardware_key_not_accessible while leases already granted stay valid;
// restarted without it, the same; --crash-if-no-hardware-key exits 19; a
// reader held by another program is named with how to find it; two
// licenses on one key; the key pulled and plugged under load.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/airlock-offline/airlock/client"
	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/floating"
	"github.com/airlock-offline/airlock/internal/testrig/cardemu"
	requestpkg "github.com/airlock-offline/airlock/request"
)

const serverKeySerial = "openpgp:FFFE0A0B0C0D"

// hwServer is a floating server whose pools are bound to a virtual card.
type hwServer struct {
	*floatingSetup
	slot *slot0
	card func() *cardemu.Card
}

// hwServe starts serve and returns its address, process and standard error.
func (h *hwServer) serve(t *testing.T, extra ...string) (string, *exec.Cmd, *syncBuffer) {
	t.Helper()
	os.Remove(filepath.Join(h.state, "serve.json"))
	cmd := exec.Command(h.bin, append([]string{"--state", h.state, "serve", "--listen", "127.0.0.1:0"}, extra...)...)
	cmd.Env = h.e.environ()
	se := &syncBuffer{}
	cmd.Stderr = se
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(filepath.Join(h.state, "serve.json")); err == nil {
			var info struct{ Address string }
			if json.Unmarshal(b, &info) == nil && info.Address != "" {
				return info.Address, cmd, se
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the server did not start:\n%s", se.String())
	return "", nil, nil
}

type hwStatus struct {
	Running     bool                       `json:"running"`
	HardwareID  string                     `json:"hardware_id"`
	HardwareKey floating.HardwareKeyStatus `json:"hardware_key"`
	Pools       []floating.PoolStatus      `json:"pools"`
}

// waitStatus polls airlock-server status --json until ok says so.
func (h *hwServer) waitStatus(t *testing.T, what string, ok func(hwStatus) bool) hwStatus {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		o := h.server("status", "--json")
		var st hwStatus
		if o.code == 0 && json.Unmarshal([]byte(o.stdout), &st) == nil && ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("status never showed %s:\n%s", what, o)
		}
		time.Sleep(150 * time.Millisecond)
	}
}

func newHWServer(t *testing.T) *hwServer {
	cardemu.SkipUnlessStack(t)
	h := &hwServer{slot: newSlot(t), card: func() *cardemu.Card {
		return cardemu.New(cardemu.Config{OpenPGP: &cardemu.OpenPGPConfig{Manufacturer: 0xFFFE, Serial: 0x0A0B0C0D, AuthKey: edKey("floating server key")}})
	}}
	h.slot.insert(h.card())
	e := newEnv(t).with("AIRLOCK_PIN", "123456")
	desk, vk := initDesk(t, e)
	h.floatingSetup = &floatingSetup{e: e, desk: desk, vendorKey: vk, state: filepath.Join(t.TempDir(), "server"), bin: airlockServer(t)}
	expectOK(t, h.server("init", "--vendor-key", vk))
	// Two licenses on the one key, each bound to the key alone.
	for _, p := range []string{"acme-cad", "acme-cam"} {
		o := e.vendor("--dir", desk, "license", "create", "--product", p, "--licensee", "ACME Corp", "--match", "hardware-key", "--max-machines", "1")
		expectOK(t, o)
		key := strings.TrimSpace(o.stdout)
		req := filepath.Join(t.TempDir(), p+"-request.txt")
		o = h.server("request", "--hardware-key", "--product", p, "--license-key", key, "-o", req)
		expectOK(t, o)
		expectContains(t, "request stderr", o.stderr, "hardware key enrolled: openpgp card FFFE 0A0B0C0D (ed25519)")
		lic := filepath.Join(t.TempDir(), p+"-pool.txt")
		expectOK(t, e.vendor("--dir", desk, "sign", "--pool", "seats=3,ttl=600,heartbeat=60,consumption=100", req, "-o", lic))
		o = h.server("activate", lic)
		expectOK(t, o)
		expectContains(t, "activate stderr", o.stderr, fmt.Sprintf("pool license for %q installed", p))
		o = e.vendor("--dir", desk, "inspect", lic)
		if o.code == 0 {
			expectContains(t, "inspect", o.stdout, "the hardware key alone")
		}
	}
	return h
}

// The seed's sequence, then a restart without the key, then the crash flag.
func TestFloatingHardwareKey(t *testing.T) {
	h := newHWServer(t)
	addr, cmd, se := h.serve(t)
	st := h.waitStatus(t, "the key's serial as the hardware ID", func(s hwStatus) bool { return s.HardwareID == serverKeySerial })
	if !st.HardwareKey.Present || len(st.Pools) != 2 || st.Pools[0].HardwareKey != serverKeySerial || st.Pools[1].HardwareKey != serverKeySerial {
		t.Fatalf("status: %+v", st)
	}
	expectContains(t, "serve stderr", se.String(), "bound to hardware key "+serverKeySerial)
	o := h.server("status")
	expectContains(t, "status", o.stdout, "hardware ID: "+serverKeySerial)

	// The seed's addProduct with isHWKeyReq, through the admin API: a
	// third pool on the same key, installed while the server runs.
	o = h.e.vendor("--dir", h.desk, "license", "create", "--product", "acme-cax", "--licensee", "ACME Corp", "--match", "hardware-key", "--max-machines", "1")
	expectOK(t, o)
	tok := strings.TrimSpace(string(readFile(t, filepath.Join(h.state, "admin.token"))))
	pub, err := crypto.ParsePublic(strings.TrimSpace(string(readFile(t, filepath.Join(h.state, "installation.pub")))))
	if err != nil {
		t.Fatal(err)
	}
	ad := floating.NewAdmin(addr, pub.Sign, tok)
	var pr floating.ProductResponse
	if err := ad.Do(context.Background(), "POST", "/products", map[string]any{"product": "acme-cax", "license_key": strings.TrimSpace(o.stdout), "isHWKeyReq": "yes"}, &pr); err != nil {
		t.Fatal(err)
	}
	if r, err := requestpkg.ParseText([]byte(pr.Request)); err != nil || r.Request.HardwareKey == nil {
		t.Fatalf("the admin API's request is not bound to the key: %v", err)
	}
	reqFile, licFile := filepath.Join(t.TempDir(), "cax-req.txt"), filepath.Join(t.TempDir(), "cax-pool.txt")
	writeFile(t, reqFile, []byte(pr.Request))
	expectOK(t, h.e.vendor("--dir", h.desk, "sign", "--pool", "seats=2", reqFile, "-o", licFile))
	var ps floating.PoolStatus
	if err := ad.Do(context.Background(), "POST", "/licenses", floating.LicenseRequest{License: string(readFile(t, licFile))}, &ps); err != nil {
		t.Fatal(err)
	}
	if ps.Product != "acme-cax" || ps.HardwareKey != serverKeySerial {
		t.Fatalf("installed through the API: %+v", ps)
	}

	fl := func(state string, args ...string) (out, floatingJSON) {
		o := h.e.airlock(append([]string{"--state", filepath.Join(h.e.work, state), "floating"},
			append(args, "--server", addr, "--product", "acme-cad", "--vendor-key", h.vendorKey, "--plaintext-key", "--json")...)...)
		var j floatingJSON
		_ = json.Unmarshal([]byte(o.stdout), &j)
		return o, j
	}
	o, _ = fl("c1", "acquire")
	expectOK(t, o)
	o, _ = fl("c1", "consume", "--amount", "2")
	expectOK(t, o)

	// Unplugged: every action is refused with the seed's error; the
	// lease granted before stays valid until its TTL.
	h.slot.pull()
	st = h.waitStatus(t, "the key missing", func(s hwStatus) bool { return !s.HardwareKey.Present && s.HardwareID != serverKeySerial })
	if st.HardwareID == "" || st.HardwareKey.Code != floating.CodeHWKeyNotAccessible {
		t.Fatalf("status without the key: %+v", st)
	}
	const msg = "No available valid hardware key to perform the action: "
	for _, c := range []struct {
		state  string
		args   []string
		action string
	}{
		{"c2", []string{"acquire"}, "registering a user"},
		{"c1", []string{"renew"}, "renewing a lease"},
		{"c1", []string{"consume", "--amount", "2"}, "adding consumption"},
	} {
		o, j := fl(c.state, c.args...)
		expect(t, o, 1)
		if j.Result != floating.CodeHWKeyNotAccessible || j.Message != msg+c.action {
			t.Fatalf("%v without the key: %+v\n%s", c.args, j, o)
		}
	}
	o = h.e.airlock("--state", filepath.Join(h.e.work, "c1"), "verify", "--product", "acme-cad", "--vendor-key", h.vendorKey)
	expectOK(t, o)
	expectStdout(t, o, "VALID\n")
	o = h.server("status", "--json")
	expectContains(t, "status", o.stdout, `"": 2`) // the refused consumption counted nothing
	expectContains(t, "serve stderr", se.String(), "hardware key "+serverKeySerial+": the hardware key was removed (hardware_key_not_accessible)")

	// Plugged in again: served again.
	h.slot.insert(h.card())
	h.waitStatus(t, "the key back", func(s hwStatus) bool { return s.HardwareKey.Present && s.HardwareID == serverKeySerial })
	o, _ = fl("c2", "acquire")
	expectOK(t, o)
	o, _ = fl("c1", "renew")
	expectOK(t, o)

	// The usage report counts the key's events for each pool bound to it:
	// acme-cad saw it present at the start, removed, and back.
	rep := filepath.Join(t.TempDir(), "usage.txt")
	expectOK(t, h.server("report", "-o", rep))
	o = h.server("report", "show", "--json", rep)
	expectOK(t, o)
	events := map[string]string{}
	for _, p := range decodeJSON[reportShow](t, o).Report.Products {
		events[p.Product] = fmt.Sprint(p.Events)
	}
	if events["acme-cad"] != "[{hwkey.present 2} {hwkey.missing 1}]" || events["acme-cax"] != "[{hwkey.present 1} {hwkey.missing 1}]" {
		t.Fatalf("the report's hardware-key events by pool: %v", events)
	}

	// Restarted without the key: the pools are loaded and refuse.
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
	h.slot.pull()
	addr, cmd, _ = h.serve(t)
	o, j := fl("c3", "acquire")
	expect(t, o, 1)
	if j.Result != floating.CodeHWKeyNotAccessible {
		t.Fatalf("after a restart without the key: %+v\n%s", j, o)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()

	// --crash-if-no-hardware-key: no key at the start, exit 19 at once.
	crash := exec.Command(h.bin, "--state", h.state, "serve", "--listen", "127.0.0.1:0", "--crash-if-no-hardware-key")
	crash.Env = h.e.environ()
	b, err := crash.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 19 || !strings.Contains(string(b), "--crash-if-no-hardware-key stops the server (exit 19)") {
		t.Fatalf("crash flag without the key: %v\n%s", err, b)
	}
	// With the key, it serves; pulled, it exits 19.
	h.slot.insert(h.card())
	addr, cmd, se = h.serve(t, "--crash-if-no-hardware-key")
	h.waitStatus(t, "the key", func(s hwStatus) bool { return s.HardwareKey.Present })
	o, _ = fl("c3", "acquire")
	expectOK(t, o)
	h.slot.pull()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if !errors.As(err, &ee) || ee.ExitCode() != 19 {
			t.Fatalf("crash flag, key pulled: %v\n%s", err, se.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("the server did not exit when the key was pulled:\n%s", se.String())
	}
	expectNoFile(t, filepath.Join(h.state, "serve.json"))
	_ = addr
}

// Another program holds the reader: the server's log and status name the
// sharing violation and how to find the holder; once it lets go, the key
// is served again. Then the key is pulled and plugged while clients work:
// the only refusals are hardware_key_not_accessible, and every client has
// its seat again afterwards.
func TestFloatingHardwareKeyHolderAndLoad(t *testing.T) {
	h := newHWServer(t)
	hold := filepath.Join(t.TempDir(), "readerhold")
	if err := goBuild(moduleDir, "-o", hold, "./internal/testrig/readerhold"); err != nil {
		t.Fatal(err)
	}
	holder := exec.Command(hold, cardemu.Slots()[0].Reader)
	stdin, err := holder.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	holdOut, _ := holder.StdoutPipe()
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { holder.Process.Kill(); holder.Wait() })
	line := make([]byte, 5)
	if _, err := io.ReadFull(holdOut, line); err != nil || string(line) != "held\n" {
		t.Fatalf("readerhold: %q %v", line, err)
	}
	addr, _, se := h.serve(t)
	st := h.waitStatus(t, "the holder", func(s hwStatus) bool { return s.HardwareKey.Holder != "" })
	if st.HardwareKey.Present || st.HardwareKey.Code != floating.CodeHWKeyNotAccessible || !strings.Contains(st.HardwareKey.Reason, "sharing violation") {
		t.Fatalf("status with the reader held: %+v", st.HardwareKey)
	}
	o := h.server("status")
	expectContains(t, "status", o.stdout, "another program holds the reader: ")
	expectContains(t, "status", o.stdout, "lsof | grep pcscd")
	expectContains(t, "serve stderr", se.String(), "another program holds the reader: ")
	stdin.Close()
	holder.Wait()
	h.waitStatus(t, "the key after the holder let go", func(s hwStatus) bool { return s.HardwareKey.Present })

	// Load: 6 clients acquire and renew while the key is pulled and put back.
	vendorPub, err := crypto.ParsePublic(strings.TrimSpace(string(readFile(t, strings.TrimPrefix(h.vendorKey, "@")))))
	if err != nil {
		t.Fatal(err)
	}
	const clients = 6
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var refused, served atomic.Int64
	var wg sync.WaitGroup
	fs := make([]*client.Floating, clients)
	seats := make([]*client.Seat, clients)
	for i := range fs {
		inst, err := crypto.Generate(crypto.RoleInstallation, nil)
		if err != nil {
			t.Fatal(err)
		}
		product := "acme-cad"
		if i%2 == 1 {
			product = "acme-cam"
		}
		fs[i] = &client.Floating{Servers: []string{addr}, Product: product, VendorKeys: []*crypto.Public{vendorPub}, Installation: inst,
			Now: func() time.Time { return t0 }, Timeout: 5 * time.Second}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				var s *client.Seat
				var err error
				if seats[i] == nil {
					s, err = fs[i].Acquire(ctx)
				} else {
					s, err = fs[i].Renew(ctx, seats[i])
				}
				switch {
				case err == nil:
					seats[i] = s
					served.Add(1)
				case floating.IsCode(err, floating.CodeHWKeyNotAccessible):
					refused.Add(1)
				case ctx.Err() != nil:
				default:
					t.Errorf("client %d: %v", i, err)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
	time.Sleep(500 * time.Millisecond)
	h.slot.pull()
	h.waitStatus(t, "the key missing under load", func(s hwStatus) bool { return !s.HardwareKey.Present })
	time.Sleep(300 * time.Millisecond)
	before := served.Load()
	h.slot.insert(h.card())
	h.waitStatus(t, "the key back under load", func(s hwStatus) bool { return s.HardwareKey.Present })
	time.Sleep(500 * time.Millisecond)
	cancel()
	wg.Wait()
	if refused.Load() == 0 || served.Load() <= before {
		t.Fatalf("%d actions refused while the key was away, %d served in all (%d before it came back)", refused.Load(), served.Load(), before)
	}
	for i, c := range fs {
		if _, err := c.Renew(context.Background(), seats[i]); err != nil {
			t.Fatalf("client %d after the load: %v", i, err)
		}
	}
	o = h.server("status", "--json")
	var sj hwStatus
	if err := json.Unmarshal([]byte(o.stdout), &sj); err != nil {
		t.Fatal(err)
	}
	for _, p := range sj.Pools {
		if p.Held != clients/2 || p.Held > int(p.Seats) {
			t.Fatalf("pool %s: %d held of %d, want %d", p.Product, p.Held, p.Seats, clients/2)
		}
	}
	t.Logf("under load: %d actions served, %d refused while the key was away", served.Load(), refused.Load())
}

// Two nodes on one PostgreSQL serve a pool bound to a hardware key: only
// the node holding the key grants; the other answers
// hardware_key_not_accessible (a client that lists it first moves on to
// the node with the key), or, with --crash-if-no-hardware-key, exits 19.
// One pcscd serves the whole test machine, so the node without the key is
// a node whose smart card service is out of reach (libpcsclite reads
// PCSCLITE_CSOCK_NAME): to it, no key is plugged in.
func TestFloatingHardwareKeyNodes(t *testing.T) {
	cardemu.SkipUnlessStack(t)
	target, _ := postgresLedger(t)
	s := newSlot(t)
	s.insert(cardemu.New(cardemu.Config{OpenPGP: &cardemu.OpenPGPConfig{Manufacturer: 0xFFFE, Serial: 0x0A0B0C0D, AuthKey: edKey("floating server key")}}))
	e := newEnv(t).with("AIRLOCK_TEST_NOW", "", "AIRLOCK_PIN", "123456")
	desk, vk := initDesk(t, e)
	o := e.vendor("--dir", desk, "license", "create", "--product", "acme-cad", "--licensee", "ACME Corp", "--match", "hardware-key", "--max-machines", "1")
	expectOK(t, o)
	key := strings.TrimSpace(o.stdout)
	nodes := make([]*floatingSetup, 2)
	for i := range nodes {
		nodes[i] = &floatingSetup{e: e, desk: desk, vendorKey: vk, state: filepath.Join(t.TempDir(), fmt.Sprint("node-", i)), bin: airlockServer(t), key: key}
		expectOK(t, nodes[i].server("init", "--vendor-key", vk, "--db", target))
	}
	req := filepath.Join(t.TempDir(), "nodes-request.txt")
	o = nodes[0].server("request", "--hardware-key", "--product", "acme-cad", "--license-key", key,
		"--nodes", "@"+filepath.Join(nodes[1].state, "installation.pub"), "-o", req)
	expectOK(t, o)
	expectContains(t, "request stderr", o.stderr, "hardware key enrolled: openpgp card FFFE 0A0B0C0D")
	expectOK(t, nodes[1].server("cosign", req))
	lic := filepath.Join(t.TempDir(), "pool.txt")
	expectOK(t, e.vendor("--dir", desk, "sign", "--pool", "seats=3,ttl=60,heartbeat=20", req, "-o", lic))
	for _, n := range nodes {
		expectOK(t, n.server("activate", lic))
	}
	nodes[1].e = e.with("PCSCLITE_CSOCK_NAME", filepath.Join(t.TempDir(), "no-pcscd.comm"))
	addr0, _ := nodes[0].serve(t)
	addr1, _ := nodes[1].serve(t)
	h0, h1 := &hwServer{floatingSetup: nodes[0]}, &hwServer{floatingSetup: nodes[1]}
	h0.waitStatus(t, "node 0 with the key", func(s hwStatus) bool { return s.HardwareID == serverKeySerial && s.HardwareKey.Present })
	st := h1.waitStatus(t, "node 1 without the key", func(s hwStatus) bool { return s.HardwareKey.Required && s.HardwareKey.Code != "" })
	if st.HardwareKey.Present || st.HardwareID == serverKeySerial || st.HardwareKey.Code != floating.CodeHWKeyNotAccessible {
		t.Fatalf("node 1: %+v", st)
	}

	acquire := func(addr string) (out, floatingJSON) {
		o := e.airlock("--state", filepath.Join(e.work, "c-"+addr), "floating", "acquire", "--server", addr, "--product", "acme-cad",
			"--vendor-key", vk, "--plaintext-key", "--json")
		var j floatingJSON
		_ = json.Unmarshal([]byte(o.stdout), &j)
		return o, j
	}
	o, j := acquire(addr1)
	expect(t, o, 1)
	if j.Result != floating.CodeHWKeyNotAccessible || j.Message != "No available valid hardware key to perform the action: registering a user" {
		t.Fatalf("node without the key: %+v\n%s", j, o)
	}
	o, _ = acquire(addr0)
	expectOK(t, o)
	// A client that lists the node without the key first gets its seat
	// from the node with it.
	vendorPub, err := crypto.ParsePublic(strings.TrimSpace(string(readFile(t, strings.TrimPrefix(vk, "@")))))
	if err != nil {
		t.Fatal(err)
	}
	inst, err := crypto.Generate(crypto.RoleInstallation, nil)
	if err != nil {
		t.Fatal(err)
	}
	fc := &client.Floating{Servers: []string{addr1, addr0}, Product: "acme-cad", VendorKeys: []*crypto.Public{vendorPub}, Installation: inst, Timeout: 5 * time.Second}
	seat, err := fc.Acquire(context.Background())
	if err != nil || seat.Server != addr0 {
		t.Fatalf("failover to the node with the key: %v (%+v)", err, seat)
	}
	o = nodes[0].server("leases", "--json")
	var ls []floating.LeaseInfo
	if err := json.Unmarshal([]byte(o.stdout), &ls); err != nil || len(ls) != 2 {
		t.Fatalf("leases: %v\n%s", err, o)
	}

	// The seed's high-availability set-up: the node without the key stops.
	stopServe(t, nodes[1])
	crash := exec.Command(nodes[1].bin, "--state", nodes[1].state, "serve", "--listen", "127.0.0.1:0", "--crash-if-no-hardware-key")
	crash.Env = nodes[1].e.environ()
	b, err := crash.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 19 {
		t.Fatalf("node without the key, --crash-if-no-hardware-key: %v\n%s", err, b)
	}
}

// stopServe stops the serve process of f (SIGTERM) and waits until its
// address file is gone.
func stopServe(t *testing.T, f *floatingSetup) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(f.state, "serve.json"))
	if err != nil {
		return
	}
	var info struct{ PID int }
	if json.Unmarshal(b, &info) != nil || info.PID <= 0 {
		return
	}
	if p, err := os.FindProcess(info.PID); err == nil {
		p.Signal(syscall.SIGTERM)
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if _, err := os.Stat(filepath.Join(f.state, "serve.json")); err != nil {
			return
		}
	}
	t.Fatalf("serve of %s did not stop", f.state)
}
