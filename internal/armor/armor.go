// Package armor implements airlock's one text form for every channel: a
// three-character tag followed by upper-case base32 without padding (RFC 4648
// section 6). Files wrap the text at 64 columns between BEGIN and END lines.
//
// The same text is what a QR code carries and what a USB barcode scanner
// types, so [Decode] is lenient about presentation (lower case, CR, LF, tabs,
// stray spaces, armor lines present or absent) and strict about content:
// anything that is not one of the known tags followed by canonical base32 is
// rejected with a [*ParseError] that names the line and what was wrong, never
// the offending text itself.
package armor

import (
	"bytes"
	"encoding/base32"
	"fmt"
)

// Kind is the type of an armored message.
type Kind int

// Known kinds. The zero Kind is invalid.
const (
	Request Kind = iota + 1
	License
	Receipt
	SecretKey
	Checkpoint
	UsageReport
)

type kindInfo struct {
	tag   string // 3 characters; the last one is outside the base32 alphabet
	label string // word in the BEGIN/END lines
}

var kinds = map[Kind]kindInfo{
	Request:     {"AR1", "REQUEST"},
	License:     {"AL1", "LICENSE"},
	Receipt:     {"AD1", "RECEIPT"},
	SecretKey:   {"AK1", "SECRET KEY"},
	Checkpoint:  {"AC1", "AUDIT CHECKPOINT"},
	UsageReport: {"AU1", "USAGE REPORT"},
}

// Tag returns the text tag of k, e.g. "AR1".
func (k Kind) Tag() string { return kinds[k].tag }

func (k Kind) String() string {
	if i, ok := kinds[k]; ok {
		return lower(i.label)
	}
	return "unknown"
}

func lower(s string) string { return string(bytes.ToLower([]byte(s))) }

// Limits.
const (
	// MaxPayload is the largest binary payload any airlock message may have.
	MaxPayload = 16 << 10
	// MaxText is the largest text Decode reads: the base32 of MaxPayload
	// plus generous room for armor lines, line ends and stray spaces.
	MaxText = 64 << 10
	// Columns is the line width of the armored file form.
	Columns = 64
)

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

const (
	beginPrefix = "-----BEGIN AIRLOCK "
	endPrefix   = "-----END AIRLOCK "
	dashes      = "-----"
)

// ParseError reports why a text is not a valid airlock message. Line is
// 1-based and 0 when the error is not about one line. It never contains the
// rejected text.
type ParseError struct {
	Line   int
	Reason string
}

func (e *ParseError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("line %d: %s", e.Line, e.Reason)
	}
	return e.Reason
}

// Text returns the one-line text form of payload: tag + base32.
func Text(k Kind, payload []byte) string {
	return k.Tag() + b32.EncodeToString(payload)
}

// Encode returns the armored file form of payload: the text form wrapped at
// 64 columns between BEGIN and END lines, each line ending in LF.
func Encode(k Kind, payload []byte) []byte {
	text := Text(k, payload)
	label := kinds[k].label
	var b bytes.Buffer
	b.Grow(len(text) + len(text)/Columns + 80)
	b.WriteString(beginPrefix + label + dashes + "\n")
	for len(text) > Columns {
		b.WriteString(text[:Columns])
		b.WriteByte('\n')
		text = text[Columns:]
	}
	b.WriteString(text)
	b.WriteByte('\n')
	b.WriteString(endPrefix + label + dashes + "\n")
	return b.Bytes()
}

