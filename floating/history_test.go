package floating_test

import (
	"context"
	"database/sql"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/airlock-offline/airlock/client"
	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/floating"
	"github.com/airlock-offline/airlock/internal/testrig/testkeys"
	"github.com/airlock-offline/airlock/response"
)

// onBackends runs a test on SQLite, and on PostgreSQL when
// AIRLOCK_TEST_POSTGRES names a server.
func onBackends(t *testing.T, fn func(t *testing.T, db string)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, filepath.Join(t.TempDir(), "server.db")) })
	t.Run("postgres", func(t *testing.T) { fn(t, postgresDB(t)) })
}

func newFixtureOn(t *testing.T, pool *response.Pool, db string) *fixture {
	f := &fixture{
		vendor: testkeys.Identity(crypto.RoleVendor, "vendor"),
		server: testkeys.Identity(crypto.RoleInstallation, "server"),
		clock:  newClock(t0),
		db:     db,
	}
	f.lic = poolLicense(t, f.vendor, f.server, pool, map[string]uint64{"render": 0, "base": 0})
	f.start(t)
	t.Cleanup(f.stop)
	return f
}

// seatModel is what the test itself saw: the seats held over time, from
// the grants and releases that succeeded, and the refusals.
type seatModel struct {
	changes []seatChange // in time order
	denials []time.Time
	consume []struct {
		at time.Time
		n  uint64
	}
}

type seatChange struct {
	at time.Time
	n  int // seats in use from at on
}

// minute sums the model up over [m, m+1min) as the history does: the
// peak counts the value held as the minute starts.
func (m *seatModel) minute(start, now time.Time) floating.HistoryPoint {
	end := start.Add(time.Minute)
	if end.After(now) {
		end = now
	}
	p := floating.HistoryPoint{At: start}
	cur, i := 0, 0
	for ; i < len(m.changes) && !m.changes[i].at.After(start); i++ {
		cur = m.changes[i].n
	}
	p.Peak = float64(cur)
	var area float64
	last := start
	for ; i < len(m.changes) && m.changes[i].at.Before(end); i++ {
		area += float64(cur) * m.changes[i].at.Sub(last).Seconds()
		last, cur = m.changes[i].at, m.changes[i].n
		p.Peak = math.Max(p.Peak, float64(cur))
	}
	area += float64(cur) * end.Sub(last).Seconds()
	if d := end.Sub(start).Seconds(); d > 0 {
		p.Average = area / d
	}
	for _, d := range m.denials {
		if !d.Before(start) && d.Before(end) {
			p.Denials++
		}
	}
	for _, c := range m.consume {
		if !c.at.Before(start) && c.at.Before(end) {
			p.Consumed += c.n
		}
	}
	return p
}

// History's numbers are the leases actually granted: random clients take
// and give back seats (and the feature's) for twelve minutes, with a
// restart in the middle, and every minute's peak, time-weighted average,
// refusals and consumption match what the clients saw.
func TestHistoryMatchesGrants(t *testing.T) { onBackends(t, historyMatchesGrants) }

