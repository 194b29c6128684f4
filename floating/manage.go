package floating

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/airlock-offline/airlock/response"
)

// Activator is what the server's own activation needs from its host
// program: the request/activate round trip with the vendor's desk and the
// pool licenses valid on this machine. airlock-server implements it on its
// state folder; the admin API exposes it (the seed's addProduct).
type Activator interface {
	// Request makes an activation request (armored text) for a pool
	// license of product under licenseKey ("" with renew: a renewal of
	// the installed one).
	Request(product, licenseKey string, renew bool) ([]byte, error)
	// Install verifies and installs a pool license (armored text) and
	// returns its product.
	Install(license []byte) (string, error)
	// Licenses returns the pool licenses valid on this machine now.
	Licenses() ([][]byte, error)
}

// SetLicenses replaces the pool licenses served. A product that stays
// keeps its seats and counters (a renewed pool license takes effect at
// once); a new product starts from what the database holds for it; a
// product no longer licensed stops being served (its rows stay).
func (s *Server) SetLicenses(lics [][]byte) error {
	next := map[string]*response.License{}
	raw := map[string][]byte{}
	for _, b := range lics {
		lic, _, err := response.ParseUnverified(b)
		if err != nil {
			return fmt.Errorf("floating: %w", err)
		}
		if lic.Pool == nil {
			return fmt.Errorf("floating: the license for %q is not a pool license", lic.Product)
		}
		if err := s.checkMember(lic); err != nil {
			return err
		}
		next[lic.Product], raw[lic.Product] = lic, b
	}
	var joining []*pool
	for p, lic := range next {
		if lic.Pool.MultiNode() {
			joining = append(joining, newPool(lic, raw[p]))
		}
	}
	if err := s.joinShared(joining); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for p, pl := range s.pools {
		if next[p] == nil {
			for _, l := range pl.leases {
				delete(s.byID, l.id)
			}
			delete(s.pools, p)
		}
	}
	for p, lic := range next {
		if pl := s.pools[p]; pl != nil && pl.shared != lic.Pool.MultiNode() {
			// From one node to several or back: the seats move between
			// memory and the database; start the pool afresh.
			for _, l := range pl.leases {
				delete(s.byID, l.id)
			}
			delete(s.pools, p)
		}
		if pl := s.pools[p]; pl != nil {
			pl.lic, pl.licBytes = lic, raw[p]
			// Feature pools may have changed: recount.
			clear(pl.features)
			for _, l := range pl.leases {
				for _, f := range l.features {
					if _, ok := lic.Pool.FeatureSeats[f]; ok {
						pl.features[f]++
					}
				}
			}
			continue
		}
		pl := newPool(lic, raw[p])
		s.pools[p] = pl
		if pl.shared {
			continue
		}
		if err := s.loadPool(pl); err != nil {
			return err
		}
	}
	return nil
}

