package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/airlock-offline/airlock/internal/armor"
	"github.com/airlock-offline/airlock/receipt"
	"github.com/airlock-offline/airlock/request"
	"github.com/airlock-offline/airlock/response"
)

// DefaultCheck verifies what a message can prove by itself: the
// signature of a request or receipt (made by the key inside it), the
// structure of a license (its signer's key is not in it). Commands that
// know the vendor's keys check a license's signature instead.
func DefaultCheck(k armor.Kind, p []byte) error {
	var err error
	switch k {
	case armor.Request:
		_, err = request.Verify(p)
	case armor.Receipt:
		_, err = receipt.Verify(p)
	case armor.License:
		_, _, err = response.ParseUnverified(p)
	}
	return err
}

// restartHint is shown when interactive input starts.
const restartHint = "type 0 and Enter to start over, Ctrl-D to stop"

// layoutHint follows a scan that was not accepted.
const layoutHint = "if a barcode scanner typed it, check that the scanner's keyboard layout (or keyboard language) is the one this computer uses"

// Scan reads what a USB barcode scanner types, or pasted text, from stdin
// until the message is whole: any mix of parts, whole messages and armored
// files, with any line ends or none (see armor.Collector). It reports
// each part on stderr; a misread or foreign scan is reported and set
// aside, never fatal; a line with only 0 starts over.
func (u *UI) Scan(want armor.Kind, check func(armor.Kind, []byte) error) ([]byte, error) {
	if err := u.ClaimStdin("the scanner's input"); err != nil {
		return nil, err
	}
	c := &armor.Collector{Want: want, Check: check}
	u.Infof("scan the %s QR code(s) now, or paste its text: this ends by itself when the %s is whole (%s)", want, want, restartHint)
	buf := make([]byte, 4096)
	hinted := false
	report := func() {
		for _, e := range c.Events() {
			switch e.Type {
			case armor.Progress:
				st := e.Status
				if len(st.Missing) == 0 {
					u.Infof("got all %d parts", st.Total)
				} else {
					u.Infof("got part%s %s of %d; missing %s", plural1(len(st.Have)), ints(st.Have), st.Total, ints(st.Missing))
				}
			case armor.Rejected:
				u.Warnf("that scan was not accepted: %v; scan it again", e.Err)
				if !hinted {
					hinted = true
					u.Hintf("%s", layoutHint)
				}
			case armor.Foreign:
				u.Warnf("set aside: %v", e.Err)
			case armor.LayoutNote:
				u.Warnf("%s", layoutNote(e.Layout))
			case armor.Restarted:
				u.Infof("started over: scan the %s again (%s)", want, restartHint)
			}
		}
	}
	// At a terminal, read as the scanner types: a code ended by Tab or
	// by nothing would otherwise wait for a line end. Ctrl-D then comes
	// as a character.
	tty := false
	if f, ok := u.Stdin.(*os.File); ok && isTerminal(f) {
		if restore, ok := charMode(f); ok {
			defer restore()
			tty = true
		}
	}
	for !c.Done() {
		n, err := u.Stdin.Read(buf)
		data := buf[:n]
		if i := bytes.IndexByte(data, 0x04); tty && i >= 0 { // Ctrl-D
			data, err = data[:i], io.EOF
		}
		c.Write(data)
		report()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("cannot read the scanner input: %w", err)
		}
	}
	if !c.Done() {
		c.Close()
		report()
	}
	k, p, _, err := c.Result()
	if err != nil {
		if k, p, ok := c.Unverified(); ok {
			// Let the command say why, with its result code.
			return armor.Encode(k, p), nil
		}
		if strings.HasPrefix(err.Error(), "parts missing") {
			return nil, fmt.Errorf("input ended with %v", err)
		}
		return nil, fmt.Errorf("input ended before a %s was scanned", want)
	}
	return armor.Encode(k, p), nil
}

// layoutNote says which keyboard layout the text was typed through.
func layoutNote(l armor.Layout) string {
	return fmt.Sprintf("the scanner typed as if for a US keyboard on a %[1]s one: undone, and the message checks out; set the scanner's keyboard language to %[1]s", l)
}

// undoLayout returns text as it is unless it decodes only as typed
// through another keyboard layout, or only as interactive input does
// (parts glued together or separated by Tab, see armor.Collector; not for
// armored text, whose armor lines must hold): then it returns the message
// re-encoded, saying which layout it undid.
func (u *UI) undoLayout(text []byte, want armor.Kind, check func(armor.Kind, []byte) error) []byte {
	k, p, l, err := armor.DecodeLayout(text, check)
	if err == nil && k == want {
		if l != armor.US {
			u.Warnf("%s", layoutNote(l))
			return armor.Encode(k, p)
		}
		return text
	}
	if bytes.Contains(text, []byte("-----")) {
		// An armored file is read by the rules for files (docs/format.md
		// 3.2), armor lines checked: nothing to add.
		return text
	}
	c := &armor.Collector{Want: want, Check: check}
	c.Write(text)
	c.Close()
	if k, p, l, err := c.Result(); err == nil {
		if l != armor.US {
			u.Warnf("%s", layoutNote(l))
		}
		return armor.Encode(k, p)
	}
	return text
}
