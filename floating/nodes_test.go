package floating_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airlock-offline/airlock/client"
	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/floating"
	"github.com/airlock-offline/airlock/internal/testrig/testkeys"
	"github.com/airlock-offline/airlock/response"
	"github.com/airlock-offline/airlock/usage"
)

// twoNodes starts two nodes of one pool on one PostgreSQL database.
func twoNodes(t *testing.T, pool *response.Pool) (a, b *fixture) {
	ns := startNodes(t, 2, pool)
	return ns[0], ns[1]
}

// startNodes starts n nodes of one pool on one PostgreSQL database.
func startNodes(t *testing.T, n int, pool *response.Pool) []*fixture {
	return startNodesOn(t, postgresDB(t), n, pool)
}

func startNodesOn(t *testing.T, db string, n int, pool *response.Pool) []*fixture {
	vendor := testkeys.Identity(crypto.RoleVendor, "vendor")
	ids := make([]*crypto.Identity, n)
	pool.Nodes = nil
	for i := range ids {
		ids[i] = testkeys.Identity(crypto.RoleInstallation, fmt.Sprintf("node %c", 'a'+i))
		pool.Nodes = append(pool.Nodes, ids[i].Public().Sign)
	}
	lic := poolLicense(t, vendor, ids[0], pool, map[string]uint64{"render": 0})
	clk := newClock(t0)
	out := make([]*fixture, n)
	for i, id := range ids {
		f := &fixture{vendor: vendor, server: id, lic: lic, clock: clk, db: db}
		f.start(t)
		t.Cleanup(f.stop)
		out[i] = f
	}
	return out
}

