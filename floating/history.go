package floating

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The server's own usage history, kept small: one row per product (and
// per pool feature) per minute for the last day, per hour for the last
// month, per day before that, for at most HistoryKeep. Rows are rolled
// up in the database as they age, so a product with F feature pools
// holds at most about (1+F)·(1440+744+HistoryKeep/24h) rows.
//
// A row holds the peak of seats in use, the seat-milliseconds held
// (area: the time-weighted average is area / size), the peak of borrowed
// seats, the grants refused for want of a seat, and the units consumed.

// HistoryKeep is how long day rows of the usage history are kept.
const HistoryKeep = 5 * 366 * 24 * time.Hour

// HistoryFlush is how often the minute being filled is written to the
// database as far as it goes: a server killed outright (kill -9, power
// loss) loses at most this much of its usage history.
const HistoryFlush = 5 * time.Second

// Bucket sizes of the usage history, in seconds.
const (
	histMinute = 60
	histHour   = 3600
	histDay    = 86400
)

const historySchema = `
CREATE TABLE IF NOT EXISTS floating_history (
	product TEXT NOT NULL,
	feature TEXT NOT NULL,
	size BIGINT NOT NULL,
	at BIGINT NOT NULL,
	peak BIGINT NOT NULL,
	area BIGINT NOT NULL,
	borrowed BIGINT NOT NULL,
	denials BIGINT NOT NULL,
	consumed BIGINT NOT NULL,
	PRIMARY KEY (product, feature, size, at)
);
CREATE TABLE IF NOT EXISTS floating_holders (
	product TEXT NOT NULL,
	day BIGINT NOT NULL,
	host TEXT NOT NULL,
	client TEXT NOT NULL,
	grants BIGINT NOT NULL,
	PRIMARY KEY (product, day, host, client)
);
CREATE TABLE IF NOT EXISTS floating_meta (
	name TEXT PRIMARY KEY,
	value TEXT NOT NULL
);
`

// HistoryPoint is one bucket of a product's (or feature's) usage.
type HistoryPoint struct {
	At time.Time `json:"at"` // the bucket's start
	// Peak and Average are the seats in use: the most at any moment, and
	// the time-weighted average over the bucket.
	Peak     float64 `json:"peak"`
	Average  float64 `json:"average"`
	Borrowed int     `json:"borrowed"` // the most seats borrowed at once
	Denials  int     `json:"denials"`  // grants refused: no seat free
	Consumed uint64  `json:"consumed"` // units consumed
}

type histKey struct{ product, feature string }

// histOpen is the bucket being filled, in memory.
type histOpen struct {
	start    int64 // bucket start, Unix seconds
	last     int64 // Unix milliseconds of the last change
	value    int   // seats in use since last
	area     int64 // seat-milliseconds so far
	peak     int
	cur      int // borrowed now
	borrowed int // most borrowed
	denials  int
	consumed uint64
	carried  bool // peak and borrowed are the values carried in at start
}

func (b *histOpen) empty() bool {
	return b.peak == 0 && b.borrowed == 0 && b.denials == 0 && b.consumed == 0
}

// history is the server's usage recorder. Its methods may be called with
// s.mu held (lock order: s.mu, then history.mu).
type history struct {
	mu      sync.Mutex
	open    map[histKey]*histOpen
	rolled  int64 // the hour last rolled up
	minute  int64 // the minute of the last tick
	flushed int64 // Unix seconds of the last HistoryFlush
	holders map[holderKey]int64
	report  sync.Mutex // one usage report at a time
}

