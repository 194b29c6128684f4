package desk

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/response"
	"github.com/airlock-offline/airlock/result"
)

// SignPool is Sign for a floating server (airlock-server): the license it
// issues is a pool license carrying pool, bound to the server's
// installation key and machine like any license. In the ledger the server
// takes one seat of the license (it is one machine); the pool's seats are
// the server's to hand out, and the audit log records them.
//
// A renewal of a pool license keeps the pool of the lease it renews when
// pool is nil (plain Sign does the same).
func (d *Desk) SignPool(ctx context.Context, reqBytes []byte, pool *response.Pool) (*Issued, error) {
	j, err := d.prepare(ctx, reqBytes)
	if err == nil {
		if pool != nil {
			j.p.Pool = pool
			if prev := d.prevPool(ctx, j); prev != nil && j.nodes == nil && len(pool.Nodes) == 0 {
				// A renewal keeps the node set the nodes' request certified.
				cp := *pool
				cp.Nodes = prev.Nodes
				j.p.Pool = &cp
			}
		} else {
			d.carryPool(ctx, j)
		}
		var iss *Issued
		if iss, err = d.finish(ctx, j); err == nil {
			d.auditPool(ctx, j, iss)
			return iss, nil
		}
	}
	d.auditRefusal(ctx, reqBytes, err)
	return nil, err
}

// carryPool gives a renewal the pool of the lease it renews, so that a
// floating server renews with the same request as any client.
func (d *Desk) carryPool(ctx context.Context, j *job) {
	if j.p.Pool != nil {
		return
	}
	j.p.Pool = d.prevPool(ctx, j)
}

// prevPool is the pool of the lease a renewal renews; nil if none.
func (d *Desk) prevPool(ctx context.Context, j *job) *response.Pool {
	if j.prevLease == nil {
		return nil
	}
	old, err := d.Ledger.GetActivation(ctx, j.key, hex.EncodeToString(j.prevLease))
	if err != nil {
		return nil
	}
	if prev, _, err := response.ParseUnverified(old.License); err == nil && prev.Pool != nil {
		return prev.Pool
	}
	return nil
}

// withNodes puts the node keys of a request of several floating-server
// nodes (every one of which co-signed it: request.VerifyNodes) into the
// pool license; such a request makes nothing but a pool license.
func withNodes(p *response.Params, nodes [][]byte) error {
	if len(nodes) == 0 {
		return nil
	}
	if p.Pool == nil {
		return result.New(result.Malformed, "a request of several floating-server nodes is for a pool license only")
	}
	cp := *p.Pool
	cp.Nodes = nodes
	p.Pool = &cp
	return nil
}

// auditPool records a pool license as what it is: one server, N seats.
func (d *Desk) auditPool(ctx context.Context, j *job, iss *Issued) {
	p := iss.License.License.Pool
	if p == nil {
		return
	}
	who := fmt.Sprintf("floating server %x", j.req.InstallSign[:8])
	if len(p.Nodes) > 0 {
		ids := make([]string, len(p.Nodes))
		for i, k := range p.Nodes {
			ids[i] = crypto.KeyIDOf(k).String()
		}
		who = "floating server nodes " + strings.Join(ids, ", ")
	}
	_ = d.Ledger.Audit(ctx, "pool.issued", j.key, fmt.Sprintf("%s (activation %x): %s", who, j.actID, p))
}
