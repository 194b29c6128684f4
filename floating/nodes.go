package floating

// Several nodes, one pool. A pool license that names several nodes
// (response.Pool.Nodes) is served by every one of them from one shared
// PostgreSQL database, and the database, not the nodes' memory, counts its
// seats: a seat is one row of floating_seats, taken by one transaction
// under a row lock (FOR UPDATE SKIP LOCKED), so two nodes can never hand
// out the same seat. Feature seats and borrow slots are rows too; a lease
// holds one row of each kind it needs. Renewals and releases are single
// statements that change the lease's row and its seat rows together, so any
// node renews or releases any lease. Consumption counters are updated in
// place under the row's lock, the cap checked in the same statement.
//
// The nodes share no state but the database: no consensus of their own,
// no leader. Their clocks must agree (NTP): a seat is free once its expiry,
// by the clock of the node that looks, has passed.

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/response"
)

// SharedTimeout bounds one transaction on the shared database: a node that
// cannot reach it answers internal_error (a 5xx, so clients try the next
// node) rather than hang.
const SharedTimeout = 10 * time.Second

// ErrNotANode means the node's key is not among the pool license's nodes.
var ErrNotANode = errors.New("this server's key is not one of the nodes the pool license names")

// Seat kinds in floating_seats.
const (
	kindSeat   = ""
	kindBorrow = "borrow"
	kindFeat   = "f:"
)

const pgNodesSchema = `
CREATE TABLE IF NOT EXISTS floating_seats (
	product TEXT NOT NULL,
	kind TEXT NOT NULL,
	n INTEGER NOT NULL,
	lease BYTEA,
	expires BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (product, kind, n)
);
CREATE INDEX IF NOT EXISTS floating_seats_lease ON floating_seats (lease);
CREATE TABLE IF NOT EXISTS floating_pools (
	product TEXT PRIMARY KEY,
	issued BIGINT NOT NULL,
	nodes TEXT NOT NULL
);
ALTER TABLE floating_leases ADD COLUMN IF NOT EXISTS node TEXT NOT NULL DEFAULT '';
CREATE INDEX IF NOT EXISTS floating_leases_client ON floating_leases (product, client);
`

// checkMember refuses a pool license that does not name this server's
// key (among its nodes, or as its one server).
func (s *Server) checkMember(lic *response.License) error {
	if lic.IsServerKey(s.id.Public().Sign) {
		return nil
	}
	if lic.Pool.MultiNode() {
		return fmt.Errorf("floating: the license for %q: %w", lic.Product, ErrNotANode)
	}
	return fmt.Errorf("floating: the license for %q is bound to another installation key", lic.Product)
}

// sharedPools lists the products served from the shared database; called
// with s.mu held.
func (s *Server) sharedPools() []*pool {
	var out []*pool
	for _, pl := range s.pools {
		if pl.shared {
			out = append(out, pl)
		}
	}
	return out
}

// joinShared readies the database for the shared pools among lics: the
// store turns to shared mode (several nodes may open it), and each pool's
// seat rows exist. A node whose key the newest license of a pool in the
// database does not name is refused: it was left out of the set.
func (s *Server) joinShared(pools []*pool) error {
	if len(pools) == 0 {
		return nil
	}
	if !s.st.pg {
		return errors.New("floating: a pool served by several nodes needs a PostgreSQL database (--db postgres://…)")
	}
	if err := s.st.share(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), SharedTimeout)
	defer cancel()
	for _, pl := range pools {
		if err := s.registerPool(ctx, pl); err != nil {
			return err
		}
	}
	return nil
}

func nodesText(keys [][]byte) string {
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = hex.EncodeToString(k)
	}
	return strings.Join(ids, ",")
}

