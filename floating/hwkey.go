package floating

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/airlock-offline/airlock/dongle"
	"github.com/airlock-offline/airlock/request"
)

// Hardware-key pools.
//
// A pool license bound to a hardware key (airlock-server request
// --hardware-key; the seed's isHWKeyReq) is served only while that key is
// here and proves itself. The server watches the readers (a cheap look at
// the smart card service every KeyPollInterval: which reader has a card,
// and its count of insertions and removals, no card I/O) and has the key
// sign a fresh challenge at least every ProofInterval and after every
// insertion or removal. Every action on such a pool checks that state
// first: a valid proof not older than the interval and no reader event
// since (a few nanoseconds); else the action proves the key itself.

// DefaultProofInterval is how old a hardware key's proof may be before an
// action on its pool has the key prove itself again
// (--hardware-key-proof-interval).
const DefaultProofInterval = 30 * time.Second

// KeyPollInterval is how often the server looks at the readers.
const KeyPollInterval = 100 * time.Millisecond

// keyRetry is how long a failed proof stands, unless the readers change,
// before an action tries the key again.
const keyRetry = time.Second

// Error codes of hardware-key pools (HTTP 400, as the seed answers).
const (
	CodeHWKeyNotAccessible = "hardware_key_not_accessible"
	CodeHWKeyMismatch      = "hardware_key_mismatch"
	CodeHWKeyProofFailed   = "hardware_key_proof_failed"
)

// Kinds of the server's events about its hardware key (table
// floating_events, one row per product bound to the key).
const (
	EventHWKeyPresent     = "hwkey.present"
	EventHWKeyMissing     = "hwkey.missing"
	EventHWKeyProofFailed = "hwkey.proof_failed"
	EventHWKeyMismatch    = "hwkey.mismatch"
)

// HardwareKeyStatus is the state of the hardware key the server's pool
// licenses are bound to.
type HardwareKeyStatus struct {
	// Required: at least one pool license is bound to a hardware key.
	Required bool `json:"required"`
	// Present: the key is here and its last proof holds.
	Present bool   `json:"present"`
	Serial  string `json:"serial,omitempty"` // "openpgp:FFFE0A0B0C0D"
	Reader  string `json:"reader,omitempty"`
	// LastProof is when the key last proved itself (zero: never).
	LastProof time.Time `json:"last_proof,omitzero"`
	// Code is the last failure's code, "" after a good proof.
	Code string `json:"code,omitempty"`
	// Reason says what the last failure was, in words.
	Reason string `json:"reason,omitempty"`
	// Holder, when another program holds the reader, says how to find it.
	Holder string `json:"holder,omitempty"`
	// Products are the pool licenses bound to the key.
	Products []string `json:"products,omitempty"`
}

// KeySource is how the server reaches hardware keys: the smart card
// service through package dongle (DongleKeys), or a fake in tests.
type KeySource interface {
	// Readers lists the readers, whether a card is in each and each
	// reader's event count. It must be cheap: no card I/O.
	Readers() ([]dongle.Reader, error)
	// Prove has the card of kind and serial sign challenge. With reader
	// set (where the key proved itself last), it asks the card in that
	// reader straight away, and the caller's check of the signature tells
	// whether it is the key; with reader "", it finds the card in any
	// reader first. It returns the reader and the signature; a card that
	// cannot prove (a generic card) returns alg 0 and no signature.
	Prove(kind dongle.Kind, serial []byte, reader string, challenge []byte) (string, dongle.Algorithm, []byte, error)
}

