package main

// Opening the ledger, what its failures say, and the ledger commands:
// export, check, backup.

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"unicode"

	"github.com/airlock-offline/airlock/desk"
	"github.com/airlock-offline/airlock/internal/cli"
	"github.com/airlock-offline/airlock/ledger"
)

// Exit codes of the ledger's state (tui.go lists them).
const (
	// exitNotWritten: the seat is recorded but the license file could
	// not be written; the same command again writes the same license.
	exitNotWritten = 3
	exitNoLedger   = 60 // missing or empty: no ledger there
	exitNotLedger  = 61 // not an airlock ledger, or a newer schema
	exitDamaged    = 62 // integrity check failed, or WAL lost
	exitReadOnly   = 63 // a write on read-only storage
	exitDiskFull   = 64
)

// restoreHint points at what to do with a damaged ledger.
const restoreHint = "run `airlock-vendor ledger check` for the details, and restore the ledger from a backup: see \"Damage and restore\" in docs/ledger.md"

// validLedgerTarget reports whether t, read from ledger.url, can name a
// ledger: a PostgreSQL URL that parses, or an absolute file path; one line
// of printable text either way.
func validLedgerTarget(t string) bool {
	for _, r := range t {
		if !unicode.IsPrint(r) || r == unicode.ReplacementChar {
			return false
		}
	}
	if strings.HasPrefix(t, "postgres://") || strings.HasPrefix(t, "postgresql://") {
		u, err := url.Parse(t)
		return err == nil && u.Host != ""
	}
	return filepath.IsAbs(t)
}

// openLedgerRead opens the ledger for a command that only reads it: it
// works on read-only storage and never changes the ledger.
func (a *app) openLedgerRead() (*ledger.Ledger, error) {
	return a.openLedgerWith(ledger.Options{ReadOnly: true})
}

func (a *app) openLedgerWith(opts ledger.Options) (*ledger.Ledger, error) {
	target, from, err := a.ledgerTarget()
	if err != nil {
		return nil, err
	}
	return openLedgerAt(target, from, "open", opts)
}

// openLedgerAt opens the ledger at target (named by from: "--db", a file…,
// or "" for the default). A failure says which ledger (password masked),
// what is wrong with it, and what to do; its exit code says which
// (explainLedgerError). verb says what was being done ("open", "create").
func openLedgerAt(target, from, verb string, opts ledger.Options) (*ledger.Ledger, error) {
	l, err := ledger.OpenWith(target, opts)
	if err == nil {
		return l, nil
	}
	where := ledger.RedactDSN(target)
	if from != "" {
		where += " (from " + from + ")"
	}
	switch {
	case errors.Is(err, ledger.ErrMissing):
		return nil, &cli.ExitErr{Code: exitNoLedger, Err: cli.WithHint(
			fmt.Errorf("no ledger at %s: the file does not exist", where),
			"only `airlock-vendor init` creates a ledger: check the path (a typo? a volume not mounted?)")}
	case errors.Is(err, ledger.ErrEmpty):
		return nil, &cli.ExitErr{Code: exitNoLedger, Err: cli.WithHint(
			fmt.Errorf("the ledger %s is empty: it holds no ledger", where),
			"restore the ledger from a backup (docs/ledger.md); only `airlock-vendor init` creates a new one")}
	}
	err = fmt.Errorf("cannot %s the ledger %s: %w", verb, where, err)
	switch {
	case errors.Is(err, ledger.ErrAccessDenied):
		return nil, cli.WithHint(err, "give the password with PGPASSWORD or a line in ~/.pgpass (airlock never stores it), and check the user name in the URL")
	case errors.Is(err, ledger.ErrUnreachable):
		return nil, cli.WithHint(err, "check the host and port in the URL, that the server runs, and that it takes connections from this machine (pg_hba.conf, TLS: sslmode)")
	case errors.Is(err, ledger.ErrReadOnly) && !opts.ReadOnly:
		return nil, &cli.ExitErr{Code: exitReadOnly, Err: cli.WithHint(err,
			"nothing was written; reading commands (license list and show, audit verify, ledger export and check) work on read-only storage")}
	}
	return nil, explainLedgerError(err)
}

