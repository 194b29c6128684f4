package main

// sign --batch, and the outcome of signing as JSON.

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/airlock-offline/airlock/desk"
	"github.com/airlock-offline/airlock/internal/atomicfile"
	"github.com/airlock-offline/airlock/internal/cli"
	"github.com/airlock-offline/airlock/result"
)

// resultNotWritten is the result of a license whose seat is recorded but
// whose file could not be written (exit 3): the same command again writes
// the same license, without taking another seat.
const resultNotWritten = "LICENSE_NOT_WRITTEN"

// notWrittenHint says what to do about a license not written.
const notWrittenHint = "the seat is recorded: run the same command again to write the same license, without taking another seat"

// notWrittenError is a license signed and recorded but not written out.
type notWrittenError struct{ err error }

func (e *notWrittenError) Error() string {
	return resultNotWritten + ": the seat is recorded but the license could not be written: " + e.err.Error()
}
func (e *notWrittenError) Unwrap() error { return e.err }

func notWritten(err error) error {
	return &cli.ExitErr{Code: exitNotWritten, Err: cli.WithHint(&notWrittenError{err}, notWrittenHint)}
}

// signJSON is the outcome of signing one request, for sign --json (one
// object) and sign --batch --json (one per request file).
type signJSON struct {
	Request string `json:"request,omitempty"`
	License string `json:"license,omitempty"`
	// Result: "SIGNED", "LICENSE_NOT_WRITTEN" (seat recorded, no file),
	// the refusal's result code (TOO_MANY_MACHINES…), or "ERROR".
	Result       string `json:"result"`
	ExitCode     int    `json:"exit_code"`
	SeatRecorded bool   `json:"seat_recorded"`
	Seat         string `json:"seat,omitempty"` // "new" or "reused"
	ActivationID string `json:"activation_id,omitempty"`
	Message      string `json:"message,omitempty"`
}

// outcome describes how signing one request ended: iss is the license
// signed and recorded (nil if none), err why it was not written or signed.
func outcome(iss *desk.Issued, err error) signJSON {
	j := signJSON{Result: "SIGNED"}
	if iss != nil {
		j.SeatRecorded = true
		j.Seat = "new"
		if iss.Reused {
			j.Seat = "reused"
		}
		j.ActivationID = hex.EncodeToString(iss.License.License.ActivationID)
	}
	if err == nil {
		return j
	}
	j.Message = err.Error()
	j.ExitCode = exitCodeOf(err)
	var nw *notWrittenError
	switch {
	case errors.As(err, &nw):
		j.Result, j.ExitCode = resultNotWritten, exitNotWritten
		j.Message = nw.Error()
	default:
		j.Result = string(result.CodeOf(explainLedgerError(err)))
	}
	return j
}

// exitCodeOf is the exit code cli.UI.Fail gives err.
func exitCodeOf(err error) int {
	err = explainLedgerError(err)
	var ee *cli.ExitErr
	if errors.As(err, &ee) {
		return ee.Code
	}
	var re *result.Error
	if errors.As(err, &re) {
		return re.Code.ExitCode()
	}
	return cli.ExitError
}

// signOneJSON runs sign and prints its outcome as JSON on stdout; the
// error (and exit code) is sign's.
func (a *app) signOneJSON(out string, args []string, sign func() (*desk.Issued, error)) error {
	iss, err := sign()
	var ee *cli.ExitErr
	if errors.As(err, &ee) && ee.Code == cli.ExitUsage {
		return err
	}
	j := outcome(iss, err)
	if len(args) == 1 {
		j.Request = args[0]
	}
	j.License = out
	if werr := a.ui.PrintJSON(j); werr != nil && err == nil {
		return werr
	}
	return err
}

// batchJSON is the output of sign --batch --json.
type batchJSON struct {
	Total      int        `json:"total"`
	Signed     int        `json:"signed"`
	NotWritten int        `json:"not_written"`
	Refused    int        `json:"refused"`
	ExitCode   int        `json:"exit_code"`
	Results    []signJSON `json:"results"`
}

// isRequestFile reports whether name, in a batch folder, is a request.
func isRequestFile(name string) bool {
	return strings.HasSuffix(name, ".txt") && !strings.HasSuffix(name, ".license.txt") && !strings.HasPrefix(name, ".")
}

// licenseName is the license file written for the request file name.
func licenseName(request string) string {
	return strings.TrimSuffix(request, ".txt") + ".license.txt"
}

