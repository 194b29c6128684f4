package main

import (
	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/internal/cli"
	"github.com/airlock-offline/airlock/internal/inspect"
)

func (a *app) cmdInspect(args []string) error {
	fs := a.newFlags("inspect")
	asJSON := fs.Bool("json", false, "")
	images := fs.StringArray("qr-image", nil, "")
	if done, err := a.parse(fs, args); done || err != nil {
		return err
	}
	in := "-"
	if fs.NArg() == 1 {
		in = fs.Arg(0)
	} else if fs.NArg() > 1 {
		return cli.Usagef("inspect takes one file (or - for stdin)")
	}
	data, err := a.ui.ReadMessage(in, *images)
	if err != nil {
		return err
	}
	var trusted []*crypto.Public
	if pub, err := a.loadPublic(); err == nil {
		trusted = append(trusted, pub)
	}
	rep, err := inspect.Describe(data, trusted)
	if err != nil {
		return err
	}
	if *asJSON {
		return rep.JSON(a.ui.Stdout)
	}
	rep.Print(a.ui.Stdout)
	return nil
}
