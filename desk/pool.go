package desk

import (
	"context"
	"encoding/hex"
	"fmt"

	"github.com/airlock-offline/airlock/response"
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
	if j.prevLease == nil || j.p.Pool != nil {
		return
	}
	old, err := d.Ledger.GetActivation(ctx, j.key, hex.EncodeToString(j.prevLease))
	if err != nil {
		return
	}
	if prev, _, err := response.ParseUnverified(old.License); err == nil && prev.Pool != nil {
		j.p.Pool = prev.Pool
	}
}

// auditPool records a pool license as what it is: one server, N seats.
func (d *Desk) auditPool(ctx context.Context, j *job, iss *Issued) {
	p := iss.License.License.Pool
	if p == nil {
		return
	}
	_ = d.Ledger.Audit(ctx, "pool.issued", j.key, fmt.Sprintf("floating server %x (activation %x): %s", j.req.InstallSign[:8], j.actID, p))
}
