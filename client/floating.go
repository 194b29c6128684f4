package client

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/floating"
	"github.com/airlock-offline/airlock/internal/atomicfile"
	"github.com/airlock-offline/airlock/response"
	"github.com/airlock-offline/airlock/result"
)

// Floating takes seats from floating license servers (airlock-server).
// Every lease it gets is verified from VendorKeys alone before it is
// returned, and the server's TLS key must be the key its pool license
// names: no certificate authority is involved.
type Floating struct {
	// Servers are the server addresses, tried in order: "host:port"
	// (HTTPS) or a URL ("https://host:port"; "http://" only where TLS is
	// done elsewhere).
	Servers      []string
	Product      string
	VendorKeys   []*crypto.Public
	Installation *crypto.Identity // signs the proofs
	Features     []string         // features to take seats of
	LicenseKey   string           // for servers in authentication mode license-key
	Bearer       string           // for servers in authentication mode users
	Hostname     string           // shown to the server's admin; "" sends none
	// RootCAs, when set, makes the client accept an organisation's own
	// server certificate that chains to them, instead of the server-key
	// certificate alone.
	RootCAs *x509.CertPool
	Now     func() time.Time // nil means time.Now
	Timeout time.Duration    // per call; 0 means 10 s
	// Skew is tolerated between the server's clock and this machine's on
	// a lease's issue time; 0 means DefaultSkew.
	Skew time.Duration

	mu    sync.Mutex
	conns map[string]*serverConn
	known *response.Signed // the pool license last verified
}

// Seat is a verified lease.
type Seat struct {
	Token     []byte
	Lease     *floating.Lease
	License   *response.License // the pool license, verified
	Server    string            // the server that granted it
	Heartbeat time.Duration     // how often to renew
}

// Expires is when the seat ends unless renewed.
func (s *Seat) Expires() time.Time { return s.Lease.ExpiresTime() }

type serverConn struct {
	base  string
	http  *http.Client
	key   ed25519.PublicKey // the server key, once certified by a pool license
	mu    sync.Mutex
	nonce []byte // the next nonce the server handed out, if any
}

func (f *Floating) now() time.Time {
	if f.Now != nil {
		return f.Now()
	}
	return time.Now()
}

func (f *Floating) conn(addr string) *serverConn {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.conns == nil {
		f.conns = map[string]*serverConn{}
	}
	if c := f.conns[addr]; c != nil {
		return c
	}
	base := addr
	if !strings.Contains(base, "://") {
		base = "https://" + base
	}
	base = strings.TrimSuffix(base, "/")
	c := &serverConn{base: base}
	tcfg := &tls.Config{MinVersion: tls.VersionTLS13}
	if f.RootCAs != nil {
		tcfg.RootCAs = f.RootCAs
	} else {
		// The certificate is checked by key, against the pool license, in
		// VerifyConnection; its chain and names mean nothing here.
		tcfg.InsecureSkipVerify = true
		tcfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("the server sent no certificate")
			}
			pub, ok := cs.PeerCertificates[0].PublicKey.(ed25519.PublicKey)
			if !ok {
				return errors.New("the server's certificate does not carry an Ed25519 server key")
			}
			c.mu.Lock()
			key := c.key
			c.mu.Unlock()
			if key != nil && !key.Equal(pub) {
				return fmt.Errorf("the server's key %s is not the key its pool license names", crypto.KeyIDOf(pub))
			}
			return nil
		}
	}
	timeout := f.Timeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	c.http = &http.Client{Timeout: timeout, Transport: &http.Transport{TLSClientConfig: tcfg, MaxIdleConnsPerHost: 4, ForceAttemptHTTP2: false}}
	f.conns[addr] = c
	return c
}

// call posts body (nil: GET) to path on c and decodes the answer into out.
// A coded refusal comes back as *floating.Error.
func (f *Floating) call(ctx context.Context, c *serverConn, method, path string, body, out any) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+floating.APIPrefix+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	// Credentials go only to a server whose key a pool license certified
	// (not to /info, which is how the key gets certified).
	c.mu.Lock()
	certified := c.key != nil
	c.mu.Unlock()
	if certified {
		if f.LicenseKey != "" {
			req.Header.Set(floating.LicenseKeyHeader, f.LicenseKey)
		}
		if f.Bearer != "" {
			req.Header.Set("Authorization", "Bearer "+f.Bearer)
		}
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, &netError{server: c.base, err: err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 256<<10))
	if err != nil {
		return nil, &netError{server: c.base, err: err}
	}
	if resp.StatusCode != http.StatusOK {
		fe := new(floating.Error)
		if json.Unmarshal(data, fe) != nil || fe.Code == "" {
			return nil, &netError{server: c.base, err: fmt.Errorf("unexpected answer %s", resp.Status)}
		}
		return resp, fe
	}
	if err := json.Unmarshal(data, out); err != nil {
		return nil, &netError{server: c.base, err: fmt.Errorf("unreadable answer: %w", err)}
	}
	return resp, nil
}