// startHistory starts recording from the seats loaded from the database
// (its tables are made with the store's: openStore, pgSetup).
func (s *Server) startHistory() error {
	s.hist = &history{open: map[histKey]*histOpen{}}
	if err := s.startClock(); err != nil {
		return err
	}
	if v, err := s.meta(metaReportSince); err != nil {
		return err
	} else if v == "" {
		if err := s.st.exec(setMeta(metaReportSince, strconv.FormatInt(s.now().Unix(), 10))); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for _, pl := range s.pools {
		s.recordSeats(pl, now)
	}
	return nil
}

// bucket returns the open bucket of k at t (milliseconds), closing and
// writing the earlier one if t is past it. Called with h.mu held.
func (s *Server) bucket(k histKey, ms int64) *histOpen {
	h := s.hist
	start := floorDiv(ms, 1000*histMinute) * histMinute
	b := h.open[k]
	if b == nil {
		b = &histOpen{start: start, last: ms}
		h.open[k] = b
		return b
	}
	if start <= b.start {
		if ms > b.last {
			b.area += int64(b.value) * (ms - b.last)
			b.last = ms
		}
		return b
	}
	// Close the bucket, and the minutes in between at the value held
	// through them (a day of them at most: longer gaps are downtime).
	end := (b.start + histMinute) * 1000
	b.area += int64(b.value) * max(0, end-b.last)
	s.writeBucket(k, b)
	gap := start - (b.start + histMinute)
	if b.value > 0 || b.cur > 0 {
		for m := b.start + histMinute; m < start && gap <= histDay; m += histMinute {
			s.writeBucket(k, &histOpen{start: m, area: int64(b.value) * 1000 * histMinute, peak: b.value, borrowed: b.cur})
		}
	}
	nb := &histOpen{start: start, last: ms, value: b.value, cur: b.cur, peak: b.value, borrowed: b.cur, carried: true}
	nb.area = int64(nb.value) * (ms - start*1000)
	h.open[k] = nb
	return nb
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// writeBucket queues a closed bucket's row (not waited for: the history
// is a record, not a promise to anyone).
func (s *Server) writeBucket(k histKey, b *histOpen) {
	if b.empty() {
		return
	}
	s.st.enqueue(stmt{`INSERT INTO floating_history (product, feature, size, at, peak, area, borrowed, denials, consumed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (product, feature, size, at) DO UPDATE SET
		peak = CASE WHEN excluded.peak > floating_history.peak THEN excluded.peak ELSE floating_history.peak END,
		area = floating_history.area + excluded.area,
		borrowed = CASE WHEN excluded.borrowed > floating_history.borrowed THEN excluded.borrowed ELSE floating_history.borrowed END,
		denials = floating_history.denials + excluded.denials,
		consumed = floating_history.consumed + excluded.consumed`,
		[]any{k.product, k.feature, int64(histMinute), b.start, int64(b.peak), b.area, int64(b.borrowed), int64(b.denials), int64(min(b.consumed, 1<<62))}})
}

// set records that k has n seats in use (cur borrowed) from t on.
func (s *Server) setSeats(k histKey, ms int64, n, borrowed int) {
	b := s.bucket(k, ms)
	if b.carried && ms == b.start*1000 {
		// A change at the very start: the value carried in was never held
		// inside the bucket.
		b.peak, b.borrowed = n, borrowed
	}
	b.carried = false
	b.value, b.cur = n, borrowed
	b.peak = max(b.peak, n)
	b.borrowed = max(b.borrowed, borrowed)
}

// recordSeats records a pool's seats in use at t. Called with s.mu held
// after every change to them.
func (s *Server) recordSeats(pl *pool, t time.Time) {
	s.histAt(t, func(ms int64) {
		s.setSeats(histKey{pl.product, ""}, ms, pl.held, pl.borrowed)
		for f := range pl.lic.Pool.FeatureSeats {
			s.setSeats(histKey{pl.product, f}, ms, pl.features[f], 0)
		}
	})
}

// histAt runs record with the history locked, if there is one.
func (s *Server) histAt(t time.Time, record func(ms int64)) {
	h := s.hist
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	record(t.UnixMilli())
}

// fullFeatures names the features asked for whose own seats are all
// taken (for a CodeFeatureSeats refusal). Called with s.mu held.
func fullFeatures(pl *pool, features []string, e *Error) []string {
	var full []string
	if e.Code == CodeFeatureSeats {
		for _, f := range features {
			if n, ok := pl.lic.Pool.FeatureSeats[f]; ok && pl.features[f] >= int(n) {
				full = append(full, f)
			}
		}
	}
	return full
}

// recordDenial records a grant of product refused for want of a seat (of
// the pool, or of the features full), in the history and as a
// "grant.denied" event: usage reports count denials from these events.
func (s *Server) recordDenial(product string, e *Error, full []string, t time.Time) {
	s.st.enqueue(eventStmt(t.Unix(), "grant.denied", product, strings.TrimSpace(e.Code+" "+strings.Join(full, ","))))
	s.histAt(t, func(ms int64) {
		s.bucket(histKey{product, ""}, ms).denials++
		for _, f := range full {
			s.bucket(histKey{product, f}, ms).denials++
		}
	})
}

// recordConsumed records n units consumed of a product's counter
// (feature "" is the license's own): in the product's row, and in the
// feature's.
func (s *Server) recordConsumed(product, feature string, n uint64, t time.Time) {
	s.histAt(t, func(ms int64) {
		s.bucket(histKey{product, ""}, ms).consumed += n
		if feature != "" {
			s.bucket(histKey{product, feature}, ms).consumed += n
		}
	})
}

// historyTick closes the buckets that ended, rolls old rows up once an
// hour, and keeps the clock anchor. The sweeper calls it.
func (s *Server) historyTick(now time.Time) {
	h := s.hist
	if h == nil {
		return
	}
	ms := now.UnixMilli()
	h.mu.Lock()
	flush := now.Unix()-h.flushed >= int64(HistoryFlush/time.Second)
	if flush {
		h.flushed = now.Unix()
	}
	for k := range h.open {
		b := s.bucket(k, ms)
		if flush {
			// What the minute holds so far: its row takes the seat time,
			// denials and consumption as they add up, and the peaks as
			// maxima, so the rest of the minute adds to it later.
			s.writeBucket(k, b)
			b.area, b.denials, b.consumed = 0, 0, 0
		}
	}
	if m := floorDiv(now.Unix(), histMinute); m != h.minute {
		h.minute = m
		s.flushHolders(now)
	}
	hour := floorDiv(now.Unix(), histHour)
	roll := hour != h.rolled
	h.rolled = hour
	h.mu.Unlock()
	s.clockTick(now)
	if roll {
		s.rollUp(now)
	}
}

// rollUp folds minute rows older than a day into hours, hour rows older
// than 31 days into days, and drops days older than HistoryKeep.
func (s *Server) rollUp(now time.Time) {
	t := now.Unix()
	// The sizes are written into the SQL (PostgreSQL groups by an
	// expression only if it is the same text, parameters included).
	fold := func(from, to int64, cutoff int64) []stmt {
		cutoff = floorDiv(cutoff, to) * to
		return []stmt{
			{fmt.Sprintf(`INSERT INTO floating_history (product, feature, size, at, peak, area, borrowed, denials, consumed)
			SELECT product, feature, %[1]d, at - (at %% %[1]d), MAX(peak), SUM(area), MAX(borrowed), SUM(denials), SUM(consumed)
			FROM floating_history WHERE size = ? AND at < ? GROUP BY product, feature, at - (at %% %[1]d)
			ON CONFLICT (product, feature, size, at) DO UPDATE SET
			peak = CASE WHEN excluded.peak > floating_history.peak THEN excluded.peak ELSE floating_history.peak END,
			area = floating_history.area + excluded.area,
			borrowed = CASE WHEN excluded.borrowed > floating_history.borrowed THEN excluded.borrowed ELSE floating_history.borrowed END,
			denials = floating_history.denials + excluded.denials,
			consumed = floating_history.consumed + excluded.consumed`, to), []any{from, cutoff}},
			{`DELETE FROM floating_history WHERE size = ? AND at < ?`, []any{from, cutoff}},
		}
	}
	var stmts []stmt
	stmts = append(stmts, fold(histMinute, histHour, t-histDay)...)
	stmts = append(stmts, fold(histHour, histDay, t-31*histDay)...)
	stmts = append(stmts, stmt{`DELETE FROM floating_history WHERE size = ? AND at < ?`, []any{int64(histDay), t - int64(HistoryKeep/time.Second)}})
	s.st.enqueue(stmts...)
}

// closeHistory writes the open buckets as they stand (a restart in the
// same minute adds to the row) and the clock anchor.
func (s *Server) closeHistory() {
	h := s.hist
	if h == nil {
		return
	}
	now := s.now()
	ms := now.UnixMilli()
	h.mu.Lock()
	for k, b := range h.open {
		s.bucket(k, ms)
		b = h.open[k]
		s.writeBucket(k, b)
	}
	h.open = map[histKey]*histOpen{}
	s.flushHolders(now)
	h.mu.Unlock()
	s.clockSave(now)
}

// History returns the usage of product's seats since the given time,
// oldest first, one point per bucket: minutes for a span up to a day,
// hours up to 31 days, days beyond. Buckets with no use are included,
// as zeros; the last bucket is the one still being filled.
func (s *Server) History(product string, since time.Time) []HistoryPoint {
	return s.FeatureHistory(product, "", since)
}

// FeatureHistory is History for one of the product's feature pools
// (feature "" is the product's).
func (s *Server) FeatureHistory(product, feature string, since time.Time) []HistoryPoint {
	now := s.now()
	span := now.Sub(since)
	size := int64(histDay)
	switch {
	case span <= 24*time.Hour:
		size = histMinute
	case span <= 31*24*time.Hour:
		size = histHour
	}
	rows, err := s.historyRows(product, feature, since.Unix(), now)
	if err != nil {
		return nil
	}
	from := since.Unix()
	if span > HistoryKeep {
		from = now.Unix()
		if len(rows) > 0 {
			from = rows[0].start
		}
	}
	first := floorDiv(from, size) * size
	last := floorDiv(now.Unix(), size) * size
	n := (last-first)/size + 1
	if n <= 0 || n > 100_000 { // since is in the future (or beyond reason)
		return nil
	}
	agg := make([]histOpen, n)
	for _, r := range rows {
		i := (floorDiv(r.start, size)*size - first) / size
		if i < 0 || i >= n {
			continue
		}
		a := &agg[i]
		a.peak = max(a.peak, r.peak)
		a.borrowed = max(a.borrowed, r.borrowed)
		a.denials += r.denials
		a.consumed += r.consumed
		if r.value > int(size) { // a row longer than the bucket: its average
			a.area += r.area * size / int64(r.value)
		} else {
			a.area += r.area
		}
	}
	out := make([]HistoryPoint, n)
	for i := range agg {
		a := &agg[i]
		at := first + int64(i)*size
		dur := min(size*1000, now.UnixMilli()-at*1000)
		p := HistoryPoint{At: time.Unix(at, 0).UTC(), Peak: float64(a.peak), Borrowed: a.borrowed, Denials: a.denials, Consumed: a.consumed}
		if dur > 0 {
			p.Average = float64(a.area) / float64(dur)
		}
		out[i] = p
	}
	return out
}

// Usage sums up a product's (or, with feature, a feature pool's) usage
// over [from, to] (a bucket that starts at to counts): the peak and time-weighted average of seats in use,
// the most borrowed at once, denials and consumption. Its resolution is
// the history's: minutes for the last day, hours for the last month,
// days before.
func (s *Server) Usage(product, feature string, from, to time.Time) HistoryPoint {
	rows, err := s.historyRows(product, feature, from.Unix(), to)
	if err != nil {
		return HistoryPoint{At: from.UTC()}
	}
	p := HistoryPoint{At: from.UTC()}
	var area int64
	for _, r := range rows {
		if r.start*1000 > to.UnixMilli() {
			continue
		}
		p.Peak = max(p.Peak, float64(r.peak))
		p.Borrowed = max(p.Borrowed, r.borrowed)
		p.Denials += r.denials
		p.Consumed += r.consumed
		area += r.area
	}
	if d := to.Sub(from).Milliseconds(); d > 0 {
		p.Average = float64(area) / float64(d)
	}
	return p
}

// historyRows reads k's rows that end after since, and the open bucket;
// each row's value field holds its size in seconds.
func (s *Server) historyRows(product, feature string, since int64, now time.Time) ([]histOpen, error) {
	rows, err := s.st.db.Query(s.st.q(`SELECT size, at, peak, area, borrowed, denials, consumed FROM floating_history
		WHERE product = ? AND feature = ? AND at + size > ? ORDER BY at`), product, feature, since)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []histOpen
	for rows.Next() {
		var size, at, peak, area, borrowed, denials, consumed int64
		if err := rows.Scan(&size, &at, &peak, &area, &borrowed, &denials, &consumed); err != nil {
			return nil, err
		}
		out = append(out, histOpen{value: int(size), start: at, peak: int(peak), area: area, borrowed: int(borrowed), denials: int(denials), consumed: uint64(consumed)})
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if h := s.hist; h != nil {
		h.mu.Lock()
		if b := h.open[histKey{product, feature}]; b != nil && b.start+histMinute > since {
			c := *b
			ms := now.UnixMilli()
			if ms > c.last {
				c.area += int64(c.value) * (ms - c.last)
			}
			c.value = histMinute
			// The open bucket may already be in the database, in part
			// (a restart in the same minute): they add up.
			out = append(out, c)
		}
		h.mu.Unlock()
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].start < out[j].start })
	return out, nil
}

// Event is one entry of the server's event log.
type Event struct {
	Seq     int64     `json:"seq"`
	At      time.Time `json:"at"`
	Kind    string    `json:"kind"`
	Product string    `json:"product,omitempty"`
	Detail  string    `json:"detail,omitempty"`
}

// MaxEvents bounds what one call to Events returns.
const MaxEvents = 10000

// Events returns the logged events of the given kinds (all kinds if
// none) at or after from and before to, oldest first, at most MaxEvents.
func (s *Server) Events(from, to time.Time, kinds ...string) ([]Event, error) {
	q := `SELECT seq, at, kind, product, detail FROM floating_events WHERE at >= ? AND at < ?`
	args := []any{from.Unix(), to.Unix()}
	if len(kinds) > 0 {
		q += ` AND kind IN (?` + strings.Repeat(`, ?`, len(kinds)-1) + `)`
		for _, k := range kinds {
			args = append(args, k)
		}
	}
	q += ` ORDER BY seq LIMIT ?`
	args = append(args, MaxEvents)
	rows, err := s.st.db.Query(s.st.q(q), args...)
	if err != nil {
		return nil, fmt.Errorf("cannot read the events: %w", err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var e Event
		var at int64
		if err := rows.Scan(&e.Seq, &at, &e.Kind, &e.Product, &e.Detail); err != nil {
			return nil, fmt.Errorf("cannot read the events: %w", err)
		}
		e.At = time.Unix(at, 0).UTC()
		out = append(out, e)
	}
	return out, rows.Err()
}
