package cli

import (
	"fmt"

	"github.com/spf13/pflag"
)

// Program is what the three commands share around their table of
// commands: the global flags (accepted before the command and after it),
// the usage text, --help and --version.
type Program struct {
	UI    *UI
	Usage string
	// Global adds the global flags to a flag set.
	Global func(fs *pflag.FlagSet)
	// Check, when set, runs after a command's flags are parsed (and not
	// for --help): the desk's --crash-if-no-hardware-key, say.
	Check func(fs *pflag.FlagSet) error
}

// Flags returns the flag set of the command name ("license create"), with
// the global flags; errors go to standard error.
func (p *Program) Flags(name string) *pflag.FlagSet {
	fs := pflag.NewFlagSet(p.UI.Prog+" "+name, pflag.ContinueOnError)
	fs.SetOutput(p.UI.Stderr)
	fs.Usage = func() {}
	p.Global(fs)
	return fs
}

// Parse parses a command's flags; with --help it prints the usage and
// reports done.
func (p *Program) Parse(fs *pflag.FlagSet, args []string) (done bool, err error) {
	help := fs.BoolP("help", "h", false, "")
	if err := fs.Parse(args); err != nil {
		return false, Usagef("%v", err)
	}
	if *help {
		fmt.Fprint(p.UI.Stdout, p.Usage)
		return true, nil
	}
	if p.Check != nil {
		if err := p.Check(fs); err != nil {
			return false, err
		}
	}
	return false, nil
}

// Start parses the global flags before the command. It returns the
// command's name and arguments, or, when there is nothing to run (--help,
// --version, no command, a bad flag), ok false and the exit code.
func (p *Program) Start(args []string) (name string, rest []string, exit int, ok bool) {
	g := pflag.NewFlagSet(p.UI.Prog, pflag.ContinueOnError)
	g.SetInterspersed(false)
	g.SetOutput(p.UI.Stderr)
	g.Usage = func() {}
	p.Global(g)
	help := g.BoolP("help", "h", false, "")
	version := g.Bool("version", false, "")
	if err := g.Parse(args); err != nil {
		return "", nil, p.UI.Fail(Usagef("%v", err)), false
	}
	rest = g.Args()
	switch {
	case *version:
		fmt.Fprintln(p.UI.Stdout, VersionLine(p.UI.Prog))
		return "", nil, ExitOK, false
	case *help || (len(rest) > 0 && rest[0] == "help"):
		fmt.Fprint(p.UI.Stdout, p.Usage)
		return "", nil, ExitOK, false
	case len(rest) == 0:
		fmt.Fprint(p.UI.Stderr, p.Usage)
		return "", nil, ExitUsage, false
	}
	return rest[0], rest[1:], 0, true
}