// failover reports whether err sends the call on to the next server: a
// server that could not be reached or answered nonsense, or a server
// error (5xx: its database is down, its license not valid now) that
// another node of the pool may not have; and a node whose pool is bound
// to a hardware key that is not plugged into it (hardware_key_*): another
// node may hold the key.
func failover(err error) bool {
	var ne *netError
	var fe *floating.Error
	if !errors.As(err, &fe) {
		return errors.As(err, &ne)
	}
	switch fe.Code {
	case floating.CodeHWKeyNotAccessible, floating.CodeHWKeyMismatch, floating.CodeHWKeyProofFailed:
		return true
	}
	return fe.Status >= 500
}

// netError is a server that could not be reached or answered nonsense:
// the next server is tried.
type netError struct {
	server string
	err    error
}

func (e *netError) Error() string { return fmt.Sprintf("server %s: %v", e.server, e.err) }
func (e *netError) Unwrap() error { return e.err }

// pin fetches the server's pool license for the product, verifies it, and
// pins the server key it names (checked against this connection's TLS key).
func (f *Floating) pin(ctx context.Context, c *serverConn) (*response.License, error) {
	var info floating.InfoResponse
	resp, err := f.call(ctx, c, http.MethodGet, "/info", nil, &info)
	if err != nil {
		return nil, err
	}
	for _, p := range info.Products {
		if p.Product != f.Product {
			continue
		}
		lic, _, err := response.Parse(p.License, f.VendorKeys...)
		if err != nil {
			return nil, err
		}
		if lic.Pool == nil || lic.Product != f.Product {
			return nil, result.New(result.Malformed, "the server's license is not a pool license for "+f.Product)
		}
		// The server's key: the one its pool license names, or, on a pool
		// served by several nodes, the node's among those it names.
		var key ed25519.PublicKey
		if f.RootCAs == nil {
			if resp.TLS == nil || len(resp.TLS.PeerCertificates) == 0 {
				return nil, &netError{server: c.base, err: errors.New("no TLS: the server's key cannot be checked")}
			}
			if pub, _ := resp.TLS.PeerCertificates[0].PublicKey.(ed25519.PublicKey); pub != nil && lic.IsServerKey(pub) {
				key = pub
			} else {
				return nil, &netError{server: c.base, err: errors.New("the server's TLS key is not a key its pool license names")}
			}
		} else {
			for _, k := range lic.ServerKeys() {
				if crypto.KeyIDOf(k).String() == info.ServerKeyID || len(lic.ServerKeys()) == 1 {
					key = k
				}
			}
			if key == nil {
				return nil, &netError{server: c.base, err: errors.New("the server's key is not a key its pool license names")}
			}
		}
		c.mu.Lock()
		c.key = key
		c.mu.Unlock()
		return lic, nil
	}
	return nil, &floating.Error{Code: floating.CodeUnknownProduct, Message: fmt.Sprintf("the server holds no license for product %q", f.Product), Status: 404}
}

// nonce returns the nonce to sign for c: the one its last answer carried,
// or a fresh one.
func (f *Floating) nonce(ctx context.Context, c *serverConn) ([]byte, error) {
	c.mu.Lock()
	n := c.nonce
	c.nonce = nil
	key := c.key
	c.mu.Unlock()
	if key == nil {
		if _, err := f.pin(ctx, c); err != nil {
			return nil, err
		}
	}
	if n != nil {
		return n, nil
	}
	var r floating.NonceResponse
	if _, err := f.call(ctx, c, http.MethodPost, "/nonce", struct{}{}, &r); err != nil {
		return nil, err
	}
	return r.Nonce, nil
}

func (c *serverConn) keep(n []byte) {
	c.mu.Lock()
	c.nonce = n
	c.mu.Unlock()
}

