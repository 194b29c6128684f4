package armor

import (
	"crypto/sha256"
	"fmt"
	"slices"
	"strings"
)

// Parts.
//
// A message too large for one QR code is split into at most MaxParts parts
// of (nearly) equal length, which may be read in any order. A part is one
// line of text:
//
//	tag  = "AR9" / "AL9" / "AD9"          (the kind's tag, 1 replaced by 9)
//	part = tag index total id chunk
//
// where index and total are one digit each (1 ≤ index ≤ total ≤ 6), id is
// the first 20 bits of SHA-256 of the binary payload as 4 base32
// characters, and chunk is a piece of the base32 text form (without its
// tag). The chunks, joined in index order, are the base32 text of the
// payload; after joining, the id must match the payload's hash.

// Limits on parts.
const (
	MaxParts    = 6
	MaxPartText = 1000 // one terminal line, whatever the keyboard wedge
	partHeader  = 3 + 1 + 1 + 4
)

func isPart(line []byte) bool {
	return len(line) >= 3 && line[2] == '9' && line[0] == 'A'
}

func partTag(k Kind) string { return kinds[k].tag[:2] + "9" }

func messageID(payload []byte) string {
	h := sha256.Sum256(payload)
	return b32.EncodeToString(h[:3])[:4]
}

// Split returns the message as n parts (1 ≤ n ≤ MaxParts) of nearly equal
// length (they differ by at most one character). n = 1 returns the plain
// text form.
func Split(k Kind, payload []byte, n int) ([]string, error) {
	if n < 1 || n > MaxParts {
		return nil, fmt.Errorf("parts: %d is not between 1 and %d", n, MaxParts)
	}
	if k == SecretKey {
		return nil, fmt.Errorf("parts: secret keys are never split into QR parts")
	}
	if n == 1 {
		return []string{Text(k, payload)}, nil
	}
	enc := b32.EncodeToString(payload)
	if len(enc) < n {
		return nil, fmt.Errorf("parts: message too short for %d parts", n)
	}
	id := messageID(payload)
	out := make([]string, 0, n)
	for i := 0; i < n; i++ {
		lo, hi := i*len(enc)/n, (i+1)*len(enc)/n
		p := fmt.Sprintf("%s%d%d%s%s", partTag(k), i+1, n, id, enc[lo:hi])
		if len(p) > MaxPartText {
			return nil, fmt.Errorf("parts: a part would be longer than %d characters", MaxPartText)
		}
		out = append(out, p)
	}
	return out, nil
}

// Assembler collects parts as they are scanned, in any order. The same part
// scanned twice is ignored; a part of another message is an error.
type Assembler struct {
	kind   Kind
	total  int
	id     string
	chunks []string
}

// Status says what an Assembler has.
type Status struct {
	Kind    Kind
	ID      string // the parts' message id; "" for a whole message
	Total   int    // 0 until the first part
	Have    []int  // indexes received, ascending
	Missing []int  // indexes still missing, ascending
}

// Add takes one scanned line: a part, or a whole message (then Total is 1).
// It accepts the same presentation as Decode (any case, stray spaces).
func (a *Assembler) Add(line []byte) (Status, error) {
	l := squeeze(slices.Clone(line))
	l = trimLineEnds(l)
	if len(l) == 0 {
		return a.Status(), nil
	}
	for i, c := range l {
		if !isTextChar(c) {
			return a.Status(), &ParseError{Reason: fmt.Sprintf("column %d: character not allowed in airlock text", i+1)}
		}
	}
	if !isPart(l) {
		k, p, err := decodeBody(l, 0, "")
		if err != nil {
			return a.Status(), err
		}
		if a.total != 0 {
			return a.Status(), &ParseError{Reason: "a whole message was scanned while parts of another were being collected"}
		}
		a.kind, a.total, a.chunks = k, 1, []string{b32.EncodeToString(p)}
		return a.Status(), nil
	}
	st, err := a.add(l)
	if err != nil {
		return a.Status(), err
	}
	return st, nil
}

