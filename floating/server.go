package floating

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/response"
)

// Config configures a Server.
type Config struct {
	// Identity is the server's installation key: the key its pool
	// licenses are bound to, which signs leases and carries TLS.
	Identity *crypto.Identity
	// Licenses are the pool licenses' signed bytes, already verified
	// against the vendor key and this machine by the caller (one per
	// product; a later one for the same product replaces an earlier one).
	Licenses [][]byte
	// DB is the SQLite database file.
	DB string
	// Auth is how clients authenticate beyond the proof of their
	// installation key: AuthNone, AuthLicenseKey or AuthUsers; it is kept
	// in the database. "" means the mode kept there (SetAuthMode), else
	// AuthNone.
	Auth string
	// AllowedClients, when not nil, are the only installation keys (Ed25519
	// public keys) that may take seats; others get client_not_allowed.
	AllowedClients [][]byte
	// Activator, when set, lets the admin API make requests and install
	// pool licenses (and Reload read them).
	Activator Activator
	// HardwareKey configures the check of pools bound to a hardware key
	// (hwkey.go).
	HardwareKey HardwareKeyConfig
	// SharedLock opens a PostgreSQL database as the nodes of a pool served
	// by several do (beside them, if they run), for work that counts no
	// seat, such as making the first admin token. Licenses must then name
	// several nodes or be none.
	SharedLock bool
	// ClockTolerance is how far the clock may go back behind the latest
	// time the server has seen before grants stop; 0 means
	// DefaultClockTolerance.
	ClockTolerance time.Duration
	// ClockFloor is a time the clock was seen at elsewhere (the state
	// folder's record): the server's anchor starts no lower.
	ClockFloor time.Time
	Now        func() time.Time // nil means time.Now
	Rand       io.Reader        // nil means crypto/rand
}

// Server hands out the seats of its pool licenses. Its methods are safe
// for concurrent use.
type Server struct {
	id      *crypto.Identity
	kid     crypto.KeyID
	st      *store
	now     func() time.Time
	rand    io.Reader
	auth    atomic.Pointer[string] // the authentication mode (authMode, SetAuthMode)
	rate    rateLimiter
	act     Activator
	allowed map[[32]byte]bool // nil: every client

	mu    sync.Mutex
	pools map[string]*pool
	byID  map[[LeaseIDLen]byte]*lease

	nonces nonceSet
	hw     *hwMonitor // the hardware key of pools bound to one
	stop   chan struct{}

	hist       *history // usage history (history.go)
	histLeader bool     // this node records the seats of shared pools (nodes_history.go); the sweeper's own
	clock      clockAnchor
	clockTol   time.Duration
	clockFloor time.Time
	wg         sync.WaitGroup
}

// pool is one product's pool license and the seats held from it.
type pool struct {
	product  string
	lic      *response.License
	licBytes []byte
	leases   map[[32]byte]*lease // by client key
	held     int                 // leases in memory, expired ones not yet swept included
	borrowed int
	features map[string]int    // feature seats held
	counters map[string]uint64 // consumption; "" is the license's own
	// shared: the pool license names several nodes, and the shared
	// database, not this memory, holds the seats (nodes.go).
	shared bool
}

// lease is a seat as the server keeps it: about 150 bytes.
type lease struct {
	id       [LeaseIDLen]byte
	client   [32]byte
	product  string
	features []string
	host     string
	issued   int64
	expires  int64
	borrowed bool
}

