// Package client is the offline machine's side of airlock: its state
// directory (installation keys, pending requests, installed licenses, the
// last time seen) and the verification an ISV runs at every start.
//
// # Embedding
//
//	v := &client.Verifier{Product: "acme-cad", VendorKeys: pinned}
//	lic, err := v.Verify()
//	if err != nil {
//		log.Fatalf("license: %v (%s)", err, result.CodeOf(err))
//	}
//
// # State directory
//
// One directory, by default $AIRLOCK_HOME, else the platform's state
// directory ($XDG_STATE_HOME/airlock or ~/.local/state/airlock on Linux).
// It holds installation.key (the installation identity, age-encrypted unless
// the user chose plaintext), installation.pub, pending (hashes of requests
// waiting for their license), licenses/<product>.lic and clock (the last
// time seen, to detect a clock turned back). Every write is atomic.
package client

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/internal/armor"
	"github.com/airlock-offline/airlock/internal/atomicfile"
	"github.com/airlock-offline/airlock/response"
	"github.com/airlock-offline/airlock/result"
)

// EnvHome overrides the default state directory.
const EnvHome = "AIRLOCK_HOME"

// DefaultDir returns the state directory to use when none is given.
func DefaultDir() (string, error) {
	if d := os.Getenv(EnvHome); d != "" {
		return d, nil
	}
	switch runtime.GOOS {
	case "windows", "darwin":
		d, err := os.UserConfigDir()
		if err != nil {
			return "", err
		}
		return filepath.Join(d, "airlock"), nil
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "airlock"), nil
	}
	h, err := os.UserHomeDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(h, ".local", "state", "airlock"), nil
}

// State is an open state directory.
type State struct {
	Dir string
}

