package response

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"slices"

	"github.com/airlock-offline/airlock/request"
)

// Limits on a pool's nodes.
const (
	MinNodes = 2
	MaxNodes = 5
)

func (p *Pool) validateNodes() error {
	if len(p.Nodes) == 0 {
		return nil
	}
	if len(p.Nodes) < MinNodes || len(p.Nodes) > MaxNodes {
		return &request.FieldError{Field: "pool nodes", Reason: fmt.Sprintf("must be %d to %d keys", MinNodes, MaxNodes)}
	}
	for i, k := range p.Nodes {
		if len(k) != ed25519.PublicKeySize {
			return &request.FieldError{Field: "pool nodes", Reason: "a node key is not an Ed25519 public key"}
		}
		for _, o := range p.Nodes[:i] {
			if bytes.Equal(o, k) {
				return &request.FieldError{Field: "pool nodes", Reason: "a node key is named twice"}
			}
		}
	}
	return nil
}

// ServerKeys are the keys that may sign the leases of a pool license: every
// node's key on a pool served by several nodes, else the one server's key
// the binding names.
func (l *License) ServerKeys() [][]byte {
	if l.Pool != nil && len(l.Pool.Nodes) > 0 {
		return l.Pool.Nodes
	}
	return [][]byte{l.Binding.InstallKey}
}

// IsServerKey reports whether key may sign the leases of the pool license l.
func (l *License) IsServerKey(key []byte) bool {
	return slices.ContainsFunc(l.ServerKeys(), func(k []byte) bool { return bytes.Equal(k, key) })
}

// MultiNode reports whether the pool is served by several nodes on one
// database.
func (p *Pool) MultiNode() bool { return p != nil && len(p.Nodes) > 0 }
