package floating

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/response"
	"github.com/airlock-offline/airlock/usage"
)

// Usage reports: the server's account of its pool licenses' use, signed
// by its key, numbered and chained (package usage). The chain's state
// (the last report's number, hash and end) is kept in floating_meta and
// moves on only once a report is made, so the next report starts where
// the last one ended.

const (
	metaReportSeq   = "report.seq"
	metaReportHash  = "report.hash"
	metaReportTo    = "report.to"
	metaReportSince = "report.since" // when the server first ran: report 1 starts here
	metaPseudonym   = "report.pseudonym_key"
)

// ReportOptions are the choices of the server's admin for a report.
type ReportOptions struct {
	// Pseudonymise replaces host names and installation ids by keyed
	// hashes: the key stays in the server's database, so one machine
	// keeps one pseudonym from report to report.
	Pseudonymise bool
}

// holderKey is a machine that took seats of a product.
type holderKey struct{ product, host, client string }

// recordGrant records a granted seat: the seats in use, and the machine
// that took it (for the report's holders). Called with s.mu held.
func (s *Server) recordGrant(pl *pool, l *lease, t time.Time) {
	s.recordSeats(pl, t)
	s.recordHolder(l, t)
}

// recordHolder counts a grant to the machine of lease l (a shared pool's
// seats are sampled from the database instead: nodes_history.go).
func (s *Server) recordHolder(l *lease, t time.Time) {
	s.histAt(t, func(int64) {
		k := holderKey{l.product, l.host, crypto.KeyIDOf(l.client[:]).String()}
		if s.hist.holders == nil {
			s.hist.holders = map[holderKey]int64{}
		}
		s.hist.holders[k]++
	})
}

// flushHolders writes the holder counts of the day so far. Called with
// h.mu held.
func (s *Server) flushHolders(now time.Time) {
	h := s.hist
	if len(h.holders) == 0 {
		return
	}
	day := floorDiv(now.Unix(), histDay) * histDay
	stmts := make([]stmt, 0, len(h.holders))
	for k, n := range h.holders {
		stmts = append(stmts, stmt{`INSERT INTO floating_holders (product, day, host, client, grants) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (product, day, host, client) DO UPDATE SET grants = floating_holders.grants + excluded.grants`,
			[]any{k.product, day, k.host, k.client, n}})
	}
	h.holders = nil
	s.st.enqueue(stmts...)
}

// MakeReport makes the next usage report: the use of every pool license
// since the last report (or since the server first ran), signed by the
// server's key, numbered and chained to the last report. The chain moves
// on once the report is written to the database, so a report that is
// lost must be made again: the next one covers its period too, and the
// desk sees its number missing.
func (s *Server) MakeReport(opt ReportOptions) (*usage.Signed, error) {
	h := s.hist
	h.report.Lock()
	defer h.report.Unlock()
	now := s.now()
	h.mu.Lock()
	s.flushHolders(now)
	h.mu.Unlock()
	s.historyTick(now)
	if err := s.st.exec(); err != nil { // everything queued so far is in
		return nil, err
	}
	// The nodes of a shared pool take turns; and should one make a report
	// regardless, the number is a compare-and-set in the database, and the
	// loser makes its report again after the winner's.
	release, err := s.st.serialise(context.Background(), lockReport)
	if err != nil {
		return nil, s.failed(err)
	}
	defer release()
	now = s.now()
	for range 5 {
		signed, err := s.makeReport(opt, now)
		if err != errReportRace {
			return signed, err
		}
		now = s.now()
	}
	return nil, errorf(CodeInternal, "other nodes kept making usage reports at the same time: try again")
}

// errReportRace: another node took the report's number first.
var errReportRace = errors.New("another node made a report first")

