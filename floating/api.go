package floating

import (
	"bytes"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// API paths, under APIPrefix.
const APIPrefix = "/api/v1"

// MaxBody bounds a request body.
const MaxBody = 64 << 10

// LicenseKeyHeader carries the pool's license key in authentication mode
// "license-key".
const LicenseKeyHeader = "Airlock-License-Key"

// ProofRequest is the body of every seat operation.
type ProofRequest struct {
	Proof []byte `json:"proof"` // a signed Proof (base64 in JSON)
}

// LeaseResponse answers acquire, renew and borrow.
type LeaseResponse struct {
	Lease     []byte    `json:"lease"` // the lease token (base64 in JSON)
	LeaseID   string    `json:"lease_id"`
	Product   string    `json:"product"`
	Features  []string  `json:"features,omitempty"`
	Expires   time.Time `json:"expires"`
	Borrowed  bool      `json:"borrowed,omitempty"`
	Heartbeat int       `json:"heartbeat_seconds"`
	NextNonce []byte    `json:"next_nonce"`
}

// NonceResponse answers /nonce and release.
type NonceResponse struct {
	Nonce    []byte `json:"nonce"`
	Released bool   `json:"released,omitempty"`
}

// ConsumeResponse answers /consumptions.
type ConsumeResponse struct {
	Consumption
	NextNonce []byte `json:"next_nonce"`
}

// InfoResponse answers /info: who the server is and what it holds. The
// pool licenses are signed by the vendor; a client verifies them and that
// the server's TLS key is the key they name.
type InfoResponse struct {
	ServerKeyID string        `json:"server_key_id"`
	HardwareID  string        `json:"hardware_id,omitempty"` // the hardware key's serial while it is plugged in, else the machine's
	Auth        string        `json:"auth"`
	Products    []InfoProduct `json:"products"`
	Time        time.Time     `json:"time"`
}

// InfoProduct is one pool license.
type InfoProduct struct {
	Product string `json:"product"`
	License []byte `json:"license"` // the pool license's signed bytes (base64)
}

// LoginRequest is the body of /login.
type LoginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// LoginResponse carries a bearer token.
type LoginResponse struct {
	Token   string    `json:"token"`
	Role    string    `json:"role"`
	Expires time.Time `json:"expires"`
}

// UserRequest creates or replaces a user (admin only).
type UserRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
	Role     string `json:"role"`
}

//go:embed openapi.json
var openAPI []byte

// OpenAPI returns the API's OpenAPI 3 document.
func OpenAPI() []byte { return bytes.Clone(openAPI) }

// Handler returns the HTTP/JSON API.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	h := func(pattern string, f func(*http.Request) (any, error)) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodGet {
				if err := s.checkTaken(); err != nil {
					writeError(w, err)
					return
				}
			}
			v, err := f(r)
			if err != nil {
				writeError(w, err)
				return
			}
			writeJSON(w, http.StatusOK, v)
		})
	}
	p := APIPrefix
	h("GET "+p+"/info", func(r *http.Request) (any, error) { return s.info(), nil })
	h("POST "+p+"/nonce", func(r *http.Request) (any, error) {
		n, err := s.Nonce()
		return &NonceResponse{Nonce: n}, err
	})
	lease := func(op func([]byte, Credentials) (*Grant, error)) func(*http.Request) (any, error) {
		return func(r *http.Request) (any, error) {
			var req ProofRequest
			if err := decode(r, &req); err != nil {
				return nil, err
			}
			g, err := op(req.Proof, credentials(r))
			if err != nil {
				return nil, err
			}
			return s.leaseResponse(g), nil
		}
	}
	h("POST "+p+"/leases/acquire", lease(s.Acquire))
	h("POST "+p+"/leases/renew", lease(s.Renew))
	h("POST "+p+"/leases/borrow", lease(s.Borrow))
	h("POST "+p+"/leases/release", func(r *http.Request) (any, error) {
		var req ProofRequest
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		n, err := s.Release(req.Proof, credentials(r))
		if err != nil {
			return nil, err
		}
		return &NonceResponse{Nonce: n, Released: true}, nil
	})
	h("POST "+p+"/consumptions", func(r *http.Request) (any, error) {
		var req ProofRequest
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		c, n, err := s.Consume(req.Proof, credentials(r))
		if err != nil {
			return nil, err
		}
		return &ConsumeResponse{Consumption: *c, NextNonce: n}, nil
	})
	h("POST "+p+"/login", func(r *http.Request) (any, error) {
		var req LoginRequest
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		return s.Login(remoteHost(r), req.Username, req.Password)
	})
	h("GET "+p+"/status", func(r *http.Request) (any, error) {
		if _, err := s.authorize(r, RoleUser); err != nil {
			return nil, err
		}
		return s.Status(), nil
	})
	h("GET "+p+"/leases", func(r *http.Request) (any, error) {
		if _, err := s.authorize(r, RoleUser); err != nil {
			return nil, err
		}
		return s.Leases(), nil
	})
	h("DELETE "+p+"/leases/{id}", func(r *http.Request) (any, error) {
		if _, err := s.authorize(r, RoleAdmin); err != nil {
			return nil, err
		}
		id, err := hex.DecodeString(r.PathValue("id"))
		if err != nil {
			return nil, errorf(CodeMalformed, "a lease id is %d hex digits", 2*LeaseIDLen)
		}
		if err := s.ForceRelease(id); err != nil {
			return nil, err
		}
		return map[string]any{"released": true, "lease_id": hex.EncodeToString(id)}, nil
	})
	h("POST "+p+"/users", func(r *http.Request) (any, error) {
		if _, err := s.authorize(r, RoleAdmin); err != nil {
			return nil, err
		}
		var req UserRequest
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		if err := s.SetUser(req.Username, req.Password, req.Role); err != nil {
			return nil, err
		}
		return map[string]any{"username": req.Username, "role": req.Role}, nil
	})
	h("POST "+p+"/logout", func(r *http.Request) (any, error) {
		tok, ok := bearer(r)
		if !ok {
			return nil, errorf(CodeUnauthorized, "no bearer token")
		}
		if err := s.RevokeToken(tok); err != nil {
			return nil, err
		}
		return map[string]any{"revoked": true}, nil
	})
	s.manageRoutes(h)
	s.hwRoutes(h)
	s.reportRoutes(h)
	mux.HandleFunc("GET "+p+"/openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(openAPI)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, errorf(CodeNotFound, "no such API call: %s %s (the API is described at %s/openapi.json)", r.Method, r.URL.Path, APIPrefix))
	})
	return guard(mux)
}

