package armor

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Collector gathers one message from text that arrives a little at a time,
// as a USB barcode scanner types it or a user pastes it: any mix of whole
// messages, parts (one a code), armored files and their 64-column body
// lines without the BEGIN/END lines, separated by CR, LF, CRLF, Tab or
// nothing at all, with stray spaces, in either case.
//
// # How text is cut into pieces
//
// A tag ("AR1", "AL9", …) can only start a piece: its third character, 1 or
// 9, is outside the base32 alphabet, so it never occurs inside one. A piece
// runs from its tag to the next tag, an armor line or the end of input;
// line ends inside a whole message are ignored (pasted 64-column lines), a
// part ends at its line end (a part is one line). A message is complete as
// soon as its text decodes and passes Check, so the Collector finishes by
// itself without waiting for a line end or the end of input.
//
// # What is set aside
//
// A part of another message than the parts before, or a message of another
// kind than Want, is reported once (an event of type Foreign) and kept
// apart; whichever message is complete first is the result. A piece that is
// not airlock text is reported (Rejected) and dropped. A line holding only
// "0" starts over (Restarted).
//
// # Keyboard layouts
//
// The text is read as it is and, beside it, as typed through each of
// Layouts (see Layout). A layout is taken only when the text as it is
// fails and the text undone through the layout passes: the parts' message
// id and Check decide, never a guess. Events then come with a LayoutNote
// once.
type Collector struct {
	// Want is the kind of message wanted; 0 takes any.
	Want Kind
	// Check, if not nil, is the message's own check (its signature); a
	// message is complete only when Check accepts it. Without Check, a
	// whole message is complete only at a line end or the end of input.
	Check func(Kind, []byte) error

	partial []byte // raw input after the last line end
	views   []*view
	noted   bool
	events  []Event
	done    *view
	closed  bool
}

// EventType says what an Event reports.
type EventType int

// Event types.
const (
	// Progress: a part was taken; Status says what its message has.
	Progress EventType = iota + 1
	// Rejected: a piece was not accepted and was dropped; Err says why.
	Rejected
	// Foreign: a part of another message, or a message of another kind,
	// was set aside; reported once per message. Err says what it is.
	Foreign
	// LayoutNote: the text decodes only as typed through Layout.
	LayoutNote
	// Complete: the message is whole and passed Check.
	Complete
	// Restarted: everything collected so far was dropped.
	Restarted
)

// Event is one thing worth telling the user.
type Event struct {
	Type   EventType
	Status Status
	Err    error
	Layout Layout
}

// MaxMessages bounds how many messages a Collector keeps apart at once.
const MaxMessages = 8

// view is the input read through one layout.
type view struct {
	c        *Collector
	layout   Layout
	pending  []byte // current piece, squeezed and mapped
	consumed int    // bytes of the partial line already in pending
	groups   []*group
	reported map[string]bool
	events   []Event
	kind     Kind
	payload  []byte
	complete bool
	bad      []byte // the last message that decoded but failed Check
	badKind  Kind
}

type group struct {
	kind   Kind
	total  int
	id     string
	chunks []string
}

func (g *group) status() Status {
	s := Status{Kind: g.kind, Total: g.total, ID: g.id}
	for i, c := range g.chunks {
		if c != "" {
			s.Have = append(s.Have, i+1)
		} else {
			s.Missing = append(s.Missing, i+1)
		}
	}
	return s
}

func (c *Collector) init() {
	if c.views != nil {
		return
	}
	for _, l := range append([]Layout{US}, Layouts...) {
		c.views = append(c.views, &view{c: c, layout: l, reported: map[string]bool{}})
	}
}

// Write feeds input. It never fails; what it made of the input is in
// Events, and Done reports whether the message is complete. Input after
// completion is ignored.
func (c *Collector) Write(p []byte) (int, error) {
	c.init()
	if c.done != nil || c.closed {
		return len(p), nil
	}
	for _, b := range p {
		if b == '\r' || b == '\n' || b == '\t' {
			c.step(c.partial, true)
			c.partial = c.partial[:0]
			if c.done != nil {
				return len(p), nil
			}
			continue
		}
		if len(c.partial) >= MaxText {
			c.step(c.partial, true) // a line too long: taken as ended
			c.partial = c.partial[:0]
		}
		c.partial = append(c.partial, b)
	}
	if len(c.partial) > 0 && c.done == nil {
		c.stepPartial()
	}
	return len(p), nil
}

