package dongle

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// transport sends one command APDU to a connected card and returns its
// answer, data || SW1 SW2. The PC/SC card handle is one; tests use fakes.
type transport interface {
	Transmit(cmd []byte) ([]byte, error)
}

// Status words.
const (
	swOK              = 0x9000
	swWrongLength     = 0x6700
	swSecurity        = 0x6982 // security status not satisfied
	swBlocked         = 0x6983 // authentication method blocked
	swWrongData       = 0x6A80
	swFuncUnsupported = 0x6A81
	swNotFound        = 0x6A82
	swRefNotFound     = 0x6A88
	swChainBroken     = 0x6883 // last command of the chain expected
	swNoChaining      = 0x6884 // command chaining not supported
	swINSUnsupported  = 0x6D00
	swCLAUnsupported  = 0x6E00
)

// noLe marks a command without an Le field.
const noLe = -1

// command is a short ISO 7816-4 command APDU.
type command struct {
	cla, ins, p1, p2 byte
	data             []byte
	le               int // noLe, or 1..256 (256 is encoded 00)
}

func (c command) String() string { return fmt.Sprintf("%02X%02X%02X%02X", c.cla, c.ins, c.p1, c.p2) }

// encode returns the short APDU (cases 1, 2S, 3S, 4S).
func (c command) encode() ([]byte, error) {
	if len(c.data) > 255 {
		return nil, fmt.Errorf("command %s: %d data bytes do not fit a short APDU", c, len(c.data))
	}
	if c.le != noLe && (c.le < 1 || c.le > 256) {
		return nil, fmt.Errorf("command %s: Le %d out of range", c, c.le)
	}
	b := make([]byte, 0, 4+1+len(c.data)+1)
	b = append(b, c.cla, c.ins, c.p1, c.p2)
	if len(c.data) > 0 {
		b = append(b, byte(len(c.data)))
		b = append(b, c.data...)
	}
	if c.le != noLe {
		b = append(b, byte(c.le)) // 256 → 00
	}
	return b, nil
}

// errShortResponse: an answer without a status word. vpcd returns an empty
// answer and no error when the card vanishes in the middle of a command,
// so it means the card was removed.
var errShortResponse = errors.New("answer shorter than a status word")

// parseResponse splits a response APDU into its data and status word.
// The data aliases b.
func parseResponse(b []byte) ([]byte, uint16, error) {
	if len(b) < 2 {
		return nil, 0, cause(ErrRemoved, errShortResponse)
	}
	n := len(b) - 2
	return b[:n], binary.BigEndian.Uint16(b[n:]), nil
}

// Bounds on one answer, however the card chains it.
const (
	maxAnswer = 16 << 10
	maxParts  = 80
)

// transceive sends cmd and returns the complete answer: it follows 61xx
// with GET RESPONSE and repeats the command once with the Le a 6Cxx asks
// for. The data is a fresh slice; sw is the final status word. Only
// transport failures are errors, whatever the status word.
func transceive(t transport, cmd command) ([]byte, uint16, error) {
	return exchange(t, cmd, true)
}

// transceiveSecret is transceive for a command whose data is a secret (a
// PIN): the encoded APDU that held it is zeroed as soon as it is sent.
// Such commands carry no Le, so there is nothing to retry.
func transceiveSecret(t transport, cmd command) ([]byte, uint16, error) {
	apdu, err := cmd.encode()
	if err != nil {
		return nil, 0, err
	}
	defer clear(apdu)
	resp, err := t.Transmit(apdu)
	if err != nil {
		return nil, 0, err
	}
	return parseResponse(resp)
}

// maxChainPiece is the data of one piece of a chained command.
const maxChainPiece = 255

// transceiveChained is transceive for a command whose data may not fit a
// short APDU: longer data goes by command chaining (ISO 7816-4 5.3.3) in
// pieces of at most 255 bytes, CLA bit 10 set on all but the last, which
// alone carries Le. A piece the card does not accept with 9000 ends the
// chain: its status word is the answer. The last piece's answer is
// handled as transceive does, except that a 6Cxx is final: repeating the
// last piece alone would start a command of its own.
func transceiveChained(t transport, cmd command) ([]byte, uint16, error) {
	if len(cmd.data) <= maxChainPiece {
		return transceive(t, cmd)
	}
	data := cmd.data
	for len(data) > maxChainPiece {
		piece := command{cmd.cla | 0x10, cmd.ins, cmd.p1, cmd.p2, data[:maxChainPiece], noLe}
		apdu, err := piece.encode()
		if err != nil {
			return nil, 0, err
		}
		resp, err := t.Transmit(apdu)
		if err != nil {
			return nil, 0, err
		}
		_, sw, err := parseResponse(resp)
		if err != nil {
			return nil, 0, err
		}
		if sw != swOK {
			return nil, sw, nil
		}
		data = data[maxChainPiece:]
	}
	cmd.data = data
	return exchange(t, cmd, false)
}