// guard bounds bodies and turns panics into coded errors (none is
// expected: every decoder is fuzzed).
func guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				writeError(w, errorf(CodeInternal, "internal error"))
			}
		}()
		r.Body = http.MaxBytesReader(w, r.Body, MaxBody)
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		next.ServeHTTP(w, r)
	})
}

func (s *Server) info() *InfoResponse {
	out := &InfoResponse{ServerKeyID: s.kid.String(), HardwareID: s.HardwareID(), Auth: s.authMode(), Time: s.now().UTC()}
	for prod, b := range s.Licenses() {
		out.Products = append(out.Products, InfoProduct{Product: prod, License: b})
	}
	if out.Products == nil {
		out.Products = []InfoProduct{}
	}
	return out
}

func (s *Server) leaseResponse(g *Grant) *LeaseResponse {
	hb := 0
	s.mu.Lock()
	if pl := s.pools[g.Lease.Product]; pl != nil {
		hb = int(pl.lic.Pool.Heartbeat)
	}
	s.mu.Unlock()
	return &LeaseResponse{Lease: g.Token, LeaseID: g.Lease.IDString(), Product: g.Lease.Product, Features: g.Lease.Features,
		Expires: g.Lease.ExpiresTime(), Borrowed: g.Lease.Borrowed, Heartbeat: hb, NextNonce: g.NextNonce}
}

// decode reads one JSON object strictly: bounded, no unknown fields,
// nothing after it.
func decode(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return errorf(CodeMalformed, "the body must be JSON (Content-Type: application/json)")
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return errorf(CodeTooLarge, "the body is larger than %d bytes", MaxBody)
		}
		return errorf(CodeMalformed, "cannot read the body")
	}
	return DecodeJSON(body, v)
}

// DecodeJSON is the API's JSON decoder: one object, no unknown fields,
// nothing after it, at most MaxBody bytes.
func DecodeJSON(body []byte, v any) error {
	if len(body) > MaxBody {
		return errorf(CodeTooLarge, "the body is larger than %d bytes", MaxBody)
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return errorf(CodeMalformed, "the body is not the expected JSON object")
	}
	if d.More() {
		return errorf(CodeMalformed, "the body has data after its JSON object")
	}
	if _, err := d.Token(); err != io.EOF {
		return errorf(CodeMalformed, "the body has data after its JSON object")
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, err error) {
	var e *Error
	if !errors.As(err, &e) {
		e = errorf(CodeInternal, "internal error")
	}
	writeJSON(w, e.Status, e)
}

func remoteHost(r *http.Request) string {
	h, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return h
}