// Two nodes, one pool: every seat is granted once whichever node is asked,
// feature seats and borrow slots and consumption counters are the
// database's, and any node renews or releases any node's lease.
func TestTwoNodesOnePool(t *testing.T) {
	pool := defaultPool()
	a, b := twoNodes(t, pool)
	ctx := context.Background()
	both := func(name string) *client.Floating {
		c := a.client(name)
		c.Servers = []string{a.addr, b.addr}
		return c
	}
	onB := func(name string) *client.Floating { c := b.client(name); return c }
	c1, c2, c3 := both("c1"), onB("c2"), onB("c3")
	s1, err := c1.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := c2.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c3.Acquire(ctx); code(err) != floating.CodeNoSeat {
		t.Fatalf("third client on the other node: %v", err)
	}
	// Leases are signed by the node that granted them; both verify.
	if s1.Server != a.addr || s2.Server != b.addr {
		t.Fatalf("granted by %s and %s", s1.Server, s2.Server)
	}
	// Re-acquiring on the other node keeps the same lease.
	again, err := onB("c1").Acquire(ctx)
	if err != nil || !bytes.Equal(again.Lease.ID, s1.Lease.ID) {
		t.Fatalf("re-acquire on node b: %v", err)
	}
	// Node a goes away: c1 renews on b, and b's status counts both seats.
	a.stop()
	r1, err := c1.Renew(ctx, s1)
	if err != nil || r1.Server != b.addr || !bytes.Equal(r1.Lease.ID, s1.Lease.ID) {
		t.Fatalf("renew after node a stopped: %v", err)
	}
	if st := b.srv.Status()[0]; st.Held != 2 || st.Nodes != 2 {
		t.Fatalf("status on b: %+v", st)
	}
	// Feature seats: one render seat in the pool; c1 takes it.
	c1.Features = []string{"render"}
	if _, err := c1.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	c2.Features = []string{"render"}
	if _, err := c2.Acquire(ctx); code(err) != floating.CodeFeatureSeats {
		t.Fatalf("second render seat: %v", err)
	}
	// Consumption is capped across nodes: 100 + 10 overage.
	if got, err := c1.Consume(ctx, "", 60); err != nil || got.Used != 60 {
		t.Fatalf("consume: %+v %v", got, err)
	}
	a.start(t)
	if got, err := a.client("c2").Consume(ctx, "", 50); err != nil || got.Used != 110 || got.OverageUsed != 10 {
		t.Fatalf("consume on a: %+v %v", got, err)
	}
	if _, err := c1.Consume(ctx, "", 1); code(err) != floating.CodeConsumptionCap {
		t.Fatalf("past the cap: %v", err)
	}
	// Released on a, the seat is free on b.
	ra := a.client("c2")
	if err := ra.Release(ctx, s2); err != nil {
		t.Fatal(err)
	}
	if err := ra.Release(ctx, s2); code(err) != floating.CodeLeaseUnknown {
		t.Fatalf("second release: %v", err)
	}
	// Borrowing: one slot (BorrowMax 1).
	if _, err := c3.Borrow(ctx, t0.Add(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := c1.Borrow(ctx, t0.Add(24*time.Hour)); code(err) != floating.CodeBorrowLimit {
		t.Fatalf("second borrow: %v", err)
	}
	// Expiry: the clock passes the TTL; the seats come free on both nodes.
	a.clock.Add(time.Duration(pool.LeaseTTL+1) * time.Second)
	if _, err := both("c4").Acquire(ctx); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
	if _, err := c1.Renew(ctx, r1); code(err) != floating.CodeLeaseExpired && code(err) != floating.CodeLeaseUnknown {
		t.Fatalf("renew of an expired lease: %v", err)
	}
	leases := b.srv.Leases()
	if len(leases) != 2 { // c3's borrowed seat and c4's
		t.Fatalf("leases: %+v", leases)
	}
	for _, l := range leases {
		if l.Node == "" {
			t.Errorf("lease %s names no node", l.ID)
		}
	}
	if err := b.srv.ForceRelease(mustHex(t, leases[0].ID)); err != nil {
		t.Fatal(err)
	}
	if n := len(a.srv.Leases()); n != 1 {
		t.Fatalf("after a force release on b, a lists %d leases", n)
	}
}

// Nodes are members: a single-node server cannot open the nodes' database,
// and a node whose key the license does not name is refused.
func TestNodesMembership(t *testing.T) {
	a, _ := twoNodes(t, defaultPool())
	other := testkeys.Identity(crypto.RoleInstallation, "not a node")
	if _, err := floating.New(floating.Config{Identity: other, Licenses: [][]byte{a.lic}, DB: a.db, Now: a.clock.Now}); !errors.Is(err, floating.ErrNotANode) {
		t.Fatalf("a stranger: %v", err)
	}
	single := poolLicense(t, a.vendor, other, defaultPool(), nil)
	if _, err := floating.New(floating.Config{Identity: other, Licenses: [][]byte{single}, DB: a.db, Now: a.clock.Now}); !errors.Is(err, floating.ErrDatabaseInUse) {
		t.Fatalf("a single-node server beside the nodes: %v", err)
	}
	if _, err := floating.New(floating.Config{Identity: other, Licenses: [][]byte{single}, DB: a.db, Now: a.clock.Now, SharedLock: true}); err == nil {
		t.Fatal("a single-node pool opened with the shared lock")
	}
	// A node joining makes its admin token beside the running nodes.
	joining, err := floating.New(floating.Config{Identity: other, DB: a.db, Now: a.clock.Now, SharedLock: true})
	if err != nil {
		t.Fatalf("a node's first admin token beside the nodes: %v", err)
	}
	if _, _, err := joining.CreateToken("admin", floating.RoleAdmin, 0); err != nil {
		t.Fatal(err)
	}
	joining.Close()
}

// Many clients race for few seats through both nodes at once: never more
// leases than seats, and every client that was told it holds a seat is
// counted.
func TestTwoNodesRace(t *testing.T) {
	const seats, clients = 10, 60
	a, b := twoNodes(t, &response.Pool{Seats: seats, LeaseTTL: 180, Heartbeat: 60})
	ctx := context.Background()
	var mu sync.Mutex
	held := map[string]bool{}
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f := a
			if i%2 == 1 {
				f = b
			}
			c := f.client(fmt.Sprint("racer-", i))
			for range 3 {
				s, err := c.Acquire(ctx)
				if code(err) == floating.CodeNoSeat {
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				held[s.Lease.IDString()] = true
				mu.Unlock()
				if i%3 == 0 {
					if err := c.Release(ctx, s); err != nil {
						t.Error(err)
					}
					mu.Lock()
					delete(held, s.Lease.IDString())
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	ls := a.srv.Leases()
	if len(ls) > seats {
		t.Fatalf("%d leases for %d seats", len(ls), seats)
	}
	counted := map[string]bool{}
	for _, l := range ls {
		counted[l.ID] = true
	}
	for id := range held {
		if !counted[id] {
			t.Errorf("lease %s is held but not counted", id)
		}
	}
	if st := b.srv.Status()[0]; st.Held != len(ls) {
		t.Fatalf("status %d, leases %d", st.Held, len(ls))
	}
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	var b []byte
	if _, err := fmt.Sscanf(s, "%x", &b); err != nil {
		t.Fatal(err)
	}
	return b
}

// A renewal that races a grant for its expiring seat: the node that grants
// sees the lease expired (its clock is a TTL ahead), the node that renews
// does not. The grant takes the seat, and the renewal fails instead of
// leaving two leases on one seat.
func TestNodesRenewLosesExpiredSeat(t *testing.T) {
	pool := &response.Pool{Seats: 1, LeaseTTL: 60, Heartbeat: 20}
	a, b := twoNodes(t, pool)
	ctx := context.Background()
	s1, err := a.client("c1").Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b.stop()
	b.clock = newClock(t0.Add(time.Duration(pool.LeaseTTL) * time.Second))
	b.start(t)
	c2 := b.client("c2")
	c2.Now = b.clock.Now
	if _, err := c2.Acquire(ctx); err != nil {
		t.Fatalf("the seat expired by node b's clock: %v", err)
	}
	if _, err := a.client("c1").Renew(ctx, s1); code(err) != floating.CodeLeaseExpired {
		t.Fatalf("renewal of a seat another node granted again: %v", err)
	}
	if st := a.srv.Status()[0]; st.Held != 1 {
		t.Fatalf("held: %+v", st)
	}
}

// A node that answers 5xx (its database unreachable) or says it lacks a
// hardware-key pool's key passes the client on to the next node; a
// refusal does not.
func TestNodesFailoverOnServerError(t *testing.T) {
	a, b := twoNodes(t, &response.Pool{Seats: 1, LeaseTTL: 60, Heartbeat: 20})
	ctx := context.Background()
	for _, answer := range []string{
		`{"code":"internal_error","message":"the server cannot use its shared database","status":500}`,
		`{"code":"hardware_key_not_accessible","message":"No available valid hardware key","status":400}`,
	} {
		var status int
		fmt.Sscanf(answer[len(answer)-4:], "%d", &status)
		var hits atomic.Int64
		sick := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits.Add(1)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			fmt.Fprint(w, answer)
		}))
		// It shows node a's certified key, as node a itself would.
		cert, err := a.srv.Certificate([]string{"127.0.0.1"})
		if err != nil {
			t.Fatal(err)
		}
		sick.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
		sick.StartTLS()
		c := a.client("c")
		c.Servers = []string{sick.Listener.Addr().String(), b.addr}
		s, err := c.Acquire(ctx)
		if err != nil || s.Server != b.addr || hits.Load() == 0 {
			t.Fatalf("%s: %v (%d calls to the sick node)", answer, err, hits.Load())
		}
		if err := c.Release(ctx, s); err != nil {
			t.Fatal(err)
		}
		sick.Close()
	}
	// A refusal is the pool's answer, whichever node gives it.
	if _, err := a.client("x").Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	c := b.client("y")
	c.Servers = []string{b.addr, a.addr}
	if _, err := c.Acquire(ctx); code(err) != floating.CodeNoSeat {
		t.Fatalf("refused: %v", err)
	}
}

// Three nodes: clients spread over all of them race for five seats, and
// exactly five leases exist, every node's status agreeing.
func TestThreeNodes(t *testing.T) {
	const seats = 5
	ns := startNodes(t, 3, &response.Pool{Seats: seats, LeaseTTL: 60, Heartbeat: 20})
	ctx := context.Background()
	var granted atomic.Int64
	var wg sync.WaitGroup
	for i := range 15 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := ns[i%3].client(fmt.Sprint("three-", i)).Acquire(ctx)
			switch code(err) {
			case "":
				granted.Add(1)
			case floating.CodeNoSeat:
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if granted.Load() != seats {
		t.Fatalf("%d grants for %d seats", granted.Load(), seats)
	}
	for i, f := range ns {
		if st := f.srv.Status()[0]; st.Held != seats || st.Nodes != 3 {
			t.Fatalf("node %d: %+v", i, st)
		}
	}
}

// The database drops every connection of the nodes (as a restart or a
// failover of PostgreSQL does): the nodes open new ones and carry on, and
// every client renews with no error and no seat lost.
func TestNodesSurviveLostConnections(t *testing.T) {
	db, app := withApp(t, postgresDB(t))
	ns := startNodesOn(t, db, 2, &response.Pool{Seats: 20, LeaseTTL: 60, Heartbeat: 20})
	ctx := context.Background()
	type held struct {
		c *client.Floating
		s *client.Seat
	}
	var hs []held
	for i := range 20 {
		c := ns[i%2].client(fmt.Sprint("conn-", i))
		c.Servers = []string{ns[i%2].addr, ns[1-i%2].addr}
		s, err := c.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		hs = append(hs, held{c, s})
	}
	admin, err := sql.Open("pgx", postgresDB(t))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	terminate(t, admin, app)
	// At once: each node's pooled connections are dead now.
	for i, h := range hs {
		s, err := h.c.Renew(ctx, h.s)
		if err != nil || !bytes.Equal(s.Lease.ID, h.s.Lease.ID) {
			t.Fatalf("client %d after the connections were lost: %v", i, err)
		}
	}
	if st := ns[0].srv.Status()[0]; st.Held != 20 || st.Error != "" {
		t.Fatalf("status: %+v", st)
	}
	// PostgreSQL freed the nodes' locks with their connections: both take
	// the shared lock again, and one of them the history's.
	if !eventually(3*floating.LockCheckTicks*floating.SweepInterval, func() bool {
		return lockHolders(t, admin, app, ns[0].srv.LockKey(floating.LockServer)) == 2 && lockHolders(t, admin, app, ns[0].srv.LockKey(floating.LockHistory)) == 1
	}) {
		t.Fatalf("after the lost connections, %d nodes hold the shared lock and %d the history's",
			lockHolders(t, admin, app, ns[0].srv.LockKey(floating.LockServer)), lockHolders(t, admin, app, ns[0].srv.LockKey(floating.LockHistory)))
	}
}

// The history of a pool served by two nodes counts the database's seats
// (one node samples them) and every node's denials, whichever node is
// asked.
func TestNodesHistory(t *testing.T) {
	a, b := twoNodes(t, defaultPool()) // 2 seats
	ctx := context.Background()
	for i, f := range []*fixture{a, b} {
		if _, err := f.client(fmt.Sprintf("holder%d", i)).Acquire(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for i, f := range []*fixture{a, b, b} {
		if _, err := f.client(fmt.Sprintf("denied%d", i)).Acquire(ctx); code(err) != floating.CodeNoSeat {
			t.Fatalf("a third seat: %v", err)
		}
	}
	if _, err := b.client("holder0").Consume(ctx, "", 3); err != nil {
		t.Fatal(err)
	}
	// Let a sweep sample the seats, then move past the minute so that
	// both nodes write their buckets to the shared database.
	time.Sleep(2 * floating.SweepInterval)
	a.clock.Add(2 * time.Minute)
	var got floating.HistoryPoint
	both := func() bool {
		for _, f := range []*fixture{a, b} {
			got = f.srv.Usage(product, "", t0.Add(-time.Minute), t0.Add(time.Minute))
			if got.Peak != 2 || got.Denials != 3 || got.Consumed != 3 {
				return false
			}
		}
		return true
	}
	for end := time.Now().Add(15 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		if both() {
			return
		}
	}
	t.Fatalf("history of the first minute: %+v, want peak 2, 3 denials and 3 consumed on both nodes", got)
}

// The authentication mode an admin sets on one node reaches the other
// nodes of the pool (they read the shared database every 10 s).
func TestNodesShareAuthMode(t *testing.T) {
	a, b := twoNodes(t, defaultPool())
	if err := a.srv.SetAuthMode(floating.AuthLicenseKey); err != nil {
		t.Fatal(err)
	}
	for end := time.Now().Add(15 * time.Second); b.srv.AuthMode() != floating.AuthLicenseKey; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("node b still authenticates with %q", b.srv.AuthMode())
		}
	}
	if _, err := b.client("c").Acquire(context.Background()); code(err) != floating.CodeLicenseKey {
		t.Fatalf("a grant on node b without the license key: %v", err)
	}
}

// Two nodes making usage reports at the same time still make one chain:
// every number once, each report chained to the one before (the number is
// a compare-and-set in the shared database; the loser makes its report
// again after the winner's).
func TestNodesReportAtOnce(t *testing.T) {
	a, b := twoNodes(t, defaultPool())
	const each = 8
	var (
		mu   sync.Mutex
		all  = map[uint64]*usage.Signed{}
		wg   sync.WaitGroup
		errs = make(chan error, 2*each)
	)
	for _, f := range []*fixture{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				r, err := f.srv.MakeReport(floating.ReportOptions{})
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				if _, dup := all[r.Report.Seq]; dup {
					errs <- fmt.Errorf("report %d made twice", r.Report.Seq)
				}
				all[r.Report.Seq] = r
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var chain []usage.Link
	for n := uint64(1); n <= 2*each; n++ {
		r := all[n]
		if r == nil {
			t.Fatalf("report %d is missing (made: %d)", n, len(all))
		}
		if flag, msg := usage.CheckChain(chain, usage.LinkOf(r)); flag != "" {
			t.Fatalf("report %d: %s %s", n, flag, msg)
		}
		chain = append(chain, usage.LinkOf(r))
	}
}

// Nodes started at the same moment on a fresh schema all come up: the
// tables, history's too, are made under the setup lock, one node at a
// time.
func TestNodesStartTogether(t *testing.T) {
	db := postgresDB(t)
	pool := defaultPool()
	const n = 5
	vendor := testkeys.Identity(crypto.RoleVendor, "vendor")
	ids := make([]*crypto.Identity, n)
	for i := range ids {
		ids[i] = testkeys.Identity(crypto.RoleInstallation, fmt.Sprintf("node %c", 'a'+i))
		pool.Nodes = append(pool.Nodes, ids[i].Public().Sign)
	}
	lic := poolLicense(t, vendor, ids[0], pool, map[string]uint64{"render": 0})
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for _, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			srv, err := floating.New(floating.Config{Identity: id, Licenses: [][]byte{lic}, DB: db, Now: newClock(t0).Now})
			if err != nil {
				errs <- err
				return
			}
			srv.Close()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// A shared pool's report names the machines that held its seats, whichever
// node granted them, and the overage of its counters, which live in the
// database.
func TestNodesReportHoldersAndOverage(t *testing.T) {
	a, b := twoNodes(t, defaultPool()) // consumption: 100 + 10 overage
	ctx := context.Background()
	c := a.client("ws-1")
	if _, err := c.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := b.client("ws-2").Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Consume(ctx, "", 104); err != nil {
		t.Fatal(err)
	}
	// Each node writes its holders as its minute ends (node b writes its
	// own as it makes the report).
	a.clock.Add(2 * time.Minute)
	time.Sleep(2 * floating.SweepInterval)
	rep, err := b.srv.MakeReport(floating.ReportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p := rep.Report.Products[0]
	hosts := map[string]uint32{}
	for _, h := range p.Holders {
		hosts[h.Host] += h.Grants
	}
	if p.Usage.Consumed != 104 || p.Usage.OverageUsed != 4 || hosts["ws-1"] != 1 || hosts["ws-2"] != 1 {
		t.Fatalf("the shared pool's report: usage %+v, holders %+v", p.Usage, p.Holders)
	}
}