// registerPool records the pool's node set (the newest license's) and
// makes its seat rows.
func (s *Server) registerPool(ctx context.Context, pl *pool) error {
	tx, err := s.st.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("cannot begin a transaction: %w", err)
	}
	defer tx.Rollback()
	var issued int64
	var nodes string
	err = tx.QueryRowContext(ctx, `SELECT issued, nodes FROM floating_pools WHERE product = $1 FOR UPDATE`, pl.product).Scan(&issued, &nodes)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		_, err = tx.ExecContext(ctx, `INSERT INTO floating_pools (product, issued, nodes) VALUES ($1, $2, $3) ON CONFLICT (product) DO NOTHING`,
			pl.product, pl.lic.Issued, nodesText(pl.lic.Pool.Nodes))
	case err != nil:
	case issued > pl.lic.Issued:
		me := hex.EncodeToString(s.id.Public().Sign)
		if !slices.Contains(strings.Split(nodes, ","), me) {
			return fmt.Errorf("floating: the pool of %q: the other nodes serve a newer pool license, which does not name this server's key: %w", pl.product, ErrNotANode)
		}
	default:
		_, err = tx.ExecContext(ctx, `UPDATE floating_pools SET issued = $2, nodes = $3 WHERE product = $1`, pl.product, pl.lic.Issued, nodesText(pl.lic.Pool.Nodes))
	}
	if err != nil {
		return fmt.Errorf("cannot record the pool's nodes: %w", err)
	}
	for kind, n := range seatKinds(pl.lic.Pool) {
		var have int64
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM floating_seats WHERE product = $1 AND kind = $2 AND n < $3`, pl.product, kind, int64(n)).Scan(&have); err != nil {
			return fmt.Errorf("cannot count the pool's seats: %w", err)
		}
		if have == int64(n) {
			continue
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO floating_seats (product, kind, n) SELECT $1, $2, g FROM generate_series(0, $3::integer - 1) AS g ON CONFLICT DO NOTHING`,
			pl.product, kind, int64(n)); err != nil {
			return fmt.Errorf("cannot make the pool's seats: %w", err)
		}
	}
	return tx.Commit()
}

// seatKinds are the rows a pool needs, by kind.
func seatKinds(p *response.Pool) map[string]uint32 {
	out := map[string]uint32{kindSeat: p.Seats}
	if p.BorrowDays > 0 {
		out[kindBorrow] = borrowSlots(p)
	}
	for f, n := range p.FeatureSeats {
		out[kindFeat+f] = n
	}
	return out
}

func borrowSlots(p *response.Pool) uint32 {
	if p.BorrowMax > 0 {
		return p.BorrowMax
	}
	return p.Seats
}

// lockClient is the advisory lock that serialises one client's grants of
// one product across the nodes (so a client never holds two leases).
const lockClient = "client"

// errDamagedLease is a lease row whose id or client key has the wrong
// size: skipped.
var errDamagedLease = errors.New("a lease row is damaged")

// sharedLeaseCols are the columns scanLease reads.
const sharedLeaseCols = `id, features, client, host, issued, expires, borrowed`

func scanLease(sc interface{ Scan(...any) error }, product string) (*lease, error) {
	var id, client []byte
	var features string
	l := &lease{product: product}
	if err := sc.Scan(&id, &features, &client, &l.host, &l.issued, &l.expires, &l.borrowed); err != nil {
		return nil, err
	}
	if len(id) != LeaseIDLen || len(client) != 32 {
		return nil, errDamagedLease
	}
	copy(l.id[:], id)
	copy(l.client[:], client)
	if features != "" {
		l.features = strings.Split(features, ",")
	}
	return l, nil
}

// takeShared is take for a shared pool: one transaction that locks the
// client, finds its live lease, and takes one free row of every seat kind
// the lease needs.
func (s *Server) takeShared(p *Proof, pl *pool, borrowUntil int64) (*Grant, error) {
	return retry(func() (*Grant, error) { return s.takeSharedOnce(p, pl, borrowUntil) })
}

