// Package cli holds what the airlock and airlock-vendor commands share:
// messages in the house style, input and output files, passphrases, clocks.
//
// # Message rules
//
// Every line a command writes for a person goes to standard error and
// starts with the program's name; standard output carries only the result
// (a key, a code, JSON, a file written to "-"):
//
//	airlock: error: CLOCK_TAMPERED: the clock is behind the last time seen (…)
//	airlock: warning: the installation key is stored UNENCRYPTED in /var/lib/…
//	airlock: hint: run `airlock --help` for usage
//
// The rules:
//
//   - Kinds: "error: " (the command failed; printed once, by Fail), "warning: "
//     (it went on, but something is weaker than it should be), "hint: " (what
//     to do next, after the line it explains). Information lines (Infof) carry
//     only the prefix.
//   - Lower case after the prefix, no final period, one line per message.
//   - Values that came from outside (a file name, a product, a reader name)
//     are quoted with %q; untrusted file content and secrets never appear,
//     only what the file is and which limit it broke.
//   - A license outcome starts with its result code (CLOCK_TAMPERED: …),
//     and the process exits with that code's exit code.
//   - Library packages return sentinels and typed errors with plain
//     messages; the commands add hints with errors.Is (the library never
//     names a command: an ISV's product has its own).
//   - Usage errors (Usagef) exit 2 and end with the hint to run --help.
package cli

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/airlock-offline/airlock/fingerprint"
	"github.com/airlock-offline/airlock/internal/atomicfile"
	"github.com/airlock-offline/airlock/internal/testhooks"
	"github.com/airlock-offline/airlock/result"
)

// Exit codes shared by both commands; license outcomes use result codes.
const (
	ExitOK    = 0
	ExitError = 1
	ExitUsage = 2
)

// UI prints messages as "PROG: error: …" on stderr.
type UI struct {
	Prog   string
	Stdout io.Writer
	Stderr io.Writer
	Stdin  io.Reader

	stdinFor string // what standard input was read for, once it was
}

// ClaimStdin records that standard input is read for what ("the input",
// "the licensee secret file"); it serves one purpose per call, so a second
// claim is a usage error naming both.
func (u *UI) ClaimStdin(what string) error {
	if u.stdinFor != "" {
		return Usagef("standard input can be read only once: it is already %s, so %s cannot be - too; give one of them as a file", u.stdinFor, what)
	}
	u.stdinFor = what
	return nil
}

// Std returns a UI on the process's standard streams.
func Std(prog string) *UI {
	return &UI{Prog: prog, Stdout: os.Stdout, Stderr: os.Stderr, Stdin: os.Stdin}
}

func (u *UI) line(kind, format string, a ...any) {
	fmt.Fprintf(u.Stderr, "%s: %s%s\n", u.Prog, kind, fmt.Sprintf(format, a...))
}

// Errorf prints an error line.
func (u *UI) Errorf(format string, a ...any) { u.line("error: ", format, a...) }

// Warnf prints a warning line.
func (u *UI) Warnf(format string, a ...any) { u.line("warning: ", format, a...) }

// Hintf prints a hint line.
func (u *UI) Hintf(format string, a ...any) { u.line("hint: ", format, a...) }

// Infof prints an informational line on stderr: "PROG: …".
func (u *UI) Infof(format string, a ...any) { u.line("", format, a...) }

// PrintJSON writes v on stdout as indented JSON (the commands' --json).
func (u *UI) PrintJSON(v any) error {
	e := json.NewEncoder(u.Stdout)
	e.SetIndent("", "  ")
	return e.Encode(v)
}

// ExitError is an error that carries an exit code.
type ExitErr struct {
	Code int
	Err  error
}

func (e *ExitErr) Error() string { return e.Err.Error() }
func (e *ExitErr) Unwrap() error { return e.Err }

// HintErr is an error with a hint printed after it.
type HintErr struct {
	Err  error
	Hint string
}

func (e *HintErr) Error() string { return e.Err.Error() }
func (e *HintErr) Unwrap() error { return e.Err }

// WithHint returns err with a hint line to print after it.
func WithHint(err error, hint string) error { return &HintErr{Err: err, Hint: hint} }

// Usagef returns a usage error (exit 2).
func Usagef(format string, a ...any) error {
	return &ExitErr{Code: ExitUsage, Err: fmt.Errorf(format, a...)}
}

// Fail prints err and returns the exit code for it: the result code's exit
// code for a *result.Error, 2 for usage errors, 1 otherwise.
func (u *UI) Fail(err error) int {
	var he *HintErr
	if errors.As(err, &he) {
		defer u.Hintf("%s", he.Hint)
	}
	var ee *ExitErr
	if errors.As(err, &ee) {
		u.Errorf("%v", ee.Err)
		if ee.Code == ExitUsage {
			u.Hintf("run `%s --help` for usage", u.Prog)
		}
		return ee.Code
	}
	var re *result.Error
	if errors.As(err, &re) {
		u.Errorf("%s: %v", re.Code, err)
		return re.Code.ExitCode()
	}
	u.Errorf("%v", err)
	return ExitError
}

// MaxInput bounds any file a command reads.
const MaxInput = 1 << 20

// ReadInput reads path, or stdin for "-", up to MaxInput bytes.
func (u *UI) ReadInput(path string) ([]byte, error) {
	var r io.Reader
	if path == "-" {
		if err := u.ClaimStdin("the input"); err != nil {
			return nil, err
		}
		r = u.Stdin
	} else {
		f, err := os.Open(path)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("file %q does not exist", path)
			}
			return nil, fmt.Errorf("cannot open %q: %w", path, errors.Unwrap(err))
		}
		defer f.Close()
		r = f
	}
	return readLimited(r, path, "the input", MaxInput)
}

