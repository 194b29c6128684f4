package floating

import (
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/airlock-offline/airlock/response"
)

// The server anchors time in its database: the latest time it has seen,
// kept in floating_meta and written once a minute (and on Close). A clock
// found more than the tolerance behind the anchor stops new grants with
// clock_tampered until it is past the anchor again; the jump is kept as a
// "clock.back" event (a jump forward while running as "clock.forward")
// for the next usage report.

// DefaultClockTolerance is how far the clock may go back before grants
// stop: enough for NTP corrections and a leap second, not for a clock
// set back to stretch a license. It is the clients' tolerance too
// (client.DefaultClockTolerance).
const DefaultClockTolerance = 15 * time.Minute

// CodeClockTampered is the refusal of a grant while the server's clock
// is behind the time it has already seen.
const CodeClockTampered = "clock_tampered"

const metaClock = "clock.anchor"

// clockAnchor is the latest time seen, in Unix seconds.
type clockAnchor struct {
	mu     sync.Mutex
	tol    int64 // seconds
	anchor int64
	saved  int64 // the anchor as last written
	last   int64 // the time at the last tick
	back   bool  // the clock is behind the anchor now (its event is written)
}

func (s *Server) startClock() error {
	c := &s.clock
	c.tol = int64(s.clockTol / time.Second)
	if c.tol <= 0 {
		c.tol = int64(DefaultClockTolerance / time.Second)
	}
	v, err := s.meta(metaClock)
	if err != nil {
		return err
	}
	if v != "" {
		a, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return errors.New("the clock anchor in the database is corrupt")
		}
		c.anchor, c.saved = a, a
	}
	if f := s.clockFloor.Unix(); !s.clockFloor.IsZero() && f > c.anchor {
		c.anchor = f
	}
	s.clockTick(s.now())
	return nil
}

// meta reads a value of floating_meta ("" if absent).
func (s *Server) meta(name string) (string, error) {
	var v string
	err := s.st.db.QueryRow(s.st.q(`SELECT value FROM floating_meta WHERE name = ?`), name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("cannot read the server's state: %w", err)
	}
	return v, nil
}

func setMeta(name, value string) stmt {
	return stmt{`INSERT INTO floating_meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value`, []any{name, value}}
}

// clockTick moves the anchor on, and records a jump back beyond the
// tolerance (once per jump) or forward (while running).
func (s *Server) clockTick(now time.Time) {
	c := &s.clock
	t := now.Unix()
	c.mu.Lock()
	defer c.mu.Unlock()
	var events []stmt
	switch {
	case t < c.anchor-c.tol:
		if !c.back {
			c.back = true
			events = append(events, eventStmt(t, "clock.back", "", fmt.Sprintf("%d s: the clock reads %s, behind the latest time seen (%s)",
				t-c.anchor, now.UTC().Format(time.RFC3339), time.Unix(c.anchor, 0).UTC().Format(time.RFC3339))))
		}
	case c.last != 0 && t > c.last+c.tol:
		events = append(events, eventStmt(t, "clock.forward", "", fmt.Sprintf("%d s: the clock jumped forward while the server ran", t-c.last)))
		c.back = false
	default:
		if t >= c.anchor-c.tol {
			c.back = false
		}
	}
	c.last = t
	if t > c.anchor {
		c.anchor = t
	}
	if c.anchor >= c.saved+60 || (len(events) > 0 && c.anchor != c.saved) {
		c.saved = c.anchor
		events = append(events, setMeta(metaClock, strconv.FormatInt(c.anchor, 10)))
	}
	if len(events) > 0 {
		s.st.enqueue(events...)
	}
}

// clockSave writes the anchor (on Close).
func (s *Server) clockSave(now time.Time) {
	s.clockTick(now)
	c := &s.clock
	c.mu.Lock()
	a := c.anchor
	c.saved = a
	c.mu.Unlock()
	_ = s.st.exec(setMeta(metaClock, strconv.FormatInt(a, 10)))
}

// clockCheck refuses a grant at t while the clock is behind the anchor
// by more than the tolerance.
func (s *Server) clockCheck(t time.Time) error {
	c := &s.clock
	c.mu.Lock()
	anchor, tol := c.anchor, c.tol
	c.mu.Unlock()
	if t.Unix() < anchor-tol {
		s.clockTick(t)
		return errorf(CodeClockTampered, "the server's clock reads %s, but it has already seen %s: grants stop while the clock is set back; set it right",
			t.UTC().Format(time.RFC3339), time.Unix(anchor, 0).UTC().Format(time.RFC3339))
	}
	return nil
}

// CodeReportOverdue is the refusal of a grant by a pool license whose
// usage report is overdue.
const CodeReportOverdue = "report_overdue"

// ReportDue is when the pool license of pl wants its next usage report
// answered (zero if it wants none), and when grants stop without it.
func ReportDue(lic *response.License) (due, stop time.Time) {
	if lic.Pool == nil || lic.Pool.ReportEvery == 0 {
		return time.Time{}, time.Time{}
	}
	d := lic.IssuedTime().Add(time.Duration(lic.Pool.ReportEvery) * 24 * time.Hour)
	return d, d.Add(time.Duration(lic.Pool.ReportGrace) * 24 * time.Hour)
}

// grantGuard refuses a new seat while the clock is set back or the pool
// license's usage report is overdue.
func (s *Server) grantGuard(pl *pool, now time.Time) error {
	if err := s.clockCheck(now); err != nil {
		return err
	}
	if _, stop := ReportDue(pl.lic); !stop.IsZero() && !now.Before(stop) {
		return errorf(CodeReportOverdue, "the pool license of %q asks for a usage report every %d days (and %d days' grace); none has been answered since %s, so no new seats are granted: send the vendor a usage report and install the pool license they return",
			pl.product, pl.lic.Pool.ReportEvery, pl.lic.Pool.ReportGrace, pl.lic.IssuedTime().UTC().Format(time.RFC3339))
	}
	return nil
}
