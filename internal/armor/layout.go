package armor

import "strings"

// Keyboard layouts.
//
// A USB barcode scanner in keyboard mode sends key positions, not
// characters, as if the keyboard were a US one; the computer turns them into
// characters with its own layout. When the two differ, the scanner "types"
// other characters than the code holds: on a German (QWERTZ) layout Y and Z
// are swapped; on a French (AZERTY) layout A and Q, Z and W are swapped, M
// comes out as "?" or ",", and the digits, typed without Shift, come out as
// the symbols on their keys (1 as "&", 9 as "ç").
//
// Layout.Undo maps such text back. A decoder never guesses: text is undone
// only when it does not decode as it is and the undone text passes the
// message's own checks (the parts' message id, the signature).

// Layout is a keyboard layout the computer may use while a scanner types.
type Layout int

// Known layouts. US is the scanners' own: text typed through it is taken as
// it is.
const (
	US Layout = iota
	QWERTZ
	AZERTY
)

// Layouts lists the layouts whose typing can be undone, after US.
var Layouts = []Layout{QWERTZ, AZERTY}

func (l Layout) String() string {
	switch l {
	case US:
		return "US (QWERTY)"
	case QWERTZ:
		return "German (QWERTZ)"
	case AZERTY:
		return "French (AZERTY)"
	}
	return "unknown"
}

var (
	undoQWERTZ = strings.NewReplacer("Y", "Z", "Z", "Y", "y", "z", "z", "y")
	undoAZERTY = strings.NewReplacer(
		"A", "Q", "Q", "A", "a", "q", "q", "a",
		"Z", "W", "W", "Z", "z", "w", "w", "z",
		"?", "M", ",", "M",
		"&", "1", "é", "2", "\"", "3", "'", "4", "(", "5",
		"-", "6", "§", "6", // French, Belgian
		"è", "7", "_", "8", "!", "8", "ç", "9", "à", "0",
	)
)

// Undo returns the text a scanner meant to type when the computer's layout
// is l: what a US keyboard makes of the same key presses. US returns text
// unchanged.
func (l Layout) Undo(text string) string {
	switch l {
	case QWERTZ:
		return undoQWERTZ.Replace(text)
	case AZERTY:
		return undoAZERTY.Replace(text)
	}
	return text
}

// Type returns what a scanner typing text (a US key map) produces on a
// computer with layout l: the inverse of Undo, for tests and examples. Only
// the characters of the text form (A–Z, 0–9) are mapped.
func (l Layout) Type(text string) string {
	switch l {
	case QWERTZ:
		return undoQWERTZ.Replace(text)
	case AZERTY:
		return typeAZERTY.Replace(text)
	}
	return text
}

var typeAZERTY = strings.NewReplacer(
	"A", "Q", "Q", "A", "Z", "W", "W", "Z", "M", "?",
	"1", "&", "2", "é", "3", "\"", "4", "'", "5", "(",
	"6", "-", "7", "è", "8", "_", "9", "ç", "0", "à",
)

// DecodeLayout is Decode that also tries the text as typed through each of
// Layouts when it does not decode as it is, or when check (if not nil)
// rejects what it decodes to. It returns the first decoding check accepts
// and the layout it took (US: as it is). When none does, it returns the
// result and error of Decode on the text as it is.
func DecodeLayout(text []byte, check func(Kind, []byte) error) (Kind, []byte, Layout, error) {
	k, p, err := Decode(text)
	if err == nil && (check == nil || check(k, p) == nil) {
		return k, p, US, nil
	}
	for _, l := range Layouts {
		lk, lp, lerr := Decode([]byte(l.Undo(string(text))))
		if lerr == nil && (check == nil || check(lk, lp) == nil) {
			return lk, lp, l, nil
		}
	}
	return k, p, US, err
}
