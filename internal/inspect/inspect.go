// Package inspect describes any airlock file for a person: what it is, who
// signed it and whether that signature verifies. It shows public fields only:
// sealed fields are reported by size, never opened, and key files show only
// their public half.
package inspect

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/internal/armor"
	"github.com/airlock-offline/airlock/receipt"
	"github.com/airlock-offline/airlock/request"
	"github.com/airlock-offline/airlock/response"
	"github.com/airlock-offline/airlock/result"
	"github.com/airlock-offline/airlock/usage"
)

// Field is one line of a report.
type Field struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Report describes one file.
type Report struct {
	Kind     string  `json:"kind"`
	SignedBy string  `json:"signed_by,omitempty"` // key id
	Verified bool    `json:"verified"`
	Result   string  `json:"result,omitempty"` // result code of the signature check
	Note     string  `json:"note,omitempty"`
	Fields   []Field `json:"fields"`
}

func (r *Report) add(name, format string, a ...any) {
	r.Fields = append(r.Fields, Field{name, fmt.Sprintf(format, a...)})
}

// Describe inspects data. trusted are the vendor keys the caller trusts; a
// license is reported as verified only under one of them.
func Describe(data []byte, trusted []*crypto.Public) (*Report, error) {
	if crypto.IsEncryptedKeyFile(data) {
		return &Report{Kind: "encrypted key file", Note: "age-encrypted (passphrase); contents not shown"}, nil
	}
	if p, err := crypto.ParsePublic(string(data)); err == nil {
		r := &Report{Kind: p.Role.String() + " public key"}
		r.add("key id", "%s", p.ID())
		return r, nil
	}
	kind, payload, err := armor.Decode(data)
	if err != nil {
		return nil, result.Wrap(result.Malformed, "not an airlock file", err)
	}
	switch kind {
	case armor.Request:
		return describeRequest(payload)
	case armor.License:
		return describeLicense(payload, trusted)
	case armor.Receipt:
		return describeReceipt(payload)
	case armor.UsageReport:
		return describeUsage(payload)
	case armor.SecretKey:
		return &Report{Kind: "plaintext secret key file", Note: "unencrypted private key: keep it secret, or re-create it encrypted"}, nil
	}
	return &Report{Kind: kind.String(), Note: "this version cannot show this kind of file"}, nil
}

func describeReceipt(payload []byte) (*Report, error) {
	r := &Report{Kind: "deactivation receipt"}
	s, err := receipt.Verify(payload)
	if err != nil {
		r.Result = string(result.CodeOf(err))
		r.Note = err.Error()
		return r, nil
	}
	q := s.Receipt
	inst := crypto.KeyIDOf(q.InstallSign)
	r.SignedBy = inst.String()
	r.Verified = true
	r.Result = string(result.Valid)
	r.Note = "signed by the installation that gives up the seat (self-signed); the desk's ledger decides whether it holds it"
	r.add("product", "%q", q.Product)
	r.add("license key", "%s", q.LicenseKey)
	r.add("activation id", "%s", hex.EncodeToString(q.ActivationID))
	r.add("installation key id", "%s", inst)
	r.add("license hash", "%x", q.LicenseHash)
	r.add("created", "%s", ts(time.Unix(q.Created, 0)))
	r.add("size", "%d bytes", len(payload))
	return r, nil
}

func describeUsage(payload []byte) (*Report, error) {
	r := &Report{Kind: "usage report"}
	s, err := usage.Verify(payload)
	if err != nil {
		r.Result = string(result.CodeOf(err))
		r.Note = err.Error()
		return r, nil
	}
	u := s.Report
	r.SignedBy = u.ServerID().String()
	r.Verified = true
	r.Result = string(result.Valid)
	r.Note = "signed by the floating server it names (self-signed); the desk's ledger decides whether that server holds a pool license"
	r.add("server key id", "%s", u.ServerID())
	r.add("sequence", "%d", u.Seq)
	r.add("follows", "%x", u.Prev)
	r.add("hash", "%x", s.Hash)
	r.add("period", "%s to %s", ts(u.FromTime()), ts(u.ToTime()))
	for _, p := range u.Products {
		r.add("product", "%q (license %s): peak %d of %d seats, %d denials", p.Product, p.LicenseKey, p.Usage.Peak, p.Seats, p.Usage.Denials)
	}
	if u.Pseudonymised {
		r.add("pseudonymised", "yes")
	}
	r.add("size", "%d bytes", len(payload))
	return r, nil
}

func ts(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format(time.RFC3339)
}

func describeRequest(payload []byte) (*Report, error) {
	if request.IsNodeRequest(payload) {
		return describeNodeRequest(payload)
	}
	r := &Report{Kind: "activation request"}
	s, err := request.Verify(payload)
	if err != nil {
		r.Result = string(result.CodeOf(err))
		r.Note = err.Error()
		return r, nil
	}
	return requestFields(r, s, payload), nil
}

// describeNodeRequest shows a request of several floating-server nodes:
// the first node's request, the nodes, and which have co-signed.
func describeNodeRequest(payload []byte) (*Report, error) {
	r := &Report{Kind: "activation request of several floating-server nodes"}
	n, s, err := request.ParseNodeRequest(payload)
	if err != nil {
		r.Result = string(result.CodeOf(err))
		r.Note = err.Error()
		return r, nil
	}
	requestFields(r, s, payload)
	missing, err := n.Missing()
	if err != nil {
		r.Result, r.Verified, r.Note = string(result.Malformed), false, err.Error()
		return r, nil
	}
	for i, k := range n.Nodes {
		signed := "co-signed"
		for _, m := range missing {
			if string(m) == string(k) {
				signed = "not co-signed yet"
			}
		}
		r.add(fmt.Sprintf("node %d", i+1), "%s, %s", crypto.KeyIDOf(k), signed)
	}
	if len(missing) > 0 {
		r.Verified = false
		r.Result = string(result.SignatureInvalid)
		r.Note = fmt.Sprintf("%d of the %d nodes have co-signed; the desk signs it once every node has", len(n.Nodes)-len(missing), len(n.Nodes))
	} else {
		r.Note = "signed by the first node's installation key, and co-signed by every node it names"
	}
	return r, nil
}