// loadPool reads one product's live leases and counters; called with s.mu
// held, for a product with no pool before (so no write of it is pending).
func (s *Server) loadPool(pl *pool) error {
	rows, err := s.st.db.Query(s.st.q(`SELECT `+sharedLeaseCols+` FROM floating_leases WHERE product = ? AND expires > ?`), pl.product, s.now().Unix())
	if err != nil {
		return fmt.Errorf("cannot read the leases: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		l, err := scanLease(rows, pl.product)
		if errors.Is(err, errDamagedLease) {
			continue
		}
		if err != nil {
			return err
		}
		pl.add(l)
		s.byID[l.id] = l
	}
	if err := rows.Err(); err != nil {
		return err
	}
	c, err := s.readCounters(context.Background(), pl.product)
	if err != nil {
		return err
	}
	for f, used := range c {
		pl.counters[f] = used
	}
	return nil
}

// readCounters reads one product's consumption counters.
func (s *Server) readCounters(ctx context.Context, product string) (map[string]uint64, error) {
	rows, err := s.st.db.QueryContext(ctx, s.st.q(`SELECT feature, used FROM floating_counters WHERE product = ?`), product)
	if err != nil {
		return nil, fmt.Errorf("cannot read the counters: %w", err)
	}
	defer rows.Close()
	out := map[string]uint64{}
	for rows.Next() {
		var feature string
		var used int64
		if err := rows.Scan(&feature, &used); err != nil {
			return nil, err
		}
		out[feature] = uint64(used)
	}
	return out, rows.Err()
}

// Reload asks the Activator for the pool licenses valid now and serves
// them (SIGHUP, POST /reload, and after an install).
func (s *Server) Reload() error {
	if s.act == nil {
		return errorf(CodeNotFound, "this server cannot reload its licenses")
	}
	lics, err := s.act.Licenses()
	if err != nil {
		return errorf(CodeInternal, "cannot read the pool licenses: %v", err)
	}
	if err := s.SetLicenses(lics); err != nil {
		return errorf(CodeInternal, "%v", err)
	}
	return nil
}

// AuthRequest sets how clients authenticate (PUT /auth, admin): "none",
// "license-key" or "users".
type AuthRequest struct {
	Mode string `json:"mode"`
}

// ProductRequest is the body of POST /products (the seed's addProduct).
type ProductRequest struct {
	Product    string `json:"product"`
	LicenseKey string `json:"license_key,omitempty"`
	Renew      bool   `json:"renew,omitempty"`
	// HardwareKey binds the pool license to the hardware key plugged in
	// (the server's Activator must be a HardwareKeyActivator).
	HardwareKey bool `json:"hardware_key,omitempty"`
	// IsHWKeyReq is the seed's name for HardwareKey: true, "yes" or
	// "true" (false, "no", "false" or "" leave it off).
	IsHWKeyReq any `json:"isHWKeyReq,omitempty"`
}

// ProductResponse carries the activation request to take to the desk.
type ProductResponse struct {
	Product string `json:"product"`
	Request string `json:"request"` // armored text (also the scanner's and QR's content)
}

// LicenseRequest is the body of POST /licenses.
type LicenseRequest struct {
	License string `json:"license"` // armored text
}

// manageRoutes adds the admin calls of the server's own activation.
func (s *Server) manageRoutes(h func(string, func(*http.Request) (any, error))) {
	p := APIPrefix
	h("PUT "+p+"/auth", func(r *http.Request) (any, error) {
		if _, err := s.authorize(r, RoleAdmin); err != nil {
			return nil, err
		}
		var req AuthRequest
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		if err := s.SetAuthMode(req.Mode); err != nil {
			return nil, err
		}
		return &AuthRequest{Mode: s.AuthMode()}, nil
	})
	h("POST "+p+"/products", func(r *http.Request) (any, error) {
		if _, err := s.authorize(r, RoleAdmin); err != nil {
			return nil, err
		}
		var req ProductRequest
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		if s.act == nil {
			return nil, errorf(CodeNotFound, "this server cannot make activation requests")
		}
		hw, err := req.WantsHardwareKey()
		if err != nil {
			return nil, err
		}
		var text []byte
		if hw {
			text, err = s.requestHardwareKey(req)
		} else {
			text, err = s.act.Request(req.Product, req.LicenseKey, req.Renew)
		}
		if err != nil {
			return nil, errorf(CodeMalformed, "cannot make the request: %v", err)
		}
		return &ProductResponse{Product: req.Product, Request: string(text)}, nil
	})
	h("POST "+p+"/licenses", func(r *http.Request) (any, error) {
		if _, err := s.authorize(r, RoleAdmin); err != nil {
			return nil, err
		}
		var req LicenseRequest
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		if s.act == nil {
			return nil, errorf(CodeNotFound, "this server cannot install licenses")
		}
		product, err := s.act.Install([]byte(req.License))
		if err != nil {
			return nil, errorf(CodeMalformed, "the license was not installed: %v", err)
		}
		if err := s.Reload(); err != nil {
			return nil, err
		}
		return s.statusOf(product)
	})
	h("POST "+p+"/reload", func(r *http.Request) (any, error) {
		if _, err := s.authorize(r, RoleAdmin); err != nil {
			return nil, err
		}
		if err := s.Reload(); err != nil {
			return nil, err
		}
		return s.Status(), nil
	})
}

func (s *Server) statusOf(product string) (any, error) {
	for _, st := range s.Status() {
		if st.Product == product {
			return st, nil
		}
	}
	return nil, errorf(CodeLicenseNotValid, "the license for %q is installed but not valid on this machine now", product)
}
