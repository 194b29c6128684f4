package main

import (
	"context"

	"github.com/airlock-offline/airlock/desk"
	"github.com/airlock-offline/airlock/internal/armor"
	"github.com/airlock-offline/airlock/internal/cli"
	"github.com/airlock-offline/airlock/response"
	"github.com/airlock-offline/airlock/result"
)

// signText signs a request, as a pool license for a floating server when
// --pool describes the pool (response.ParsePool).
func signText(d *desk.Desk, text []byte, pool string) (*desk.Issued, error) {
	if pool == "" {
		return d.SignText(context.Background(), text)
	}
	p, err := response.ParsePool(pool)
	if err != nil {
		return nil, cli.Usagef("--pool: %v", err)
	}
	b, err := armor.DecodeKind(text, armor.Request)
	if err != nil {
		return nil, result.Wrap(result.Malformed, "not a valid request", err)
	}
	return d.SignPool(context.Background(), b, p)
}

// poolOf describes the pool of a signed license ("" for a node-locked
// one), for license show: a floating server is one machine with N seats.
func poolOf(signed []byte) string {
	l, _, err := response.ParseUnverified(signed)
	if err != nil || l.Pool == nil {
		return ""
	}
	return l.Pool.String()
}
