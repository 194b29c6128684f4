package ledger

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Product is a product's settings in the ledger: whether a request that
// names a license key the ledger does not know creates a license for it
// (NetLicensing's "Auto-create Licensee"), for self-service and evaluation
// products, and the policy of such licenses. All fields are set by the
// vendor at the desk.
type Product struct {
	Name string // product name, as licenses and requests name it
	// AutoCreate: a request with a license key the ledger does not know
	// creates a license from Template ([Ledger.AutoCreateLicense]).
	AutoCreate bool
	// Template is the policy of auto-created licenses; its Key, Product,
	// Licensee, SecretHash, Expires, Created and Suspended are ignored
	// (and zero when read back). Its SecretMode must not be "predefined"
	// when AutoCreate is set: a predefined secret must be recorded before
	// the license's first activation, so no auto-created license can have
	// one.
	Template License
	// Validity: an auto-created license expires this long after its
	// creation; 0 means never. At least one second when not 0.
	Validity time.Duration
	// Created is when the product was first set; zero is replaced by the
	// current time. Later SetProducts of the same name keep it.
	Created time.Time
}

// templateJSON is how the products table stores a template: the policy
// part of a License, never a secret hash.
type templateJSON struct {
	MaxMachines       int               `json:"max_machines"`
	MaxReactivations  *int              `json:"max_reactivations,omitempty"`
	RefuseGenericKeys bool              `json:"refuse_generic_keys,omitempty"`
	LeasePeriod       int64             `json:"lease_period_ns,omitempty"`
	Features          map[string]uint64 `json:"features,omitempty"`
	Confidential      map[string]string `json:"confidential,omitempty"`
	MatchPolicy       string            `json:"match_policy"`
	RefuseEnv         string            `json:"refuse_env,omitempty"`
	HardwareEnv       string            `json:"hardware_key_env,omitempty"`
	SecretMode        string            `json:"secret_mode"`
}

func encodeTemplate(t *License) (string, error) {
	b, err := json.Marshal(templateJSON{
		MaxMachines:       t.MaxMachines,
		MaxReactivations:  t.MaxReactivations,
		RefuseGenericKeys: t.RefuseGenericKeys,
		LeasePeriod:       int64(t.LeasePeriod),
		Features:          t.Features,
		Confidential:      t.Confidential,
		MatchPolicy:       t.MatchPolicy,
		RefuseEnv:         t.RefuseEnv,
		HardwareEnv:       t.HardwareEnv,
		SecretMode:        secretMode(t.SecretMode),
	})
	if err != nil {
		// Not wrapped: the error could quote a confidential value.
		return "", errors.New("ledger: failed to encode the product's template")
	}
	return string(b), nil
}

// decodeTemplate decodes a stored template strictly: a field this version
// does not know could be a policy it would not apply.
func decodeTemplate(s string) (License, error) {
	var j templateJSON
	d := json.NewDecoder(bytes.NewReader([]byte(s)))
	d.DisallowUnknownFields()
	if err := d.Decode(&j); err != nil || d.More() {
		return License{}, fmt.Errorf("%w: product template", ErrCorrupt)
	}
	t := License{
		MaxMachines:       j.MaxMachines,
		MaxReactivations:  j.MaxReactivations,
		RefuseGenericKeys: j.RefuseGenericKeys,
		LeasePeriod:       time.Duration(j.LeasePeriod),
		Features:          j.Features,
		Confidential:      j.Confidential,
		MatchPolicy:       j.MatchPolicy,
		RefuseEnv:         j.RefuseEnv,
		HardwareEnv:       j.HardwareEnv,
		SecretMode:        j.SecretMode,
	}
	if t.SecretMode == "disabled" {
		t.SecretMode = "" // the zero value means disabled, as in License
	}
	if len(t.Features) == 0 {
		t.Features = nil
	}
	if len(t.Confidential) == 0 {
		t.Confidential = nil
	}
	if validatePolicy(&t) != nil {
		return License{}, fmt.Errorf("%w: product template", ErrCorrupt)
	}
	return t, nil
}

// policyOf returns the policy part of lic: lic without the fields a
// template ignores.
func policyOf(lic *License) License {
	t := *lic
	t.Key, t.Product, t.Licensee, t.SecretHash = "", "", "", nil
	t.Expires, t.Created, t.Suspended = time.Time{}, time.Time{}, false
	return t
}

// errPredefinedAutoCreate refuses what the seed's rule forbids.
var errPredefinedAutoCreate = invalid("a predefined licensee secret cannot be combined with auto-created licensees: " +
	"the secret must be set at the desk before the license's first activation; use client mode")

// validateProduct checks p and returns its template's policy part.
func validateProduct(p *Product) (License, error) {
	if err := checkText("product", p.Name, maxProductLen, true); err != nil {
		return License{}, err
	}
	t := policyOf(&p.Template)
	if err := validatePolicy(&t); err != nil {
		return License{}, err
	}
	if p.AutoCreate && t.SecretMode == "predefined" {
		return License{}, errPredefinedAutoCreate
	}
	if p.Validity < 0 {
		return License{}, invalid("validity is negative")
	}
	if p.Validity > 0 && p.Validity < time.Second {
		return License{}, invalid("validity is under one second")
	}
	if !p.Created.IsZero() && !timeInRange(p.Created) {
		return License{}, invalid("creation time is out of range")
	}
	return t, nil
}