// explainLedgerError gives a ledger failure its exit code and a hint, once:
// at open or at a later write (a disk that filled up meanwhile).
func explainLedgerError(err error) error {
	var ee *cli.ExitErr
	if errors.As(err, &ee) {
		return err
	}
	switch {
	case errors.Is(err, ledger.ErrWALMissing):
		return &cli.ExitErr{Code: exitDamaged, Err: cli.WithHint(err,
			"put the ledger's -wal file back beside it if you still have it, else restore the ledger from a backup; never delete a ledger's -wal file (docs/ledger.md)")}
	case errors.Is(err, ledger.ErrDamaged):
		return &cli.ExitErr{Code: exitDamaged, Err: cli.WithHint(err, "nothing was written; "+restoreHint)}
	case errors.Is(err, ledger.ErrNotLedger), errors.Is(err, ledger.ErrSchemaTooNew):
		return &cli.ExitErr{Code: exitNotLedger, Err: err}
	case errors.Is(err, ledger.ErrReadOnly):
		return &cli.ExitErr{Code: exitReadOnly, Err: err}
	case errors.Is(err, ledger.ErrDiskFull):
		return &cli.ExitErr{Code: exitDiskFull, Err: cli.WithHint(err, "free space on the ledger's disk and run the command again")}
	}
	return err
}

func (a *app) cmdLedger(args []string) error {
	if len(args) == 0 {
		return cli.Usagef("ledger needs a subcommand: export, check or backup")
	}
	switch args[0] {
	case "export":
		return a.cmdLedgerExport(args[1:])
	case "check":
		return a.cmdLedgerCheck(args[1:])
	case "backup":
		return a.cmdLedgerBackup(args[1:])
	}
	return cli.Usagef("unknown ledger subcommand %q", args[0])
}