func (s *Server) takeSharedOnce(p *Proof, pl *pool, borrowUntil int64) (*Grant, error) {
	pol := pl.lic.Pool
	t := s.now().Unix()
	ctx, tx, done, err := s.sharedTx()
	if err != nil {
		return nil, err
	}
	defer done()
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, s.st.key(lockClient, []byte(p.Product), p.Client)); err != nil {
		return nil, s.sharedFailed(err)
	}
	old, err := scanLease(tx.QueryRowContext(ctx, `SELECT `+sharedLeaseCols+` FROM floating_leases WHERE product = $1 AND client = $2 AND expires > $3 ORDER BY expires DESC LIMIT 1 FOR UPDATE`,
		p.Product, p.Client, t), p.Product)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		old = nil
	case err != nil:
		return nil, s.sharedFailed(err)
	}
	if old != nil && old.borrowed && borrowUntil == 0 {
		// A borrowed seat stays borrowed until it is returned.
		return s.grant(pl, old)
	}
	l := &lease{client: [32]byte(p.Client), product: p.Product, features: p.Features, host: p.Hostname, issued: t}
	if old != nil {
		l.id = old.id
		if _, err := tx.ExecContext(ctx, `UPDATE floating_seats SET lease = NULL, expires = 0 WHERE product = $1 AND lease = $2`, p.Product, old.id[:]); err != nil {
			return nil, s.sharedFailed(err)
		}
	} else if _, err := io.ReadFull(s.rand, l.id[:]); err != nil {
		return nil, errorf(CodeInternal, "cannot read randomness")
	}
	if borrowUntil != 0 {
		l.expires, l.borrowed = borrowUntil, true
	} else {
		l.expires = min(t+int64(pol.LeaseTTL), pl.end())
	}
	type need struct {
		kind  string
		count uint32
		fail  func() *Error
	}
	needs := []need{{kindSeat, pol.Seats, func() *Error {
		return errorf(CodeNoSeat, "all %d seats of %q are taken; try again later", pol.Seats, p.Product)
	}}}
	if borrowUntil != 0 {
		needs = append(needs, need{kindBorrow, borrowSlots(pol), func() *Error {
			return errorf(CodeBorrowLimit, "%d seats of %q are borrowed already, the most the pool license allows", borrowSlots(pol), p.Product)
		}})
	}
	for _, f := range p.Features {
		if n, ok := pol.FeatureSeats[f]; ok {
			needs = append(needs, need{kindFeat + f, n, func() *Error {
				return errorf(CodeFeatureSeats, "all %d seats of feature %q are taken", n, f)
			}})
		}
	}
	for _, nd := range needs {
		var n int64
		err := tx.QueryRowContext(ctx, `UPDATE floating_seats SET lease = $4, expires = $5
			WHERE (product, kind, n) = (SELECT product, kind, n FROM floating_seats
				WHERE product = $1 AND kind = $2 AND n < $3 AND (lease IS NULL OR expires <= $6)
				ORDER BY n LIMIT 1 FOR UPDATE SKIP LOCKED)
			RETURNING n`, p.Product, nd.kind, int64(nd.count), l.id[:], l.expires, t).Scan(&n)
		if errors.Is(err, sql.ErrNoRows) {
			e := nd.fail()
			if e.Code == CodeNoSeat || e.Code == CodeFeatureSeats {
				var full []string
				if f, ok := strings.CutPrefix(nd.kind, kindFeat); ok {
					full = []string{f}
				}
				s.recordDenial(pl.product, e, full, time.Unix(t, 0))
			}
			return nil, e
		}
		if err != nil {
			return nil, s.sharedFailed(err)
		}
	}
	kind := "granted"
	if l.borrowed {
		kind = "borrowed"
	}
	// The lease and its event, in one statement.
	if _, err := tx.ExecContext(ctx, `WITH l AS (
			INSERT INTO floating_leases (id, product, features, client, host, issued, expires, borrowed, node) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
			ON CONFLICT (id) DO UPDATE SET features = excluded.features, expires = excluded.expires, borrowed = excluded.borrowed, host = excluded.host, node = excluded.node
			RETURNING id)
		INSERT INTO floating_events (at, kind, product, detail) SELECT $6, $10, $2, encode(id, 'hex') FROM l`,
		l.id[:], l.product, strings.Join(l.features, ","), l.client[:], l.host, l.issued, l.expires, l.borrowed, s.kid.String(), kind); err != nil {
		return nil, s.sharedFailed(err)
	}
	g, gerr := s.grant(pl, l)
	if err := tx.Commit(); err != nil {
		return nil, s.sharedFailed(err)
	}
	s.recordHolder(l, time.Unix(t, 0))
	return g, gerr
}