// HardwareKeyConfig configures the check of hardware-key pools.
type HardwareKeyConfig struct {
	// Source reaches the keys; nil means DongleKeys with PIN.
	Source KeySource
	// PIN gives the card's PIN for its proofs (the server runs
	// unattended: a file or the environment, never a prompt).
	PIN dongle.PINPrompt
	// ProofInterval: 0 means DefaultProofInterval.
	ProofInterval time.Duration
	// OnLost, when set, is called once, from the monitor, the moment the
	// key is found missing or invalid (--crash-if-no-hardware-key exits
	// there).
	OnLost func(HardwareKeyStatus)
	// Logf logs what happens to the key (nil: nothing is logged).
	Logf func(format string, a ...any)
	// MachineID is the server's hardware ID while no key is plugged in.
	MachineID string
	// Clock, for tests: nil means time.Now. (Config.Now may be a test's
	// fixed time; proofs age in real time.)
	Clock func() time.Time
}

// DongleKeys returns the KeySource of the smart card service. The PC/SC
// context is opened on first use and again after the service went away.
func DongleKeys(opt dongle.Options) KeySource { return &dongleKeys{opt: opt} }

type dongleKeys struct {
	mu  sync.Mutex
	opt dongle.Options
	s   *dongle.Session
}

func (d *dongleKeys) session() (*dongle.Session, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.s != nil {
		return d.s, nil
	}
	s, err := dongle.Open(d.opt)
	if err != nil {
		return nil, err
	}
	d.s = s
	return s, nil
}

// drop forgets the session after the service failed, so the next call
// opens a fresh one.
func (d *dongleKeys) drop(s *dongle.Session, err error) {
	if !errors.Is(err, dongle.ErrNoService) && !errors.Is(err, dongle.ErrPCSC) {
		return
	}
	d.mu.Lock()
	if d.s == s {
		d.s = nil
		s.Close()
	}
	d.mu.Unlock()
}

func (d *dongleKeys) Readers() ([]dongle.Reader, error) {
	s, err := d.session()
	if err != nil {
		return nil, err
	}
	rs, err := s.Readers()
	d.drop(s, err)
	return rs, err
}

func (d *dongleKeys) Prove(kind dongle.Kind, serial []byte, reader string, challenge []byte) (string, dongle.Algorithm, []byte, error) {
	s, err := d.session()
	if err != nil {
		return "", 0, nil, err
	}
	if reader == "" || kind == dongle.KindGeneric {
		id, err := s.Find(kind, serial)
		if err != nil {
			d.drop(s, err)
			return "", 0, nil, err
		}
		if kind == dongle.KindGeneric {
			return id.Reader, 0, nil, nil // identity only
		}
		reader = id.Reader
	}
	_, alg, sig, err := s.ProveWith(reader, kind, challenge)
	d.drop(s, err)
	return reader, alg, sig, err
}

// keyID names a hardware key: its kind, serial and public key.
func keyID(hk *request.HardwareKey) string {
	return fmt.Sprintf("%d/%x/%x", hk.Type, hk.Serial, hk.PublicKey)
}

// KeyLabel is how the server names a hardware key, and its hardware ID
// while the key is plugged in: "openpgp:FFFE0A0B0C0D" (as `airlock
// fingerprint` prints it).
func KeyLabel(hk *request.HardwareKey) string {
	id := dongle.Identity{Kind: dongle.Kind(hk.Type), Serial: hk.Serial}
	return id.Kind.String() + ":" + strings.ReplaceAll(id.SerialString(), " ", "")
}

// keyState is what the server knows of one hardware key.
type keyState struct {
	hk       *request.HardwareKey
	label    string
	products []string

	ok        bool      // the last proof holds (no reader event since)
	present   bool      // the key's reader has a card (ok or not)
	reader    string    // where the key last proved itself
	events    uint16    // that reader's event count at the proof
	lastProof time.Time // the last good proof
	tried     time.Time // the last proof attempt
	triedGen  uint64    // the readers' generation then (hwMonitor.gen)
	code      string    // the last failure's code
	reason    string
	holder    string
	reported  string // the event last recorded: EventHWKey*
	logged    string // the failure last logged (code and holder)
	lost      bool   // OnLost was called
}

