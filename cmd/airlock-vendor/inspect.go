package main

import (
	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/internal/inspect"
)

// cmdInspect trusts the desk's own key when it can read it.
func (a *app) cmdInspect(args []string) error {
	return inspect.Command(a.program(), args, func() ([]*crypto.Public, error) {
		if pub, err := a.loadPublic(); err == nil {
			return []*crypto.Public{pub}, nil
		}
		return nil, nil
	})
}