func (s *Server) makeReport(opt ReportOptions, now time.Time) (*usage.Signed, error) {
	var seq uint64
	var prev []byte
	var from int64
	vals := map[string]string{}
	for _, k := range []string{metaReportSeq, metaReportHash, metaReportTo, metaReportSince} {
		v, err := s.meta(k)
		if err != nil {
			return nil, err
		}
		vals[k] = v
	}
	if v := vals[metaReportSeq]; v != "" {
		n, err1 := strconv.ParseUint(v, 10, 64)
		p, err2 := hex.DecodeString(vals[metaReportHash])
		f, err3 := strconv.ParseInt(vals[metaReportTo], 10, 64)
		if err1 != nil || err2 != nil || err3 != nil || len(p) != sha256.Size {
			return nil, errorf(CodeInternal, "the report chain in the database is corrupt")
		}
		seq, prev, from = n, p, f
	} else if f, err := strconv.ParseInt(vals[metaReportSince], 10, 64); err == nil {
		from = f
	} else {
		from = now.Unix()
	}
	to := max(now.Unix(), from)
	r := &usage.Report{Seq: seq + 1, Prev: prev, From: from, To: to, Pseudonymised: opt.Pseudonymise}
	if seq == 0 {
		r.Prev = make([]byte, sha256.Size)
	}
	var key []byte
	if opt.Pseudonymise {
		k, err := s.pseudonymKey()
		if err != nil {
			return nil, err
		}
		key = k
	}
	fromT, toT := time.Unix(from, 0), time.Unix(to, 0)
	if to == from {
		toT = toT.Add(time.Second)
	}
	s.mu.Lock()
	type pinfo struct {
		product, key string
		seats        uint32
		features     []string
		pool         *response.Pool
		counters     map[string]uint64 // nil for a shared pool: the database's
	}
	var pools []pinfo
	for _, pl := range s.pools {
		pi := pinfo{product: pl.product, key: pl.lic.LicenseKey, seats: pl.lic.Pool.Seats, pool: pl.lic.Pool}
		if !pl.shared {
			pi.counters = maps(pl.counters)
		}
		names := map[string]bool{}
		for f := range pl.lic.Pool.FeatureSeats {
			names[f] = true
		}
		for f := range pl.lic.Pool.FeatureConsumption {
			names[f] = true
		}
		for f := range names {
			pi.features = append(pi.features, f)
		}
		sort.Strings(pi.features)
		pools = append(pools, pi)
	}
	s.mu.Unlock()
	for i := range pools {
		if pools[i].counters == nil {
			c, err := s.readCounters(context.Background(), pools[i].product)
			if err != nil {
				return nil, err
			}
			pools[i].counters = c
		}
	}
	sort.Slice(pools, func(i, j int) bool { return pools[i].product < pools[j].product })
	if len(pools) > usage.MaxProducts {
		pools = pools[:usage.MaxProducts]
	}
	counts, err := s.periodCounts(from, to, seq == 0)
	if err != nil {
		return nil, err
	}
	for _, pi := range pools {
		p := usage.Product{Product: pi.product, LicenseKey: pi.key, Seats: pi.seats,
			Usage: usageOf(s.Usage(pi.product, "", fromT, toT), counts[histKey{pi.product, ""}], overage(pi.pool.Consumption, pi.counters[""]))}
		for _, f := range pi.features {
			if len(p.Features) == usage.MaxFeatures {
				break
			}
			p.Features = append(p.Features, usage.Feature{Name: f, Usage: usageOf(s.Usage(pi.product, f, fromT, toT), counts[histKey{pi.product, f}], featureOverage(pi.pool, f, pi.counters[f]))})
		}
		holders, err := s.holders(pi.product, from, key)
		if err != nil {
			return nil, err
		}
		p.Holders = holders
		r.Products = append(r.Products, p)
	}
	if err := s.reportEvents(r, fromT, toT.Add(time.Second)); err != nil {
		return nil, err
	}
	s.clock.mu.Lock()
	r.Anchor = s.clock.anchor
	s.clock.mu.Unlock()
	signed, err := usage.Sign(s.id, r)
	for err != nil && strings.Contains(err.Error(), "larger than") && trimReport(r) {
		signed, err = usage.Sign(s.id, r)
	}
	if err != nil {
		return nil, errorf(CodeInternal, "cannot sign the usage report: %v", err)
	}
	won, err := s.st.swap(metaReportSeq, vals[metaReportSeq], strconv.FormatUint(r.Seq, 10),
		setMeta(metaReportHash, hex.EncodeToString(signed.Hash[:])), setMeta(metaReportTo, strconv.FormatInt(to, 10)),
		eventStmt(now.Unix(), "report.made", "", fmt.Sprintf("report %d, %x", r.Seq, signed.Hash[:8])))
	if err != nil {
		return nil, s.failed(err)
	}
	if !won {
		return nil, errReportRace
	}
	return signed, nil
}

