package floating

import (
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/airlock-offline/airlock/request"
)

// Authentication modes: what a client shows beyond the proof of its
// installation key, which every seat operation needs in every mode.
const (
	AuthNone       = "none"        // the proof alone
	AuthLicenseKey = "license-key" // the pool's license key, in the Airlock-License-Key header
	AuthUsers      = "users"       // a bearer token from /login (users with passwords)
)

// Roles. An admin may do everything; a user may take seats (in mode
// "users") and read the status.
const (
	RoleAdmin = "admin"
	RoleUser  = "user"
)

// Credentials are what a caller presented beside its proof.
type Credentials struct {
	LicenseKey string
	Bearer     string
}

func credentials(r *http.Request) Credentials {
	tok, _ := bearer(r)
	return Credentials{LicenseKey: r.Header.Get(LicenseKeyHeader), Bearer: tok}
}

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	return strings.TrimSpace(tok), ok && tok != ""
}

func (s *Server) authMode() string { return *s.auth.Load() }

// AuthMode is how clients authenticate now: AuthNone, AuthLicenseKey or
// AuthUsers.
func (s *Server) AuthMode() string { return s.authMode() }

// metaAuthMode is the database's record of the authentication mode.
const metaAuthMode = "auth_mode"

// SetAuthMode changes how clients authenticate, at once and for every
// later start that names no mode (Config.Auth ""): the admin's choice on
// the console or the API. Leases already granted are kept; the next
// renewal is checked under the new mode. The change is an event.
func (s *Server) SetAuthMode(mode string) error {
	if !validAuth(mode) {
		return errorf(CodeMalformed, "unknown authentication mode: want %s, %s or %s", AuthNone, AuthLicenseKey, AuthUsers)
	}
	old := s.authMode()
	if err := <-s.st.enqueue(setMeta(metaAuthMode, mode), eventStmt(s.now().Unix(), "auth.changed", "", old+" -> "+mode)); err != nil {
		return s.failed(err)
	}
	s.auth.Store(&mode)
	return nil
}

// initAuth sets the mode at start: mode when one is named (and kept for
// later starts), else the mode kept in the database, else AuthNone.
func (s *Server) initAuth(mode string) error {
	kept, err := s.meta(metaAuthMode)
	if err != nil {
		return err
	}
	switch {
	case mode != "" && mode != kept:
		if err := <-s.st.enqueue(setMeta(metaAuthMode, mode)); err != nil {
			return fmt.Errorf("floating: cannot keep the authentication mode: %w", err)
		}
	case mode == "" && validAuth(kept):
		mode = kept
	case mode == "":
		mode = AuthNone
	}
	s.auth.Store(&mode)
	return nil
}

func validAuth(mode string) bool {
	return mode == AuthNone || mode == AuthLicenseKey || mode == AuthUsers
}

// Token lifetimes.
const (
	LoginTokenTTL = 12 * time.Hour
	tokenPrefix   = "alst_"
)

func hashToken(tok string) []byte {
	h := sha256.Sum256([]byte("airlock server token v1\x00" + tok))
	return h[:]
}

// CreateToken makes a bearer token for name with role, valid for ttl (0:
// until revoked). Only its hash is stored; the token is returned once.
func (s *Server) CreateToken(name, role string, ttl time.Duration) (string, time.Time, error) {
	if role != RoleAdmin && role != RoleUser {
		return "", time.Time{}, errorf(CodeMalformed, "a role is %q or %q", RoleAdmin, RoleUser)
	}
	var b [32]byte
	if _, err := io.ReadFull(s.rand, b[:]); err != nil {
		return "", time.Time{}, errorf(CodeInternal, "cannot read randomness")
	}
	tok := tokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	now := s.now()
	var exp time.Time
	var expUnix int64
	if ttl > 0 {
		exp = now.Add(ttl).UTC().Truncate(time.Second)
		expUnix = exp.Unix()
	}
	if err := s.st.exec(stmt{`INSERT INTO floating_tokens (hash, name, role, created, expires) VALUES (?, ?, ?, ?, ?)`,
		[]any{hashToken(tok), name, role, now.Unix(), expUnix}}); err != nil {
		return "", time.Time{}, errorf(CodeInternal, "cannot store the token: %v", err)
	}
	return tok, exp, nil
}

// RevokeToken revokes a bearer token at once.
func (s *Server) RevokeToken(tok string) error {
	if err := s.st.exec(stmt{`DELETE FROM floating_tokens WHERE hash = ?`, []any{hashToken(tok)}}); err != nil {
		return errorf(CodeInternal, "cannot revoke the token: %v", err)
	}
	return nil
}