// Close ends the input: whatever is pending is taken as complete.
func (c *Collector) Close() {
	c.init()
	if c.done != nil || c.closed {
		return
	}
	c.step(c.partial, true)
	c.partial = nil
	c.stepEach(func(v *view) { v.finish() })
	c.closed = true
}

// Events returns the events since the last call.
func (c *Collector) Events() []Event {
	e := c.events
	c.events = nil
	return e
}

// Done reports whether the message is complete.
func (c *Collector) Done() bool { return c.done != nil }

// Result returns the complete message and the layout it was typed
// through, or an error that says what is missing.
func (c *Collector) Result() (Kind, []byte, Layout, error) {
	c.init()
	if v := c.done; v != nil {
		return v.kind, v.payload, v.layout, nil
	}
	v := c.views[0]
	for _, g := range v.groups {
		if g.kind == c.Want || c.Want == 0 {
			st := g.status()
			return 0, nil, US, &ParseError{Reason: fmt.Sprintf("parts missing: %s of %d", joinInts(st.Missing), st.Total)}
		}
	}
	return 0, nil, US, &ParseError{Reason: "input is empty"}
}

// Unverified returns the last message of the kind wanted that decoded as
// it was typed but failed Check, if any: the caller may want to report why
// with its own errors once the input has ended.
func (c *Collector) Unverified() (Kind, []byte, bool) {
	c.init()
	v := c.views[0]
	return v.badKind, v.bad, v.bad != nil
}

// Reset drops everything collected.
func (c *Collector) Reset() {
	c.views, c.partial, c.done, c.closed, c.noted = nil, nil, nil, false, false
	c.init()
}

// step processes one line (ended) or the start of one (not ended).
func (c *Collector) step(raw []byte, ended bool) {
	if ended && isRestart(raw) {
		c.Reset()
		c.events = append(c.events, Event{Type: Restarted})
		return
	}
	c.stepEach(func(v *view) { v.line(raw, ended) })
}

// stepPartial lets every view take what it can of the partial line.
func (c *Collector) stepPartial() {
	raw := c.partial
	if bytes.HasPrefix(bytes.TrimLeft(raw, " "), []byte("-")) {
		return // maybe an armor line: wait for its end
	}
	c.stepEach(func(v *view) { v.partial(raw) })
	if c.done != nil {
		c.partial = c.partial[:0]
	}
}

// stepEach runs f on every view and keeps the events of one: the view as
// it is if it had nothing to reject, else the first layout that explains
// the input.
func (c *Collector) stepEach(f func(*view)) {
	for _, v := range c.views {
		v.events = nil
		f(v)
	}
	chosen := c.views[0]
	if rejects(chosen.events) && !chosen.complete {
		for _, v := range c.views[1:] {
			if len(v.events) > 0 && !rejects(v.events) {
				chosen = v
				break
			}
		}
	}
	for _, v := range c.views {
		if v.complete {
			chosen = v // a complete message is the answer, whatever else
			break
		}
	}
	if chosen.layout != US && !c.noted {
		c.noted = true
		c.events = append(c.events, Event{Type: LayoutNote, Layout: chosen.layout})
	}
	c.events = append(c.events, chosen.events...)
	if chosen.complete {
		c.done = chosen
	}
}

func rejects(ev []Event) bool {
	for _, e := range ev {
		if e.Type == Rejected {
			return true
		}
	}
	return false
}

func isRestart(raw []byte) bool {
	s := strings.TrimSpace(string(raw))
	return s == "0"
}

// mapped is a line after layout undo and squeeze, with the raw offset of
// each character (raw[len(mapped)] is the end).
type mapped struct {
	mapped []byte
	raw    []int
}

// mapLine undoes the layout and squeezes: ASCII letters upper-cased,
// spaces dropped. A character that cannot be in airlock text stays as 0xff.
func (v *view) mapLine(raw []byte) ([]byte, mapped) {
	var m mapped
	for i := 0; i < len(raw); {
		r, n := utf8.DecodeRune(raw[i:])
		s := string(raw[i : i+n])
		if r != utf8.RuneError || n > 1 {
			s = v.layout.Undo(s)
		}
		for _, b := range []byte(s) {
			switch {
			case b == ' ' || b == '\f' || b == '\v':
				continue
			case b >= 'a' && b <= 'z':
				b -= 'a' - 'A'
			case !isTextChar(b):
				b = 0xff
			}
			m.mapped = append(m.mapped, b)
			m.raw = append(m.raw, i)
		}
		i += n
	}
	m.raw = append(m.raw, len(raw))
	return m.mapped, m
}