// overage is how far a counter is past its allowance's base (none
// without an allowance).
func overage(a *response.Allowance, used uint64) uint64 {
	if a != nil && used > a.Max {
		return used - a.Max
	}
	return 0
}

func featureOverage(p *response.Pool, f string, used uint64) uint64 {
	if a, ok := p.FeatureConsumption[f]; ok {
		return overage(&a, used)
	}
	return 0
}

// trimReport drops the least needed part of a report too large to sign:
// holders first, then the listed events. False when nothing is left to
// drop.
func trimReport(r *usage.Report) bool {
	for i := range r.Products {
		if n := len(r.Products[i].Holders); n > 0 {
			r.Products[i].Holders = r.Products[i].Holders[:n/2]
			return true
		}
	}
	if n := len(r.Listed); n > 0 {
		r.Listed = r.Listed[:n/2]
		return true
	}
	return false
}

// usageOf is a report's usage: peak, average and borrowed seats from
// the history, denials and consumption counted from the event log.
func usageOf(p HistoryPoint, c eventCounts, overage uint64) usage.Usage {
	return usage.Usage{Peak: uint32(p.Peak), AverageMilli: uint64(p.Average*1000 + 0.5), Borrowed: uint32(p.Borrowed),
		Denials: c.denials, Consumed: c.consumed, OverageUsed: overage}
}

type eventCounts struct{ denials, consumed uint64 }

// periodCounts counts the denials and consumption of the period from the
// event log, exactly: the events after from (at it too, for the first
// report) up to to, by product and feature. A product's consumption is
// its license's own counter; a feature's is its counter.
func (s *Server) periodCounts(from, to int64, first bool) (map[histKey]eventCounts, error) {
	op := ">"
	if first {
		op = ">="
	}
	rows, err := s.st.db.Query(s.st.q(`SELECT kind, product, detail FROM floating_events WHERE at `+op+` ? AND at <= ? AND kind IN ('grant.denied', 'consumed')`), from, to)
	if err != nil {
		return nil, fmt.Errorf("cannot read the events: %w", err)
	}
	defer rows.Close()
	out := map[histKey]eventCounts{}
	for rows.Next() {
		var kind, product, detail string
		if err := rows.Scan(&kind, &product, &detail); err != nil {
			return nil, fmt.Errorf("cannot read the events: %w", err)
		}
		switch kind {
		case "grant.denied":
			k := histKey{product, ""}
			c := out[k]
			c.denials++
			out[k] = c
			if _, full, ok := strings.Cut(detail, " "); ok {
				for _, f := range strings.Split(full, ",") {
					k := histKey{product, f}
					c := out[k]
					c.denials++
					out[k] = c
				}
			}
		case "consumed": // "feature +n"
			i := strings.LastIndex(detail, " +")
			if i < 0 {
				continue
			}
			n, err := strconv.ParseUint(detail[i+2:], 10, 64)
			if err != nil {
				continue
			}
			k := histKey{product, detail[:i]}
			c := out[k]
			c.consumed += n
			out[k] = c
		}
	}
	return out, rows.Err()
}