// SetProduct records p, replacing the settings of a product of the same
// name (its creation time is kept). It fails with [ErrInvalid] if a field
// is malformed, or if p.AutoCreate is set with a template whose secret mode
// is "predefined". On success p.Created holds the stored creation time.
func (l *Ledger) SetProduct(ctx context.Context, p *Product) error {
	if p == nil {
		return fmt.Errorf("%w: nil product", ErrInvalid)
	}
	t, err := validateProduct(p)
	if err != nil {
		return err
	}
	template, err := encodeTemplate(&t)
	if err != nil {
		return err
	}
	created := p.Created
	if created.IsZero() {
		created = time.Now().UTC()
	}
	var stored int64
	err = l.write(ctx, func(ctx context.Context, tx *sqlTx) error {
		err := tx.QueryRowContext(ctx, `
			INSERT INTO products (name, auto_create, template, validity, created)
			VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET auto_create = excluded.auto_create,
				template = excluded.template, validity = excluded.validity
			RETURNING created`,
			p.Name, boolInt(p.AutoCreate), template, int64(p.Validity), created.UnixNano()).Scan(&stored)
		if err != nil {
			return fmt.Errorf("ledger: failed to set the product: %w", err)
		}
		validity := "never expire"
		if p.Validity > 0 {
			validity = "valid " + p.Validity.String()
		}
		return (&chain{tx: tx}).append(ctx, "product.set", "",
			fmt.Sprintf("product %q, auto-create %t, %d machine(s), %s, secret %s",
				p.Name, p.AutoCreate, t.MaxMachines, validity, secretMode(t.SecretMode)))
	})
	if err != nil {
		return err
	}
	p.Created = time.Unix(0, stored).UTC()
	return nil
}

const productColumns = `name, auto_create, template, validity, created`

func scanProduct(s scanner) (*Product, error) {
	var (
		p                 Product
		auto              int
		template          string
		validity, created int64
	)
	err := s.Scan(&p.Name, &auto, &template, &validity, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("ledger: failed to read product: %w", err)
	}
	if p.Template, err = decodeTemplate(template); err != nil {
		return nil, err
	}
	p.AutoCreate = auto != 0
	p.Validity = time.Duration(validity)
	p.Created = time.Unix(0, created).UTC()
	return &p, nil
}

// GetProduct returns the product with the given name, or [ErrNotFound].
func (l *Ledger) GetProduct(ctx context.Context, name string) (*Product, error) {
	if !storable(name) {
		return nil, ErrNotFound
	}
	p, err := scanProduct(l.db.QueryRowContext(ctx, `SELECT `+productColumns+` FROM products WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	return p, err
}

// ListProducts returns every product, ordered by name.
func (l *Ledger) ListProducts(ctx context.Context) ([]Product, error) {
	rows, err := l.db.QueryContext(ctx, `SELECT `+productColumns+` FROM products ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("ledger: failed to list products: %w", err)
	}
	defer rows.Close()
	var out []Product
	for rows.Next() {
		p, err := scanProduct(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ledger: failed to list products: %w", err)
	}
	return out, nil
}

// AutoCreateLicense creates the license key for product from the product's
// template, in one write transaction, and returns it: Key key, Product
// product, no licensee, Created now and, if the product has a Validity,
// Expires now + Validity (a zero now is the current time).
//
// It fails with [ErrNotFound] if the ledger has no such product or the
// product does not auto-create licenses, with [ErrExists] if a license
// with the key exists (another desk may have created it meanwhile: read
// it with [Ledger.GetLicense]), and with [ErrInvalid] if key is not a
// valid license key.
func (l *Ledger) AutoCreateLicense(ctx context.Context, product, key string, now time.Time) (*License, error) {
	if !storable(product) {
		return nil, ErrNotFound
	}
	if err := checkKey(key); err != nil {
		return nil, err
	}
	if now.IsZero() {
		now = time.Now()
	}
	var lic *License
	err := l.write(ctx, func(ctx context.Context, tx *sqlTx) error {
		p, err := scanProduct(tx.QueryRowContext(ctx, `SELECT `+productColumns+` FROM products WHERE name = ?`, product))
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if !p.AutoCreate {
			return ErrNotFound
		}
		if p.Template.SecretMode == "predefined" {
			return errPredefinedAutoCreate // SetProduct refuses it; the row was edited
		}
		c := p.Template
		c.Key, c.Product, c.Created = key, p.Name, now.UTC()
		if p.Validity > 0 {
			c.Expires = now.Add(p.Validity).UTC()
		}
		if err := validateLicense(&c); err != nil {
			return err
		}
		if err := insertLicense(ctx, tx, &c); err != nil {
			return err
		}
		expires := "never"
		if !c.Expires.IsZero() {
			expires = c.Expires.Format(time.RFC3339)
		}
		err = (&chain{tx: tx}).append(ctx, "license.auto-created", key,
			fmt.Sprintf("product %q, %d machine(s), expires %s, secret %s", c.Product, c.MaxMachines, expires, secretMode(c.SecretMode)))
		if err != nil {
			return err
		}
		lic = &c
		return nil
	})
	if err != nil {
		return nil, err
	}
	return lic, nil
}
