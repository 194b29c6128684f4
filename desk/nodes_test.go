package desk_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/internal/testrig/testkeys"
	"github.com/airlock-offline/airlock/request"
	"github.com/airlock-offline/airlock/response"
	"github.com/airlock-offline/airlock/result"
	"github.com/airlock-offline/airlock/usage"
)

// A request of several floating-server nodes becomes a pool license naming
// every node only once every node has co-signed it; it makes nothing but a
// pool license; a renewal keeps the node set.
func TestSignPoolNodes(t *testing.T) {
	e := newEnv(t)
	key := e.addLicense(nil)
	b := testkeys.Identity(crypto.RoleInstallation, "desk-test node b")
	req := e.request(machine(t, nil), key)
	n, err := request.NewNodeRequest(req, e.inst, [][]byte{b.Public().Sign})
	if err != nil {
		t.Fatal(err)
	}
	pool := &response.Pool{Seats: 5, LeaseTTL: 60, Heartbeat: 20}
	ctx := context.Background()
	half, _ := n.Bytes()
	if _, err := e.desk.SignPool(ctx, half, pool); result.CodeOf(err) != result.SignatureInvalid {
		t.Fatalf("node b has not co-signed: %v", err)
	}
	e.wantNoActivation(key)
	if err := n.Cosign(b); err != nil {
		t.Fatal(err)
	}
	full, _ := n.Bytes()
	if _, err := e.desk.Sign(ctx, full); result.CodeOf(err) != result.Malformed {
		t.Fatalf("a node request signed as a plain license: %v", err)
	}
	// The review (the desk console's) reads it, and says how to sign it.
	if rv := e.desk.Review(ctx, full); rv.Request == nil || result.CodeOf(rv.Problem) != result.Malformed || !strings.Contains(rv.Problem.Error(), "is for a pool license only: sign it as one, with the pool's terms") {
		t.Fatalf("the review of a node request: %+v", rv)
	}
	iss, err := e.desk.SignPool(ctx, full, pool)
	if err != nil {
		t.Fatal(err)
	}
	lic := iss.License.License
	if len(lic.Pool.Nodes) != 2 || !bytes.Equal(lic.Pool.Nodes[0], e.inst.Public().Sign) || !bytes.Equal(lic.Pool.Nodes[1], b.Public().Sign) {
		t.Fatalf("nodes: %d", len(lic.Pool.Nodes))
	}
	if !lic.IsServerKey(b.Public().Sign) || lic.IsServerKey(testkeys.Identity(crypto.RoleInstallation, "x").Public().Sign) {
		t.Fatal("server keys")
	}
	if pool.Nodes != nil {
		t.Fatal("the caller's pool was changed")
	}
	recs, err := e.led.AuditLog(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range recs {
		found = found || (r.Action == "pool.issued" && strings.Contains(r.Detail, "nodes "+e.inst.ID().String()+", "+b.ID().String()))
	}
	if !found {
		t.Fatalf("the audit log does not name the nodes: %+v", recs)
	}
	if e.seats(key) != 1 {
		t.Fatalf("the nodes take %d seats of the license, want 1", e.seats(key))
	}
	// A renewal by the first node, with a new pool: the node set stays.
	p := e.params(machine(t, nil), key)
	p.Kind, p.Renews = request.KindRenew, lic.ActivationID
	ren, err := e.desk.SignPool(ctx, e.makeRequest(p, e.inst).Bytes, &response.Pool{Seats: 9, LeaseTTL: 60, Heartbeat: 20})
	if err != nil {
		t.Fatal(err)
	}
	if rp := ren.License.License.Pool; rp.Seats != 9 || len(rp.Nodes) != 2 {
		t.Fatalf("renewed pool: %s", rp)
	}
}

// The nodes of one pool keep one chain of usage reports (in their shared
// database): a report signed by any node is the pool's, in the requesting
// node's chain; the desk refreshes on it.
func TestNodesUsageReports(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	key := e.addLicense(nil)
	b := testkeys.Identity(crypto.RoleInstallation, "desk-test node b")
	n, err := request.NewNodeRequest(e.request(machine(t, nil), key), e.inst, [][]byte{b.Public().Sign})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Cosign(b); err != nil {
		t.Fatal(err)
	}
	full, _ := n.Bytes()
	if _, err := e.desk.SignPool(ctx, full, &response.Pool{Seats: 5, LeaseTTL: 60, Heartbeat: 20}); err != nil {
		t.Fatal(err)
	}
	report := func(by *crypto.Identity, seq uint64, prev []byte) *usage.Signed {
		s, err := usage.Sign(by, &usage.Report{Seq: seq, Prev: prev, From: t0.Unix(), To: t0.Add(time.Duration(seq) * time.Hour).Unix(),
			Products: []usage.Product{{Product: product, LicenseKey: key, Seats: 5}}})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	r1 := report(e.inst, 1, nil)
	r2 := report(b, 2, r1.Hash[:])
	for i, r := range []*usage.Signed{r1, r2} {
		imp, err := e.desk.ImportReport(ctx, r.Text())
		if err != nil || imp.Flagged() || !bytes.Equal(imp.Stored.ServerKey, e.inst.Public().Sign) {
			t.Fatalf("report %d: %+v %v", i+1, imp, err)
		}
	}
	// Node b's report 2 again, signed by node a: a clone of the chain.
	if imp, err := e.desk.ImportReport(ctx, report(e.inst, 2, r1.Hash[:]).Text()); err != nil || imp.Stored.Flag != usage.FlagCloned {
		t.Fatalf("a second report 2: %+v %v", imp, err)
	}
	if _, err := e.desk.RefreshPool(ctx, r2, "", 0, false); err != nil {
		t.Fatalf("refresh on node b's report: %v", err)
	}
	stranger := testkeys.Identity(crypto.RoleInstallation, "not a node")
	if _, err := e.desk.ImportReport(ctx, report(stranger, 3, r2.Hash[:]).Text()); result.CodeOf(err) != result.LicenseUnknown {
		t.Fatalf("a report of a key that is no node: %v", err)
	}
}