// cmdLedgerCheck runs every check of the ledger, read-only.
func (a *app) cmdLedgerCheck(args []string) error {
	fs := a.newFlags("ledger check")
	asJSON := fs.Bool("json", false, "")
	if done, err := a.parse(fs, args); done || err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return cli.Usagef("ledger check takes no arguments")
	}
	target, from, err := a.ledgerTarget()
	if err != nil {
		return err
	}
	l, err := openLedgerAt(target, from, "open", ledger.Options{ReadOnly: true})
	if err != nil {
		return err
	}
	defer l.Close()
	rep, err := l.Check(context.Background())
	if err != nil {
		return err
	}
	audit := "ok"
	if rep.Audit != nil {
		audit = rep.Audit.Error()
	}
	// The signed checkpoints the log keeps, if this desk has the public
	// key to check them with.
	checkpoints, checkpointsOK := "not checked (no vendor.pub)", true
	if pub, err := a.loadPublic(); err == nil && rep.Audit == nil {
		entries, err := l.AuditLog(context.Background())
		if err != nil {
			return err
		}
		switch last, err := desk.CheckStoredCheckpoints(entries, pub); {
		case err != nil:
			checkpoints, checkpointsOK = err.Error(), false
		case last == nil:
			checkpoints = "none yet"
		default:
			checkpoints = fmt.Sprintf("ok, the newest signs entry %d at %s", last.Seq, last.At.Format("2006-01-02T15:04:05Z"))
		}
	}
	if *asJSON {
		j := struct {
			OK               bool     `json:"ok"`
			Backend          string   `json:"backend"`
			IntegrityChecked bool     `json:"integrity_checked"`
			Integrity        []string `json:"integrity"`
			Seats            []string `json:"seats"`
			Audit            string   `json:"audit"`
			AuditHead        string   `json:"audit_head,omitempty"`
			Checkpoints      string   `json:"checkpoints"`
			Licenses         int64    `json:"licenses"`
			Activations      int64    `json:"activations"`
			ActiveSeats      int64    `json:"active_seats"`
		}{rep.OK() && checkpointsOK, l.Backend(), rep.IntegrityChecked, orEmpty(rep.Integrity), orEmpty(rep.Seats), audit, "",
			checkpoints, rep.Licenses, rep.Activations, rep.ActiveSeats}
		if rep.Audit == nil && rep.AuditSeq > 0 {
			j.AuditHead = fmt.Sprintf("%d:%x", rep.AuditSeq, rep.AuditHash)
		}
		if err := a.ui.PrintJSON(j); err != nil {
			return err
		}
	} else {
		w := a.ui.Stdout
		switch {
		case !rep.IntegrityChecked:
			fmt.Fprintf(w, "integrity:    not checked by airlock on PostgreSQL (the server checks its pages: data checksums, amcheck)\n")
		case len(rep.Integrity) == 0:
			fmt.Fprintf(w, "integrity:    ok (SQLite integrity_check)\n")
		default:
			for _, p := range rep.Integrity {
				fmt.Fprintf(w, "integrity:    %s\n", p)
			}
		}
		if len(rep.Seats) == 0 && len(rep.Integrity) == 0 {
			fmt.Fprintf(w, "seats:        ok (%d licenses, %d activations, %d active seats)\n", rep.Licenses, rep.Activations, rep.ActiveSeats)
		}
		for _, p := range rep.Seats {
			fmt.Fprintf(w, "seats:        %s\n", p)
		}
		switch {
		case rep.Audit != nil:
			fmt.Fprintf(w, "audit log:    %s\n", audit)
		case rep.AuditSeq == 0:
			fmt.Fprintf(w, "audit log:    ok, empty\n")
		default:
			fmt.Fprintf(w, "audit log:    ok, %d entries, head %d:%x\n", rep.AuditSeq, rep.AuditSeq, rep.AuditHash)
		}
		if rep.Audit == nil {
			fmt.Fprintf(w, "checkpoints:  %s\n", checkpoints)
		}
	}
	if !rep.OK() || !checkpointsOK {
		return &cli.ExitErr{Code: exitDamaged, Err: cli.WithHint(
			fmt.Errorf("the ledger %s fails its checks (listed above)", ledger.RedactDSN(target)),
			"restore the ledger from a backup: see \"Damage and restore\" in docs/ledger.md")}
	}
	a.ui.Infof("the ledger passes every check")
	return nil
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// cmdLedgerBackup writes a consistent copy of a SQLite ledger while desks
// may be working on it.
func (a *app) cmdLedgerBackup(args []string) error {
	fs := a.newFlags("ledger backup")
	if done, err := a.parse(fs, args); done || err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return cli.Usagef("ledger backup needs one argument: the new file to write the copy to")
	}
	l, err := a.openLedgerRead()
	if err != nil {
		return err
	}
	defer l.Close()
	if l.Backend() != "sqlite" {
		return cli.WithHint(errors.New("a PostgreSQL ledger is not copied by airlock-vendor"),
			"back it up with pg_dump, e.g. pg_dump -n SCHEMA -f ledger.sql DATABASE, and keep the audit head with it (docs/ledger.md)")
	}
	dst := fs.Arg(0)
	ctx := context.Background()
	if err := l.Backup(ctx, dst); err != nil {
		return fmt.Errorf("cannot back up the ledger to %q: %w", dst, err)
	}
	c, err := ledger.OpenWith(dst, ledger.Options{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("cannot read the copy %q: %w", dst, err)
	}
	defer c.Close()
	seq, hash, err := c.VerifyAudit(ctx, "")
	if err != nil {
		return fmt.Errorf("the copy's audit log: %w", err)
	}
	a.ui.Infof("ledger copied to %s; its audit head, to keep with it:", cli.Abs(dst))
	fmt.Fprintf(a.ui.Stdout, "%d:%x\n", seq, hash)
	return nil
}

// ledgerURLFile names the file in the desk's directory where init --db
// records a ledger other than DIR/ledger.db (a PostgreSQL URL without its
// password, or a file path).
const ledgerURLFile = "ledger.url"

