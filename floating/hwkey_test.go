package floating_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/tls"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/dongle"
	"github.com/airlock-offline/airlock/floating"
	"github.com/airlock-offline/airlock/internal/testrig/testkeys"
	"github.com/airlock-offline/airlock/licensekey"
	"github.com/airlock-offline/airlock/request"
	"github.com/airlock-offline/airlock/response"
	"github.com/airlock-offline/airlock/usage"
)

// fakeCard is a hardware key in a fake reader.
type fakeCard struct {
	serial []byte
	key    ed25519.PrivateKey
}

func edKey(label string) ed25519.PrivateKey {
	seed := sha256.Sum256([]byte(label))
	return ed25519.NewKeyFromSeed(seed[:])
}

func newCard(serial uint32, label string) *fakeCard {
	return &fakeCard{serial: []byte{0xFF, 0xFE, byte(serial >> 24), byte(serial >> 16), byte(serial >> 8), byte(serial)}, key: edKey(label)}
}

func (c *fakeCard) binding(t testing.TB) *request.HardwareKey {
	pub, err := dongle.EncodePublicKey(dongle.AlgEd25519, c.key.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	return &request.HardwareKey{Type: uint8(dongle.KindOpenPGP), Serial: c.serial, PublicKey: pub}
}

// fakeKeys is a KeySource with two readers, as the smart card service
// reports them: a card in each or not, and each reader's event count.
type fakeKeys struct {
	mu     sync.Mutex
	cards  [2]*fakeCard
	events [2]uint16
	held   bool // another program holds the readers exclusively
	proofs atomic.Int64
	looks  atomic.Int64
}

var fakeReaders = [2]string{"Fake Reader 00", "Fake Reader 01"}

func (f *fakeKeys) plug(i int, c *fakeCard) {
	f.mu.Lock()
	f.cards[i] = c
	f.events[i]++
	f.mu.Unlock()
}

func (f *fakeKeys) pull(i int) { f.plug(i, nil) }

func (f *fakeKeys) hold(on bool) {
	f.mu.Lock()
	f.held = on
	f.mu.Unlock()
}

func (f *fakeKeys) Readers() ([]dongle.Reader, error) {
	f.looks.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]dongle.Reader, 2)
	for i := range out {
		out[i] = dongle.Reader{Name: fakeReaders[i], CardPresent: f.cards[i] != nil, Events: f.events[i]}
	}
	return out, nil
}

func (f *fakeKeys) Prove(kind dongle.Kind, serial []byte, reader string, challenge []byte) (string, dongle.Algorithm, []byte, error) {
	f.proofs.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.held {
		return "", 0, nil, &dongle.Error{Op: "find", Reader: fakeReaders[0], Err: dongle.ErrSharingViolation, Hint: dongle.ErrSharingViolation.Hint}
	}
	for i, c := range f.cards {
		if reader != "" && fakeReaders[i] == reader {
			if c == nil {
				return "", 0, nil, &dongle.Error{Op: "prove", Reader: reader, Err: dongle.ErrNoCard}
			}
			return reader, dongle.AlgEd25519, ed25519.Sign(c.key, challenge), nil // whatever card is there signs
		}
	}
	for i, c := range f.cards {
		if c != nil && kind == dongle.KindOpenPGP && bytes.Equal(c.serial, serial) {
			return fakeReaders[i], dongle.AlgEd25519, ed25519.Sign(c.key, challenge), nil
		}
	}
	return "", 0, nil, &dongle.Error{Op: "find", Err: dongle.ErrNoCard}
}

// hwLicense signs a pool license for product bound to card (alone, as
// airlock-vendor license create --match hardware-key makes it).
func hwLicense(t testing.TB, product string, vendor, server *crypto.Identity, card *fakeCard) []byte {
	t.Helper()
	return hwPoolLicense(t, product, vendor, server, card, defaultPool())
}