func (a *Assembler) add(l []byte) (Status, *ParseError) {
	pt, err := parsePart(l)
	if err != nil {
		return a.Status(), err
	}
	switch {
	case a.total == 0:
		a.kind, a.total, a.id, a.chunks = pt.kind, pt.total, pt.id, make([]string, pt.total)
	case pt.kind != a.kind || pt.total != a.total || pt.id != a.id:
		return a.Status(), &ParseError{Reason: "this part belongs to another message"}
	}
	if prev := a.chunks[pt.index-1]; prev != "" && prev != pt.chunk {
		return a.Status(), &ParseError{Reason: fmt.Sprintf("part %d was scanned twice with different content", pt.index)}
	}
	a.chunks[pt.index-1] = pt.chunk
	return a.Status(), nil
}

// part is one parsed part line.
type part struct {
	kind         Kind
	index, total int
	id, chunk    string
}

// parsePart parses one squeezed part line (isPart is true).
func parsePart(l []byte) (part, *ParseError) {
	if len(l) > MaxPartText {
		return part{}, &ParseError{Reason: fmt.Sprintf("part longer than %d characters", MaxPartText)}
	}
	if len(l) <= partHeader {
		return part{}, &ParseError{Reason: "part too short"}
	}
	var kind Kind
	for k := range kinds {
		if k != SecretKey && string(l[:3]) == partTag(k) {
			kind = k
		}
	}
	idx, total := int(l[3]-'0'), int(l[4]-'0')
	switch {
	case kind == 0:
		return part{}, &ParseError{Reason: "not an airlock part (unknown tag)"}
	case total < 2 || total > MaxParts || idx < 1 || idx > total:
		return part{}, &ParseError{Reason: "invalid part number"}
	}
	return part{kind: kind, index: idx, total: total, id: string(l[5:9]), chunk: string(l[9:])}, nil
}

// Status reports what has been collected.
func (a *Assembler) Status() Status {
	s := Status{Kind: a.kind, Total: a.total}
	for i, c := range a.chunks {
		if c != "" {
			s.Have = append(s.Have, i+1)
		} else {
			s.Missing = append(s.Missing, i+1)
		}
	}
	return s
}

// Done reports whether every part is in.
func (a *Assembler) Done() bool { return a.total > 0 && len(a.Status().Missing) == 0 }

// Result joins the parts and decodes the message.
func (a *Assembler) Result() (Kind, []byte, error) {
	st := a.Status()
	if a.total == 0 {
		return 0, nil, &ParseError{Reason: "input is empty"}
	}
	if len(st.Missing) > 0 {
		return 0, nil, &ParseError{Reason: fmt.Sprintf("parts missing: %s of %d", joinInts(st.Missing), a.total)}
	}
	body := []byte(kinds[a.kind].tag + strings.Join(a.chunks, ""))
	k, p, err := decodeBody(body, 0, "")
	if err != nil {
		return 0, nil, err
	}
	if a.total > 1 && messageID(p) != a.id {
		return 0, nil, &ParseError{Reason: "the parts do not belong together (message id does not match)"}
	}
	return k, p, nil
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = fmt.Sprint(n)
	}
	return strings.Join(s, ", ")
}

func trimLineEnds(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\r' || b[len(b)-1] == '\n') {
		b = b[:len(b)-1]
	}
	for len(b) > 0 && (b[0] == '\r' || b[0] == '\n') {
		b = b[1:]
	}
	return b
}

// PartOf reports whether text (as a QR code holds it) is a part, and
// which: its kind, index, total and message id.
func PartOf(text string) (k Kind, index, total int, id string, ok bool) {
	l := squeeze([]byte(text))
	if !isPart(l) {
		return 0, 0, 0, "", false
	}
	pt, err := parsePart(l)
	if err != nil {
		return 0, 0, 0, "", false
	}
	return pt.kind, pt.index, pt.total, pt.id, true
}