// tagAt reports whether a tag (of a whole message or a part) starts at i.
func tagAt(l []byte, i int) bool {
	if i+2 >= len(l) || l[i] != 'A' {
		return false
	}
	switch l[i+2] {
	case '1':
		for _, k := range kinds {
			if k.tag[1] == l[i+1] {
				return true
			}
		}
	case '9':
		for k, ki := range kinds {
			if k != SecretKey && ki.tag[1] == l[i+1] {
				return true
			}
		}
	}
	return false
}

// line processes the rest of a line of raw input.
func (v *view) line(raw []byte, ended bool) {
	done := v.consumed
	v.consumed = 0
	if t := bytes.TrimLeft(raw, " "); bytes.HasPrefix(t, []byte("-----")) {
		v.finish() // an armor line closes the piece before it
		return
	}
	l, _ := v.mapLine(raw[done:])
	v.cut(l)
	if v.complete {
		return
	}
	if len(v.pending) > MaxText {
		v.reject(&ParseError{Reason: fmt.Sprintf("text longer than %d characters without a message in it", MaxText)})
		v.pending = nil
		return
	}
	if !ended || len(v.pending) == 0 {
		return
	}
	switch {
	case isPart(v.pending) || !tagAt(v.pending, 0):
		v.finish() // a part is one line; text without a tag is nothing
	default:
		// A whole message may go on in the next line (pasted 64-column
		// lines): take it now only if it is complete.
		if k, p, err := v.whole(v.pending); err == nil && v.c.Check != nil && v.c.Check(k, p) == nil {
			v.finish()
		}
	}
}

// cut appends mapped text to the pending piece, finishing the piece at
// every tag. It returns the index in l of the last tag, or -1.
func (v *view) cut(l []byte) int {
	start, last := 0, -1
	for i := range l {
		if tagAt(l, i) {
			v.pending = append(v.pending, l[start:i]...)
			v.finish()
			if v.complete {
				return i
			}
			start, last = i, i
		}
	}
	v.pending = append(v.pending, l[start:]...)
	return last
}

// partial processes a line that has not ended yet: the pieces before its
// last tag are complete; the rest is taken if it completes the message.
func (v *view) partial(raw []byte) {
	l, m := v.mapLine(raw[v.consumed:])
	last := -1
	for i := range l {
		if tagAt(l, i) {
			last = i
		}
	}
	if last < 0 {
		v.try(l)
		return
	}
	// Everything before the last tag is final.
	v.cut(l[:last])
	if v.complete {
		return
	}
	v.finish()
	if v.complete {
		return
	}
	v.consumed += m.raw[last]
	v.try(l[last:])
}

// try checks whether the pending piece with rest (a partial line) is a
// complete message; if it is, it takes it.
func (v *view) try(l []byte) {
	if v.c.Check == nil {
		return
	}
	p := append(bytes.Clone(v.pending), l...)
	if len(p) < 3 || !tagAt(p, 0) {
		return
	}
	if isPart(p) {
		pt, err := parsePart(p)
		if err != nil {
			return
		}
		g := v.find(pt)
		if g == nil || g.chunks[pt.index-1] != "" {
			return
		}
		for i, c := range g.chunks {
			if c == "" && i != pt.index-1 {
				return
			}
		}
		chunks := append([]string(nil), g.chunks...)
		chunks[pt.index-1] = pt.chunk
		bad, badKind := v.bad, v.badKind
		_, _, jerr := v.join(g, chunks)
		v.bad, v.badKind = bad, badKind // a guess is no message
		if jerr != nil {
			return
		}
	} else if k, pl, err := v.whole(p); err != nil || v.c.Check(k, pl) != nil {
		return
	}
	v.pending = p
	v.finish()
}