// hwMonitor watches the hardware keys of the server's pools.
type hwMonitor struct {
	s        *Server
	src      KeySource
	interval time.Duration
	onLost   func(HardwareKeyStatus)
	logf     func(string, ...any)
	machine  string
	clock    func() time.Time

	mu      sync.Mutex
	keys    map[string]*keyState
	readers map[string]dongle.Reader // the last look
	gen     uint64                   // counts the looks that saw a change
	proving sync.Mutex               // one proof at a time

	stop chan struct{}
	done chan struct{}
}

func newHWMonitor(s *Server, c HardwareKeyConfig) *hwMonitor {
	m := &hwMonitor{s: s, src: c.Source, interval: c.ProofInterval, onLost: c.OnLost, logf: c.Logf, machine: c.MachineID, clock: c.Clock,
		keys: map[string]*keyState{}, stop: make(chan struct{}), done: make(chan struct{})}
	if m.interval <= 0 {
		m.interval = DefaultProofInterval
	}
	if m.clock == nil {
		m.clock = time.Now
	}
	if m.logf == nil {
		m.logf = func(string, ...any) {}
	}
	if m.src == nil {
		m.src = DongleKeys(dongle.Options{PIN: c.PIN, Timeout: 5 * time.Second})
	}
	return m
}

// HardwareKey returns the state of the server's hardware key. With pools
// bound to several keys, it is the first key (by name) that is not
// present, else the first.
func (s *Server) HardwareKey() HardwareKeyStatus {
	m := s.hw
	if m == nil {
		return HardwareKeyStatus{}
	}
	m.sync()
	m.mu.Lock()
	defer m.mu.Unlock()
	var pick *keyState
	for _, k := range m.sorted() {
		if pick == nil || (pick.ok && !k.ok) {
			pick = k
		}
	}
	if pick == nil {
		return HardwareKeyStatus{}
	}
	return pick.status()
}

// HardwareID is the server's hardware ID: the serial of its hardware key
// while the key is plugged in and proves itself, else the machine's.
func (s *Server) HardwareID() string {
	m := s.hw
	if m == nil {
		return ""
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, k := range m.sorted() {
		if k.ok {
			return k.label
		}
	}
	return m.machine
}

func (k *keyState) status() HardwareKeyStatus {
	return HardwareKeyStatus{Required: true, Present: k.ok, Serial: k.label, Reader: k.reader, LastProof: k.lastProof,
		Code: k.code, Reason: k.reason, Holder: k.holder, Products: append([]string(nil), k.products...)}
}

// sorted returns the keys by name; called with m.mu held.
func (m *hwMonitor) sorted() []*keyState {
	out := make([]*keyState, 0, len(m.keys))
	for _, k := range m.keys {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].label < out[j].label })
	return out
}

// sync makes the set of watched keys that of the pools served now.
func (m *hwMonitor) sync() {
	want := map[string]*keyState{}
	m.s.mu.Lock()
	for _, pl := range m.s.pools {
		hk := pl.lic.Binding.HardwareKey
		if hk == nil {
			continue
		}
		id := keyID(hk)
		k := want[id]
		if k == nil {
			k = &keyState{hk: hk, label: KeyLabel(hk)}
			want[id] = k
		}
		k.products = append(k.products, pl.product)
	}
	m.s.mu.Unlock()
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, k := range want {
		sort.Strings(k.products)
		if old := m.keys[id]; old != nil {
			old.products = k.products
			want[id] = old
		}
	}
	m.keys = want
}

func (m *hwMonitor) start() { go m.run() }

func (m *hwMonitor) close() {
	close(m.stop)
	<-m.done
}

func (m *hwMonitor) run() {
	defer close(m.done)
	t := time.NewTicker(KeyPollInterval)
	defer t.Stop()
	for {
		m.poll()
		select {
		case <-m.stop:
			return
		case <-t.C:
		}
	}
}

