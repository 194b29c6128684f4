// Command airlock-vendor is the vendor's desk: it holds the signing key and
// the ledger, and turns activation requests into signed licenses.
package main

import (
	"os"

	"github.com/spf13/pflag"

	"github.com/airlock-offline/airlock/internal/cli"
)

const prog = "airlock-vendor"

type app struct {
	ui             *cli.UI
	dir            string
	db             string
	passphraseFile string
	pinFile        string
	// crashIfNoHardwareKey: refuse to run any command unless the desk's
	// signing key is on a plugged-in hardware key (LicenseSpring's
	// crashIfNoHardwareKey).
	crashIfNoHardwareKey bool
	// cleanup runs when the command ends: it releases a hardware key and
	// forgets its PIN.
	cleanup []func()
	// pool is sign --pool: sign a floating server's request as a pool
	// license (pool.go).
	pool string
}

func main() {
	a := &app{ui: cli.Std(prog)}
	os.Exit(a.run(os.Args[1:]))
}

func (a *app) globalFlags(fs *pflag.FlagSet) {
	fs.StringVar(&a.dir, "dir", a.dir, "the desk's directory")
	fs.StringVar(&a.db, "db", a.db, "the ledger file")
	fs.StringVar(&a.passphraseFile, "passphrase-file", a.passphraseFile, "read the key passphrase from this file")
	fs.StringVar(&a.pinFile, "pin-file", a.pinFile, "read the hardware key's PIN from this file")
	fs.BoolVar(&a.crashIfNoHardwareKey, "crash-if-no-hardware-key", a.crashIfNoHardwareKey, "refuse to start unless the signing key's hardware key is plugged in")
}

func (a *app) program() *cli.Program {
	return &cli.Program{UI: a.ui, Usage: usage, Global: a.globalFlags, Check: a.checkHardwareKey}
}

func (a *app) newFlags(name string) *pflag.FlagSet { return a.program().Flags(name) }

func (a *app) run(args []string) int {
	name, rest, exit, ok := a.program().Start(args)
	if !ok {
		return exit
	}
	defer func() {
		for i := len(a.cleanup) - 1; i >= 0; i-- {
			a.cleanup[i]()
		}
	}()
	cmd, ok := commands[name]
	if !ok {
		return a.ui.Fail(cli.Usagef("unknown command %q", name))
	}
	if err := cmd(a, rest); err != nil {
		return a.ui.Fail(explainLedgerError(err))
	}
	return 0
}

// command runs one command with the arguments after its name.
type command func(a *app, args []string) error

// commands is the desk's table of commands, one file per family (keys.go,
// license.go, product.go, sign.go, audit.go, ledgercmd.go, receipt.go,
// report.go, inspect.go, serve.go): they parse flags, call the desk and
// ledger packages, and print.
var commands = map[string]command{
	"init":   (*app).cmdInit,
	"pubkey": (*app).cmdPubkey,
	"license": family("license", "create, list or show", map[string]command{
		"create": (*app).cmdLicenseCreate, "list": (*app).cmdLicenseList, "show": (*app).cmdLicenseShow}),
	"product": family("product", "set, list or show", map[string]command{
		"set": (*app).cmdProductSet, "list": (*app).cmdProductList, "show": (*app).cmdProductShow}),
	"sign":    (*app).cmdSign,
	"audit":   (*app).cmdAudit,
	"ledger":  (*app).cmdLedger,
	"receipt": family("receipt", "import", map[string]command{"import": (*app).cmdReceiptImport}),
	"report": family("report", "import, list or show", map[string]command{
		"import": (*app).cmdReportImport, "list": (*app).cmdReportList, "show": (*app).cmdReportShow}),
	"inspect": (*app).cmdInspect,
	"serve":   (*app).cmdServe,
}

// family is a command made of subcommands ("license create").
func family(name, list string, subs map[string]command) command {
	return func(a *app, args []string) error {
		if len(args) == 0 {
			return cli.Usagef("%s needs a subcommand: %s", name, list)
		}
		sub, ok := subs[args[0]]
		if !ok {
			if name == "receipt" {
				return cli.Usagef("%s needs a subcommand: %s", name, list)
			}
			return cli.Usagef("unknown %s subcommand %q", name, args[0])
		}
		return sub(a, args[1:])
	}
}

// parse parses a subcommand's flags; --help prints the usage.
func (a *app) parse(fs *pflag.FlagSet, args []string) (bool, error) {
	return a.program().Parse(fs, args)
}

// checkHardwareKey: with --crash-if-no-hardware-key, every command but init
// stops unless the signing key's card is plugged in.
func (a *app) checkHardwareKey(fs *pflag.FlagSet) error {
	if a.crashIfNoHardwareKey && fs.Name() != prog+" init" {
		return a.requireHardwareKey()
	}
	return nil
}
