package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/airlock-offline/airlock/internal/armor"
	"github.com/airlock-offline/airlock/qr"
)

// QRFlags are the output options every command that writes a message has.
type QRFlags struct {
	PNG        string
	Terminal   bool
	Level      string
	MaxVersion int
}

// Register adds --qr, --qr-terminal and --qr-level to fs.
func (q *QRFlags) Register(fs *pflag.FlagSet) {
	fs.StringVar(&q.PNG, "qr", "", "")
	fs.BoolVar(&q.Terminal, "qr-terminal", false, "")
	fs.StringVar(&q.Level, "qr-level", "M", "")
	fs.IntVar(&q.MaxVersion, "qr-max-version", 0, "")
}

// Check validates the flags before any work is done.
func (q *QRFlags) Check() error {
	if _, err := qr.ParseLevel(q.Level); err != nil {
		return Usagef("--qr-level must be M or Q")
	}
	if q.MaxVersion != 0 && (q.MaxVersion < 5 || q.MaxVersion > 40) {
		return Usagef("--qr-max-version must be between 5 and 40")
	}
	if q.PNG != "" && !strings.EqualFold(filepath.Ext(q.PNG), ".png") {
		return Usagef("--qr must name a .png file")
	}
	return nil
}

// WriteMessage writes an armored message to out ("-": stdout) and, as q
// asks, as QR codes too.
func (u *UI) WriteMessage(out string, q *QRFlags, text []byte) error {
	if err := u.WriteOutput(out, text); err != nil {
		return err
	}
	k, p, err := armor.Decode(text)
	if err != nil {
		return err
	}
	return u.WriteQR(q, k, p, out != "-")
}

// WriteQR renders the message as QR codes as asked: PNG files and/or the
// terminal. It says what it wrote on stderr.
func (u *UI) WriteQR(q *QRFlags, k armor.Kind, payload []byte, toStdout bool) error {
	if q.PNG == "" && !q.Terminal {
		return nil
	}
	level, _ := qr.ParseLevel(q.Level)
	opt := qr.Options{Level: level, MaxVersion: q.MaxVersion}
	codes, err := qr.Plan(k, payload, opt)
	var se *qr.SizeError
	if errors.As(err, &se) {
		hint := fmt.Sprintf("carry the %s as its text file instead (-o FILE, on a USB stick), or leave out what is optional in it", k)
		if q.MaxVersion != 0 && q.MaxVersion < qr.MaxVersion {
			hint += "; or allow larger codes with --qr-max-version (up to 40)"
		}
		return WithHint(err, hint)
	}
	if err != nil {
		return err
	}
	if q.PNG != "" {
		paths, err := qr.WritePNGs(q.PNG, codes, opt)
		if err != nil {
			return fmt.Errorf("cannot write the QR code: %w", err)
		}
		u.Infof("QR code%s (version %d-%s): %s", plural(len(codes)), codes[0].Version, level, strings.Join(paths, ", "))
	}
	if q.Terminal {
		w := u.Stderr
		if toStdout {
			w = u.Stdout
		}
		return u.showTerminal(w, k, payload, opt, codes)
	}
	return nil
}

// terminalSize returns the size of the terminal w draws on: its real size,
// else $COLUMNS × $LINES when both are set (known false otherwise).
func terminalSize(w io.Writer) (cols, lines int, known bool) {
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		if c, l, err := term.GetSize(int(f.Fd())); err == nil && c > 0 && l > 0 {
			return c, l, true
		}
	}
	c, err1 := strconv.Atoi(os.Getenv("COLUMNS"))
	l, err2 := strconv.Atoi(os.Getenv("LINES"))
	if err1 == nil && err2 == nil && c > 0 && l > 0 {
		return c, l, true
	}
	return 0, 0, false
}

