package floating_test

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airlock-offline/airlock/client"
	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/floating"
	"github.com/airlock-offline/airlock/response"
)

// loadStats are the figures of one load run.
type loadStats struct {
	clients, held      int
	grants             []time.Duration
	heartbeats         int64
	heartbeatTime      time.Duration
	consumed           uint64
	memPerLease        float64
	rawSign, rawCommit time.Duration
}

func pct(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[int(float64(len(s)-1)*p)]
}

// preload takes n seats straight through the server (no HTTP): the leases
// a big site holds while the measured clients come and go.
func preload(t testing.TB, srv *floating.Server, n int) {
	var wg sync.WaitGroup
	var failed atomic.Int64
	per := (n + 3) / 4
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w * per; i < min(n, (w+1)*per); i++ {
				inst, err := crypto.Generate(crypto.RoleInstallation, nil)
				if err != nil {
					failed.Add(1)
					continue
				}
				nonce, _ := srv.Nonce()
				kid := srv.KeyID()
				proof, err := floating.SignProof(inst, &floating.Proof{Op: floating.OpAcquire, Nonce: nonce, Server: kid[:], Product: product, Hostname: fmt.Sprintf("ws-%05d.example.lan", i)})
				if err != nil {
					failed.Add(1)
					continue
				}
				if _, err := srv.Acquire(proof, floating.Credentials{}); err != nil {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if failed.Load() > 0 {
		t.Fatalf("preload: %d of %d failed", failed.Load(), n)
	}
}

// runLoad runs clients concurrent clients against a real server on
// loopback, with held leases already taken: each acquires, heartbeats
// beats times, consumes one unit and releases. It checks that no seat is
// over the pool and no consumption is lost.
func runLoad(t *testing.T, clients, held, beats int) *loadStats {
	pool := &response.Pool{Seats: uint32(clients + held), LeaseTTL: 180, Heartbeat: 60,
		Consumption: &response.Allowance{Max: 1 << 40}}
	f := newFixture(t, pool) // its clock stands still: no lease expires during the run
	st := &loadStats{clients: clients, held: held}

	runtime.GC()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	preload(t, f.srv, held)
	runtime.GC()
	runtime.ReadMemStats(&m1)
	if held > 0 {
		st.memPerLease = float64(m1.HeapAlloc-m0.HeapAlloc) / float64(held)
	}

	cs := make([]*client.Floating, clients)
	for i := range cs {
		inst, err := crypto.Generate(crypto.RoleInstallation, nil)
		if err != nil {
			t.Fatal(err)
		}
		cs[i] = &client.Floating{Servers: []string{f.addr}, Product: product, VendorKeys: []*crypto.Public{f.vendor.Public()},
			Installation: inst, Now: f.clock.Now, Timeout: 60 * time.Second}
	}
	ctx := context.Background()
	grants := make([]time.Duration, clients)
	seats := make([]*client.Seat, clients)
	var wg sync.WaitGroup
	// Phase 0: every client connects (TLS, the server's pool license and
	// key checked, a nonce in hand), ten at a time.
	sem := make(chan struct{}, 10)
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			if err := c.Connect(ctx); err != nil {
				t.Errorf("client %d: connect: %v", i, err)
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	// Phase 1: the clients ask for seats, arriving over one second per
	// 500 clients, in random order (grant latency).
	spread := time.Duration(clients) * time.Second / 500
	start := make(chan struct{})
	for i, c := range cs {
		wg.Add(1)
		delay := time.Duration(rand.Int64N(int64(spread)))
		go func() {
			defer wg.Done()
			<-start
			time.Sleep(delay)
			t0 := time.Now()
			s, err := c.Acquire(ctx)
			grants[i] = time.Since(t0)
			if err != nil {
				t.Errorf("client %d: acquire: %v", i, err)
				return
			}
			seats[i] = s
		}()
	}
	close(start)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	st.grants = grants
	if s := f.srv.Status()[0]; s.Held != clients+held {
		t.Fatalf("held %d, want %d", s.Held, clients+held)
	}
	// Phase 2: heartbeats, all clients at once.
	var beatsDone atomic.Int64
	hb0 := time.Now()
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range beats {
				s, err := c.Renew(ctx, seats[i])
				if err != nil {
					t.Errorf("client %d: renew: %v", i, err)
					return
				}
				seats[i] = s
				beatsDone.Add(1)
			}
		}()
	}
	wg.Wait()
	st.heartbeatTime = time.Since(hb0)
	st.heartbeats = beatsDone.Load()
	// Phase 3: consume and release.
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Consume(ctx, "", 1); err != nil {
				t.Errorf("client %d: consume: %v", i, err)
			}
			if err := c.Release(ctx, seats[i]); err != nil {
				t.Errorf("client %d: release: %v", i, err)
			}
		}()
	}
	wg.Wait()
	s := f.srv.Status()[0]
	if s.Held != held || s.Counters[""] != uint64(clients) {
		t.Fatalf("after the load: held %d (want %d), consumed %d (want %d: a lost update)", s.Held, held, s.Counters[""], clients)
	}
	st.consumed = s.Counters[""]
	st.rawSign, st.rawCommit = rawCosts(t)
	return st
}