// sharedTx begins a transaction on the shared database, bounded by
// SharedTimeout; done rolls it back unless it was committed, and frees its
// context.
func (s *Server) sharedTx() (context.Context, *sql.Tx, func(), error) {
	ctx, cancel := context.WithTimeout(context.Background(), SharedTimeout)
	tx, err := s.st.db.BeginTx(ctx, nil)
	if err != nil {
		cancel()
		return nil, nil, nil, s.sharedFailed(err)
	}
	return ctx, tx, func() { tx.Rollback(); cancel() }, nil
}

// sharedFailed reports a failure of the shared database as an internal
// error (a 5xx: the client tries the next node), or, for a deadlock or a
// serialization failure, as one to retry.
func (s *Server) sharedFailed(err error) error {
	if retryable(err) {
		return &retryError{err}
	}
	return errorf(CodeInternal, "the server cannot use its shared database: %v", err)
}

// retryable reports whether a failed transaction may simply run again: the
// database aborted it to break a deadlock or a serialization conflict, or
// its connection was lost (a restarted or failed-over database: the pool
// then opens a new one). Running a grant again is safe even if its commit
// did reach the database: it finds the client's lease and returns it.
func retryable(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "40P01" || pe.Code == "40001" || strings.HasPrefix(pe.Code, "08") ||
			pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03"
	}
	return errors.Is(err, driver.ErrBadConn) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || pgconn.SafeToRetry(err)
}

// retryError is a transaction the database aborted to break a deadlock or
// a serialization conflict, or that lost its connection: running it again
// is safe.
type retryError struct{ err error }

func (e *retryError) Error() string { return e.err.Error() }

// sharedRetries is how many times a transaction the database aborted is
// run again.
const sharedRetries = 3

func retry[T any](f func() (T, error)) (T, error) {
	for i := 0; ; i++ {
		v, err := f()
		var re *retryError
		if !errors.As(err, &re) {
			return v, err
		}
		if i == sharedRetries {
			return v, errorf(CodeInternal, "the server cannot use its shared database: %v", re.err)
		}
	}
}

// whyNot explains why a renewal or release of lease p.Lease changed no
// row: unknown, held by another client, or expired.
func (s *Server) whyNot(ctx context.Context, p *Proof, pl *pool, t int64) (*lease, error) {
	l, err := scanLease(s.st.db.QueryRowContext(ctx, `SELECT `+sharedLeaseCols+` FROM floating_leases WHERE id = $1 AND product = $2`, p.Lease, pl.product), pl.product)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errorf(CodeLeaseUnknown, "this server holds no lease %x: it was released, or expired and was dropped; acquire a seat again", p.Lease)
	}
	if err != nil {
		return nil, s.sharedFailed(err)
	}
	if string(l.client[:]) != string(p.Client) {
		return nil, errorf(CodeNotHolder, "lease %x is held by another installation", p.Lease)
	}
	if l.expires <= t {
		return nil, errorf(CodeLeaseExpired, "lease %x expired on %s; acquire a seat again", p.Lease, time.Unix(l.expires, 0).UTC().Format(time.RFC3339))
	}
	return l, nil
}

// renewShared is Renew for a shared pool: one statement extends the lease
// and its seat rows, on any node.
func (s *Server) renewShared(p *Proof, pl *pool) (*Grant, error) {
	return retry(func() (*Grant, error) { return s.renewSharedOnce(p, pl) })
}