func hwPoolLicense(t testing.TB, product string, vendor, server *crypto.Identity, card *fakeCard, pool *response.Pool) []byte {
	t.Helper()
	key, err := licensekey.New(testkeys.Rand("hw pool key " + product))
	if err != nil {
		t.Fatal(err)
	}
	var hk *request.HardwareKey
	if card != nil {
		hk = card.binding(t)
	}
	req, err := request.New(request.Params{Product: product, LicenseKey: key, Fingerprint: bytes.Repeat([]byte{7}, request.FPSize), HardwareKey: hk,
		Vendor: vendor.Public(), Now: t0.Add(-time.Hour), Rand: testkeys.Rand("hw pool request " + product)}, server)
	if err != nil {
		t.Fatal(err)
	}
	s, err := response.New(vendor, req, response.Params{
		LicenseKey: key, ActivationID: bytes.Repeat([]byte{2}, 16), Product: product, Licensee: "ACME Corp",
		Issued: t0.Add(-time.Hour), Pool: pool, KeyOnly: card != nil,
		Features: map[string]uint64{"render": 0},
	})
	if err != nil {
		t.Fatal(err)
	}
	return s.Bytes
}

// hwFixture is a server with pools bound to a fake hardware key.
type hwFixture struct {
	*fixture
	keys  *fakeKeys
	lics  [][]byte
	cfg   floating.HardwareKeyConfig
	lost  chan floating.HardwareKeyStatus
	mtime *offsetClock // the monitor's clock
}

// offsetClock is the real clock moved forward by a test.
type offsetClock struct{ d atomic.Int64 }

func (c *offsetClock) Now() time.Time      { return time.Now().Add(time.Duration(c.d.Load())) }
func (c *offsetClock) Add(d time.Duration) { c.d.Add(int64(d)) }

func newHWFixture(t *testing.T, card *fakeCard, products ...string) *hwFixture {
	f := &hwFixture{
		fixture: &fixture{
			vendor: testkeys.Identity(crypto.RoleVendor, "vendor"),
			server: testkeys.Identity(crypto.RoleInstallation, "server"),
			clock:  newClock(t0),
			db:     filepath.Join(t.TempDir(), "server.db"),
		},
		keys:  &fakeKeys{},
		lost:  make(chan floating.HardwareKeyStatus, 4),
		mtime: new(offsetClock),
	}
	for _, p := range products {
		c := card
		if strings.HasPrefix(p, "plain-") {
			c = nil
		}
		f.lics = append(f.lics, hwLicense(t, p, f.vendor, f.server, c))
	}
	f.cfg = floating.HardwareKeyConfig{Source: f.keys, MachineID: "machine-fp", Clock: f.mtime.Now, ProofInterval: 30 * time.Second,
		OnLost: func(st floating.HardwareKeyStatus) { f.lost <- st }}
	t.Cleanup(f.stop)
	return f
}

func (f *hwFixture) start(t *testing.T) {
	t.Helper()
	srv, err := floating.New(floating.Config{Identity: f.server, Licenses: f.lics, DB: f.db, Now: f.clock.Now, HardwareKey: f.cfg})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := srv.Certificate([]string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.srv, f.addr = srv, ln.Addr().String()
	f.hs = &http.Server{Handler: srv.Handler(), TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13}, ReadHeaderTimeout: 5 * time.Second}
	go f.hs.ServeTLS(ln, "", "")
}

// waitKey waits until the server sees the key present (or not).
func (f *hwFixture) waitKey(t *testing.T, present bool) floating.HardwareKeyStatus {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		st := f.srv.HardwareKey()
		if st.Present == present {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("the hardware key did not become present=%v: %+v", present, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitCode waits until the server's key status has the failure code.
func (f *hwFixture) waitCode(t *testing.T, code string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); f.srv.HardwareKey().Code != code; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the key's status never had code %s: %+v", code, f.srv.HardwareKey())
		}
	}
}

