package e2e

// Several airlock-server nodes, one pool, one PostgreSQL database: the real
// binaries, activated by one request every node co-signed, serving
// hundreds of in-process clients; one node is killed with SIGKILL under
// load and every client moves to the other within one heartbeat, keeping
// its lease.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/airlock-offline/airlock/client"
	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/floating"
)

// nodeSet is a desk and n server nodes activated by one co-signed request.
type nodeSet struct {
	e      *env
	desk   string
	vk     string
	nodes  []*floatingSetup
	vendor *crypto.Public
}

func newNodeSet(t *testing.T, n int, pool string) *nodeSet {
	target, _ := postgresLedger(t)
	// Real time: leases expire and heartbeats tick by the wall clock.
	e := newEnv(t).with("AIRLOCK_TEST_NOW", "")
	desk, vk := initDesk(t, e)
	ns := &nodeSet{e: e, desk: desk, vk: vk}
	key := createLicense(t, e, desk, "--max-machines", "1")
	for i := range n {
		f := &floatingSetup{e: e, desk: desk, vendorKey: vk, state: filepath.Join(t.TempDir(), fmt.Sprint("node-", i)), bin: airlockServer(t), key: key}
		expectOK(t, f.server("init", "--vendor-key", vk, "--db", target))
		ns.nodes = append(ns.nodes, f)
	}
	var others []string
	for _, f := range ns.nodes[1:] {
		others = append(others, "@"+filepath.Join(f.state, "installation.pub"))
	}
	req := filepath.Join(t.TempDir(), "nodes-request.txt")
	o := ns.nodes[0].server("request", "--product", "acme-cad", "--license-key", key, "--nodes", strings.Join(others, ","), "-o", req)
	expectOK(t, o)
	expectContains(t, "request stderr", o.stderr, fmt.Sprintf("served by %d nodes", n))
	// inspect shows who has co-signed.
	o = e.airlock("inspect", req)
	expectContains(t, "inspect", o.stdout, fmt.Sprintf("1 of the %d nodes have co-signed", n))
	expectContains(t, "inspect", o.stdout, "not co-signed yet")
	lic := filepath.Join(t.TempDir(), "pool.txt")
	// Not every node has co-signed: the desk refuses, and says so.
	o = e.vendor("--dir", desk, "sign", "--pool", pool, req, "-o", lic)
	if o.code == 0 || !strings.Contains(o.stderr, "have not co-signed") {
		t.Fatalf("sign before the co-signatures:\n%s", o)
	}
	for _, f := range ns.nodes[1:] {
		o := f.server("cosign", req)
		expectOK(t, o)
		expectContains(t, "cosign stderr", o.stderr, "co-signed the request")
	}
	expectOK(t, e.vendor("--dir", desk, "sign", "--pool", pool, req, "-o", lic))
	o = e.airlock("inspect", lic, "--vendor-key", vk)
	expectOK(t, o)
	expectContains(t, "inspect", o.stdout, fmt.Sprintf("served by %d nodes", n))
	expectContains(t, "inspect", o.stdout, "pool node 2")
	for _, f := range ns.nodes {
		o := f.server("activate", lic)
		expectOK(t, o)
		expectContains(t, "activate stderr", o.stderr, "pool license for \"acme-cad\" installed")
	}
	// A stranger's server cannot activate the nodes' license.
	stranger := &floatingSetup{e: e, state: filepath.Join(t.TempDir(), "stranger"), bin: airlockServer(t)}
	expectOK(t, stranger.server("init", "--vendor-key", vk))
	if o := stranger.server("activate", lic); o.code == 0 {
		t.Fatalf("a server the license does not name activated it:\n%s", o)
	}
	var err error
	if ns.vendor, err = crypto.ParsePublic(strings.TrimSpace(string(readFile(t, strings.TrimPrefix(vk, "@"))))); err != nil {
		t.Fatal(err)
	}
	return ns
}

// leases lists the seats held, as node i's admin sees them.
func (ns *nodeSet) leases(t *testing.T, i int) []floating.LeaseInfo {
	t.Helper()
	o := ns.nodes[i].server("leases", "--json")
	expectOK(t, o)
	var ls []floating.LeaseInfo
	if err := json.Unmarshal([]byte(o.stdout), &ls); err != nil {
		t.Fatalf("leases: %v\n%s", err, o)
	}
	return ls
}