// holders lists the machines that took seats of product since from (by
// the day), most grants first.
func (s *Server) holders(product string, from int64, key []byte) ([]usage.Holder, error) {
	day := floorDiv(from, histDay) * histDay
	rows, err := s.st.db.Query(s.st.q(`SELECT host, client, SUM(grants) FROM floating_holders WHERE product = ? AND day >= ?
		GROUP BY host, client ORDER BY SUM(grants) DESC, client LIMIT ?`), product, day, usage.MaxHolders)
	if err != nil {
		return nil, fmt.Errorf("cannot read the holders: %w", err)
	}
	defer rows.Close()
	var out []usage.Holder
	for rows.Next() {
		var h usage.Holder
		var n int64
		if err := rows.Scan(&h.Host, &h.Installation, &n); err != nil {
			return nil, fmt.Errorf("cannot read the holders: %w", err)
		}
		h.Grants = uint32(min(n, 1<<32-1))
		if len(h.Host) > usage.MaxName {
			h.Host = h.Host[:usage.MaxName]
		}
		if key != nil {
			h.Host = pseudonym(key, "host", h.Host)
			h.Installation = pseudonym(key, "installation", h.Installation)
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

// pseudonym is a keyed hash of a name: the same name gives the same
// pseudonym under one key, and the key is needed to test a guess.
func pseudonym(key []byte, what, name string) string {
	if name == "" {
		return ""
	}
	m := hmac.New(sha256.New, key)
	io.WriteString(m, what+"\x00"+name)
	return what[:1] + "-" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(m.Sum(nil)[:10]))
}

// pseudonymKey returns the server's pseudonym key, made on first use.
func (s *Server) pseudonymKey() ([]byte, error) {
	v, err := s.meta(metaPseudonym)
	if err != nil {
		return nil, err
	}
	if k, err := hex.DecodeString(v); err == nil && len(k) == 32 {
		return k, nil
	}
	k := make([]byte, 32)
	if _, err := io.ReadFull(s.rand, k); err != nil {
		return nil, errorf(CodeInternal, "cannot read randomness")
	}
	if err := s.st.exec(setMeta(metaPseudonym, hex.EncodeToString(k))); err != nil {
		return nil, err
	}
	return k, nil
}

// reportEvents counts the hardware-key events and clock jumps of the
// period, lists the first of them, and the clock jumps.
func (s *Server) reportEvents(r *usage.Report, from, to time.Time) error {
	evs, err := s.Events(from, to, usage.Kinds...)
	if err != nil {
		return err
	}
	counts := map[string]uint64{}
	byProduct := map[string]map[string]uint64{}
	var last Event
	for _, e := range evs {
		// A key's event is written once for each pool bound to the key, in
		// consecutive rows: the server's count has it once.
		if !(e.Seq == last.Seq+1 && e.At.Equal(last.At) && e.Kind == last.Kind && e.Detail == last.Detail && e.Product != last.Product) {
			counts[e.Kind]++
		}
		last = e
		if e.Product != "" {
			if byProduct[e.Product] == nil {
				byProduct[e.Product] = map[string]uint64{}
			}
			byProduct[e.Product][e.Kind]++
		}
		if strings.HasPrefix(e.Kind, "clock.") {
			if n, err := strconv.ParseInt(strings.Fields(e.Detail + " x")[0], 10, 64); err == nil && n != 0 && len(r.ClockJumps) < usage.MaxEvents {
				r.ClockJumps = append(r.ClockJumps, usage.ClockJump{At: e.At.Unix(), Seconds: n})
			}
			continue
		}
		if len(r.Listed) < usage.MaxEvents {
			d := e.Detail
			if len(d) > usage.MaxDetail {
				d = d[:usage.MaxDetail]
			}
			r.Listed = append(r.Listed, usage.Event{At: e.At.Unix(), Kind: e.Kind, Product: e.Product, Detail: cleanText(d)})
		}
	}
	r.Events = countList(counts)
	for i := range r.Products {
		r.Products[i].Events = countList(byProduct[r.Products[i].Product])
	}
	return nil
}

// countList lists counts in the order of usage.Kinds.
func countList(counts map[string]uint64) []usage.EventCount {
	var out []usage.EventCount
	for _, k := range usage.Kinds {
		if counts[k] > 0 {
			out = append(out, usage.EventCount{Kind: k, Count: counts[k]})
		}
	}
	return out
}

// cleanText makes a detail valid report text: control characters become
// spaces, invalid UTF-8 is replaced.
func cleanText(s string) string {
	s = strings.ToValidUTF8(s, "?")
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

// ReportRequest is the body of POST /report.
type ReportRequest struct {
	Pseudonymise bool `json:"pseudonymise,omitempty"`
}

// ReportResponse is the answer of POST /report.
type ReportResponse struct {
	Seq    uint64 `json:"seq"`
	Report string `json:"report"` // armored text
}

// reportRoutes adds the admin's usage report and history calls.
func (s *Server) reportRoutes(h func(string, func(*http.Request) (any, error))) {
	h("POST "+APIPrefix+"/report", func(r *http.Request) (any, error) {
		if _, err := s.authorize(r, RoleAdmin); err != nil {
			return nil, err
		}
		var req ReportRequest
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		signed, err := s.MakeReport(ReportOptions(req))
		if err != nil {
			return nil, err
		}
		return &ReportResponse{Seq: signed.Report.Seq, Report: string(signed.Text())}, nil
	})
}
