package main

import (
	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/internal/inspect"
)

func (a *app) cmdInspect(args []string) error {
	return inspect.Command(a.program(), args, func() ([]*crypto.Public, error) { return a.vendorPublics(false) })
}