// rawCosts measures one Ed25519 signature of a lease-sized message and one
// durable SQLite commit (one row, synchronous=FULL, WAL) on the same disk.
func rawCosts(t *testing.T) (time.Duration, time.Duration) {
	_, priv, _ := ed25519.GenerateKey(nil)
	msg := make([]byte, 900)
	const n = 200
	t0 := time.Now()
	for range n {
		ed25519.Sign(priv, msg)
	}
	sign := time.Since(t0) / n
	path := filepath.Join(t.TempDir(), "raw.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE x (id INTEGER PRIMARY KEY, v BLOB)`); err != nil {
		t.Fatal(err)
	}
	t0 = time.Now()
	for i := range n {
		tx, _ := db.Begin()
		tx.Exec(`INSERT INTO x (id, v) VALUES (?, ?)`, i, msg[:64])
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	return sign, time.Since(t0) / n
}

func (s *loadStats) report(t *testing.T) {
	hbps := float64(s.heartbeats) / s.heartbeatTime.Seconds()
	msg := fmt.Sprintf("floating server, %d concurrent clients over TLS on loopback, %d leases held besides:\n"+
		"  grant latency      p50 %v  p99 %v  max %v   (goal: p99 ≤ 10ms; requests arriving over %v)\n"+
		"  heartbeats         %.0f/s (%d in %v)   (goal: ≥ 2000/s)\n"+
		"  memory per lease   %.0f B   (goal: ≤ 2048 B)\n"+
		"  raw costs          one Ed25519 sign %v, one durable SQLite commit %v\n"+
		"  (clients, server and TLS share this process and its cores)\n",
		s.clients, s.held, pct(s.grants, .5).Round(10*time.Microsecond), pct(s.grants, .99).Round(10*time.Microsecond), pct(s.grants, 1).Round(10*time.Microsecond), time.Duration(s.clients)*time.Second/500,
		hbps, s.heartbeats, s.heartbeatTime.Round(time.Millisecond), s.memPerLease, s.rawSign.Round(time.Microsecond), s.rawCommit.Round(time.Microsecond))
	t.Log(msg)
	if os.Getenv("AIRLOCK_FLOATING_BENCH") != "" {
		fmt.Print(msg)
	}
}

// 200 clients at once: no seat over the pool, no lost update.
func TestLoad200(t *testing.T) {
	if testing.Short() {
		t.Skip("load test")
	}
	s := runLoad(t, 200, 0, 3)
	s.report(t)
}

// The 1,000-client run of `make bench` (AIRLOCK_FLOATING_BENCH=1), with
// 10,000 leases held.
func TestLoad1000(t *testing.T) {
	if os.Getenv("AIRLOCK_FLOATING_BENCH") == "" {
		t.Skip("set AIRLOCK_FLOATING_BENCH=1 (make bench)")
	}
	s := runLoad(t, 1000, 9000, 5)
	s.report(t)
}
