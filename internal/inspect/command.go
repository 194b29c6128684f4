package inspect

import (
	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/internal/cli"
)

// Command is `inspect [FILE|-] [--qr-image IMG…] [--json]`, the same in
// every binary: trusted gives the keys whose signatures count as known
// (the pinned vendor keys, the desk's own key).
func Command(p *cli.Program, args []string, trusted func() ([]*crypto.Public, error)) error {
	fs := p.Flags("inspect")
	asJSON := fs.Bool("json", false, "")
	images := fs.StringArray("qr-image", nil, "")
	if done, err := p.Parse(fs, args); done || err != nil {
		return err
	}
	in := "-"
	if fs.NArg() == 1 {
		in = fs.Arg(0)
	} else if fs.NArg() > 1 {
		return cli.Usagef("inspect takes one file (or - for stdin)")
	}
	keys, err := trusted()
	if err != nil {
		return err
	}
	data, err := p.UI.ReadMessage(in, *images)
	if err != nil {
		return err
	}
	rep, err := Describe(data, keys)
	if err != nil {
		return err
	}
	if *asJSON {
		return rep.JSON(p.UI.Stdout)
	}
	rep.Print(p.UI.Stdout)
	return nil
}