// exchange is transceive; retryLe false leaves a 6Cxx answer as it is.
func exchange(t transport, cmd command, retryLe bool) ([]byte, uint16, error) {
	apdu, err := cmd.encode()
	if err != nil {
		return nil, 0, err
	}
	resp, err := t.Transmit(apdu)
	if err != nil {
		return nil, 0, err
	}
	data, sw, err := parseResponse(resp)
	if err != nil {
		return nil, 0, err
	}
	if sw>>8 == 0x6C && cmd.le != noLe && retryLe {
		cmd.le = int(sw & 0xFF)
		if cmd.le == 0 {
			cmd.le = 256
		}
		if apdu, err = cmd.encode(); err != nil {
			return nil, 0, err
		}
		if resp, err = t.Transmit(apdu); err != nil {
			return nil, 0, err
		}
		if data, sw, err = parseResponse(resp); err != nil {
			return nil, 0, err
		}
	}
	out := append([]byte(nil), data...)
	for parts := 1; sw>>8 == 0x61; parts++ {
		if parts >= maxParts {
			return nil, 0, causef(ErrUnsupportedCard, "the card's answer to %s does not end (%d parts)", cmd, parts)
		}
		le := int(sw & 0xFF)
		if le == 0 {
			le = 256
		}
		get, _ := command{0x00, 0xC0, 0x00, 0x00, nil, le}.encode()
		if resp, err = t.Transmit(get); err != nil {
			return nil, 0, err
		}
		if data, sw, err = parseResponse(resp); err != nil {
			return nil, 0, err
		}
		if len(out)+len(data) > maxAnswer {
			return nil, 0, causef(ErrUnsupportedCard, "the card's answer to %s is longer than %d bytes", cmd, maxAnswer)
		}
		out = append(out, data...)
	}
	if len(out) > maxAnswer {
		return nil, 0, causef(ErrUnsupportedCard, "the card's answer to %s is longer than %d bytes", cmd, maxAnswer)
	}
	return out, sw, nil
}

// swError describes an unexpected status word.
type swError struct {
	cmd string
	sw  uint16
}

func (e *swError) Error() string { return fmt.Sprintf("the card answered %04X to %s", e.sw, e.cmd) }

// BER-TLV (ISO 7816-4 annex D): tags of up to 3 bytes, definite lengths in
// up to 4 bytes (1 + 3).

// tlv is one decoded data object. lenSize keeps the length's encoding
// (1 to 4 bytes) so that encode reproduces the input byte for byte.
type tlv struct {
	tag     uint32
	lenSize int
	value   []byte
}

func (o tlv) constructed() bool { return tagFirstByte(o.tag)&0x20 != 0 }

func tagFirstByte(tag uint32) byte {
	switch {
	case tag > 0xFFFF:
		return byte(tag >> 16)
	case tag > 0xFF:
		return byte(tag >> 8)
	}
	return byte(tag)
}

var errBadTLV = errors.New("malformed BER-TLV data")

// maxTLVObjects bounds the objects one parseTLV call returns.
const maxTLVObjects = 1024

// parseTLV decodes a sequence of BER-TLV data objects; values alias b.
func parseTLV(b []byte) ([]tlv, error) {
	var out []tlv
	for len(b) > 0 {
		if len(out) == maxTLVObjects {
			return nil, errBadTLV
		}
		tag := uint32(b[0])
		i := 1
		if b[0]&0x1F == 0x1F {
			for {
				if i >= len(b) || i >= 3 {
					return nil, errBadTLV
				}
				tag = tag<<8 | uint32(b[i])
				i++
				if b[i-1]&0x80 == 0 {
					break
				}
			}
		}
		if i >= len(b) {
			return nil, errBadTLV
		}
		n, lenSize := int(b[i]), 1
		if n >= 0x80 {
			lenSize = 1 + n&0x7F
			if lenSize == 1 || lenSize > 4 || i+lenSize > len(b) {
				return nil, errBadTLV // indefinite or too long a length
			}
			n = 0
			for _, c := range b[i+1 : i+lenSize] {
				n = n<<8 | int(c)
			}
		}
		i += lenSize
		if n > len(b)-i {
			return nil, errBadTLV
		}
		out = append(out, tlv{tag: tag, lenSize: lenSize, value: b[i : i+n]})
		b = b[i+n:]
	}
	return out, nil
}

// encode returns the object's encoding, with the length in lenSize bytes.
func (o tlv) encode() []byte {
	var b []byte
	switch {
	case o.tag > 0xFFFF:
		b = append(b, byte(o.tag>>16), byte(o.tag>>8), byte(o.tag))
	case o.tag > 0xFF:
		b = append(b, byte(o.tag>>8), byte(o.tag))
	default:
		b = append(b, byte(o.tag))
	}
	n := len(o.value)
	if o.lenSize <= 1 {
		b = append(b, byte(n))
	} else {
		b = append(b, 0x80|byte(o.lenSize-1))
		for i := o.lenSize - 2; i >= 0; i-- {
			b = append(b, byte(n>>(8*i)))
		}
	}
	return append(b, o.value...)
}

// newTLV builds an object with the minimal length encoding.
func newTLV(tag uint32, value []byte) tlv {
	size := 1
	switch n := len(value); {
	case n > 0xFFFF:
		size = 4
	case n > 0xFF:
		size = 3
	case n >= 0x80:
		size = 2
	}
	return tlv{tag: tag, lenSize: size, value: value}
}

// findTLV follows path through nested objects and returns the value of
// the last tag.
func findTLV(b []byte, path ...uint32) ([]byte, bool) {
	for _, tag := range path {
		objs, err := parseTLV(b)
		if err != nil {
			return nil, false
		}
		found := false
		for _, o := range objs {
			if o.tag == tag {
				b, found = o.value, true
				break
			}
		}
		if !found {
			return nil, false
		}
	}
	return b, true
}

// searchTLV looks for tag at any depth (up to depth levels of constructed
// objects) and returns the first value found, depth first.
func searchTLV(b []byte, tag uint32, depth int) ([]byte, bool) {
	objs, err := parseTLV(b)
	if err != nil {
		return nil, false
	}
	for _, o := range objs {
		if o.tag == tag {
			return o.value, true
		}
		if depth > 0 && o.constructed() {
			if v, ok := searchTLV(o.value, tag, depth-1); ok {
				return v, true
			}
		}
	}
	return nil, false
}