func (s *Server) renewSharedOnce(p *Proof, pl *pool) (*Grant, error) {
	if len(p.Lease) != LeaseIDLen {
		return nil, errorf(CodeMalformed, "the proof names no lease")
	}
	t := s.now().Unix()
	if err := pl.usable(t); err != nil {
		return nil, err
	}
	exp := min(t+int64(pl.lic.Pool.LeaseTTL), pl.end())
	ctx, tx, done, err := s.sharedTx()
	if err != nil {
		return nil, err
	}
	defer done()
	// The lease row first (as a grant and a release lock it), then its seat
	// rows, which must all still be the lease's and live: a grant elsewhere
	// that found them expired and took one wins, and this renewal fails.
	var seats int
	l, err := scanLease(withCount{tx.QueryRowContext(ctx, `WITH l AS (
			UPDATE floating_leases SET expires = $4, issued = LEAST(issued, $5)
			WHERE id = $1 AND product = $2 AND client = $3 AND expires > $5 AND NOT borrowed
			RETURNING `+sharedLeaseCols+`),
		s AS (UPDATE floating_seats SET expires = $4 FROM l
			WHERE floating_seats.product = $2 AND floating_seats.lease = l.id AND floating_seats.expires > $5
			RETURNING floating_seats.kind)
		SELECT `+sharedLeaseCols+`, (SELECT count(*) FROM s) FROM l`, p.Lease, pl.product, p.Client, exp, t), &seats}, pl.product)
	if errors.Is(err, sql.ErrNoRows) {
		tx.Rollback()
		// Not renewed: a borrowed lease comes back as it is; else say why.
		if l, err = s.whyNot(ctx, p, pl, t); err != nil {
			return nil, err
		}
		if !l.borrowed {
			return nil, errorf(CodeLeaseUnknown, "lease %x changed while it was renewed; acquire a seat again", p.Lease)
		}
		return s.grant(pl, l)
	}
	if err != nil {
		return nil, s.sharedFailed(err)
	}
	want := 1
	for _, f := range l.features {
		if _, ok := pl.lic.Pool.FeatureSeats[f]; ok {
			want++
		}
	}
	if seats != want {
		return nil, errorf(CodeLeaseExpired, "lease %x lost its seat as it was renewed (it had expired); acquire a seat again", p.Lease)
	}
	g, gerr := s.grant(pl, l)
	if err := tx.Commit(); err != nil {
		return nil, s.sharedFailed(err)
	}
	s.recordHolder(l, time.Unix(t, 0))
	return g, gerr
}

// withCount scans a lease row followed by a count.
type withCount struct {
	row *sql.Row
	n   *int
}

func (w withCount) Scan(dest ...any) error { return w.row.Scan(append(dest, w.n)...) }

// releaseShared is Release (client != nil) or ForceRelease for a shared
// pool: one statement deletes the lease, frees its seat rows and records
// the event.
func (s *Server) releaseShared(p *Proof, pl *pool, id []byte, force bool) error {
	_, err := retry(func() (struct{}, error) { return struct{}{}, s.releaseSharedOnce(p, pl, id, force) })
	return err
}

func (s *Server) releaseSharedOnce(p *Proof, pl *pool, id []byte, force bool) error {
	t := s.now().Unix()
	ctx, cancel := context.WithTimeout(context.Background(), SharedTimeout)
	defer cancel()
	var client any
	released, returned := "released", "returned"
	if force {
		released, returned = "force-released", "force-released"
	} else {
		client = p.Client
	}
	var kind string
	err := s.st.db.QueryRowContext(ctx, `WITH l AS (
			DELETE FROM floating_leases WHERE id = $1 AND product = $2 AND ($3::bytea IS NULL OR client = $3) AND expires > $4
			RETURNING id, borrowed),
		s AS (UPDATE floating_seats SET lease = NULL, expires = 0 FROM l WHERE floating_seats.product = $2 AND floating_seats.lease = l.id)
		INSERT INTO floating_events (at, kind, product, detail)
			SELECT $4, CASE WHEN borrowed THEN $6 ELSE $5 END, $2, encode(id, 'hex') FROM l
		RETURNING kind`, id, pl.product, client, t, released, returned).Scan(&kind)
	if errors.Is(err, sql.ErrNoRows) {
		if force {
			return errorf(CodeLeaseUnknown, "this server holds no lease %x", id)
		}
		_, err := s.whyNot(ctx, p, pl, t)
		if err == nil {
			err = errorf(CodeLeaseUnknown, "lease %x changed while it was released", id)
		}
		return err
	}
	if err != nil {
		return s.sharedFailed(err)
	}
	return nil
}