// checkToken returns the role of a live token that has at least role.
func (s *Server) checkToken(tok, role string) (string, error) {
	if tok == "" {
		return "", errorf(CodeUnauthorized, "this call needs a bearer token (Authorization: Bearer …): log in first")
	}
	var got string
	var exp int64
	err := s.st.db.QueryRow(s.st.q(`SELECT role, expires FROM floating_tokens WHERE hash = ?`), hashToken(tok)).Scan(&got, &exp)
	if errors.Is(err, sql.ErrNoRows) || err == nil && exp != 0 && exp <= s.now().Unix() {
		return "", errorf(CodeUnauthorized, "the bearer token is unknown, revoked or expired: log in again")
	}
	if err != nil {
		return "", errorf(CodeInternal, "cannot read the tokens: %v", err)
	}
	if role == RoleAdmin && got != RoleAdmin {
		return "", errorf(CodeForbidden, "this call is for admins")
	}
	return got, nil
}

func (s *Server) authorize(r *http.Request, role string) (string, error) {
	tok, _ := bearer(r)
	return s.checkToken(tok, role)
}

// Argon2id parameters (RFC 9106, second recommended option); tests lower
// them.
var (
	argonTime   uint32 = 3
	argonMemory uint32 = 64 << 10 // KiB
)

const (
	argonThreads = 2
	argonLen     = 32
	minPassword  = 12
)

// SetUser creates or replaces a user with a password (stored as an
// Argon2id hash) and a role.
func (s *Server) SetUser(name, password, role string) error {
	if e := request.ValidText(name, 64); e != "" {
		return errorf(CodeMalformed, "invalid user name: %s", e)
	}
	if role != RoleAdmin && role != RoleUser {
		return errorf(CodeMalformed, "a role is %q or %q", RoleAdmin, RoleUser)
	}
	if len(password) < minPassword || len(password) > 1024 {
		return errorf(CodeMalformed, "a password is %d to 1024 bytes", minPassword)
	}
	salt := make([]byte, 16)
	if _, err := io.ReadFull(s.rand, salt); err != nil {
		return errorf(CodeInternal, "cannot read randomness")
	}
	h := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonLen)
	if err := s.st.exec(stmt{`INSERT INTO floating_users (name, hash, salt, role) VALUES (?, ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET hash = excluded.hash, salt = excluded.salt, role = excluded.role`,
		[]any{name, h, salt, role}}); err != nil {
		return errorf(CodeInternal, "cannot store the user: %v", err)
	}
	return nil
}

// Login checks a user's password and returns a bearer token valid for
// LoginTokenTTL. Attempts are limited per remote host and per user name.
func (s *Server) Login(host, name, password string) (*LoginResponse, error) {
	now := s.now()
	if !s.rate.allow("h:"+host, now) || !s.rate.allow("u:"+name, now) {
		return nil, errorf(CodeRateLimited, "too many login attempts; wait a minute")
	}
	var hash, salt []byte
	var role string
	err := s.st.db.QueryRow(s.st.q(`SELECT hash, salt, role FROM floating_users WHERE name = ?`), name).Scan(&hash, &salt, &role)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, errorf(CodeInternal, "cannot read the users: %v", err)
	}
	if errors.Is(err, sql.ErrNoRows) {
		salt = make([]byte, 16) // the same work for an unknown user
	}
	h := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonLen)
	if err != nil || subtle.ConstantTimeCompare(h, hash) != 1 {
		return nil, errorf(CodeUnauthorized, "wrong user name or password")
	}
	tok, exp, err := s.CreateToken(name, role, LoginTokenTTL)
	if err != nil {
		return nil, err
	}
	return &LoginResponse{Token: tok, Role: role, Expires: exp}, nil
}

// rateLimiter allows loginBurst attempts per key per minute.
type rateLimiter struct {
	mu sync.Mutex
	m  map[string]*window
}

type window struct {
	start time.Time
	n     int
}

const (
	loginBurst = 10
	maxWindows = 1 << 16
)

func (r *rateLimiter) allow(key string, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil || len(r.m) >= maxWindows {
		for k, w := range r.m {
			if now.Sub(w.start) >= time.Minute {
				delete(r.m, k)
			}
		}
		if r.m == nil {
			r.m = map[string]*window{}
		}
		if len(r.m) >= maxWindows {
			return false
		}
	}
	w := r.m[key]
	if w == nil || now.Sub(w.start) >= time.Minute {
		w = &window{start: now}
		r.m[key] = w
	}
	w.n++
	return w.n <= loginBurst
}