// WriteOutput writes data to path (atomically, so a failure leaves no half
// file), or to stdout for "-".
func (u *UI) WriteOutput(path string, data []byte) error {
	if path == "-" {
		_, err := u.Stdout.Write(data)
		return err
	}
	if err := atomicfile.Write(path, data, 0o644); err != nil {
		return fmt.Errorf("cannot write %q: %w", path, errors.Unwrap(err))
	}
	return nil
}

// Environment variables.
const (
	EnvPassphrase     = "AIRLOCK_PASSPHRASE"
	EnvPassphraseFile = "AIRLOCK_PASSPHRASE_FILE"
)

// Passphrase returns a function that supplies a key passphrase: from file
// (if given), else $AIRLOCK_PASSPHRASE_FILE, else $AIRLOCK_PASSPHRASE, else a
// prompt on the terminal. confirm asks twice (for a new key).
func (u *UI) Passphrase(file string, confirm bool) func() ([]byte, error) {
	return func() ([]byte, error) {
		if file == "" {
			file = os.Getenv(EnvPassphraseFile)
		}
		if file != "" {
			b, err := ReadFileLimited(file, "the passphrase file", MaxSecretFile)
			if err != nil {
				return nil, err
			}
			p := strings.TrimRight(string(b), "\r\n")
			clear(b)
			if p == "" {
				return nil, errors.New("the passphrase file is empty")
			}
			return []byte(p), nil
		}
		if p := os.Getenv(EnvPassphrase); p != "" {
			return []byte(p), nil
		}
		read, done, err := terminalPrompt()
		if err != nil {
			return nil, fmt.Errorf("a passphrase is needed: set %s or %s, or pass --passphrase-file", EnvPassphrase, EnvPassphraseFile)
		}
		defer done()
		p, err := read("Passphrase: ")
		if err != nil {
			return nil, err
		}
		if len(p) == 0 {
			return nil, errors.New("empty passphrase")
		}
		if confirm {
			q, err := read("Confirm passphrase: ")
			if err != nil {
				return nil, err
			}
			if string(p) != string(q) {
				return nil, errors.New("the passphrases do not match")
			}
		}
		return p, nil
	}
}

// Secret reads a secret (a PIN) from the terminal without echo.
func (u *UI) Secret(prompt string) ([]byte, error) {
	read, done, err := terminalPrompt()
	if err != nil {
		return nil, errors.New("a PIN is needed: pass --pin-file or set AIRLOCK_PIN, or run in a terminal")
	}
	defer done()
	return read(prompt)
}

// terminalPrompt opens the terminal (the console on Windows) and returns a
// function that shows a prompt and reads an answer without echo, and one
// that closes the terminal.
func terminalPrompt() (read func(prompt string) ([]byte, error), done func(), err error) {
	in, out, err := openTerminal()
	if err != nil {
		return nil, nil, err
	}
	done = func() {
		in.Close()
		if out != in {
			out.Close()
		}
	}
	if !term.IsTerminal(int(in.Fd())) {
		done()
		return nil, nil, errors.New("not a terminal")
	}
	read = func(prompt string) ([]byte, error) {
		fmt.Fprint(out, prompt)
		p, err := term.ReadPassword(int(in.Fd()))
		fmt.Fprintln(out)
		return p, err
	}
	return read, done, nil
}

// Now returns the current time (or the simulated one in test builds).
func Now() time.Time {
	if t, ok := testhooks.Now(); ok {
		return t
	}
	return time.Now()
}

// NowFunc is Now as a func value for the library's Now fields.
// It is nil (the real clock) unless a test build simulates the time, so
// that the library also trusts what only the real clock can say (file
// modification times).
func NowFunc() func() time.Time {
	if _, ok := testhooks.Now(); ok {
		return Now
	}
	return nil
}

// FingerprintSource returns the machine to fingerprint (a fixture in test
// builds when one is set).
func FingerprintSource() fingerprint.Source {
	if s := testhooks.Source(); s != nil {
		return s
	}
	return fingerprint.OSSource()
}

// IsTerminal reports whether w is a terminal.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// ReadLine reads one line from r (for simple confirmations).
func ReadLine(r io.Reader) (string, error) {
	s, err := bufio.NewReader(r).ReadString('\n')
	return strings.TrimSpace(s), err
}

// Abs returns an absolute path for display.
func Abs(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// ParseDuration accepts Go durations plus a "d" (day) suffix: "90d", "36h".
func ParseDuration(s string) (time.Duration, error) {
	if strings.HasSuffix(s, "d") {
		var n int64
		if _, err := fmt.Sscanf(s, "%dd", &n); err != nil || n < 0 || n > 36500 || fmt.Sprintf("%dd", n) != s {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("invalid duration %q", s)
	}
	return d, nil
}

// ParseWhen accepts an RFC 3339 time, a YYYY-MM-DD date (midnight UTC) or
// a duration from now.
func ParseWhen(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t.UTC(), nil
	}
	if d, err := ParseDuration(s); err == nil {
		return now.Add(d).UTC().Truncate(time.Second), nil
	}
	return time.Time{}, fmt.Errorf("invalid time %q: use RFC 3339, YYYY-MM-DD or a duration such as 365d", s)
}