// forceReleaseShared finds the shared pool of lease id and releases it.
func (s *Server) forceReleaseShared(id []byte) error {
	s.mu.Lock()
	shared := s.sharedPools()
	s.mu.Unlock()
	if len(shared) == 0 {
		return errorf(CodeLeaseUnknown, "this server holds no lease %x", id)
	}
	ctx, cancel := context.WithTimeout(context.Background(), SharedTimeout)
	defer cancel()
	var product string
	err := s.st.db.QueryRowContext(ctx, `SELECT product FROM floating_leases WHERE id = $1`, id).Scan(&product)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return s.sharedFailed(err)
	}
	for _, pl := range shared {
		if pl.product == product {
			if err := s.hw.check(pl, "releasing a lease on the admin's word"); err != nil {
				return err
			}
			return s.releaseShared(nil, pl, id, true)
		}
	}
	return errorf(CodeLeaseUnknown, "this server holds no lease %x", id)
}

// consumeShared is Consume for a shared pool: the counter row is updated
// in place, the cap checked in the same statement.
func (s *Server) consumeShared(p *Proof, pl *pool, a *response.Allowance) (uint64, error) {
	return retry(func() (uint64, error) { return s.consumeSharedOnce(p, pl, a) })
}

func (s *Server) consumeSharedOnce(p *Proof, pl *pool, a *response.Allowance) (uint64, error) {
	t := s.now().Unix()
	limit := int64(math.MaxInt64)
	if c := a.Cap(); c < uint64(limit) {
		limit = int64(c)
	}
	if int64(p.Amount) > limit {
		return 0, errorf(CodeConsumptionCap, "consuming %d would take the counter past its allowance of %s; nothing was counted", p.Amount, a)
	}
	ctx, cancel := context.WithTimeout(context.Background(), SharedTimeout)
	defer cancel()
	var used int64
	err := s.st.db.QueryRowContext(ctx, `WITH c AS (
			INSERT INTO floating_counters (product, feature, used) VALUES ($1, $2, $3)
			ON CONFLICT (product, feature) DO UPDATE SET used = floating_counters.used + excluded.used
				WHERE floating_counters.used <= $4 - excluded.used
			RETURNING used),
		e AS (INSERT INTO floating_events (at, kind, product, detail) SELECT $5, 'consumed', $1, $6 FROM c)
		SELECT used FROM c`, p.Product, p.Feature, int64(p.Amount), limit, t, fmt.Sprintf("%s +%d", p.Feature, p.Amount)).Scan(&used)
	if errors.Is(err, sql.ErrNoRows) {
		var now int64
		_ = s.st.db.QueryRowContext(ctx, `SELECT used FROM floating_counters WHERE product = $1 AND feature = $2`, p.Product, p.Feature).Scan(&now)
		return 0, errorf(CodeConsumptionCap, "consuming %d would take the counter to %d, past its allowance of %s; nothing was counted", p.Amount, uint64(now)+p.Amount, a)
	}
	if err != nil {
		// One statement that commits itself: run again only when it
		// surely did not happen (a lost answer may hide a count).
		var pe *pgconn.PgError
		if pgconn.SafeToRetry(err) || errors.As(err, &pe) && (pe.Code == "40P01" || pe.Code == "40001") {
			return 0, &retryError{err}
		}
		return 0, errorf(CodeInternal, "the server cannot use its shared database: %v", err)
	}
	s.recordConsumed(p.Product, p.Feature, p.Amount, time.Unix(t, 0))
	return uint64(used), nil
}