// ledgerTarget says where the ledger is: --db, else $AIRLOCK_VENDOR_DB, else
// what init --db recorded in DIR/ledger.url, else DIR/ledger.db (which must
// exist: init creates it). from says which of these named it, for
// messages.
func (a *app) ledgerTarget() (target, from string, err error) {
	if a.db != "" {
		return a.db, "--db", nil
	}
	if v := os.Getenv("AIRLOCK_VENDOR_DB"); v != "" {
		return v, "$AIRLOCK_VENDOR_DB", nil
	}
	p, err := a.path(ledgerURLFile)
	if err != nil {
		return "", "", err
	}
	if b, err := cli.ReadFileLimited(p, "the ledger location file", cli.MaxURLFile); err == nil {
		t := strings.TrimSpace(string(b))
		if t == "" || !validLedgerTarget(t) {
			// Never printed: the file may hold anything.
			return "", "", fmt.Errorf("%s does not name a ledger (it should hold a postgres:// URL or an absolute file path; its content is not shown): pass --db, or write the ledger's URL or path in it", p)
		}
		return t, p, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", "", err
	}
	if p, err = a.path("ledger.db"); err != nil {
		return "", "", err
	}
	if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
		return "", "", &cli.ExitErr{Code: exitNoLedger, Err: fmt.Errorf("no ledger at %s: run `airlock-vendor init` first", p)}
	}
	return p, "", nil
}

// openLedger opens the ledger for a command that writes to it.
func (a *app) openLedger() (*ledger.Ledger, error) {
	return a.openLedgerWith(ledger.Options{})
}

// withoutPassword returns a PostgreSQL URL without its password, and
// whether it had one; anything else unchanged.
func withoutPassword(target string) (string, bool) {
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.User == nil {
		return target, false
	}
	if _, has := u.User.Password(); !has {
		return target, false
	}
	u.User = url.User(u.User.Username())
	return u.String(), true
}

func (a *app) cmdLedgerExport(args []string) error {
	fs := a.newFlags("ledger export")
	asJSON := fs.Bool("json", false, "")
	asCSV := fs.Bool("csv", false, "")
	out := fs.StringP("output", "o", "-", "")
	if done, err := a.parse(fs, args); done || err != nil {
		return err
	}
	if *asJSON == *asCSV {
		return cli.Usagef("ledger export needs exactly one of --json or --csv")
	}
	l, err := a.openLedgerRead()
	if err != nil {
		return err
	}
	defer l.Close()
	ctx := context.Background()
	lics, err := l.ListLicenses(ctx)
	if err != nil {
		return err
	}
	type row struct {
		licenseJSON
		Activations []activationJSON `json:"activations"`
	}
	var rows []row
	for i := range lics {
		acts, err := l.Activations(ctx, lics[i].Key)
		if err != nil {
			return err
		}
		list, used := activationsJSON(acts)
		r := row{licenseJSON: toJSON(&lics[i]), Activations: list}
		r.SeatsUsed = &used
		rows = append(rows, r)
	}
	var buf bytes.Buffer
	if *asJSON {
		e := json.NewEncoder(&buf)
		e.SetIndent("", "  ")
		if rows == nil {
			rows = []row{}
		}
		if err := e.Encode(rows); err != nil {
			return err
		}
	} else {
		w := csv.NewWriter(&buf)
		w.Write([]string{"license_key", "product", "licensee", "max_machines", "expires", "activation_id", "installation_key_id", "fingerprint", "issued", "lease_until", "released"})
		for _, r := range rows {
			if len(r.Activations) == 0 {
				w.Write([]string{r.Key, r.Product, r.Licensee, fmt.Sprint(r.MaxMachines), r.Expires, "", "", "", "", "", ""})
			}
			for _, x := range r.Activations {
				w.Write([]string{r.Key, r.Product, r.Licensee, fmt.Sprint(r.MaxMachines), r.Expires, x.ID, x.Installation, x.Fingerprint, x.Issued, x.LeaseUntil, fmt.Sprint(x.Released)})
			}
		}
		w.Flush()
		if err := w.Error(); err != nil {
			return err
		}
	}
	return a.ui.WriteOutput(*out, buf.Bytes())
}