func historyMatchesGrants(t *testing.T, db string) {
	pool := &response.Pool{Seats: 3, LeaseTTL: 3600, Heartbeat: 60, FeatureSeats: map[string]uint32{"render": 1},
		Consumption: &response.Allowance{Max: 1 << 40}}
	f := newFixtureOn(t, pool, db)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(17, 4))
	clients := make([]*client.Floating, 6)
	seats := make([]*client.Seat, len(clients))
	for i := range clients {
		clients[i] = f.client(string(rune('a' + i)))
	}
	var all, render seatModel
	held, heldRender := 0, 0
	f.clock.Add(500 * time.Millisecond) // no step falls on a minute's start
	const steps = 12 * 60 / 5
	for i := range steps {
		if i == steps/2 { // a restart keeps the seats and the history
			f.stop()
			f.start(t)
			for _, c := range clients {
				c.Servers = []string{f.addr}
			}
		}
		now := f.clock.Now()
		k := rng.IntN(len(clients))
		c := clients[k]
		switch {
		case seats[k] != nil:
			usedRender := len(seats[k].Lease.Features) > 0
			if err := c.Release(ctx, seats[k]); err != nil {
				t.Fatal(err)
			}
			seats[k] = nil
			held--
			all.changes = append(all.changes, seatChange{now, held})
			if usedRender {
				heldRender--
				render.changes = append(render.changes, seatChange{now, heldRender})
			}
		case rng.IntN(5) == 0:
			n := uint64(1 + rng.IntN(9))
			if _, err := c.Consume(ctx, "", n); err != nil {
				t.Fatal(err)
			}
			all.consume = append(all.consume, struct {
				at time.Time
				n  uint64
			}{now, n})
		default:
			c.Features = nil
			if rng.IntN(2) == 0 {
				c.Features = []string{"render"}
			}
			s, err := c.Acquire(ctx)
			switch code(err) {
			case "":
				seats[k] = s
				held++
				all.changes = append(all.changes, seatChange{now, held})
				if len(c.Features) > 0 {
					heldRender++
					render.changes = append(render.changes, seatChange{now, heldRender})
				}
			case floating.CodeNoSeat:
				all.denials = append(all.denials, now)
			case floating.CodeFeatureSeats:
				all.denials = append(all.denials, now)
				render.denials = append(render.denials, now)
			default:
				t.Fatal(err)
			}
		}
		f.clock.Add(5 * time.Second)
	}
	f.srv.SyncHistory()
	now := f.clock.Now()
	if len(all.denials) == 0 || len(render.denials) == 0 || len(all.consume) == 0 {
		t.Fatalf("the run proves little: %d denials, %d of the feature, %d consumptions", len(all.denials), len(render.denials), len(all.consume))
	}
	for _, tc := range []struct {
		feature string
		model   *seatModel
	}{{"", &all}, {"render", &render}} {
		got := f.srv.FeatureHistory(product, tc.feature, t0)
		if len(got) != 13 {
			t.Fatalf("%q: %d points for 12.5 minutes, want 13 minute buckets", tc.feature, len(got))
		}
		for i, p := range got {
			want := tc.model.minute(t0.Add(time.Duration(i)*time.Minute), now)
			if !p.At.Equal(want.At) || p.Peak != want.Peak || math.Abs(p.Average-want.Average) > 1e-6 || p.Denials != want.Denials || p.Consumed != want.Consumed {
				t.Errorf("%q minute %d:\n got %+v\nwant %+v", tc.feature, i, p, want)
			}
		}
	}
	// Usage over the whole run is the same numbers summed.
	u := f.srv.Usage(product, "", t0, now)
	var peak, area float64
	var den int
	var cons uint64
	for i := range 13 {
		m := all.minute(t0.Add(time.Duration(i)*time.Minute), now)
		peak = math.Max(peak, m.Peak)
		d := min(time.Minute, now.Sub(m.At)).Seconds()
		area += m.Average * d
		den += m.Denials
		cons += m.Consumed
	}
	if u.Peak != peak || math.Abs(u.Average-area/now.Sub(t0).Seconds()) > 1e-6 || u.Denials != den || u.Consumed != cons {
		t.Errorf("usage over the run: got %+v, want peak %v average %v denials %d consumed %d", u, peak, area/now.Sub(t0).Seconds(), den, cons)
	}
}

// Old rows are rolled up: minutes into hours after a day, hours into
// days after a month, and the numbers survive the folding.
func TestHistoryRollUp(t *testing.T) { onBackends(t, historyRollUp) }

