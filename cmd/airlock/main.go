// Command airlock runs on the offline machine: it makes activation
// requests, installs licenses and verifies them.
package main

import (
	"fmt"
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

func (a *app) newFlags(name string) *pflag.FlagSet {
	fs := pflag.NewFlagSet(prog+" "+name, pflag.ContinueOnError)
	fs.SetOutput(a.ui.Stderr)
	fs.Usage = func() {}
	a.globalFlags(fs)
	return fs
}

func (a *app) parse(fs *pflag.FlagSet, args []string) (bool, error) {
	help := fs.BoolP("help", "h", false, "")
	if err := fs.Parse(args); err != nil {
		return false, cli.Usagef("%v", err)
	}
	if *help {
		fmt.Fprint(a.ui.Stdout, usage)
		return true, nil
	}
	return false, nil
}

func (a *app) run(args []string) int {
	g := pflag.NewFlagSet(prog, pflag.ContinueOnError)
	g.SetInterspersed(false)
	g.SetOutput(a.ui.Stderr)
	g.Usage = func() {}
	a.globalFlags(g)
	help := g.BoolP("help", "h", false, "")
	version := g.Bool("version", false, "")
	if err := g.Parse(args); err != nil {
		return a.ui.Fail(cli.Usagef("%v", err))
	}
	rest := g.Args()
	if *version {
		fmt.Fprintln(a.ui.Stdout, cli.VersionLine(prog))
		return 0
	}
	if *help || (len(rest) > 0 && rest[0] == "help") {
		fmt.Fprint(a.ui.Stdout, usage)
		return 0
	}
	if len(rest) == 0 {
		fmt.Fprint(a.ui.Stderr, usage)
		return cli.ExitUsage
	}
	cmd, ok := commands[rest[0]]
	if !ok {
		return a.ui.Fail(cli.Usagef("unknown command %q", rest[0]))
	}
	return cmd(a, rest[1:])
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