// nodesLoad sizes the test: short in make test, long with
// AIRLOCK_TEST_NODES_SOAK=N (N kill rounds, each node killed in turn, 1,000
// clients, a heartbeat of 5 s and a TTL of 30 s).
func nodesLoad() (clients, seats, rounds int, heartbeat, ttl time.Duration) {
	n, _ := strconv.Atoi(os.Getenv("AIRLOCK_TEST_NODES_SOAK"))
	if n <= 0 {
		return 500, 450, 1, 3 * time.Second, 12 * time.Second
	}
	return 1000, 900, n, 5 * time.Second, 30 * time.Second
}

// Two nodes serve 500 clients; one node is killed with SIGKILL under load:
// every client renews on the other within one heartbeat, keeps its lease
// (granted by the dead node, renewed by the living one), and the seats
// held never exceed the pool.
func TestNodesFailover(t *testing.T) {
	clients, seats, rounds, heartbeat, ttl := nodesLoad()
	ns := newNodeSet(t, 2, fmt.Sprintf("seats=%d,ttl=%d,heartbeat=%d", seats, int(ttl/time.Second), int(heartbeat/time.Second)))
	addrs := make([]string, 2)
	cmds := make([]*os.Process, 2)
	for i, f := range ns.nodes {
		a, cmd := f.serve(t)
		addrs[i], cmds[i] = a, cmd.Process
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type holder struct {
		f  *client.Floating
		mu sync.Mutex
		h  *client.Held
	}
	hs := make([]*holder, clients)
	var refused, otherErr, renewErr atomic.Int64
	var wg sync.WaitGroup
	for i := range hs {
		inst, err := crypto.Generate(crypto.RoleInstallation, nil)
		if err != nil {
			t.Fatal(err)
		}
		// Half the clients list node 0 first, half node 1.
		servers := []string{addrs[i%2], addrs[1-i%2]}
		hs[i] = &holder{f: &client.Floating{Servers: servers, Product: "acme-cad", VendorKeys: []*crypto.Public{ns.vendor},
			Installation: inst, Hostname: fmt.Sprint("client-", i), Timeout: 5 * time.Second}}
		wg.Add(1)
		go func(h *holder) {
			defer wg.Done()
			for ctx.Err() == nil {
				held, err := h.f.Hold(ctx, func(err error) {
					renewErr.Add(1)
					t.Logf("renew: %v", err)
				})
				if err == nil {
					h.mu.Lock()
					h.h = held
					h.mu.Unlock()
					return
				}
				if floating.IsCode(err, floating.CodeNoSeat) {
					refused.Add(1)
				} else if ctx.Err() == nil {
					otherErr.Add(1)
					t.Logf("acquire: %v", err)
				}
				select { // the pool is full: try again a heartbeat later
				case <-ctx.Done():
				case <-time.After(heartbeat):
				}
			}
		}(hs[i])
	}
	// Everyone who can hold a seat holds one.
	deadline := time.Now().Add(40 * time.Second)
	// holding counts the clients holding a seat that has not expired, by
	// the node that granted or renewed it last. It is never more than the
	// pool: a client whose renewals all failed holds an expired seat, which
	// the pool counts free.
	holding := func() (n int, on [2]int) {
		now := time.Now()
		for _, h := range hs {
			h.mu.Lock()
			if h.h != nil && h.h.Seat().Expires().After(now) {
				n++
				for j, a := range addrs {
					if h.h.Seat().Server == a {
						on[j]++
					}
				}
			}
			h.mu.Unlock()
		}
		if n > seats {
			t.Errorf("%d clients hold a live seat of a pool of %d", n, seats)
		}
		return
	}
	for {
		n, _ := holding()
		if n == seats {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 40 s, %d of %d seats held (%d refusals, %d other errors)", n, seats, refused.Load(), otherErr.Load())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if ls := ns.leases(t, 0); len(ls) != seats {
		t.Fatalf("the nodes count %d leases, the clients hold %d", len(ls), seats)
	}
	// Either node's status counts every node's seats.
	o := ns.nodes[1].server("status")
	expectOK(t, o)
	expectContains(t, "status", o.stdout, fmt.Sprintf("%d of %d held", seats, seats))
	expectContains(t, "status", o.stdout, "nodes:     2, sharing the database")
	if refused.Load() == 0 {
		t.Fatalf("%d clients for %d seats and no refusal", clients, seats)
	}
	for round := range rounds {
		victim, survivor := round%2, 1-round%2
		_, on := holding()
		before := map[*holder]string{}
		for _, h := range hs {
			h.mu.Lock()
			if h.h != nil {
				before[h] = h.h.Seat().Lease.IDString()
			}
			h.mu.Unlock()
		}
		renewErr.Store(0)
		killed := time.Now()
		cmds[victim].Signal(syscall.SIGKILL)
		// At each client's next heartbeat, its renewal fails at the dead
		// node and succeeds at the other in the same call: every seat is
		// on the survivor within one heartbeat plus the time the survivor
		// takes to serve the wave, with no failed renewal.
		var moved time.Duration
		for {
			_, now := holding()
			if now[survivor] == seats {
				moved = time.Since(killed)
				break
			}
			if time.Since(killed) > ttl {
				t.Fatalf("round %d: %s after the kill, %d of %d seats renewed on the surviving node", round, time.Since(killed), now[survivor], seats)
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Logf("round %d: node %d killed holding %d seats; all %d seats on node %d after %s (heartbeat %s), %d renewals failed", round, victim, on[victim], seats, survivor, moved.Round(time.Millisecond), heartbeat, renewErr.Load())
		if n := renewErr.Load(); n != 0 {
			t.Errorf("round %d: %d renewals failed: a client missed a heartbeat", round, n)
		}
		// Nothing lost: the same leases, every one counted, none over.
		ls := ns.leases(t, survivor)
		if len(ls) > seats {
			t.Fatalf("round %d: %d leases for a pool of %d", round, len(ls), seats)
		}
		counted := map[string]bool{}
		for _, l := range ls {
			counted[l.ID] = true
		}
		for h, id := range before {
			if got := h.h.Seat().Lease.IDString(); got != id {
				t.Errorf("round %d: client lost lease %s (now %s)", round, id, got)
			}
			if !counted[id] {
				t.Errorf("round %d: lease %s is held but not counted", round, id)
			}
		}
		if len(ls) != len(before) {
			t.Errorf("round %d: %d leases counted, %d held", round, len(ls), len(before))
		}
		// The killed node comes back on the same database and address.
		_, cmd := ns.nodes[victim].serve(t, "--listen", addrs[victim])
		cmds[victim] = cmd.Process
	}
	// Release everything, through either node.
	cancel()
	wg.Wait()
	for _, h := range hs {
		if h.h != nil {
			if err := h.h.Close(context.Background()); err != nil {
				t.Errorf("release: %v", err)
			}
		}
	}
	if ls := ns.leases(t, 0); len(ls) != 0 {
		t.Fatalf("%d leases left after every client released", len(ls))
	}
	// The command line takes the node list too; a node that is down is
	// passed over.
	o = ns.e.airlock("--state", filepath.Join(ns.e.work, "cli-client"), "floating", "acquire", "--server", "127.0.0.1:1,"+addrs[1],
		"--product", "acme-cad", "--vendor-key", ns.vk, "--plaintext-key", "--json")
	expectOK(t, o)
	if j := decodeJSON[floatingJSON](t, o); j.Result != "ok" || len(j.LeaseID) != 32 {
		t.Fatalf("airlock floating acquire with a node down: %+v\n%s", j, o)
	}
	// The list is kept in the client's state: release needs no --server.
	expectOK(t, ns.e.airlock("--state", filepath.Join(ns.e.work, "cli-client"), "floating", "release", "--product", "acme-cad", "--vendor-key", ns.vk))
	if ls := ns.leases(t, 1); len(ls) != 0 {
		t.Fatalf("after the CLI release: %d leases", len(ls))
	}
	if otherErr.Load() != 0 {
		t.Errorf("%d unexpected acquire errors", otherErr.Load())
	}
}