// finish takes the pending piece as complete.
func (v *view) finish() {
	p := v.pending
	v.pending = nil
	if len(p) == 0 || v.complete {
		return
	}
	if i := bytes.IndexByte(p, 0xff); i >= 0 {
		v.reject(&ParseError{Reason: fmt.Sprintf("column %d: character not allowed in airlock text", i+1)})
		return
	}
	if !tagAt(p, 0) {
		v.reject(&ParseError{Reason: "not airlock text (no tag such as AR1 or AL9 at the start)"})
		return
	}
	if isPart(p) {
		v.addPart(p)
		return
	}
	k, payload, err := v.whole(p)
	if err != nil {
		v.reject(err)
		return
	}
	if v.c.Want != 0 && k != v.c.Want {
		v.foreign("kind:"+k.String(), &ParseError{Reason: fmt.Sprintf("this is a %s, not a %s", k, v.c.Want)})
		return
	}
	if v.c.Check != nil {
		if err := v.c.Check(k, payload); err != nil {
			v.bad, v.badKind = payload, k
			v.reject(fmt.Errorf("the %s does not verify: %w", k, err))
			return
		}
	}
	v.done(k, payload)
}

func (v *view) whole(p []byte) (Kind, []byte, error) {
	k, payload, err := decodeBody(p, 0, "")
	if err != nil {
		return 0, nil, err
	}
	if k == SecretKey {
		return 0, nil, &ParseError{Reason: "not an airlock message (unknown tag)"}
	}
	return k, payload, nil
}

func (v *view) done(k Kind, payload []byte) {
	v.kind, v.payload, v.complete = k, payload, true
	v.events = append(v.events, Event{Type: Complete})
}

func (v *view) reject(err error) {
	v.events = append(v.events, Event{Type: Rejected, Err: err})
}

func (v *view) foreign(key string, err error) {
	if v.reported[key] {
		return
	}
	v.reported[key] = true
	v.events = append(v.events, Event{Type: Foreign, Err: err})
}

func (v *view) find(pt part) *group {
	for _, g := range v.groups {
		if g.kind == pt.kind && g.total == pt.total && g.id == pt.id {
			return g
		}
	}
	return nil
}

func (v *view) addPart(p []byte) {
	pt, perr := parsePart(p)
	if perr != nil {
		v.reject(perr)
		return
	}
	if v.c.Want != 0 && pt.kind != v.c.Want {
		v.foreign("kind:"+pt.kind.String(), &ParseError{Reason: fmt.Sprintf("this is part of a %s, not of a %s", pt.kind, v.c.Want)})
		return
	}
	g := v.find(pt)
	if g == nil {
		if len(v.groups) >= MaxMessages {
			v.reject(&ParseError{Reason: fmt.Sprintf("parts of more than %d messages", MaxMessages)})
			return
		}
		g = &group{kind: pt.kind, total: pt.total, id: pt.id, chunks: make([]string, pt.total)}
		v.groups = append(v.groups, g)
		if len(v.groups) > 1 {
			v.foreign("id:"+pt.id, &ParseError{Reason: fmt.Sprintf("this part belongs to another message (%s) than the parts before (%s): kept apart, the first message complete is taken", pt.id, v.groups[0].id)})
		}
	}
	if prev := g.chunks[pt.index-1]; prev != "" && prev != pt.chunk {
		v.reject(&ParseError{Reason: fmt.Sprintf("part %d was scanned twice with different content", pt.index)})
		return
	}
	g.chunks[pt.index-1] = pt.chunk
	st := g.status()
	v.events = append(v.events, Event{Type: Progress, Status: st})
	if len(st.Missing) > 0 {
		return
	}
	k, payload, err := v.join(g, g.chunks)
	if err != nil {
		// Drop the message, so that its parts can be scanned again.
		v.groups = deleteGroup(v.groups, g)
		v.reject(err)
		return
	}
	v.done(k, payload)
}

// join decodes the chunks of g and checks the message id and Check.
func (v *view) join(g *group, chunks []string) (Kind, []byte, error) {
	body := []byte(kinds[g.kind].tag + strings.Join(chunks, ""))
	k, p, err := decodeBody(body, 0, "")
	if err != nil {
		return 0, nil, err
	}
	if messageID(p) != g.id {
		return 0, nil, &ParseError{Reason: "the parts do not belong together (message id does not match)"}
	}
	if v.c.Check != nil {
		if err := v.c.Check(k, p); err != nil {
			v.bad, v.badKind = p, k
			return 0, nil, fmt.Errorf("the %s does not verify: %w", k, err)
		}
	}
	return k, p, nil
}

func deleteGroup(gs []*group, g *group) []*group {
	out := gs[:0]
	for _, x := range gs {
		if x != g {
			out = append(out, x)
		}
	}
	return out
}