// signBatch signs every request file in dir (*.txt that is not a license),
// writing NAME.license.txt beside each, and reports each failure. The
// ledger commits every new seat first, in one transaction; only then are
// the licenses written: all to temporary files, made durable by one sync,
// then renamed into place. Exit 3 if a license was recorded but not
// written (running again writes it), else 1 if a request was refused or
// failed.
func (a *app) signBatch(dir, maxAge, roots string, asJSON bool) error {
	age, err := parseMaxAge(maxAge)
	if err != nil {
		return err
	}
	// What killed runs left behind in this folder.
	if n, err := atomicfile.RemoveStale(dir, func(name string) bool { return strings.HasSuffix(name, ".license.txt") }); n > 0 {
		a.ui.Infof("removed %d temporary file(s) left by an interrupted run", n)
	} else if err != nil {
		a.ui.Warnf("cannot remove the temporary files of an interrupted run: %v", err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("cannot read the folder %q: %w", dir, errors.Unwrap(err))
	}
	var names []string
	for _, e := range ents {
		if !e.IsDir() && isRequestFile(e.Name()) {
			names = append(names, e.Name())
		}
	}
	if len(names) == 0 {
		return fmt.Errorf("no request files (*.txt) in %q", dir)
	}
	// The desk first: a passphrase or PIN prompt comes before any
	// progress bar.
	bar := cli.NewProgress(a.ui.Stderr, "opening the desk") // the key's passphrase, the ledger's check
	d, err := a.openDesk(age, roots)
	if err != nil {
		return err
	}
	defer d.Ledger.Close()
	bar.Update(1, 1)
	// The request files are read by the signing goroutines, while others
	// are checked and signed.
	phase := desk.Phase(-1)
	res := d.SignBatchFrom(context.Background(), len(names), func(i int) ([]byte, error) {
		return a.ui.ReadInput(filepath.Join(dir, names[i]))
	}, func(p desk.Phase, done, total int) {
		if p != phase {
			phase = p
			label := p.String()
			if p == desk.PhaseCheck {
				label = "reading, checking, signing"
			}
			bar.Phase(label)
		}
		bar.Update(done, total)
	})

	a.checkpoint(d)
	// Every license returned is recorded: now write them.
	var files []atomicfile.File
	var index []int
	for i, r := range res {
		if r.Err == nil {
			files = append(files, atomicfile.File{Name: licenseName(names[i]), Data: r.Issued.Text()})
			index = append(index, i)
		}
	}
	bar.Phase("writing licenses")
	step := ""
	werrs := atomicfile.WriteMany(dir, files, 0o644, func(s string, done, total int) {
		if s != step && step != "" {
			bar.Phase(map[string]string{"sync": "syncing to disk", "rename": "putting in place"}[s])
		}
		step = s
		bar.Update(done, total)
	})
	bar.Done()
	out := batchJSON{Total: len(names)}
	for k, i := range index {
		if werrs[k] != nil {
			res[i].Err = &notWrittenError{fmt.Errorf("cannot write %q: %w", files[k].Name, werrs[k])}
		}
	}
	for i, r := range res {
		j := outcome(r.Issued, r.Err)
		j.Request = names[i]
		if r.Issued != nil {
			j.License = licenseName(names[i])
		}
		var nw *notWrittenError
		switch {
		case r.Err == nil:
			out.Signed++
		case errors.As(r.Err, &nw):
			out.NotWritten++
			a.ui.Errorf("%s: %v", names[i], r.Err)
		default:
			out.Refused++
			var re *result.Error
			if errors.As(r.Err, &re) {
				a.ui.Errorf("%s: %s: %v", names[i], re.Code, r.Err)
			} else {
				a.ui.Errorf("%s: %v", names[i], r.Err)
			}
		}
		out.Results = append(out.Results, j)
	}
	// A ledger that failed the batch (disk full, read-only, damaged)
	// gives the exit code its failure has for a single request.
	var ledgerErr error
	for _, r := range res {
		var ee *cli.ExitErr
		if r.Err != nil && errors.As(explainLedgerError(r.Err), &ee) && ee.Code >= exitNoLedger {
			ledgerErr = r.Err
			break
		}
	}
	var ret error
	switch {
	case ledgerErr != nil:
		ret = explainLedgerError(fmt.Errorf("%d request(s) refused or failed (listed above), the ledger failing: %w", out.Refused+out.NotWritten, ledgerErr))
	case out.NotWritten > 0:
		ret = &cli.ExitErr{Code: exitNotWritten, Err: cli.WithHint(
			fmt.Errorf("%d license(s) recorded but not written (listed above)", out.NotWritten),
			"their seats are recorded: run the same command again to write the same licenses, without taking other seats")}
	case out.Refused > 0:
		ret = &cli.ExitErr{Code: cli.ExitError, Err: fmt.Errorf("%d request(s) refused or failed (listed above)", out.Refused)}
	}
	if ret != nil {
		out.ExitCode = exitCodeOf(ret)
	}
	a.ui.Infof("signed %d of %d requests; licenses are beside them as NAME.license.txt", out.Signed, out.Total)
	if asJSON {
		if err := a.ui.PrintJSON(out); err != nil && ret == nil {
			return err
		}
	}
	return ret
}