// proof builds and signs a proof for c.
func (f *Floating) proof(ctx context.Context, c *serverConn, p *floating.Proof) (*floating.ProofRequest, error) {
	if f.Installation == nil {
		return nil, errors.New("no installation key to prove")
	}
	n, err := f.nonce(ctx, c)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	kid := crypto.KeyIDOf(c.key)
	c.mu.Unlock()
	p.Nonce, p.Server, p.Product, p.Hostname = n, kid[:], f.Product, f.Hostname
	b, err := floating.SignProof(f.Installation, p)
	if err != nil {
		return nil, err
	}
	return &floating.ProofRequest{Proof: b}, nil
}

// each runs op on the servers in order (first) and returns the first
// answer that is not a network failure. A stale nonce is retried once
// with a fresh one.
func (f *Floating) each(ctx context.Context, first string, op func(c *serverConn) error) error {
	if len(f.Servers) == 0 {
		return errors.New("no floating server address is configured")
	}
	order := f.Servers
	if first != "" && slices.Contains(order, first) {
		order = append([]string{first}, slices.DeleteFunc(slices.Clone(order), func(s string) bool { return s == first })...)
	}
	var errs []error
	for _, addr := range order {
		c := f.conn(addr)
		err := op(c)
		if floating.IsCode(err, floating.CodeNonceInvalid) {
			err = op(c)
		}
		if err == nil || !failover(err) {
			return err
		}
		errs = append(errs, err)
	}
	return fmt.Errorf("no floating server answered: %w", errors.Join(errs...))
}

func (f *Floating) seat(addr string, r *floating.LeaseResponse) (*Seat, error) {
	f.mu.Lock()
	known := f.known
	f.mu.Unlock()
	l, lic, err := floating.VerifyLease(r.Lease, &floating.LeaseExpect{
		VendorKeys: f.VendorKeys, Product: f.Product, Installation: f.Installation.Public(), Now: f.now(), Skew: f.skew(), Known: known,
	})
	if err != nil {
		return nil, err
	}
	if known == nil || !bytes.Equal(known.Bytes, l.License) {
		f.mu.Lock()
		f.known = &response.Signed{License: lic, Bytes: l.License}
		f.mu.Unlock()
	}
	hb := time.Duration(lic.Pool.Heartbeat) * time.Second
	return &Seat{Token: r.Lease, Lease: l, License: lic, Server: addr, Heartbeat: hb}, nil
}

func (f *Floating) skew() time.Duration {
	if f.Skew == 0 {
		return DefaultSkew
	}
	return f.Skew
}

func (f *Floating) leaseOp(ctx context.Context, first, path string, p func() *floating.Proof) (*Seat, error) {
	var seat *Seat
	err := f.each(ctx, first, func(c *serverConn) error {
		req, err := f.proof(ctx, c, p())
		if err != nil {
			return err
		}
		var r floating.LeaseResponse
		if _, err := f.call(ctx, c, http.MethodPost, path, req, &r); err != nil {
			return err
		}
		c.keep(r.NextNonce)
		seat, err = f.seat(f.addrOf(c), &r)
		return err
	})
	return seat, err
}

func (f *Floating) addrOf(c *serverConn) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	for a, x := range f.conns {
		if x == c {
			return a
		}
	}
	return ""
}

func sortedFeatures(fs []string) []string {
	out := slices.Clone(fs)
	slices.Sort(out)
	return slices.Compact(out)
}

// Connect reaches the first server that answers, checks its pool
// license and key, and fetches a nonce, so that the next call is one round
// trip. It is optional: every call connects when it must.
func (f *Floating) Connect(ctx context.Context) error {
	return f.each(ctx, "", func(c *serverConn) error {
		n, err := f.nonce(ctx, c)
		if err == nil {
			c.keep(n)
		}
		return err
	})
}

// Acquire takes a seat (and a seat of each of Features' pools). A refusal
// is a *floating.Error: CodeNoSeat when every seat is taken.
func (f *Floating) Acquire(ctx context.Context) (*Seat, error) {
	return f.leaseOp(ctx, "", "/leases/acquire", func() *floating.Proof {
		return &floating.Proof{Op: floating.OpAcquire, Features: sortedFeatures(f.Features)}
	})
}

