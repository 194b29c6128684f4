// Package testkeys gives tests deterministic identities and randomness.
// Test code only: its keys are public.
package testkeys

import (
	"crypto/sha256"
	"fmt"
	"io"

	"github.com/airlock-offline/airlock/crypto"
)

// Rand returns a deterministic byte stream: SHA-256(label || counter).
func Rand(label string) io.Reader { return &detRand{label: label} }

type detRand struct {
	label string
	n     int
	buf   []byte
}

func (r *detRand) Read(p []byte) (int, error) {
	for i := range p {
		if len(r.buf) == 0 {
			h := sha256.Sum256([]byte(fmt.Sprintf("%s/%d", r.label, r.n)))
			r.n++
			r.buf = h[:]
		}
		p[i] = r.buf[0]
		r.buf = r.buf[1:]
	}
	return len(p), nil
}

// Identity returns a deterministic identity for label.
func Identity(role crypto.Role, label string) *crypto.Identity {
	id, err := crypto.Generate(role, Rand(label))
	if err != nil {
		panic(err)
	}
	return id
}