func isTerminal(x any) bool {
	f, ok := x.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// showTerminal draws the message on w in codes that each fit the terminal
// with a status line. On an interactive terminal it shows one code at a
// time and waits for Enter between them; otherwise it prints them one
// after another. Without a known size it prints the codes planned for the
// PNG files.
func (u *UI) showTerminal(w io.Writer, k armor.Kind, payload []byte, opt qr.Options, codes []qr.Code) error {
	cols, lines, known := terminalSize(w)
	if known {
		var err error
		if codes, err = qr.PlanTerminal(k, payload, opt, cols, lines); err != nil {
			return WithHint(err, "enlarge the terminal window (or a smaller font), or use --qr FILE.png")
		}
	}
	interactive := len(codes) > 1 && isTerminal(w) && isTerminal(u.Stdin)
	var in *bufio.Reader
	if interactive {
		in = bufio.NewReader(u.Stdin)
	}
	for i, c := range codes {
		n := len(codes)
		switch {
		case interactive:
			fmt.Fprint(w, "\x1b[H\x1b[2J") // clear the screen: one code at a time
			fmt.Fprint(w, c.Terminal())
			if i < n-1 {
				fmt.Fprintf(w, "part %d of %d — Enter for the next", i+1, n)
			} else {
				fmt.Fprintf(w, "part %d of %d — Enter when all are read", i+1, n)
			}
			if _, err := in.ReadString('\n'); err != nil {
				fmt.Fprintln(w)
				return nil
			}
		case n > 1:
			fmt.Fprintf(w, "part %d of %d (scan all, in any order):\n", i+1, n)
			fmt.Fprint(w, c.Terminal())
		default:
			fmt.Fprint(w, c.Terminal())
		}
	}
	if interactive {
		fmt.Fprint(w, "\x1b[H\x1b[2J")
	}
	return nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return fmt.Sprintf("s (%d parts)", n)
}

// ReadMessage reads a message from a file or stdin ("-"), or, when images
// are given, from photos or screenshots of its QR codes (one image a part,
// any order).
func (u *UI) ReadMessage(path string, images []string) ([]byte, error) {
	if len(images) == 0 {
		return u.ReadInput(path)
	}
	var lines []string
	for _, img := range images {
		f, err := os.Open(img)
		if err != nil {
			return nil, fmt.Errorf("cannot open image %q: %w", img, unwrapPath(err))
		}
		texts, err := qr.DecodeImage(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("image %q: %w", img, err)
		}
		lines = append(lines, texts...)
	}
	return []byte(strings.Join(lines, "\n") + "\n"), nil
}

func plural1(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func ints(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = fmt.Sprint(n)
	}
	return strings.Join(s, ", ")
}

func unwrapPath(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// InputFlags are the ways a command reads one message: a file or "-"
// (positional), photos of its QR codes, or a barcode scanner.
type InputFlags struct {
	Images      []string
	Interactive bool
	// Check, if not nil, verifies a decoded message (its signature). It
	// decides when interactive input is complete and whether text typed
	// through another keyboard layout is undone. Nil checks what the
	// message itself allows (see DefaultCheck).
	Check func(armor.Kind, []byte) error
}

// Register adds --qr-image and -i/--interactive to fs.
func (f *InputFlags) Register(fs *pflag.FlagSet) {
	fs.StringArrayVar(&f.Images, "qr-image", nil, "")
	fs.BoolVarP(&f.Interactive, "interactive", "i", false, "")
}

// Read checks that one way was chosen and reads the message of kind k from
// it; args are the command's positional arguments (at most one file, "-"
// for stdin, the default).
func (u *UI) Read(f *InputFlags, args []string, k armor.Kind) ([]byte, error) {
	if len(args) > 1 {
		return nil, Usagef("give one %s file (or - for stdin)", k)
	}
	ways := len(args)
	if len(f.Images) > 0 {
		ways++
	}
	if f.Interactive {
		ways++
	}
	if ways > 1 {
		return nil, Usagef("give a %s file, --qr-image or --interactive, not several", k)
	}
	check := f.Check
	if check == nil {
		check = DefaultCheck
	}
	if f.Interactive {
		return u.Scan(k, check)
	}
	in := "-"
	if len(args) == 1 {
		in = args[0]
	}
	text, err := u.ReadMessage(in, f.Images)
	if err != nil {
		return nil, err
	}
	return u.undoLayout(text, k, check), nil
}