// Renew renews a seat (the heartbeat), on the server that granted it
// first.
func (f *Floating) Renew(ctx context.Context, s *Seat) (*Seat, error) {
	return f.leaseOp(ctx, s.Server, "/leases/renew", func() *floating.Proof {
		return &floating.Proof{Op: floating.OpRenew, Lease: s.Lease.ID}
	})
}

// Borrow takes a seat away until until (at most the pool's borrow days):
// the lease verifies with no server until then.
func (f *Floating) Borrow(ctx context.Context, until time.Time) (*Seat, error) {
	return f.leaseOp(ctx, "", "/leases/borrow", func() *floating.Proof {
		return &floating.Proof{Op: floating.OpBorrow, Features: sortedFeatures(f.Features), Borrow: until.Unix()}
	})
}

// Release gives a seat back at once; for a borrowed seat it is the early
// return.
func (f *Floating) Release(ctx context.Context, s *Seat) error {
	return f.each(ctx, s.Server, func(c *serverConn) error {
		req, err := f.proof(ctx, c, &floating.Proof{Op: floating.OpRelease, Lease: s.Lease.ID})
		if err != nil {
			return err
		}
		var r floating.NonceResponse
		if _, err := f.call(ctx, c, http.MethodPost, "/leases/release", req, &r); err != nil {
			return err
		}
		c.keep(r.Nonce)
		return nil
	})
}

// Login logs a user in (servers in authentication mode users) and returns
// a bearer token for Bearer. The password goes only to a server whose key
// the product's pool license certifies.
func (f *Floating) Login(ctx context.Context, user, password string) (*floating.LoginResponse, error) {
	var out *floating.LoginResponse
	err := f.each(ctx, "", func(c *serverConn) error {
		c.mu.Lock()
		pinned := c.key != nil
		c.mu.Unlock()
		if !pinned {
			if _, err := f.pin(ctx, c); err != nil {
				return err
			}
		}
		var r floating.LoginResponse
		if _, err := f.call(ctx, c, http.MethodPost, "/login", &floating.LoginRequest{Username: user, Password: password}, &r); err != nil {
			return err
		}
		out = &r
		return nil
	})
	return out, err
}

// Return gives a borrowed seat back before its borrow end (the seed's
// early return): the server counts it free at once.
func (f *Floating) Return(ctx context.Context, s *Seat) error { return f.Release(ctx, s) }

// FeatureRegister takes a seat of each named feature's own pool, with the
// product seat they come with (the seed's featureRegister); the seat's
// lease names the features. It is Acquire with Features set to features.
func (f *Floating) FeatureRegister(ctx context.Context, features ...string) (*Seat, error) {
	want := sortedFeatures(features)
	return f.leaseOp(ctx, "", "/leases/acquire", func() *floating.Proof {
		return &floating.Proof{Op: floating.OpAcquire, Features: want}
	})
}

// Consume adds amount to the license's consumption counter (feature "")
// or to a feature's. Over the cap, nothing is counted and the error has
// code CodeConsumptionCap.
func (f *Floating) Consume(ctx context.Context, feature string, amount uint64) (*floating.Consumption, error) {
	var out *floating.Consumption
	err := f.each(ctx, "", func(c *serverConn) error {
		req, err := f.proof(ctx, c, &floating.Proof{Op: floating.OpConsume, Feature: feature, Amount: amount})
		if err != nil {
			return err
		}
		var r floating.ConsumeResponse
		if _, err := f.call(ctx, c, http.MethodPost, "/consumptions", req, &r); err != nil {
			return err
		}
		c.keep(r.NextNonce)
		out = &r.Consumption
		return nil
	})
	return out, err
}

// Hold acquires a seat and renews it in the background every heartbeat
// until ctx ends or Close; Close releases it. onError, if set, hears of
// failed renewals (the seat stays usable until it expires).
func (f *Floating) Hold(ctx context.Context, onError func(error)) (*Held, error) {
	s, err := f.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	h := &Held{f: f, seat: s, cancel: cancel, done: make(chan struct{})}
	go h.loop(ctx, onError)
	return h, nil
}

// Held is a seat renewed in the background.
type Held struct {
	f      *Floating
	mu     sync.Mutex
	seat   *Seat
	cancel context.CancelFunc
	done   chan struct{}
}

// Seat returns the current seat.
func (h *Held) Seat() *Seat {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.seat
}