// events counts the server's events by kind.
func (f *hwFixture) events(t *testing.T) map[string]int {
	t.Helper()
	db, err := sql.Open("sqlite", f.db)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT kind, count(*) FROM floating_events WHERE kind LIKE 'hwkey.%' GROUP BY kind`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var k string
		var n int
		if err := rows.Scan(&k, &n); err != nil {
			t.Fatal(err)
		}
		out[k] = n
	}
	return out
}

func expectCode(t *testing.T, what string, err error, want, msg string) {
	t.Helper()
	var e *floating.Error
	if !errors.As(err, &e) || e.Code != want || e.Status != http.StatusBadRequest {
		t.Fatalf("%s: got %v, want %s (400)", what, err, want)
	}
	if msg != "" && e.Message != msg {
		t.Fatalf("%s: message %q, want %q", what, e.Message, msg)
	}
}

// The seed's sequence with a fake key: plugged in, the pool is served and
// the key's serial is the hardware ID; pulled, every action on the pool
// fails with hardware_key_not_accessible and changes nothing, while a pool
// not bound to the key is unaffected and a lease already granted stays
// valid; plugged in again, it all works.
func TestHardwareKeyPool(t *testing.T) {
	card := newCard(0x0A0B0C0D, "enrolled")
	f := newHWFixture(t, card, product, "plain-cad")
	f.keys.plug(0, card)
	f.start(t)
	st := f.waitKey(t, true)
	if st.Serial != "openpgp:FFFE0A0B0C0D" || st.Reader != fakeReaders[0] || st.LastProof.IsZero() || !st.Required || len(st.Products) != 1 {
		t.Fatalf("status: %+v", st)
	}
	if id := f.srv.HardwareID(); id != "openpgp:FFFE0A0B0C0D" {
		t.Fatalf("hardware ID %q, want the key's serial", id)
	}
	ctx := context.Background()
	a, b := f.client("a"), f.client("b")
	plain := f.client("p")
	plain.Product = "plain-cad"
	sa, err := a.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Consume(ctx, "export", 1); err != nil {
		t.Fatal(err)
	}
	before := f.srv.Status()

	f.keys.pull(0)
	f.waitKey(t, false)
	if id := f.srv.HardwareID(); id != "machine-fp" {
		t.Fatalf("hardware ID %q without the key, want the machine's", id)
	}
	const msg = "No available valid hardware key to perform the action: "
	_, err = b.Acquire(ctx)
	expectCode(t, "grant", err, floating.CodeHWKeyNotAccessible, msg+"registering a user")
	_, err = b.FeatureRegister(ctx, "render")
	expectCode(t, "feature register", err, floating.CodeHWKeyNotAccessible, msg+"registering a user to a feature")
	_, err = a.Renew(ctx, sa)
	expectCode(t, "heartbeat", err, floating.CodeHWKeyNotAccessible, msg+"renewing a lease")
	_, err = a.Consume(ctx, "export", 1)
	expectCode(t, "feature consumption", err, floating.CodeHWKeyNotAccessible, msg+"adding feature consumption")
	_, err = a.Consume(ctx, "", 1)
	expectCode(t, "consumption", err, floating.CodeHWKeyNotAccessible, msg+"adding consumption")
	_, err = a.Borrow(ctx, t0.Add(48*time.Hour))
	expectCode(t, "borrow", err, floating.CodeHWKeyNotAccessible, msg+"borrowing a seat")
	if err := f.srv.ForceRelease(sa.Lease.ID); !floating.IsCode(err, floating.CodeHWKeyNotAccessible) {
		t.Fatalf("admin release: %v", err)
	}
	if after := f.srv.Status(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("a refused action changed the pool:\n%+v\n%+v", before, after)
	}
	// The lease granted before stays valid until its TTL.
	if _, _, err := floating.VerifyLease(sa.Token, &floating.LeaseExpect{VendorKeys: []*crypto.Public{f.vendor.Public()}, Now: f.clock.Now()}); err != nil {
		t.Fatalf("the lease granted before: %v", err)
	}
	// A pool not bound to the key is unaffected.
	if _, err := plain.Acquire(ctx); err != nil {
		t.Fatalf("a pool with no hardware key: %v", err)
	}
	select {
	case st := <-f.lost:
		if st.Code != floating.CodeHWKeyNotAccessible {
			t.Fatalf("OnLost: %+v", st)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("OnLost was not called")
	}

	// Back in another reader: served again.
	f.keys.plug(1, card)
	f.waitKey(t, true)
	if _, err := a.Renew(ctx, sa); err != nil {
		t.Fatalf("heartbeat with the key back: %v", err)
	}
	if _, err := b.Acquire(ctx); err != nil {
		t.Fatalf("grant with the key back: %v", err)
	}
	ev := f.events(t)
	if ev[floating.EventHWKeyPresent] != 2 || ev[floating.EventHWKeyMissing] != 1 {
		t.Fatalf("events: %v", ev)
	}
	// The usage report counts them for the key-bound product, and none for
	// the plain one.
	rep, err := f.srv.MakeReport(floating.ReportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, p := range rep.Report.Products {
		got[p.Product] = fmt.Sprint(p.Events)
	}
	if want := fmt.Sprint([]usage.EventCount{{Kind: floating.EventHWKeyPresent, Count: 2}, {Kind: floating.EventHWKeyMissing, Count: 1}}); got[product] != want || got["plain-cad"] != "[]" {
		t.Fatalf("the report's events by product: %v, want %s for %s and none for plain-cad", got, want, product)
	}
	var text strings.Builder
	if err := rep.WriteText(&text); err != nil || !strings.Contains(text.String(), "  events: hwkey.present 2, hwkey.missing 1\n") {
		t.Fatalf("report show: %v\n%s", err, text.String())
	}
}

// Another card is a mismatch; a card with the enrolled serial and another
// key fails its proof; a reader held by another program is not accessible
// and the status says how to find the holder.
func TestHardwareKeyMismatchProofHolder(t *testing.T) {
	card := newCard(0x0A0B0C0D, "enrolled")
	f := newHWFixture(t, card, product)
	f.keys.plug(0, newCard(0x11111111, "other"))
	f.start(t)
	ctx := context.Background()
	a := f.client("a")
	_, err := a.Acquire(ctx)
	expectCode(t, "other card", err, floating.CodeHWKeyMismatch, "")
	f.keys.plug(0, newCard(0x0A0B0C0D, "clone"))
	f.waitCode(t, floating.CodeHWKeyProofFailed)
	_, err = a.Acquire(ctx)
	expectCode(t, "clone", err, floating.CodeHWKeyProofFailed, "")
	if st := f.srv.HardwareKey(); st.Present || st.Code != floating.CodeHWKeyProofFailed {
		t.Fatalf("status: %+v", st)
	}
	f.keys.hold(true)
	f.keys.plug(0, card)
	for deadline := time.Now().Add(5 * time.Second); f.srv.HardwareKey().Holder == ""; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the holder is never named: %+v", f.srv.HardwareKey())
		}
	}
	_, err = a.Acquire(ctx)
	expectCode(t, "held reader", err, floating.CodeHWKeyNotAccessible, "")
	st := f.srv.HardwareKey()
	if !strings.Contains(st.Holder, "lsof | grep pcscd") || !strings.Contains(st.Reason, "sharing violation") {
		t.Fatalf("status does not name the holder: %+v", st)
	}
	f.keys.hold(false)
	f.waitKey(t, true) // tried again within a second, with no reader event
	if _, err := a.Acquire(ctx); err != nil {
		t.Fatalf("after the other program let go: %v", err)
	}
	ev := f.events(t)
	if ev[floating.EventHWKeyMismatch] != 1 || ev[floating.EventHWKeyProofFailed] != 1 || ev[floating.EventHWKeyMissing] != 1 || ev[floating.EventHWKeyPresent] != 1 {
		t.Fatalf("events: %v", ev)
	}
}

// The key proves itself again once its proof is ProofInterval old, and
// after a reader event; in between, actions do no card I/O.
func TestHardwareKeyProofInterval(t *testing.T) {
	card := newCard(0x0A0B0C0D, "enrolled")
	f := newHWFixture(t, card, product)
	f.cfg.ProofInterval = time.Hour // the monitor's own refresh stays out of the way
	f.keys.plug(0, card)
	f.start(t)
	f.waitKey(t, true)
	ctx := context.Background()
	a := f.client("a")
	s, err := a.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n := f.keys.proofs.Load()
	for range 5 {
		if s, err = a.Renew(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if got := f.keys.proofs.Load(); got != n {
		t.Fatalf("%d proofs for actions within the interval", got-n)
	}
	f.mtime.Add(time.Hour + time.Second)
	if _, err = a.Renew(ctx, s); err != nil {
		t.Fatal(err)
	}
	if got := f.keys.proofs.Load(); got != n+1 {
		t.Fatalf("%d proofs after the interval, want 1", got-n)
	}
	// Re-plugged between two looks (present both times): proved again.
	f.keys.plug(0, card)
	for deadline := time.Now().Add(5 * time.Second); f.keys.proofs.Load() < n+2 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(3 * floating.KeyPollInterval) // and no more than that one
	if got := f.keys.proofs.Load(); got != n+2 {
		t.Fatalf("%d proofs after a re-plug, want 1 more", got-n-1)
	}
}

// Restarted without the key, the pool is still served, and refuses every
// action until the key is back; two pools on one key are one key.
func TestHardwareKeyRestartWithoutKeyTwoLicenses(t *testing.T) {
	card := newCard(0x0A0B0C0D, "enrolled")
	f := newHWFixture(t, card, product, "acme-cam")
	f.start(t)
	ctx := context.Background()
	a := f.client("a")
	_, err := a.Acquire(ctx)
	expectCode(t, "grant", err, floating.CodeHWKeyNotAccessible, "No available valid hardware key to perform the action: registering a user")
	st := f.srv.HardwareKey()
	if st.Present || strings.Join(st.Products, ",") != "acme-cad,acme-cam" {
		t.Fatalf("status: %+v", st)
	}
	if f.srv.HardwareID() != "machine-fp" {
		t.Fatalf("hardware ID %q", f.srv.HardwareID())
	}
	select {
	case <-f.lost:
	case <-time.After(5 * time.Second):
		t.Fatal("OnLost was not called at start without the key")
	}
	f.keys.plug(0, card)
	f.waitKey(t, true)
	for _, p := range []string{product, "acme-cam"} {
		c := f.client("a")
		c.Product = p
		if _, err := c.Acquire(ctx); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
	}
	if n := f.keys.proofs.Load(); n > 4 {
		t.Fatalf("%d proofs for two pools on one key", n)
	}
	for _, ps := range f.srv.Status() {
		if ps.HardwareKey != "openpgp:FFFE0A0B0C0D" {
			t.Fatalf("pool status: %+v", ps)
		}
	}
	// The report counts the key's events for each pool, and each event
	// once for the server (missing at the start, then present).
	rep, err := f.srv.MakeReport(floating.ReportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprint([]usage.EventCount{{Kind: floating.EventHWKeyPresent, Count: 1}, {Kind: floating.EventHWKeyMissing, Count: 1}})
	for _, p := range rep.Report.Products {
		if fmt.Sprint(p.Events) != want {
			t.Errorf("%s: events %v, want %s", p.Product, p.Events, want)
		}
	}
	if got := fmt.Sprint(rep.Report.Events); got != want {
		t.Errorf("the server's events %s, want %s (one event of a key bound to two pools counts once)", got, want)
	}
}

// fakeActivator records the admin API's requests.
type fakeActivator struct {
	mu    sync.Mutex
	calls []string
}

func (a *fakeActivator) Request(product, licenseKey string, renew bool) ([]byte, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls = append(a.calls, "plain "+product)
	return []byte("request"), nil
}

func (a *fakeActivator) RequestHardwareKey(product, licenseKey string) ([]byte, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls = append(a.calls, "hwkey "+product)
	return []byte("hw request"), nil
}

func (a *fakeActivator) Install([]byte) (string, error) { return "", errors.New("not here") }
func (a *fakeActivator) Licenses() ([][]byte, error)    { return nil, nil }

// The admin API's addProduct binds the request to the hardware key with
// hardware_key or the seed's isHWKeyReq; /info and /hardware-key show the
// hardware ID.
func TestHardwareKeyAdminAPI(t *testing.T) {
	card := newCard(0x0A0B0C0D, "enrolled")
	f := newHWFixture(t, card, product)
	f.keys.plug(0, card)
	act := &fakeActivator{}
	srv, err := floating.New(floating.Config{Identity: f.server, Licenses: f.lics, DB: f.db, Now: f.clock.Now, HardwareKey: f.cfg, Activator: act})
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := srv.Certificate([]string{"127.0.0.1"})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.srv, f.addr = srv, ln.Addr().String()
	f.hs = &http.Server{Handler: srv.Handler(), TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13}, ReadHeaderTimeout: 5 * time.Second}
	go f.hs.ServeTLS(ln, "", "")
	f.waitKey(t, true)
	tok, _, err := srv.CreateToken("admin", floating.RoleAdmin, 0)
	if err != nil {
		t.Fatal(err)
	}
	ad := floating.NewAdmin(f.addr, f.server.Public().Sign, tok)
	ctx := context.Background()
	for _, body := range []string{`{"product":"p1","license_key":"K","hardware_key":true}`, `{"product":"p2","license_key":"K","isHWKeyReq":"yes"}`,
		`{"product":"p3","license_key":"K","isHWKeyReq":true}`, `{"product":"p4","license_key":"K","isHWKeyReq":"no"}`, `{"product":"p5","license_key":"K"}`} {
		var req floating.ProductRequest
		if err := floating.DecodeJSON([]byte(body), &req); err != nil {
			t.Fatal(err)
		}
		if err := ad.Do(ctx, http.MethodPost, "/products", req, nil); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
	}
	if got := strings.Join(act.calls, ","); got != "hwkey p1,hwkey p2,hwkey p3,plain p4,plain p5" {
		t.Fatalf("requests: %s", got)
	}
	err = ad.Do(ctx, http.MethodPost, "/products", map[string]any{"product": "p6", "isHWKeyReq": "maybe"}, nil)
	if !floating.IsCode(err, floating.CodeMalformed) {
		t.Fatalf("isHWKeyReq maybe: %v", err)
	}
	var info floating.InfoResponse
	if err := ad.Do(ctx, http.MethodGet, "/info", nil, &info); err != nil || info.HardwareID != "openpgp:FFFE0A0B0C0D" {
		t.Fatalf("info: %v %+v", err, info)
	}
	var hw floating.HardwareKeyInfo
	if err := ad.Do(ctx, http.MethodGet, "/hardware-key", nil, &hw); err != nil || hw.HardwareID != "openpgp:FFFE0A0B0C0D" || !hw.HardwareKey.Present {
		t.Fatalf("hardware-key: %v %+v", err, hw)
	}
	f.keys.pull(0)
	f.waitKey(t, false)
	if err := ad.Do(ctx, http.MethodGet, "/info", nil, &info); err != nil || info.HardwareID != "machine-fp" {
		t.Fatalf("info without the key: %v %+v", err, info)
	}
}