func requestFields(r *Report, s *request.Signed, payload []byte) *Report {
	q := s.Request
	inst, _ := q.Installation()
	r.SignedBy = inst.ID().String()
	r.Verified = true
	r.Result = string(result.Valid)
	r.Note = "signed by the installation key it carries (self-signed)"
	r.add("version", "%d", q.Version)
	r.add("product", "%q", q.Product)
	r.add("license key", "%s", q.LicenseKey)
	r.add("installation key id", "%s", inst.ID())
	r.add("vendor key id", "%x", q.VendorKeyID)
	r.add("fingerprint", "%x", q.Fingerprint)
	r.add("components", "%d", len(q.Components))
	r.add("created", "%s", ts(q.CreatedTime()))
	r.add("request hash", "%x", s.Hash)
	if q.HardwareKey != nil {
		r.add("hardware key", "type %d, serial %x", q.HardwareKey.Type, q.HardwareKey.Serial)
	}
	if len(q.Sealed) > 0 {
		r.add("sealed fields", "%d bytes, for the vendor only", len(q.Sealed))
	}
	r.add("size", "%d bytes", len(payload))
	return r
}

func describeLicense(payload []byte, trusted []*crypto.Public) (*Report, error) {
	r := &Report{Kind: "license"}
	if len(trusted) == 0 {
		l, kid, err := response.ParseUnverified(payload)
		r.SignedBy = kid.String()
		if err != nil {
			r.Result = string(result.CodeOf(err))
			r.Note = err.Error()
			return r, nil
		}
		r.Note = "no vendor key given: signature not checked (fields below are unverified)"
		return licenseFields(r, l, payload), nil
	}
	l, kid, err := response.Parse(payload, trusted...)
	r.SignedBy = kid.String()
	if err != nil {
		r.Result = string(result.CodeOf(err))
		r.Note = err.Error()
		if result.CodeOf(err) != result.UnknownVendorKey {
			return r, nil
		}
		// Signed by a key we do not hold: show what it claims, marked so.
		if l, _, err = response.ParseUnverified(payload); err != nil {
			return r, nil
		}
		r.Note += " (fields below are unverified)"
	} else {
		r.Verified = true
		r.Result = string(result.Valid)
	}
	return licenseFields(r, l, payload), nil
}

func licenseFields(r *Report, l *response.License, payload []byte) *Report {
	r.add("version", "%d", l.Version)
	r.add("license key", "%s", l.LicenseKey)
	r.add("activation id", "%s", hex.EncodeToString(l.ActivationID))
	r.add("product", "%q", l.Product)
	r.add("licensee", "%q", l.Licensee)
	names := make([]string, 0, len(l.Features))
	for n := range l.Features {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		r.add("feature", "%q = %d", n, l.Features[n])
	}
	r.add("issued", "%s", ts(l.IssuedTime()))
	r.add("not before", "%s", ts(l.NotBeforeTime()))
	r.add("expires", "%s", ts(l.ExpiresTime()))
	if l.LeaseUntil != 0 {
		r.add("lease until", "%s", ts(l.LeaseUntilTime()))
	}
	inst := crypto.KeyIDOf(l.Binding.InstallKey)
	r.add("installation key id", "%s", inst)
	r.add("fingerprint", "%x", l.Binding.Fingerprint)
	r.add("match policy", "%s", l.Policy())
	if l.Binding.HardwareKey != nil {
		r.add("hardware key", "type %d, serial %x", l.Binding.HardwareKey.Type, l.Binding.HardwareKey.Serial)
	}
	if l.KeyOnly() {
		r.add("bound to", "the hardware key alone (portable: valid on any machine where the key proves itself)")
	}
	r.add("answers request", "%x", l.RequestHash)
	if l.Pool != nil {
		r.add("pool", "%s", l.Pool)
		for i, k := range l.Pool.Nodes {
			r.add(fmt.Sprintf("pool node %d", i+1), "%s", crypto.KeyIDOf(k))
		}
	}
	if len(l.Sealed) > 0 {
		r.add("sealed fields", "%d bytes, for the installation only", len(l.Sealed))
	}
	r.add("size", "%d bytes", len(payload))
	return r
}

// Print writes r for a person.
func (r *Report) Print(w io.Writer) {
	fmt.Fprintf(w, "%s\n", r.Kind)
	if r.SignedBy != "" {
		state := "does not verify"
		if r.Verified {
			state = "verifies"
		}
		fmt.Fprintf(w, "  signed by key %s: %s\n", r.SignedBy, state)
	}
	if r.Result != "" && !r.Verified {
		fmt.Fprintf(w, "  result: %s\n", r.Result)
	}
	if r.Note != "" {
		fmt.Fprintf(w, "  note: %s\n", r.Note)
	}
	width := 0
	for _, f := range r.Fields {
		width = max(width, len(f.Name))
	}
	for _, f := range r.Fields {
		fmt.Fprintf(w, "  %s:%s %s\n", f.Name, strings.Repeat(" ", width-len(f.Name)), f.Value)
	}
}

// JSON writes r as one JSON object.
func (r *Report) JSON(w io.Writer) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(r)
}