// poll looks at the readers once: a key whose reader lost its card is
// missing at once; after any reader event, a key not proven, or a proof
// close to its age, the key proves itself here, so that actions rarely
// wait for a proof.
func (m *hwMonitor) poll() {
	m.sync()
	m.mu.Lock()
	empty := len(m.keys) == 0
	m.mu.Unlock()
	if empty {
		return
	}
	rs, err := m.src.Readers()
	now := m.clock()
	m.mu.Lock()
	changed := false
	seen := map[string]dongle.Reader{}
	for _, r := range rs {
		seen[r.Name] = r
		if old, ok := m.readers[r.Name]; !ok || old != r {
			changed = true
		}
	}
	if len(seen) != len(m.readers) {
		changed = true
	}
	if changed {
		m.gen++
	}
	m.readers = seen
	var due []*keyState
	for _, k := range m.sorted() {
		r, there := seen[k.reader]
		k.present = err == nil && there && r.CardPresent
		if k.ok && (err != nil || !there || !r.CardPresent) {
			k.ok = false
			m.fail(k, now, CodeHWKeyNotAccessible, missingReason(err), "")
			continue
		}
		if k.ok && r.Events != k.events {
			k.ok = false // replaced or re-plugged: prove again
		}
		switch {
		case k.ok && now.Sub(k.lastProof) < m.interval*4/5:
		case !k.ok && !changed && now.Sub(k.tried) < keyRetry:
		default:
			due = append(due, k)
		}
	}
	m.mu.Unlock()
	for _, k := range due {
		m.prove(k)
	}
}

func missingReason(err error) string {
	if err != nil {
		return "the smart card service reports: " + err.Error()
	}
	return "the hardware key was removed"
}

// check is the test every action on a pool bound to a hardware key runs
// first: nil when the pool is bound to none, or its key's proof holds.
func (m *hwMonitor) check(pl *pool, action string) error {
	if m == nil || pl == nil {
		return nil
	}
	hk := pl.lic.Binding.HardwareKey
	if hk == nil {
		return nil
	}
	id := keyID(hk)
	m.mu.Lock()
	k := m.keys[id]
	if k == nil {
		m.mu.Unlock()
		m.sync()
		m.mu.Lock()
		if k = m.keys[id]; k == nil {
			m.mu.Unlock()
			return errorf(CodeHWKeyNotAccessible, "No available valid hardware key to perform the action: %s", action)
		}
	}
	now := m.clock()
	switch {
	case k.ok && now.Sub(k.lastProof) < m.interval:
		m.mu.Unlock()
		return nil
	case !k.ok && k.code != "" && now.Sub(k.tried) < keyRetry && k.triedGen == m.gen:
		code := k.code
		m.mu.Unlock()
		return hwError(code, action)
	}
	m.mu.Unlock()
	return m.prove(k).err(action)
}

// proofResult is the outcome of a proof, as an action reports it.
type proofResult string // "" or the failure's code

func (r proofResult) err(action string) error {
	if r == "" {
		return nil
	}
	return hwError(string(r), action)
}

func hwError(code, action string) error {
	switch code {
	case CodeHWKeyMismatch:
		return errorf(code, "The hardware key plugged in is not the one this license is bound to; cannot perform the action: %s", action)
	case CodeHWKeyProofFailed:
		return errorf(code, "The hardware key did not prove it holds the enrolled key; cannot perform the action: %s", action)
	}
	return errorf(CodeHWKeyNotAccessible, "No available valid hardware key to perform the action: %s", action)
}