// Decode parses any presentation of an airlock message: the armored file,
// the bare text form, either with lower case letters, CR, LF or CRLF line
// ends, tabs and stray spaces. It returns the kind and the binary payload.
func Decode(text []byte) (Kind, []byte, error) {
	if len(text) > MaxText {
		return 0, nil, &ParseError{Reason: fmt.Sprintf("input is larger than %d bytes", MaxText)}
	}
	type line struct {
		n    int
		text []byte
	}
	var lines []line
	// Split on CR, LF or CRLF; squeeze works on a copy, never the caller's buffer.
	norm := bytes.ReplaceAll(text, []byte("\r\n"), []byte("\n"))
	norm = bytes.ReplaceAll(norm, []byte("\r"), []byte("\n"))
	for i, l := range bytes.Split(norm, []byte("\n")) {
		if l = squeeze(l); len(l) > 0 {
			lines = append(lines, line{i + 1, l})
		}
	}
	if len(lines) == 0 {
		return 0, nil, &ParseError{Reason: "input is empty"}
	}

	// Armor lines, if present, must come as a matching pair around the body.
	var label string
	if l := lines[0]; bytes.HasPrefix(l.text, []byte(squeezeString(beginPrefix))) {
		lb, ok := armorLabel(l.text, squeezeString(beginPrefix))
		if !ok {
			return 0, nil, &ParseError{Line: l.n, Reason: "malformed BEGIN line"}
		}
		last := lines[len(lines)-1]
		le, ok := armorLabel(last.text, squeezeString(endPrefix))
		if len(lines) < 2 || !ok {
			return 0, nil, &ParseError{Line: last.n, Reason: "missing END line"}
		}
		if le != lb {
			return 0, nil, &ParseError{Line: last.n, Reason: "END line does not match BEGIN line"}
		}
		label = lb
		lines = lines[1 : len(lines)-1]
		if len(lines) == 0 {
			return 0, nil, &ParseError{Line: l.n + 1, Reason: "no content between BEGIN and END lines"}
		}
	} else if bytes.HasPrefix(l.text, []byte(squeezeString(endPrefix))) {
		return 0, nil, &ParseError{Line: l.n, Reason: "END line without BEGIN line"}
	}

	var body []byte
	for _, l := range lines {
		if bytes.HasPrefix(l.text, []byte("-----")) {
			return 0, nil, &ParseError{Line: l.n, Reason: "unexpected armor line"}
		}
		for i, c := range l.text {
			if !isTextChar(c) {
				return 0, nil, &ParseError{Line: l.n, Reason: fmt.Sprintf("column %d: character not allowed in airlock text", i+1)}
			}
		}
		body = append(body, l.text...)
	}
	first := lines[0].n
	if isPart(lines[0].text) {
		// Several parts, one a line, in any order.
		var a Assembler
		for _, l := range lines {
			if _, err := a.add(l.text); err != nil {
				err.Line = l.n
				return 0, nil, err
			}
		}
		k, p, err := a.Result()
		if err != nil {
			return 0, nil, err
		}
		if label != "" && label != kinds[k].label {
			return 0, nil, &ParseError{Line: first, Reason: "tag does not match the BEGIN line"}
		}
		return k, p, nil
	}
	return decodeBody(body, first, label)
}

// decodeBody decodes the joined text form: tag + base32.
func decodeBody(body []byte, first int, label string) (Kind, []byte, error) {
	if len(body) < 3 {
		return 0, nil, &ParseError{Line: first, Reason: "text is too short to be an airlock message"}
	}
	var kind Kind
	for k, i := range kinds {
		if string(body[:3]) == i.tag {
			kind = k
		}
	}
	if kind == 0 {
		return 0, nil, &ParseError{Line: first, Reason: "not an airlock message (unknown tag)"}
	}
	if label != "" && label != kinds[kind].label {
		return 0, nil, &ParseError{Line: first, Reason: "tag does not match the BEGIN line"}
	}
	enc := body[3:]
	if b32.DecodedLen(len(enc)) > MaxPayload {
		return 0, nil, &ParseError{Reason: fmt.Sprintf("message is larger than %d bytes", MaxPayload)}
	}
	payload := make([]byte, b32.DecodedLen(len(enc)))
	nb, err := b32.Decode(payload, enc)
	if err != nil {
		return 0, nil, &ParseError{Line: first, Reason: "invalid base32 (text damaged or cut short)"}
	}
	payload = payload[:nb]
	// Reject non-canonical encodings (non-zero trailing bits), so that one
	// message has exactly one text form.
	if b32.EncodeToString(payload) != string(enc) {
		return 0, nil, &ParseError{Line: first, Reason: "invalid base32 (text damaged or cut short)"}
	}
	if len(payload) == 0 {
		return 0, nil, &ParseError{Line: first, Reason: "message is empty"}
	}
	return kind, payload, nil
}

// DecodeKind is Decode that also requires the message to be of kind want.
func DecodeKind(text []byte, want Kind) ([]byte, error) {
	k, p, err := Decode(text)
	if err != nil {
		return nil, err
	}
	if k != want {
		return nil, &ParseError{Reason: fmt.Sprintf("this is a %s, not a %s", k, want)}
	}
	return p, nil
}

// isTextChar reports whether c may appear in the body after squeezing and
// upper-casing: the tag's digit 1 and the base32 alphabet.
func isTextChar(c byte) bool {
	return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
}

// squeeze upper-cases ASCII letters and removes spaces and tabs, in place.
func squeeze(l []byte) []byte {
	out := l[:0]
	for _, c := range l {
		switch {
		case c == ' ' || c == '\t' || c == '\f' || c == '\v':
			continue
		case c >= 'a' && c <= 'z':
			c -= 'a' - 'A'
		}
		out = append(out, c)
	}
	return out
}

func squeezeString(s string) string { return string(squeeze([]byte(s))) }

func armorLabel(l []byte, prefix string) (string, bool) {
	if !bytes.HasPrefix(l, []byte(prefix)) || !bytes.HasSuffix(l, []byte(dashes)) || len(l) < len(prefix)+len(dashes)+1 {
		return "", false
	}
	lb := string(l[len(prefix) : len(l)-len(dashes)])
	for _, i := range kinds {
		if squeezeString(i.label) == lb {
			return i.label, true
		}
	}
	return "", false
}