func (h *Held) loop(ctx context.Context, onError func(error)) {
	defer close(h.done)
	for {
		s := h.Seat()
		wait := s.Heartbeat
		if wait <= 0 {
			wait = time.Minute
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		ns, err := h.f.Renew(ctx, s)
		if floating.IsCode(err, floating.CodeLeaseUnknown) || floating.IsCode(err, floating.CodeLeaseExpired) {
			ns, err = h.f.Acquire(ctx)
		}
		if err != nil {
			if onError != nil && ctx.Err() == nil {
				onError(err)
			}
			continue
		}
		h.mu.Lock()
		h.seat = ns
		h.mu.Unlock()
	}
}

// Close stops renewing and releases the seat.
func (h *Held) Close(ctx context.Context) error {
	h.cancel()
	<-h.done
	return h.f.Release(ctx, h.Seat())
}

// Lease files: a seat kept in the state directory, so that Verify accepts
// it as the product's license while it lasts.

func (s *State) leasePath(product string) string {
	return s.path("leases", strings.TrimSuffix(productFile(product), ".lic")+".lease")
}

// StoreLease keeps a lease token for product, atomically.
func (s *State) StoreLease(product string, token []byte) error {
	if err := os.MkdirAll(s.path("leases"), 0o700); err != nil {
		return err
	}
	return atomicfile.Write(s.leasePath(product), []byte(base64.StdEncoding.EncodeToString(token)+"\n"), 0o600)
}

// Lease returns the stored lease token of product, or an error with code
// NOT_ACTIVATED.
func (s *State) Lease(product string) ([]byte, error) {
	b, err := readSmall(s.leasePath(product))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, result.New(result.NotActivated, fmt.Sprintf("product %q holds no floating seat on this machine", product))
	}
	if err != nil {
		return nil, result.Wrap(result.Internal, "cannot read the stored lease", err)
	}
	tok, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, result.New(result.Malformed, "the stored lease is damaged")
	}
	return tok, nil
}

func (s *State) serversPath(product string) string {
	return s.path("leases", strings.TrimSuffix(productFile(product), ".lic")+".servers")
}

// MaxServers bounds a stored server list.
const MaxServers = 16

// StoreServers keeps the floating servers (the nodes of a pool) a seat of
// product came from, one address a line, so that later calls find them.
func (s *State) StoreServers(product string, servers []string) error {
	if len(servers) > MaxServers {
		servers = servers[:MaxServers]
	}
	if err := os.MkdirAll(s.path("leases"), 0o700); err != nil {
		return err
	}
	return atomicfile.Write(s.serversPath(product), []byte(strings.Join(servers, "\n")+"\n"), 0o600)
}

// Servers returns the stored server list of product (none: nil).
func (s *State) Servers(product string) ([]string, error) {
	b, err := readSmall(s.serversPath(product))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, result.Wrap(result.Internal, "cannot read the stored server list", err)
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if line = strings.TrimSpace(line); line != "" && len(out) < MaxServers {
			out = append(out, line)
		}
	}
	return out, nil
}

// RemoveLease forgets the stored lease of product.
func (s *State) RemoveLease(product string) error {
	err := os.Remove(s.leasePath(product))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// verifyLease is Verify for a product that holds a floating seat instead
// of a node-locked license: the stored lease must verify from the vendor
// keys, name this installation, and be current. It returns the pool
// license as the product's license, narrowed to the lease: its lease ends
// with the seat, and features with their own seat pools are those the
// lease names.
func (v *Verifier) verifyLease(st *State, now time.Time) (*response.License, error) {
	tok, err := st.Lease(v.Product)
	if err != nil {
		return nil, err
	}
	inst, err := st.InstallationPublic()
	if err != nil {
		return nil, result.Wrap(result.NotActivated, fmt.Sprintf("product %q is not activated on this machine", v.Product), err)
	}
	if err := v.checkClock(st, now); err != nil {
		return nil, err
	}
	l, lic, err := floating.VerifyLease(tok, &floating.LeaseExpect{VendorKeys: v.VendorKeys, Product: v.Product, Installation: inst, Now: now, Skew: v.skew()})
	if err != nil {
		return nil, err
	}
	out := *lic
	out.LeaseUntil = l.Expires
	out.Features = map[string]uint64{}
	for name, n := range lic.Features {
		if _, pooled := lic.Pool.FeatureSeats[name]; !pooled {
			out.Features[name] = n
		}
	}
	for _, name := range l.Features {
		out.Features[name] = lic.Features[name]
	}
	return &out, nil
}
