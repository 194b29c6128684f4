// Command airlock-server is the floating license server: activated
// offline through the vendor's desk, it hands the seats of its pool
// licenses to the machines on its network as signed leases. The logic
// lives in package floating.
package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/spf13/pflag"

	"github.com/airlock-offline/airlock/client"
	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/dongle"
	"github.com/airlock-offline/airlock/floating"
	"github.com/airlock-offline/airlock/internal/atomicfile"
	"github.com/airlock-offline/airlock/internal/cli"
)

const prog = "airlock-server"

type app struct {
	ui         *cli.UI
	state      string
	vendorKeys []string
	db         string
	pinFile    string
}

func main() {
	a := &app{ui: cli.Std(prog)}
	os.Exit(a.run(os.Args[1:]))
}

func (a *app) globalFlags(fs *pflag.FlagSet) {
	fs.StringVar(&a.state, "state", a.state, "")
	fs.StringArrayVar(&a.vendorKeys, "vendor-key", a.vendorKeys, "")
	fs.StringVar(&a.db, "db", a.db, "")
	fs.StringVar(&a.pinFile, "pin-file", a.pinFile, "")
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
	if err := cmd(a, rest); err != nil {
		return a.ui.Fail(err)
	}
	return 0
}

// commands is the server's table of commands, one file per family
// (activate.go, deactivate.go, serve.go, admin.go, nodes.go, report.go).
var commands = map[string]func(a *app, args []string) error{
	"init":       (*app).cmdInit,
	"request":    (*app).cmdRequest,
	"cosign":     (*app).cmdCosign,
	"activate":   (*app).cmdActivate,
	"deactivate": (*app).cmdDeactivate,
	"serve":      (*app).cmdServe,
	"status":     (*app).cmdStatus,
	"leases":     (*app).cmdLeases,
	"release":    (*app).cmdRelease,
	"user":       (*app).cmdUser,
	"report":     (*app).cmdReport,
}

// stateDir is --state, $AIRLOCK_SERVER_STATE, /var/lib/airlock-server
// (root) or ~/.local/state/airlock-server.
func (a *app) stateDir() (string, error) {
	if a.state != "" {
		return a.state, nil
	}
	if s := os.Getenv("AIRLOCK_SERVER_STATE"); s != "" {
		return s, nil
	}
	if os.Geteuid() == 0 {
		return "/var/lib/airlock-server", nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("cannot find a home folder for the state: pass --state DIR: %w", err)
	}
	return filepath.Join(home, ".local", "state", "airlock-server"), nil
}

// server is the state folder: a client state (installation key, licenses)
// plus the server's own files.
type server struct {
	dir    string
	st     *client.State
	db     string         // the database: a postgres:// URL or "" (server.db in the state)
	dongle dongle.Options // the hardware key's PIN, for pools bound to one
	// exiting is held while serve writes its files and by the exit of
	// --crash-if-no-hardware-key, so that exit never cuts a write short.
	exiting sync.Mutex
}

func (s *server) path(name string) string { return filepath.Join(s.dir, name) }

// dbTarget is the database the server uses: the PostgreSQL URL kept in
// the state (file "database", 0600: it may hold a password), else
// server.db in the state folder.
func (s *server) dbTarget() string {
	if s.db != "" {
		return s.db
	}
	return s.path("server.db")
}

// open opens the state folder; create makes it (and the installation key,
// unencrypted: the server runs unattended) if it does not exist.
func (a *app) open(create bool) (*server, bool, error) {
	dir, err := a.stateDir()
	if err != nil {
		return nil, false, err
	}
	if !create {
		if _, err := os.Stat(filepath.Join(dir, "installation.pub")); err != nil {
			return nil, false, cli.WithHint(fmt.Errorf("no floating server state in %s", dir), "run `airlock-server init` (or `airlock-server serve`, which makes it), or pass --state DIR")
		}
	}
	st, err := client.Open(dir)
	if err != nil {
		return nil, false, err
	}
	s := &server{dir: st.Dir, st: st, dongle: a.ui.DongleOptions(a.pinFile, "server's")}
	made := false
	if !st.HasInstallation() {
		if !create {
			return nil, false, fmt.Errorf("the state folder %s has no installation key", dir)
		}
		id, err := st.CreateInstallation(nil, nil, 0)
		if err != nil {
			return nil, false, err
		}
		made = true
		a.ui.Infof("new floating server in %s: server key %s (stored unencrypted, mode 0600: the server runs unattended)", cli.Abs(st.Dir), id.ID())
	}
	if err := a.saveVendorKeys(s); err != nil {
		return nil, false, err
	}
	if err := a.chooseDB(s); err != nil {
		return nil, false, err
	}
	return s, made, nil
}

// chooseDB reads the database of the state, or keeps --db there. A state
// stays on the database it started with: changing it would lose every
// seat, so --db naming another one is refused.
func (a *app) chooseDB(s *server) error {
	b, err := cli.ReadFileLimited(s.path("database"), "the database file", 4096)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	kept := strings.TrimSpace(string(b))
	want := a.db
	if want == "" {
		want = os.Getenv("AIRLOCK_SERVER_DB")
	}
	switch {
	case want == "" || want == kept:
		s.db = kept
		return nil
	case !floating.IsPostgres(want):
		return cli.Usagef("--db takes a postgres:// URL (the default is server.db in the state folder)")
	case kept != "" || fileExists(s.path("server.db")):
		return cli.Usagef("this server already keeps its seats in another database; --db cannot move them")
	}
	if err := atomicfile.CreateExclusive(s.path("database"), []byte(want+"\n")); err != nil {
		return fmt.Errorf("cannot record the database: %w", err)
	}
	s.db = want
	return nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// saveVendorKeys keeps --vendor-key values in the state.
func (a *app) saveVendorKeys(s *server) error {
	if len(a.vendorKeys) == 0 {
		return nil
	}
	var lines []string
	for _, v := range a.vendorKeys {
		if file, ok := strings.CutPrefix(v, "@"); ok {
			b, err := a.ui.ReadLimited(file, "the vendor key file", cli.MaxKeyFile)
			if err != nil {
				return err
			}
			v = string(b)
		}
		p, err := crypto.ParsePublic(strings.TrimSpace(v))
		if err != nil {
			return cli.Usagef("--vendor-key: %v", err)
		}
		if p.Role != crypto.RoleVendor {
			return cli.Usagef("--vendor-key: this is an installation key, not a vendor key")
		}
		lines = append(lines, p.String())
	}
	return atomicfile.Write(s.path("vendor.pub"), []byte(strings.Join(lines, "\n")+"\n"), 0o644)
}

// vendorKeys returns the pinned vendor keys.
func (s *server) vendorKeys() ([]*crypto.Public, error) {
	b, err := cli.ReadFileLimited(s.path("vendor.pub"), "the vendor key file", cli.MaxKeyFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []*crypto.Public
	for _, line := range strings.Split(string(b), "\n") {
		if line = strings.TrimSpace(line); line == "" {
			continue
		}
		p, err := crypto.ParsePublic(line)
		if err != nil || p.Role != crypto.RoleVendor {
			return nil, fmt.Errorf("%s is damaged", s.path("vendor.pub"))
		}
		out = append(out, p)
	}
	return out, nil
}

func (s *server) needVendorKeys() ([]*crypto.Public, error) {
	keys, err := s.vendorKeys()
	if err == nil && len(keys) == 0 {
		err = cli.Usagef("the vendor's public key is needed once: pass --vendor-key AV1… (it is kept in %s)", s.path("vendor.pub"))
	}
	return keys, err
}
