// Command airlock runs on the offline machine: it makes activation
// requests, installs licenses and verifies them.
package main

import (
	"os"

	"github.com/spf13/pflag"

	"github.com/airlock-offline/airlock/internal/cli"
)

const prog = "airlock"

type app struct {
	ui             *cli.UI
	state          string
	vendorKeys     []string
	passphraseFile string
	secretFile     string
	secretErr      error
	pinFile        string
	secretFromKey  bool
	provisional    string
}

func main() {
	a := &app{ui: cli.Std(prog)}
	os.Exit(a.run(os.Args[1:]))
}

func (a *app) globalFlags(fs *pflag.FlagSet) {
	fs.StringVar(&a.state, "state", a.state, "")
	fs.StringArrayVar(&a.vendorKeys, "vendor-key", a.vendorKeys, "")
	fs.StringVar(&a.passphraseFile, "passphrase-file", a.passphraseFile, "")
	fs.StringVar(&a.secretFile, "licensee-secret-file", a.secretFile, "")
	fs.StringVar(&a.pinFile, "pin-file", a.pinFile, "")
	fs.BoolVar(&a.secretFromKey, "licensee-secret-from-key", a.secretFromKey, "")
	fs.StringVar(&a.provisional, "provisional-grace", a.provisional, "")
}

func (a *app) program() *cli.Program {
	return &cli.Program{UI: a.ui, Usage: usage, Global: a.globalFlags}
}

func (a *app) newFlags(name string) *pflag.FlagSet { return a.program().Flags(name) }

func (a *app) parse(fs *pflag.FlagSet, args []string) (bool, error) {
	return a.program().Parse(fs, args)
}

func (a *app) run(args []string) int {
	name, rest, exit, ok := a.program().Start(args)
	if !ok {
		return exit
	}
	cmd, ok := commands[name]
	if !ok {
		return a.ui.Fail(cli.Usagef("unknown command %q", name))
	}
	return cmd(a, rest)
}

// commands is the table of commands: each gets the arguments after its
// name and returns the exit code. One file each (fingerprint.go,
// request.go, …): they parse flags, call the library, and print.
var commands = map[string]func(a *app, args []string) int{
	"fingerprint": failing((*app).cmdFingerprint),
	"request":     failing((*app).cmdRequest),
	"activate":    failing((*app).cmdActivate),
	"verify":      (*app).cmdVerify, // its exit code is the result's
	"deactivate":  failing((*app).cmdDeactivate),
	"dongle":      (*app).cmdDongle,
	"status":      failing((*app).cmdStatus),
	"inspect":     failing((*app).cmdInspect),
	"floating":    (*app).cmdFloating, // floating.go; its exit code says how it ended
}

// failing adapts a command that reports failure as an error: the error is
// printed (with its hint) and gives the exit code.
func failing(f func(*app, []string) error) func(*app, []string) int {
	return func(a *app, args []string) int {
		if err := f(a, args); err != nil {
			return a.ui.Fail(withHint(err))
		}
		return 0
	}
}