func historyRollUp(t *testing.T, dbName string) {
	pool := &response.Pool{Seats: 2, LeaseTTL: 180, Heartbeat: 60, BorrowDays: 7, Consumption: &response.Allowance{Max: 1000}}
	f := newFixtureOn(t, pool, dbName)
	ctx := context.Background()
	a := f.client("a")
	if _, err := a.Borrow(ctx, f.clock.Now().Add(3*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Consume(ctx, "", 3); err != nil {
		t.Fatal(err)
	}
	for range 3 * 60 { // the server ticks on
		f.clock.Add(time.Minute)
		f.srv.SyncHistory()
	}
	f.clock.Add(30 * time.Minute)
	if _, err := a.Consume(ctx, "", 4); err != nil {
		t.Fatal(err)
	}
	f.clock.Add(26 * time.Hour)
	f.srv.SyncHistory()
	hours := f.srv.History(product, t0)
	if got := f.srv.History(product, f.clock.Now().Add(time.Hour)); got != nil {
		t.Errorf("history from the future: %d points", len(got))
	}
	if all := f.srv.History(product, time.Time{}); len(all) == 0 || !all[0].At.Equal(t0.Truncate(24*time.Hour)) {
		t.Errorf("history since the beginning of time starts at %v", all)
	}
	if len(hours) < 29 || !hours[0].At.Equal(t0) {
		t.Fatalf("%d hour points from %v", len(hours), hours[0].At)
	}
	for i := range 3 {
		if h := hours[i]; h.Peak != 1 || h.Average != 1 || h.Borrowed != 1 {
			t.Errorf("hour %d of the borrowed seat: %+v", i, h)
		}
	}
	if hours[0].Consumed != 3 || hours[3].Consumed != 4 || hours[3].Peak != 0 || hours[3].Average != 0 {
		t.Errorf("consumption by the hour: %+v, %+v", hours[0], hours[3])
	}
	f.clock.Add(40 * 24 * time.Hour)
	f.srv.SyncHistory()
	days := f.srv.History(product, t0.Add(-time.Hour))
	if want := int(f.clock.Now().Truncate(24*time.Hour).Sub(t0.Truncate(24*time.Hour))/(24*time.Hour)) + 1; len(days) != want || !days[0].At.Equal(t0.Truncate(24*time.Hour)) {
		t.Fatalf("%d day points from %v", len(days), days[0].At)
	}
	if d := days[0]; d.Consumed != 7 || d.Peak != 1 || math.Abs(d.Average-3.0/24) > 1e-9 || d.Borrowed != 1 {
		t.Errorf("the day, rolled up: %+v", d)
	}
	driver := "sqlite"
	if floating.IsPostgres(f.db) {
		driver = "pgx"
	}
	db, err := sql.Open(driver, f.db)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n, small int
	if err := db.QueryRow(`SELECT COUNT(*), COALESCE(SUM(CASE WHEN size < 86400 THEN 1 ELSE 0 END), 0) FROM floating_history`).Scan(&n, &small); err != nil {
		t.Fatal(err)
	}
	if n != 1 || small != 0 {
		t.Errorf("after 40 days: %d rows, %d of them under a day; want one day row", n, small)
	}
}

// A clock set back beyond the tolerance stops new grants, also across a
// restart, and grants resume once the clock is past the anchor.
func TestClockTurnedBack(t *testing.T) {
	f := newFixture(t, defaultPool())
	ctx := context.Background()
	a := f.client("a")
	if _, err := a.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	f.clock.Add(-5 * time.Minute) // within the tolerance
	if _, err := f.client("b").Acquire(ctx); err != nil {
		t.Fatalf("5 minutes back: %v", err)
	}
	f.stop()
	f.clock.Add(-time.Hour)
	f.start(t)
	c := f.client("c")
	_, err := c.Acquire(ctx)
	if code(err) != floating.CodeClockTampered {
		t.Fatalf("an hour back: got %v, want %s", err, floating.CodeClockTampered)
	}
	f.clock.Add(time.Hour + time.Minute)
	if _, err := f.client("a").Acquire(ctx); err != nil {
		t.Fatalf("clock right again: %v", err)
	}
	f.srv.SyncHistory()
	jumps, err := f.srv.Events(t0.Add(-3*time.Hour), f.clock.Now(), "clock.back")
	if err != nil || len(jumps) != 1 {
		t.Fatalf("clock jumps recorded: %v %v", jumps, err)
	}
}

// The minute being filled reaches the database every HistoryFlush while
// the server runs, so a server killed outright loses at most that much;
// the rest of the minute adds to the same row, counted once.
func TestHistoryWrittenWhileRunning(t *testing.T) {
	f := newFixtureOn(t, defaultPool(), filepath.Join(t.TempDir(), "server.db"))
	ctx := context.Background()
	for _, c := range []string{"a", "b"} {
		if _, err := f.client(c).Acquire(ctx); err != nil {
			t.Fatal(err)
		}
	}
	db, err := sql.Open("sqlite", f.db)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	minute := f.clock.Now().Truncate(time.Minute)
	f.clock.Add(2 * floating.HistoryFlush)
	var peak, area int64
	for end := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		err := db.QueryRow(`SELECT peak, area FROM floating_history WHERE product = ? AND feature = '' AND at = ?`, product, minute.Unix()).Scan(&peak, &area)
		if err == nil && peak == 2 && area > 0 {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("the running server's minute is not in the database: peak %d, area %d, %v", peak, area, err)
		}
	}
	// The rest of the minute, then a clean stop: one minute, 2 seats on
	// average, not more.
	f.clock.Add(time.Minute)
	f.stop()
	f.start(t)
	u := f.srv.Usage(product, "", minute, minute.Add(time.Minute-time.Millisecond))
	if u.Peak != 2 || math.Abs(u.Average-2) > 0.01 {
		t.Fatalf("the minute: %+v, want peak 2 and average 2", u)
	}
}