// seatsShared fills ps's seat counts from the shared database: the held
// rows are the truth, whichever node granted them.
func (s *Server) seatsShared(ctx context.Context, lic *response.License, ps *PoolStatus, t int64) error {
	rows, err := s.st.db.QueryContext(ctx, `SELECT kind, count(*) FROM floating_seats
		WHERE product = $1 AND lease IS NOT NULL AND expires > $2 GROUP BY kind`, lic.Product, t)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var kind string
		var n int
		if err := rows.Scan(&kind, &n); err != nil {
			return err
		}
		switch {
		case kind == kindSeat:
			ps.Held = n
		case kind == kindBorrow:
			ps.Borrowed = n
		case strings.HasPrefix(kind, kindFeat):
			if ps.FeatureSeats == nil {
				ps.FeatureSeats = map[string]int{}
			}
			ps.FeatureSeats[strings.TrimPrefix(kind, kindFeat)] = n
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if lic.Pool.BorrowDays == 0 {
		ps.Borrowed = 0
	}
	return nil
}

// statusShared fills ps from the shared database: the seats
// (seatsShared) and the counters.
func (s *Server) statusShared(ctx context.Context, lic *response.License, ps *PoolStatus, t int64) error {
	if err := s.seatsShared(ctx, lic, ps, t); err != nil {
		return err
	}
	c, err := s.readCounters(ctx, lic.Product)
	if err != nil {
		return err
	}
	if len(c) > 0 {
		ps.Counters = c
	}
	ps.Nodes = len(lic.Pool.Nodes)
	return nil
}

// leasesShared lists the live leases of the shared pools.
func (s *Server) leasesShared(ctx context.Context, products []string, t int64) ([]LeaseInfo, error) {
	if len(products) == 0 {
		return nil, nil
	}
	rows, err := s.st.db.QueryContext(ctx, `SELECT product, `+sharedLeaseCols+`, node FROM floating_leases WHERE product = ANY($1) AND expires > $2`, products, t)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []LeaseInfo
	for rows.Next() {
		var product, node string
		var id, client []byte
		var features, host string
		var issued, expires int64
		var borrowed bool
		if err := rows.Scan(&product, &id, &features, &client, &host, &issued, &expires, &borrowed, &node); err != nil {
			return nil, err
		}
		li := LeaseInfo{ID: hex.EncodeToString(id), Product: product, Client: crypto.KeyIDOf(client).String(), Host: host,
			Issued: time.Unix(issued, 0).UTC(), Expires: time.Unix(expires, 0).UTC(), Borrowed: borrowed, Node: node}
		if features != "" {
			li.Features = strings.Split(features, ",")
		}
		out = append(out, li)
	}
	return out, rows.Err()
}

// sweepShared deletes the expired leases of the shared pools (their seat
// rows are free already: a row whose expiry passed is free).
func (s *Server) sweepShared(t int64) {
	s.mu.Lock()
	var products []string
	for _, pl := range s.sharedPools() {
		products = append(products, pl.product)
	}
	s.mu.Unlock()
	if len(products) == 0 {
		return
	}
	// Another node's admin may have changed the authentication mode.
	if mode, err := s.meta(metaAuthMode); err == nil && validAuth(mode) && mode != s.authMode() {
		s.auth.Store(&mode)
	}
	ctx, cancel := context.WithTimeout(context.Background(), SharedTimeout)
	defer cancel()
	_, _ = s.st.db.ExecContext(ctx, `WITH d AS (DELETE FROM floating_leases WHERE product = ANY($1) AND expires <= $2 RETURNING product)
		INSERT INTO floating_events (at, kind, product, detail) SELECT $2, 'expired', product, count(*) || ' lease(s) expired' FROM d GROUP BY product`, products, t)
}