// New opens the database, loads every lease and counter it holds, and
// returns a server for the given pool licenses.
func New(c Config) (*Server, error) {
	if c.Identity == nil {
		return nil, errors.New("floating: no server identity")
	}
	s := &Server{
		id: c.Identity, kid: c.Identity.ID(), now: c.Now, rand: c.Rand, act: c.Activator,
		pools: map[string]*pool{}, byID: map[[LeaseIDLen]byte]*lease{}, stop: make(chan struct{}),
		clockTol: c.ClockTolerance, clockFloor: c.ClockFloor,
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.rand == nil {
		s.rand = rand.Reader
	}
	if c.Auth != "" && !validAuth(c.Auth) {
		return nil, fmt.Errorf("floating: unknown authentication mode %q (want %s, %s or %s)", c.Auth, AuthNone, AuthLicenseKey, AuthUsers)
	}
	s.nonces.init()
	if c.AllowedClients != nil {
		s.allowed = map[[32]byte]bool{}
		for _, k := range c.AllowedClients {
			if len(k) != 32 {
				return nil, errors.New("floating: an allowed client key is not an Ed25519 public key")
			}
			s.allowed[[32]byte(k)] = true
		}
	}
	for _, b := range c.Licenses {
		lic, _, err := response.ParseUnverified(b)
		if err != nil {
			return nil, fmt.Errorf("floating: %w", err)
		}
		if lic.Pool == nil {
			return nil, fmt.Errorf("floating: the license for %q is not a pool license", lic.Product)
		}
		if err := s.checkMember(lic); err != nil {
			return nil, err
		}
		s.pools[lic.Product] = newPool(lic, b)
	}
	if c.SharedLock && len(s.sharedPools()) != len(s.pools) {
		return nil, errors.New("floating: a server that takes the database lock shared serves only pools of several nodes")
	}
	st, err := openStore(c.DB, c.SharedLock || len(s.sharedPools()) > 0)
	if err != nil {
		return nil, err
	}
	s.st = st
	if err := s.load(); err != nil {
		st.close()
		return nil, err
	}
	if err := s.joinShared(s.sharedPools()); err != nil {
		st.close()
		return nil, err
	}
	if err := s.startHistory(); err != nil {
		st.close()
		return nil, err
	}
	if err := s.initAuth(c.Auth); err != nil {
		st.close()
		return nil, err
	}
	s.wg.Add(1)
	go s.sweeper()
	s.hw = newHWMonitor(s, c.HardwareKey)
	s.hw.start()
	return s, nil
}

func newPool(lic *response.License, b []byte) *pool {
	return &pool{product: lic.Product, lic: lic, licBytes: b, leases: map[[32]byte]*lease{}, features: map[string]int{}, counters: map[string]uint64{},
		shared: lic.Pool.MultiNode()}
}

// load fills the pools from the database: leases not yet expired, and
// counters.
func (s *Server) load() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for p, pl := range s.pools {
		s.pools[p] = newPool(pl.lic, pl.licBytes)
	}
	clear(s.byID)
	now := s.now().Unix()
	rows, err := s.st.db.Query(s.st.q(`SELECT id, product, features, client, host, issued, expires, borrowed FROM floating_leases WHERE expires > ?`), now)
	if err != nil {
		return fmt.Errorf("cannot read the leases: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, client []byte
		var product, features, host string
		var issued, expires int64
		var borrowed bool
		if err := rows.Scan(&id, &product, &features, &client, &host, &issued, &expires, &borrowed); err != nil {
			return fmt.Errorf("cannot read the leases: %w", err)
		}
		pl := s.pools[product]
		if pl == nil || pl.shared || len(id) != LeaseIDLen || len(client) != 32 {
			continue // a product no longer licensed here: its rows stay, unused (a shared pool's live in the database)
		}
		l := &lease{product: product, host: host, issued: issued, expires: expires, borrowed: borrowed}
		copy(l.id[:], id)
		copy(l.client[:], client)
		if features != "" {
			l.features = strings.Split(features, ",")
		}
		pl.add(l)
		s.byID[l.id] = l
	}
	if err := rows.Err(); err != nil {
		return err
	}
	crows, err := s.st.db.Query(s.st.q(`SELECT product, feature, used FROM floating_counters`))
	if err != nil {
		return fmt.Errorf("cannot read the counters: %w", err)
	}
	defer crows.Close()
	for crows.Next() {
		var product, feature string
		var used int64
		if err := crows.Scan(&product, &feature, &used); err != nil {
			return err
		}
		if pl := s.pools[product]; pl != nil && !pl.shared {
			pl.counters[feature] = uint64(used)
		}
	}
	return crows.Err()
}

// Close stops the server's background work and closes the database.
func (s *Server) Close() error {
	s.hw.close()
	close(s.stop)
	s.wg.Wait()
	s.closeHistory()
	return s.st.close()
}

// KeyID is the server's key id.
func (s *Server) KeyID() crypto.KeyID { return s.kid }

// Identity is the server's installation identity.
func (s *Server) Identity() *crypto.Identity { return s.id }

// end is when the pool license stops (its expiry or its own lease with
// the desk, whichever is first): no lease outlives it.
func (p *pool) end() int64 {
	e := int64(1<<62 - 1)
	if p.lic.Expires != 0 {
		e = p.lic.Expires
	}
	if p.lic.LeaseUntil != 0 {
		e = min(e, p.lic.LeaseUntil)
	}
	return e
}

// usable refuses grants and renewals outside the pool license's window.
func (p *pool) usable(t int64) error {
	if t < p.lic.NotBefore-3600 {
		return errorf(CodeLicenseNotValid, "the pool license of %q is not valid yet (from %s): check the server's clock", p.product, p.lic.NotBeforeTime().Format(time.RFC3339))
	}
	if t >= p.end() {
		return errorf(CodeLicenseNotValid, "the pool license of %q ended on %s: the server needs a renewed license", p.product, time.Unix(p.end(), 0).UTC().Format(time.RFC3339))
	}
	return nil
}

func (p *pool) add(l *lease) {
	p.leases[l.client] = l
	p.held++
	if l.borrowed {
		p.borrowed++
	}
	for _, f := range l.features {
		if _, ok := p.lic.Pool.FeatureSeats[f]; ok {
			p.features[f]++
		}
	}
}

func (p *pool) remove(l *lease) {
	delete(p.leases, l.client)
	p.held--
	if l.borrowed {
		p.borrowed--
	}
	for _, f := range l.features {
		if _, ok := p.lic.Pool.FeatureSeats[f]; ok {
			p.features[f]--
		}
	}
}

// sweep drops the expired leases of p from memory and queues their
// deletion (not waited for: a lease found expired at load is skipped).
func (s *Server) sweep(p *pool, now int64) {
	var ids [][]byte
	for _, l := range p.leases {
		if l.expires <= now {
			p.remove(l)
			delete(s.byID, l.id)
			ids = append(ids, l.id[:])
		}
	}
	if len(ids) > 0 {
		stmts := make([]stmt, 0, len(ids)+1)
		for _, id := range ids {
			stmts = append(stmts, stmt{`DELETE FROM floating_leases WHERE id = ?`, []any{id}})
		}
		stmts = append(stmts, eventStmt(now, "expired", p.product, fmt.Sprintf("%d lease(s) expired", len(ids))))
		s.st.enqueue(stmts...)
		s.recordSeats(p, time.Unix(now, 0))
	}
}

// SweepInterval is how often expired leases are dropped in the
// background (a full pool also sweeps before it refuses anyone).
const SweepInterval = time.Second

func (s *Server) sweeper() {
	defer s.wg.Done()
	t := time.NewTicker(SweepInterval)
	defer t.Stop()
	for tick := 0; ; tick++ {
		select {
		case <-s.stop:
			return
		case <-t.C:
			now := s.now()
			s.mu.Lock()
			for _, p := range s.pools {
				s.sweep(p, now.Unix())
			}
			s.mu.Unlock()
			s.nonces.expire(now)
			if tick%10 == 0 {
				s.sweepShared(now.Unix())
			}
			if tick%LockCheckTicks == 0 {
				s.keepLock(now)
			}
			s.sampleShared(now)
			s.historyTick(now)
		}
	}
}

// LockCheckTicks: every this many sweeps, the server checks that its
// database connection still holds its advisory lock (keepLock).
const LockCheckTicks = 3

// keepLock takes the server's database lock again after a lost
// connection (store.keepLock), and stops the server's changes for good
// when another server took the database meanwhile: two servers counting
// seats in memory would grant a seat twice.
func (s *Server) keepLock(now time.Time) {
	ctx, cancel := context.WithTimeout(context.Background(), SharedTimeout)
	defer cancel()
	retaken, err := s.st.keepLock(ctx)
	switch {
	case errors.Is(err, ErrDatabaseTaken):
		s.st.taken.Store(true)
	case retaken:
		s.histLeader = false // the history's lock went with the connection
		_ = s.st.exec(eventStmt(now.Unix(), "database.reconnected", "", "the connection to the database was lost; the server's lock is taken again"))
	}
}

// CodeDatabaseTaken is the refusal of every change once another server
// took this server's database (ErrDatabaseTaken).
const CodeDatabaseTaken = "database_taken"

func (s *Server) checkTaken() error {
	if s.st.taken.Load() {
		return errorf(CodeDatabaseTaken, "%s: this server stops granting and changing anything; restart it once the other one is stopped", ErrDatabaseTaken)
	}
	return nil
}

func eventStmt(at int64, kind, product, detail string) stmt {
	return stmt{`INSERT INTO floating_events (at, kind, product, detail) VALUES (?, ?, ?, ?)`, []any{at, kind, product, detail}}
}

func upsertLease(l *lease) stmt {
	return stmt{`INSERT INTO floating_leases (id, product, features, client, host, issued, expires, borrowed) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET features = excluded.features, expires = excluded.expires, borrowed = excluded.borrowed, host = excluded.host`,
		[]any{l.id[:], l.product, strings.Join(l.features, ","), l.client[:], l.host, l.issued, l.expires, l.borrowed}}
}

// Grant is the answer to a seat operation.
type Grant struct {
	Token     []byte // the signed lease
	Lease     *Lease
	NextNonce []byte // a fresh nonce for the client's next call
}

// Nonce returns a fresh single-use nonce for a proof.
func (s *Server) Nonce() ([]byte, error) { return s.nonces.issue(s.rand, s.now()) }

// check parses a proof and consumes its nonce. It does not look at the
// operation's arguments.
func (s *Server) check(proof []byte, op string, c Credentials) (*Proof, *pool, error) {
	p, err := ParseProof(proof)
	if err != nil {
		return nil, nil, errorf(CodeProofInvalid, "the proof of the installation key does not verify")
	}
	if p.Op != op {
		return nil, nil, errorf(CodeProofInvalid, "the proof is for %q, not %q", p.Op, op)
	}
	if !bytes.Equal(p.Server, s.kid[:]) {
		return nil, nil, errorf(CodeWrongServer, "the proof is for another server")
	}
	if s.allowed != nil && !s.allowed[[32]byte(p.Client)] {
		return nil, nil, errorf(CodeClientNotAllowed, "installation %s is not on this server's list of allowed clients", crypto.KeyIDOf(p.Client))
	}
	if !s.nonces.use(p.Nonce, s.now()) {
		return nil, nil, errorf(CodeNonceInvalid, "the nonce is unknown, used or expired: ask for a new one")
	}
	s.mu.Lock()
	pl := s.pools[p.Product]
	s.mu.Unlock()
	if pl == nil {
		return nil, nil, errorf(CodeUnknownProduct, "this server holds no license for product %q", p.Product)
	}
	switch s.authMode() {
	case AuthLicenseKey:
		if subtle.ConstantTimeCompare([]byte(c.LicenseKey), []byte(pl.lic.LicenseKey)) != 1 {
			return nil, nil, errorf(CodeLicenseKey, "the license key is missing or wrong")
		}
	case AuthUsers:
		if _, err := s.checkToken(c.Bearer, RoleUser); err != nil {
			return nil, nil, err
		}
	}
	if op != OpRelease { // a seat goes back without the key
		if err := s.hw.check(pl, actionOf(p)); err != nil {
			return nil, nil, err
		}
	}
	return p, pl, nil
}

// Acquire takes a seat for the client that signed proof (OpAcquire) and
// returns its lease. A client that already holds a seat of the product
// gets it back, renewed, with the features it asks for now.
func (s *Server) Acquire(proof []byte, c Credentials) (*Grant, error) {
	p, pl, err := s.check(proof, OpAcquire, c)
	if err != nil {
		return nil, err
	}
	return s.take(p, pl, 0)
}

// Borrow takes a seat away until p.Borrow (OpBorrow): the lease needs no
// heartbeat and verifies with no server until then. A held seat becomes
// the borrowed one.
func (s *Server) Borrow(proof []byte, c Credentials) (*Grant, error) {
	p, pl, err := s.check(proof, OpBorrow, c)
	if err != nil {
		return nil, err
	}
	pol := pl.lic.Pool
	now := s.now().Unix()
	if pol.BorrowDays == 0 {
		return nil, errorf(CodeBorrowNotAllowed, "the pool license of %q does not allow borrowing", p.Product)
	}
	if p.Borrow <= now || p.Borrow > now+int64(pol.BorrowDays)*86400 {
		return nil, errorf(CodeBorrowTooLong, "a seat may be borrowed for up to %d days", pol.BorrowDays)
	}
	return s.take(p, pl, p.Borrow)
}

func (s *Server) take(p *Proof, pl *pool, borrowUntil int64) (*Grant, error) {
	pol := pl.lic.Pool
	for _, f := range p.Features {
		_, lf := pl.lic.Features[f]
		_, pf := pol.FeatureSeats[f]
		if !lf && !pf {
			return nil, errorf(CodeFeatureNotLicensed, "feature %q is not in the pool license of %q", f, p.Product)
		}
	}
	now := s.now()
	t := now.Unix()
	if err := pl.usable(t); err != nil {
		return nil, err
	}
	if err := s.grantGuard(pl, now); err != nil {
		return nil, err
	}
	if borrowUntil != 0 && borrowUntil > pl.end() {
		return nil, errorf(CodeBorrowTooLong, "a seat may be borrowed until the pool license ends (%s) at the latest", time.Unix(pl.end(), 0).UTC().Format(time.RFC3339))
	}
	if pl.shared {
		return s.takeShared(p, pl, borrowUntil)
	}
	var client [32]byte
	copy(client[:], p.Client)

	s.mu.Lock()
	old := pl.leases[client]
	if old != nil && old.expires <= t {
		s.sweep(pl, t)
		old = nil
	}
	if old != nil && old.borrowed && borrowUntil == 0 {
		// A borrowed seat stays borrowed until it is returned.
		l := *old
		s.mu.Unlock()
		return s.grant(pl, &l)
	}
	// Seats: the client's own lease counts as free for its new request.
	need := func() *Error {
		held, borrowed := pl.held, pl.borrowed
		if old != nil {
			held--
			if old.borrowed {
				borrowed--
			}
		}
		if held >= int(pol.Seats) {
			return errorf(CodeNoSeat, "all %d seats of %q are taken; try again later", pol.Seats, p.Product)
		}
		if borrowUntil != 0 {
			if borrowed >= int(borrowSlots(pol)) {
				return errorf(CodeBorrowLimit, "%d seats of %q are borrowed already, the most the pool license allows", borrowed, p.Product)
			}
		}
		for _, f := range p.Features {
			n, ok := pol.FeatureSeats[f]
			if !ok {
				continue
			}
			used := pl.features[f]
			if old != nil && slices.Contains(old.features, f) {
				used--
			}
			if used >= int(n) {
				return errorf(CodeFeatureSeats, "all %d seats of feature %q are taken", n, f)
			}
		}
		return nil
	}
	if e := need(); e != nil {
		s.sweep(pl, t)
		if old != nil && pl.leases[client] == nil {
			old = nil
		}
		if e = need(); e != nil {
			s.recordDenial(pl.product, e, fullFeatures(pl, p.Features, e), now)
			s.mu.Unlock()
			return nil, e
		}
	}
	l := &lease{client: client, product: p.Product, features: p.Features, host: p.Hostname, issued: t}
	if old != nil {
		l.id = old.id
		pl.remove(old)
	} else if _, err := io.ReadFull(s.rand, l.id[:]); err != nil {
		s.mu.Unlock()
		return nil, errorf(CodeInternal, "cannot read randomness")
	}
	if borrowUntil != 0 {
		l.expires, l.borrowed = borrowUntil, true
	} else {
		l.expires = min(t+int64(pol.LeaseTTL), pl.end())
	}
	pl.add(l)
	s.byID[l.id] = l
	s.recordGrant(pl, l, now)
	kind := "granted"
	if l.borrowed {
		kind = "borrowed"
	}
	wait := s.st.enqueue(upsertLease(l), eventStmt(t, kind, p.Product, hex.EncodeToString(l.id[:])))
	snapshot := *l
	s.mu.Unlock()
	return s.grantAfter(wait, pl, &snapshot)
}

// failed reloads the memory from the database after a failed commit (the
// memory may hold changes the database does not) and reports an internal
// error.
func (s *Server) failed(err error) error {
	if errors.Is(err, ErrDatabaseTaken) {
		return s.checkTaken() // nothing is written: nothing to reload
	}
	_ = s.load()
	return errorf(CodeInternal, "the server cannot write its database: %v", err)
}

// grantAfter signs the lease while its commit runs, and lets the token out
// only once the commit succeeded.
func (s *Server) grantAfter(wait chan error, pl *pool, l *lease) (*Grant, error) {
	g, gerr := s.grant(pl, l)
	if err := <-wait; err != nil {
		return nil, s.failed(err)
	}
	return g, gerr
}

// grant signs the lease l (a copy, made under the lock, of a committed
// lease).
func (s *Server) grant(pl *pool, l *lease) (*Grant, error) {
	ls := &Lease{
		Version: LeaseVersion, ID: l.id[:], Product: l.product, Features: l.features,
		Client: l.client[:], Issued: l.issued, Expires: l.expires, Borrowed: l.borrowed, License: pl.licBytes,
	}
	tok, err := SignLease(s.id, ls)
	if err != nil {
		return nil, errorf(CodeInternal, "cannot sign the lease: %v", err)
	}
	next, err := s.Nonce()
	if err != nil {
		return nil, err
	}
	return &Grant{Token: tok, Lease: ls, NextNonce: next}, nil
}

// Renew extends the client's lease by one lease TTL (OpRenew: the
// heartbeat). An expired lease is not renewed: the client acquires again.
func (s *Server) Renew(proof []byte, c Credentials) (*Grant, error) {
	p, pl, err := s.check(proof, OpRenew, c)
	if err != nil {
		return nil, err
	}
	if pl.shared {
		return s.renewShared(p, pl)
	}
	t := s.now().Unix()
	s.mu.Lock()
	l, err := s.held(p, pl, t)
	if err != nil {
		s.mu.Unlock()
		return nil, err
	}
	if l.borrowed {
		snapshot := *l
		s.mu.Unlock()
		return s.grant(pl, &snapshot)
	}
	if err := pl.usable(t); err != nil {
		s.mu.Unlock()
		return nil, err
	}
	l.expires = min(t+int64(pl.lic.Pool.LeaseTTL), pl.end())
	if l.issued > t {
		l.issued = t
	}
	wait := s.st.enqueue(stmt{`UPDATE floating_leases SET expires = ? WHERE id = ?`, []any{l.expires, l.id[:]}})
	snapshot := *l
	s.mu.Unlock()
	return s.grantAfter(wait, pl, &snapshot)
}

// held returns the live lease a proof names, held by its signer. Called
// with s.mu held.
func (s *Server) held(p *Proof, pl *pool, t int64) (*lease, error) {
	if len(p.Lease) != LeaseIDLen {
		return nil, errorf(CodeMalformed, "the proof names no lease")
	}
	l := s.byID[[LeaseIDLen]byte(p.Lease)]
	if l == nil || l.product != pl.product {
		return nil, errorf(CodeLeaseUnknown, "this server holds no lease %x: it was released, or expired and was dropped; acquire a seat again", p.Lease)
	}
	if !bytes.Equal(l.client[:], p.Client) {
		return nil, errorf(CodeNotHolder, "lease %x is held by another installation", p.Lease)
	}
	if l.expires <= t {
		return nil, errorf(CodeLeaseExpired, "lease %x expired on %s; acquire a seat again", p.Lease, time.Unix(l.expires, 0).UTC().Format(time.RFC3339))
	}
	return l, nil
}

// Release gives the client's seat back at once (OpRelease); for a
// borrowed seat this is the early return. It returns a fresh nonce.
func (s *Server) Release(proof []byte, c Credentials) ([]byte, error) {
	p, pl, err := s.check(proof, OpRelease, c)
	if err != nil {
		return nil, err
	}
	if pl.shared {
		if len(p.Lease) != LeaseIDLen {
			return nil, errorf(CodeMalformed, "the proof names no lease")
		}
		if err := s.releaseShared(p, pl, p.Lease, false); err != nil {
			return nil, err
		}
		return s.Nonce()
	}
	t := s.now().Unix()
	s.mu.Lock()
	l, err := s.held(p, pl, t)
	if err != nil {
		s.mu.Unlock()
		return nil, err
	}
	kind := "released"
	if l.borrowed {
		kind = "returned"
	}
	wait := s.removeLease(pl, l, t, kind)
	s.mu.Unlock()
	if err := <-wait; err != nil {
		return nil, s.failed(err)
	}
	return s.Nonce()
}

// removeLease drops l; called with s.mu held.
func (s *Server) removeLease(pl *pool, l *lease, t int64, kind string) chan error {
	pl.remove(l)
	delete(s.byID, l.id)
	s.recordSeats(pl, s.now())
	return s.st.enqueue(stmt{`DELETE FROM floating_leases WHERE id = ?`, []any{l.id[:]}}, eventStmt(t, kind, pl.product, hex.EncodeToString(l.id[:])))
}

// ForceRelease drops a lease on the admin's word. The client's token
// stays valid until it expires (it is signed); its seat counts again at
// once. Use it for seats whose holder is known to be gone.
func (s *Server) ForceRelease(id []byte) error {
	if len(id) != LeaseIDLen {
		return errorf(CodeMalformed, "a lease id is %d bytes (%d hex digits)", LeaseIDLen, 2*LeaseIDLen)
	}
	s.mu.Lock()
	l := s.byID[[LeaseIDLen]byte(id)]
	if l == nil {
		s.mu.Unlock()
		return s.forceReleaseShared(id)
	}
	pl := s.pools[l.product]
	s.mu.Unlock()
	if err := s.hw.check(pl, "releasing a lease on the admin's word"); err != nil {
		return err
	}
	s.mu.Lock()
	if l = s.byID[[LeaseIDLen]byte(id)]; l == nil {
		s.mu.Unlock()
		return errorf(CodeLeaseUnknown, "this server holds no lease %x", id)
	}
	wait := s.removeLease(s.pools[l.product], l, s.now().Unix(), "force-released")
	s.mu.Unlock()
	if err := <-wait; err != nil {
		return s.failed(err)
	}
	return nil
}

// Consumption is a counter after a consumption.
type Consumption struct {
	Product string `json:"product"`
	Feature string `json:"feature,omitempty"`
	Used    uint64 `json:"used"`
	Max     uint64 `json:"max"`
	Overage uint64 `json:"overage_allowed"`
	// OverageUsed is how far Used is beyond Max.
	OverageUsed uint64 `json:"overage_used"`
}

// Consume adds p.Amount to the license's counter or to p.Feature's
// (OpConsume). A consumption that would take the counter past its cap
// (allowance plus overage) is refused whole: nothing is counted.
func (s *Server) Consume(proof []byte, c Credentials) (*Consumption, []byte, error) {
	p, pl, err := s.check(proof, OpConsume, c)
	if err != nil {
		return nil, nil, err
	}
	if p.Amount == 0 || p.Amount > 1<<53 {
		return nil, nil, errorf(CodeBadAmount, "a consumption is 1 to 2^53 units")
	}
	var a *response.Allowance
	if p.Feature == "" {
		a = pl.lic.Pool.Consumption
	} else if fa, ok := pl.lic.Pool.FeatureConsumption[p.Feature]; ok {
		a = &fa
	}
	if a == nil {
		if p.Feature == "" {
			return nil, nil, errorf(CodeUnknownCounter, "the pool license of %q allows no consumption", p.Product)
		}
		return nil, nil, errorf(CodeUnknownCounter, "the pool license of %q allows no consumption of feature %q", p.Product, p.Feature)
	}
	used, err := s.consume(p, pl, a)
	if err != nil {
		return nil, nil, err
	}
	out := &Consumption{Product: p.Product, Feature: p.Feature, Used: used, Max: a.Max, Overage: a.Overage}
	if used > a.Max {
		out.OverageUsed = used - a.Max
	}
	next, err := s.Nonce()
	return out, next, err
}

// consume counts p.Amount on the counter capped by a and returns its new
// value.
func (s *Server) consume(p *Proof, pl *pool, a *response.Allowance) (uint64, error) {
	if pl.shared {
		return s.consumeShared(p, pl, a)
	}
	t := s.now().Unix()
	s.mu.Lock()
	used := pl.counters[p.Feature]
	if used+p.Amount < used || used+p.Amount > a.Cap() {
		s.mu.Unlock()
		return 0, errorf(CodeConsumptionCap, "consuming %d would take the counter to %d, past its allowance of %s; nothing was counted", p.Amount, used+p.Amount, a)
	}
	used += p.Amount
	pl.counters[p.Feature] = used
	s.recordConsumed(p.Product, p.Feature, p.Amount, time.Unix(t, 0))
	wait := s.st.enqueue(
		stmt{`INSERT INTO floating_counters (product, feature, used) VALUES (?, ?, ?) ON CONFLICT (product, feature) DO UPDATE SET used = excluded.used`, []any{p.Product, p.Feature, int64(used)}},
		eventStmt(t, "consumed", p.Product, fmt.Sprintf("%s +%d", p.Feature, p.Amount)))
	s.mu.Unlock()
	if err := <-wait; err != nil {
		return 0, s.failed(err)
	}
	return used, nil
}

// LeaseInfo describes a held lease, for the admin.
type LeaseInfo struct {
	ID       string    `json:"id"`
	Product  string    `json:"product"`
	Features []string  `json:"features,omitempty"`
	Client   string    `json:"client"` // installation key id
	Host     string    `json:"host,omitempty"`
	Issued   time.Time `json:"issued"`
	Expires  time.Time `json:"expires"`
	Borrowed bool      `json:"borrowed,omitempty"`
	// Node is the key id of the node that granted or last renewed it, on a
	// pool served by several nodes.
	Node string `json:"node,omitempty"`
}

// PoolStatus describes one product's pool.
type PoolStatus struct {
	Product      string            `json:"product"`
	LicenseKey   string            `json:"license_key"`
	Licensee     string            `json:"licensee"`
	Pool         string            `json:"pool"`
	Seats        uint32            `json:"seats"`
	Held         int               `json:"held"`
	Borrowed     int               `json:"borrowed"`
	FeatureSeats map[string]int    `json:"feature_seats_held,omitempty"`
	Counters     map[string]uint64 `json:"consumption,omitempty"`
	Expires      *time.Time        `json:"expires,omitempty"`
	HardwareKey  string            `json:"hardware_key,omitempty"` // the key the pool is bound to (KeyLabel)
	// Nodes is how many nodes serve the pool from one shared database (0:
	// this server alone); the counts are the database's, for every node.
	Nodes int `json:"nodes,omitempty"`
	// Error says why the counts could not be read (a shared pool whose
	// database is unreachable).
	Error string `json:"error,omitempty"`
	// ReportDue and GrantsStop: when the pool license wants its next usage
	// report answered, and when grants stop without it (report_overdue).
	ReportDue  *time.Time `json:"report_due,omitempty"`
	GrantsStop *time.Time `json:"grants_stop,omitempty"`
}

// Status describes every pool, expired leases swept first.
func (s *Server) Status() []PoolStatus {
	t := s.now().Unix()
	s.mu.Lock()
	out := make([]PoolStatus, 0, len(s.pools))
	shared := map[int]*response.License{} // index in out -> the shared pool's license
	for _, pl := range s.pools {
		s.sweep(pl, t)
		ps := PoolStatus{Product: pl.product, LicenseKey: pl.lic.LicenseKey, Licensee: pl.lic.Licensee, Pool: pl.lic.Pool.String(),
			Seats: pl.lic.Pool.Seats, Held: pl.held, Borrowed: pl.borrowed}
		if len(pl.features) > 0 {
			ps.FeatureSeats = maps(pl.features)
		}
		if len(pl.counters) > 0 {
			ps.Counters = maps(pl.counters)
		}
		if pl.lic.Expires != 0 {
			e := pl.lic.ExpiresTime()
			ps.Expires = &e
		}
		if hk := pl.lic.Binding.HardwareKey; hk != nil {
			ps.HardwareKey = KeyLabel(hk)
		}
		if pl.shared {
			shared[len(out)] = pl.lic
		}
		if due, stop := ReportDue(pl.lic); !due.IsZero() {
			ps.ReportDue, ps.GrantsStop = &due, &stop
		}
		out = append(out, ps)
	}
	s.mu.Unlock()
	// A shared pool's counts are the database's, read without the lock.
	for i, lic := range shared {
		ctx, cancel := context.WithTimeout(context.Background(), SharedTimeout)
		if err := s.statusShared(ctx, lic, &out[i], t); err != nil {
			out[i].Error = "the shared database cannot be read: " + err.Error()
		}
		cancel()
	}
	if err := s.checkTaken(); err != nil {
		for i := range out {
			out[i].Error = err.(*Error).Message
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Product < out[j].Product })
	return out
}

func maps[V any](m map[string]V) map[string]V {
	out := make(map[string]V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Leases lists the live leases, by product then expiry.
func (s *Server) Leases() []LeaseInfo {
	t := s.now().Unix()
	s.mu.Lock()
	out := make([]LeaseInfo, 0, len(s.byID))
	for _, l := range s.byID {
		if l.expires <= t {
			continue
		}
		out = append(out, LeaseInfo{ID: hex.EncodeToString(l.id[:]), Product: l.product, Features: l.features,
			Client: crypto.KeyIDOf(l.client[:]).String(), Host: l.host, Issued: time.Unix(l.issued, 0).UTC(),
			Expires: time.Unix(l.expires, 0).UTC(), Borrowed: l.borrowed})
	}
	var shared []string
	for _, pl := range s.sharedPools() {
		shared = append(shared, pl.product)
	}
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), SharedTimeout)
	if more, err := s.leasesShared(ctx, shared, t); err == nil {
		out = append(out, more...)
	}
	cancel()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Product != out[j].Product {
			return out[i].Product < out[j].Product
		}
		return out[i].Expires.Before(out[j].Expires)
	})
	return out
}