// prove has key k sign a fresh challenge and records the outcome. One
// proof runs at a time; a caller that waited for another's proof takes its
// outcome when it is fresh.
func (m *hwMonitor) prove(k *keyState) proofResult {
	start := m.clock()
	m.proving.Lock()
	defer m.proving.Unlock()
	m.mu.Lock()
	if !k.tried.Before(start) {
		// Another caller proved the key while this one waited.
		r := proofResult(k.code)
		m.mu.Unlock()
		return r
	}
	hk, hint, gen := k.hk, k.reader, m.gen
	m.mu.Unlock()

	code, reason, holder, reader := "", "", "", ""
	challenge, err := dongle.Challenge(rand.Reader, m.s.kid[:])
	if err != nil {
		code, reason = CodeHWKeyNotAccessible, "cannot make a challenge"
	} else {
		// Where the key was last, first (the common case: one proof);
		// anything but a good proof there, then every reader.
		for _, r := range []string{hint, ""} {
			var alg dongle.Algorithm
			var sig []byte
			reader, alg, sig, err = m.src.Prove(dongle.Kind(hk.Type), hk.Serial, r, challenge)
			if code, reason, holder = m.judge(hk, alg, challenge, sig, err); code == "" || r == "" {
				break
			}
		}
	}
	now := m.clock()
	m.mu.Lock()
	defer m.mu.Unlock()
	k.tried, k.triedGen = now, gen
	if code != "" {
		k.ok = false
		m.fail(k, now, code, reason, holder)
		return proofResult(code)
	}
	k.ok, k.present, k.reader, k.lastProof = true, true, reader, now
	// The reader's event count at the last look: should the card have
	// been re-plugged since, the next look sees another count and the key
	// proves itself once more.
	k.events = m.readers[reader].Events
	k.code, k.reason, k.holder, k.lost, k.logged = "", "", "", false, ""
	if k.reported != EventHWKeyPresent {
		k.reported = EventHWKeyPresent
		m.record(k, EventHWKeyPresent, fmt.Sprintf("%s in reader %q proved itself", k.label, reader))
		m.logf("hardware key %s is present (reader %q): pools %s are served", k.label, reader, strings.Join(k.products, ", "))
	}
	return ""
}

// judge maps the outcome of a proof to a code ("" for a good proof), a
// reason and, when another program holds the reader, how to find it.
func (m *hwMonitor) judge(hk *request.HardwareKey, alg dongle.Algorithm, challenge, sig []byte, err error) (code, reason, holder string) {
	if err != nil {
		reason = err.Error()
		var de *dongle.Error
		if errors.As(err, &de) && (errors.Is(err, dongle.ErrSharingViolation) || errors.Is(err, dongle.ErrTimeout)) {
			holder = de.Hint
		}
		switch {
		case errors.Is(err, dongle.ErrNoCard):
			m.mu.Lock()
			other := false
			for _, r := range m.readers {
				other = other || r.CardPresent
			}
			m.mu.Unlock()
			if other {
				return CodeHWKeyMismatch, "the hardware key plugged in is not " + KeyLabel(hk), ""
			}
			return CodeHWKeyNotAccessible, "no hardware key is plugged in", ""
		case errors.Is(err, dongle.ErrUnsupportedCard), errors.Is(err, dongle.ErrProof):
			return CodeHWKeyProofFailed, reason, ""
		}
		return CodeHWKeyNotAccessible, reason, holder
	}
	if len(hk.PublicKey) == 0 {
		return "", "", "" // a generic card: identity only, as the license says
	}
	want, pub, perr := dongle.ParseWirePublicKey(hk.PublicKey)
	if perr != nil {
		return CodeHWKeyProofFailed, "the license holds an invalid hardware-key public key", ""
	}
	if alg != want || dongle.VerifyProof(alg, pub, challenge, sig) != nil {
		return CodeHWKeyProofFailed, "the hardware key's signature does not verify: a copy, or another key with the same serial", ""
	}
	return "", "", ""
}