// Open opens (creating, mode 0700) the state directory dir; "" means
// DefaultDir. An existing directory open to other users is made private
// (mode 0700), or refused with atomicfile.ErrDirNotPrivate if it cannot be.
func Open(dir string) (*State, error) {
	dir, err := resolve(dir)
	if err != nil {
		return nil, err
	}
	// The state holds the installation's private key: a folder that
	// exists already with access for others is made private (or refused).
	if _, err := atomicfile.MkdirPrivate(dir); err != nil {
		return nil, fmt.Errorf("cannot create a private state directory: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "licenses"), 0o700); err != nil {
		return nil, fmt.Errorf("cannot create the state directory: %w", err)
	}
	return &State{Dir: dir}, nil
}

// OpenExisting opens the state directory without creating anything, for
// commands that only read (verify, status). A missing directory is an empty
// state: every read reports that nothing is there.
func OpenExisting(dir string) (*State, error) {
	dir, err := resolve(dir)
	if err != nil {
		return nil, err
	}
	return &State{Dir: dir}, nil
}

func resolve(dir string) (string, error) {
	if dir != "" {
		return dir, nil
	}
	dir, err := DefaultDir()
	if err != nil {
		return "", fmt.Errorf("cannot find the state directory: %w", err)
	}
	return dir, nil
}

func (s *State) path(name ...string) string {
	return filepath.Join(append([]string{s.Dir}, name...)...)
}

// Limits on state files.
const (
	maxStateFile = 64 << 10
	maxPending   = 32
)

func readSmall(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxStateFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxStateFile {
		return nil, fmt.Errorf("%s is larger than %d bytes", filepath.Base(path), maxStateFile)
	}
	return b, nil
}

// ErrNoInstallation means the installation identity has not been made yet.
// Commands add their own hint (which command makes it).
var ErrNoInstallation = errors.New("this installation has no key yet")

// HasInstallation reports whether the installation identity exists.
func (s *State) HasInstallation() bool {
	_, err := os.Stat(s.path("installation.key"))
	return err == nil
}

// CreateInstallation makes the installation identity. passphrase nil writes
// the key in plaintext (the caller warns); workFactor 0 is the default.
func (s *State) CreateInstallation(random io.Reader, passphrase []byte, workFactor int) (*crypto.Identity, error) {
	id, err := crypto.Generate(crypto.RoleInstallation, random)
	if err != nil {
		return nil, err
	}
	var data []byte
	if passphrase == nil {
		data = id.MarshalPlaintext()
	} else if data, err = id.MarshalEncrypted(passphrase, workFactor); err != nil {
		return nil, err
	}
	if err := atomicfile.CreateExclusive(s.path("installation.key"), data); err != nil {
		return nil, fmt.Errorf("cannot write the installation key: %w", err)
	}
	if err := atomicfile.Write(s.path("installation.pub"), []byte(id.Public().String()+"\n"), 0o644); err != nil {
		return nil, fmt.Errorf("cannot write the installation public key: %w", err)
	}
	return id, nil
}

// Installation loads the installation identity; passphrase is called only
// if the key file is encrypted.
func (s *State) Installation(passphrase func() ([]byte, error)) (*crypto.Identity, error) {
	data, err := readSmall(s.path("installation.key"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNoInstallation
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read the installation key: %w", err)
	}
	id, err := crypto.ParseKeyFile(data, crypto.RoleInstallation, passphrase)
	if err != nil {
		return nil, fmt.Errorf("cannot load the installation key: %w", err)
	}
	return id, nil
}

// InstallationPublic loads the installation's public keys, which verify
// needs; it never needs the passphrase.
func (s *State) InstallationPublic() (*crypto.Public, error) {
	data, err := readSmall(s.path("installation.pub"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNoInstallation
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read the installation public key: %w", err)
	}
	p, err := crypto.ParsePublic(string(data))
	if err != nil || p.Role != crypto.RoleInstallation {
		return nil, errors.New("the installation public key file is damaged")
	}
	return p, nil
}

var plainProduct = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

func productFile(product string) string {
	if plainProduct.MatchString(product) {
		return product + ".lic"
	}
	h := sha256.Sum256([]byte(product))
	return "p-" + hex.EncodeToString(h[:16]) + ".lic"
}

// LicensePath returns where the license of product is stored.
func (s *State) LicensePath(product string) string {
	return s.path("licenses", productFile(product))
}

// StoreLicense stores the armored license of product, atomically.
func (s *State) StoreLicense(product string, armored []byte) error {
	return atomicfile.Write(s.LicensePath(product), armored, 0o600)
}

// License returns the stored armored license of product, or an error with
// code NOT_ACTIVATED.
func (s *State) License(product string) ([]byte, error) {
	b, err := readSmall(s.LicensePath(product))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, result.New(result.NotActivated, fmt.Sprintf("product %q is not activated on this machine", product))
	}
	if err != nil {
		return nil, result.Wrap(result.Internal, "cannot read the stored license", err)
	}
	return b, nil
}

// StoreReceipt keeps the armored deactivation receipt of product, so that
// a receipt lost on the way to the vendor can be written again.
func (s *State) StoreReceipt(product string, armored []byte) error {
	if err := os.MkdirAll(s.path("receipts"), 0o700); err != nil {
		return err
	}
	return atomicfile.Write(s.path("receipts", strings.TrimSuffix(productFile(product), ".lic")+".rcpt"), armored, 0o600)
}

// Receipt returns the kept receipt of product (fs.ErrNotExist if none).
func (s *State) Receipt(product string) ([]byte, error) {
	return readSmall(s.path("receipts", strings.TrimSuffix(productFile(product), ".lic")+".rcpt"))
}

// RemoveLicense removes the stored license of product.
func (s *State) RemoveLicense(product string) error {
	err := os.Remove(s.LicensePath(product))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// Products lists the products with a stored license, by the product name
// inside each license (file names of unusual product names are hashes). A
// license too damaged to name its product is listed by its file name.
func (s *State) Products() ([]string, error) {
	ents, err := os.ReadDir(s.path("licenses"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		n := e.Name()
		if !strings.HasSuffix(n, ".lic") || strings.HasPrefix(n, ".") {
			continue
		}
		name := strings.TrimSuffix(n, ".lic")
		if text, err := readSmall(s.path("licenses", n)); err == nil {
			if data, err := armor.DecodeKind(text, armor.License); err == nil {
				if l, _, err := response.ParseUnverified(data); err == nil && productFile(l.Product) == n {
					name = l.Product
				}
			}
		}
		out = append(out, name)
	}
	return out, nil
}

// Pending requests: one line each, "<unix> <product-file> <hash hex>".

type pending struct {
	created int64
	product string
	hash    [32]byte
	seed    []byte // phone-code seed, if the request asked for one
}

func (s *State) readPending() ([]pending, error) {
	b, err := readSmall(s.path("pending"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []pending
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 && len(f) != 4 {
			continue
		}
		t, err1 := strconv.ParseInt(f[0], 10, 64)
		h, err2 := hex.DecodeString(f[2])
		if err1 != nil || err2 != nil || len(h) != 32 {
			continue
		}
		p := pending{created: t, product: f[1]}
		copy(p.hash[:], h)
		if len(f) == 4 {
			if p.seed, err = hex.DecodeString(f[3]); err != nil {
				continue
			}
		}
		out = append(out, p)
	}
	return out, nil
}

func (s *State) writePending(ps []pending) error {
	var b bytes.Buffer
	for _, p := range ps {
		if len(p.seed) > 0 {
			fmt.Fprintf(&b, "%d %s %x %x\n", p.created, p.product, p.hash, p.seed)
		} else {
			fmt.Fprintf(&b, "%d %s %x\n", p.created, p.product, p.hash)
		}
	}
	return atomicfile.Write(s.path("pending"), b.Bytes(), 0o600)
}

// AddPending remembers that a request with hash was made for product, so
// that activate accepts only licenses that answer this installation's own
// requests. The oldest entries beyond 32 are dropped.
func (s *State) AddPending(product string, hash [32]byte, created time.Time) error {
	return s.addPending(product, hash, created, nil)
}

func (s *State) addPending(product string, hash [32]byte, created time.Time, seed []byte) error {
	ps, err := s.readPending()
	if err != nil {
		return err
	}
	ps = append(ps, pending{created.Unix(), productFile(product), hash, seed})
	if len(ps) > maxPending {
		ps = ps[len(ps)-maxPending:]
	}
	return s.writePending(ps)
}

// Pending returns the hashes of the requests waiting for product.
func (s *State) Pending(product string) ([][32]byte, error) {
	ps, err := s.readPending()
	if err != nil {
		return nil, err
	}
	var out [][32]byte
	pf := productFile(product)
	for _, p := range ps {
		if p.product == pf {
			out = append(out, p.hash)
		}
	}
	return out, nil
}

// RemovePending forgets the request with hash, once its license is in.
func (s *State) RemovePending(hash []byte) error {
	ps, err := s.readPending()
	if err != nil {
		return err
	}
	keep := ps[:0]
	for _, p := range ps {
		if !bytes.Equal(p.hash[:], hash) {
			keep = append(keep, p)
		}
	}
	return s.writePending(keep)
}

// The time seen is kept twice: in clock, and in licenses/.seen beside the
// licenses it protects. Deleting or rewinding one of them does not reset
// it: LastSeen takes the later of the two, and once a license is installed
// a missing record is itself a sign of tampering (activation writes both).
// On a real clock, the newest modification time among the state files
// counts too.

// ErrClockRecord means the record of the last time seen is missing or
// damaged while a license is installed: someone removed or edited it.
var ErrClockRecord = errors.New("the record of the last time seen is missing or damaged")

func (s *State) seenPaths() [2]string {
	return [2]string{s.path("clock"), s.path("licenses", ".seen")}
}

// readSeen reads one time record: zero and false when it is missing.
func readSeen(path string) (time.Time, bool, error) {
	b, err := readSmall(path)
	if errors.Is(err, fs.ErrNotExist) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, ErrClockRecord
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || n < 0 {
		return time.Time{}, false, ErrClockRecord
	}
	return time.Unix(n, 0).UTC(), true, nil
}

// records returns the later of the two time records and how many exist.
func (s *State) records() (last time.Time, present int, err error) {
	for _, p := range s.seenPaths() {
		t, ok, err := readSeen(p)
		if err != nil {
			return time.Time{}, 0, err
		}
		if ok {
			present++
		}
		if t.After(last) {
			last = t
		}
	}
	return last, present, nil
}

// hasLicenses reports whether any license is installed.
func (s *State) hasLicenses() bool {
	ents, _ := os.ReadDir(s.path("licenses"))
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".lic") && !strings.HasPrefix(e.Name(), ".") {
			return true
		}
	}
	return false
}

// newestModTime returns the latest modification time among the state's
// files (not its directories, whose times change when a file is removed).
func (s *State) newestModTime() time.Time {
	var newest time.Time
	for _, d := range []string{s.Dir, s.path("licenses"), s.path("provisional")} {
		ents, _ := os.ReadDir(d)
		for _, e := range ents {
			if !e.Type().IsRegular() {
				continue
			}
			if fi, err := e.Info(); err == nil && fi.ModTime().After(newest) {
				newest = fi.ModTime()
			}
		}
	}
	return newest.UTC().Truncate(time.Second)
}

// LastSeen returns the latest time this state has seen (zero if never):
// the later of its two time records. With a license installed, a missing
// or damaged record is ErrClockRecord.
func (s *State) LastSeen() (time.Time, error) {
	return s.lastSeen(false)
}

// lastSeen is LastSeen, also counting the files' modification times when
// withFileTimes (the verifier runs on the real clock, which set them).
func (s *State) lastSeen(withFileTimes bool) (time.Time, error) {
	last, present, err := s.records()
	if err != nil {
		return time.Time{}, err
	}
	if present < 2 && s.hasLicenses() {
		return time.Time{}, ErrClockRecord
	}
	if withFileTimes {
		if m := s.newestModTime(); m.After(last) {
			last = m
		}
	}
	return last, nil
}

// Touch records now as the last time seen if it is later than the one
// recorded (by at least a minute, to spare the disk).
func (s *State) Touch(now time.Time) error {
	last, present, err := s.records()
	if err != nil || (present < 2 && s.hasLicenses()) {
		// A damaged or missing record stays so (and verify keeps
		// reporting CLOCK_TAMPERED): rewriting it would accept a
		// turned-back clock.
		return nil
	}
	if present == 2 && !now.After(last.Add(time.Minute)) {
		return nil
	}
	return s.writeSeen(now, last)
}

// markSeen writes both time records (the later of now and what they
// hold), whatever state they are in: activation calls it once every check
// has passed, so that a freshly installed license is protected.
func (s *State) markSeen(now time.Time) error {
	last, _, _ := s.records()
	return s.writeSeen(now, last)
}

func (s *State) writeSeen(now, last time.Time) error {
	if last.After(now) {
		now = last
	}
	b := []byte(strconv.FormatInt(now.Unix(), 10) + "\n")
	for _, p := range s.seenPaths() {
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return err
		}
		if err := atomicfile.Write(p, b, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// pendingSeeds returns the pending requests of product that carry a
// phone-code seed.
func (s *State) pendingSeeds(product string) ([]pending, error) {
	ps, err := s.readPending()
	if err != nil {
		return nil, err
	}
	var out []pending
	for _, p := range ps {
		if p.product == productFile(product) && len(p.seed) > 0 {
			out = append(out, p)
		}
	}
	return out, nil
}

// Provisional activations (phone codes): provisional/<product> holds the
// request hash the code answered and the end of the grace period;
// provisional/<product>.tries counts wrong codes.

func (s *State) provisionalPath(product string, suffix string) string {
	return s.path("provisional", strings.TrimSuffix(productFile(product), ".lic")+suffix)
}

// Provisional returns the provisional activation of product: the request
// it answered and when it ends (zero time if there is none).
func (s *State) Provisional(product string) (hash []byte, until time.Time, err error) {
	b, err := readSmall(s.provisionalPath(product, ""))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, time.Time{}, nil
	}
	if err != nil {
		return nil, time.Time{}, err
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return nil, time.Time{}, errors.New("the provisional activation record is damaged")
	}
	hash, err1 := hex.DecodeString(f[0])
	u, err2 := strconv.ParseInt(f[1], 10, 64)
	if err1 != nil || err2 != nil || len(hash) != 32 {
		return nil, time.Time{}, errors.New("the provisional activation record is damaged")
	}
	return hash, time.Unix(u, 0).UTC(), nil
}

func (s *State) setProvisional(product string, hash [32]byte, until time.Time) error {
	if err := os.MkdirAll(s.path("provisional"), 0o700); err != nil {
		return err
	}
	return atomicfile.Write(s.provisionalPath(product, ""), []byte(fmt.Sprintf("%x %d\n", hash, until.Unix())), 0o600)
}

// provisionalUse is one installation's use of its provisional period.
type provisionalUse struct {
	began   time.Time
	request []byte // hash of the request whose phone code started it
}

// provisionalUsed returns installation inst's use of its one provisional
// period for product (nil if none). The record (provisional/<product>.used)
// outlives the period and the license: only a new installation key starts
// afresh.
func (s *State) provisionalUsed(product string, inst crypto.KeyID) (*provisionalUse, error) {
	b, err := readSmall(s.provisionalPath(product, ".used"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	damaged := errors.New("the provisional use record is damaged")
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) != 3 {
			return nil, damaged
		}
		at, err1 := strconv.ParseInt(f[1], 10, 64)
		h, err2 := hex.DecodeString(f[2])
		if err1 != nil || err2 != nil || len(h) != 32 {
			return nil, damaged
		}
		if f[0] == inst.String() {
			return &provisionalUse{began: time.Unix(at, 0).UTC(), request: h}, nil
		}
	}
	return nil, nil
}

// setProvisionalUsed appends inst's use of its provisional period: when it
// began and which request's code started it.
func (s *State) setProvisionalUsed(product string, inst crypto.KeyID, at time.Time, hash [32]byte) error {
	if err := os.MkdirAll(s.path("provisional"), 0o700); err != nil {
		return err
	}
	old, err := readSmall(s.provisionalPath(product, ".used"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	line := fmt.Sprintf("%s %d %x\n", inst, at.Unix(), hash)
	return atomicfile.Write(s.provisionalPath(product, ".used"), append(old, line...), 0o600)
}

// ProvisionalUse returns, for the current installation, when its one
// provisional period for product began and the request whose phone code
// started it (ok false if it never had one).
func (s *State) ProvisionalUse(product string) (began time.Time, request []byte, ok bool, err error) {
	inst, err := s.InstallationPublic()
	if err != nil {
		return time.Time{}, nil, false, nil
	}
	u, err := s.provisionalUsed(product, inst.ID())
	if u == nil || err != nil {
		return time.Time{}, nil, false, err
	}
	return u.began, u.request, true, nil
}

func (s *State) removeProvisional(product string) {
	os.Remove(s.provisionalPath(product, ""))
	os.Remove(s.provisionalPath(product, ".tries"))
}

func (s *State) codeTries(product string) int {
	b, err := readSmall(s.provisionalPath(product, ".tries"))
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return n
}

func (s *State) setCodeTries(product string, n int) error {
	if err := os.MkdirAll(s.path("provisional"), 0o700); err != nil {
		return err
	}
	return atomicfile.Write(s.provisionalPath(product, ".tries"), []byte(strconv.Itoa(n)+"\n"), 0o600)
}