// Licenses returns the pool licenses' signed bytes, by product.
func (s *Server) Licenses() map[string][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string][]byte, len(s.pools))
	for p, pl := range s.pools {
		out[p] = pl.licBytes
	}
	return out
}

// nonceSet holds the nonces handed out and not yet used, in memory only:
// a restart forgets them all, so no proof can be replayed across one.
type nonceSet struct {
	mu sync.Mutex
	m  map[[NonceLen]byte]int64 // nonce -> expiry (Unix seconds)
}

// Nonce limits.
const (
	NonceTTL  = 2 * time.Minute
	MaxNonces = 1 << 20
)

func (n *nonceSet) init() { n.m = map[[NonceLen]byte]int64{} }

func (n *nonceSet) issue(r io.Reader, now time.Time) ([]byte, error) {
	var b [NonceLen]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return nil, errorf(CodeInternal, "cannot read randomness")
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.m) >= MaxNonces {
		n.expireLocked(now)
		if len(n.m) >= MaxNonces {
			return nil, errorf(CodeBusy, "too many nonces are outstanding; try again shortly")
		}
	}
	n.m[b] = now.Add(NonceTTL).Unix()
	return b[:], nil
}

func (n *nonceSet) use(b []byte, now time.Time) bool {
	if len(b) != NonceLen {
		return false
	}
	k := [NonceLen]byte(b)
	n.mu.Lock()
	defer n.mu.Unlock()
	exp, ok := n.m[k]
	if !ok {
		return false
	}
	delete(n.m, k)
	return exp > now.Unix()
}

func (n *nonceSet) expire(now time.Time) {
	n.mu.Lock()
	n.expireLocked(now)
	n.mu.Unlock()
}

func (n *nonceSet) expireLocked(now time.Time) {
	t := now.Unix()
	for k, exp := range n.m {
		if exp <= t {
			delete(n.m, k)
		}
	}
}