// fail records a failure of key k; called with m.mu held.
func (m *hwMonitor) fail(k *keyState, now time.Time, code, reason, holder string) {
	k.code, k.reason, k.holder = code, reason, holder
	kind := EventHWKeyMissing
	switch code {
	case CodeHWKeyMismatch:
		kind = EventHWKeyMismatch
	case CodeHWKeyProofFailed:
		kind = EventHWKeyProofFailed
	}
	var wait chan error
	if k.reported != kind {
		k.reported = kind
		wait = m.record(k, kind, reason)
	}
	if k.logged != code+holder {
		k.logged = code + holder
		msg := fmt.Sprintf("hardware key %s: %s (%s): pools %s refuse every action until it is back", k.label, reason, code, strings.Join(k.products, ", "))
		if holder != "" {
			msg += "; another program holds the reader: " + holder
		}
		m.logf("%s", msg)
	}
	if !k.lost && m.onLost != nil {
		k.lost = true
		st := k.status()
		go func() {
			if wait != nil {
				<-wait // the event is on disk before the process may exit
			}
			m.onLost(st)
		}()
	}
}

// record writes an event per product bound to k, not waited for: the
// returned channel (nil when there is nothing to write) says when it is
// committed.
func (m *hwMonitor) record(k *keyState, kind, detail string) chan error {
	if len(detail) > 500 {
		detail = detail[:500]
	}
	// Dated by the server's clock, like every event, so that it falls in
	// the report of its period (the monitor's clock ages proofs).
	at := m.s.now().Unix()
	stmts := make([]stmt, 0, len(k.products))
	for _, p := range k.products {
		stmts = append(stmts, eventStmt(at, kind, p, k.label+": "+detail))
	}
	if len(stmts) == 0 {
		return nil
	}
	return m.s.st.enqueue(stmts...)
}

// actionOf names an action as the seed's error message does.
func actionOf(p *Proof) string {
	switch p.Op {
	case OpAcquire:
		if len(p.Features) > 0 {
			return "registering a user to a feature"
		}
		return "registering a user"
	case OpRenew:
		return "renewing a lease"
	case OpBorrow:
		return "borrowing a seat"
	case OpConsume:
		if p.Feature != "" {
			return "adding feature consumption"
		}
		return "adding consumption"
	case OpRelease:
		return "releasing a seat"
	}
	return p.Op
}

// HardwareKeyActivator is an Activator that can also make a request bound
// to the hardware key plugged in (POST /products with hardware_key).
type HardwareKeyActivator interface {
	RequestHardwareKey(product, licenseKey string) ([]byte, error)
}

func (s *Server) requestHardwareKey(req ProductRequest) ([]byte, error) {
	ha, ok := s.act.(HardwareKeyActivator)
	if !ok {
		return nil, errorf(CodeNotFound, "this server cannot bind a request to a hardware key")
	}
	if req.Renew {
		return nil, errorf(CodeMalformed, "a renewal keeps the installed license's hardware key: drop hardware_key")
	}
	return ha.RequestHardwareKey(req.Product, req.LicenseKey)
}

// WantsHardwareKey reads hardware_key and the seed's isHWKeyReq.
func (r *ProductRequest) WantsHardwareKey() (bool, error) {
	switch v := r.IsHWKeyReq.(type) {
	case nil:
		return r.HardwareKey, nil
	case bool:
		return r.HardwareKey || v, nil
	case string:
		switch strings.ToLower(v) {
		case "yes", "true", "1":
			return true, nil
		case "no", "false", "0", "":
			return r.HardwareKey, nil
		}
	}
	return false, errorf(CodeMalformed, "isHWKeyReq is true, false, \"yes\" or \"no\"")
}

// HardwareKeyInfo answers GET /hardware-key.
type HardwareKeyInfo struct {
	HardwareID  string            `json:"hardware_id"`
	HardwareKey HardwareKeyStatus `json:"hardware_key"`
}

func (s *Server) hwRoutes(h func(string, func(*http.Request) (any, error))) {
	h("GET "+APIPrefix+"/hardware-key", func(r *http.Request) (any, error) {
		if _, err := s.authorize(r, RoleUser); err != nil {
			return nil, err
		}
		st := s.HardwareKey()
		return &HardwareKeyInfo{HardwareID: s.HardwareID(), HardwareKey: st}, nil
	})
}
