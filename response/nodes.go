package response

import (
	"bytes"
	"slices"

	"github.com/airlock-offline/airlock/request"
)

func (p *Pool) validateNodes() error {
	if len(p.Nodes) == 0 {
		return nil
	}
	return request.ValidNodeKeys(p.Nodes, "pool nodes")
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
