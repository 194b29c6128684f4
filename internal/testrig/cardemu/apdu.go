package cardemu

import (
	"encoding/binary"
	"errors"
)

// Status words the card answers with.
const (
	swOK                   = 0x9000
	swWrongLength          = 0x6700
	swSecurityStatus       = 0x6982 // security status not satisfied
	swBlocked              = 0x6983 // authentication method blocked
	swNoPendingData        = 0x6985 // conditions of use not satisfied (GET RESPONSE with nothing left)
	swWrongData            = 0x6A80 // incorrect parameters in the data field
	swFuncNotSupported     = 0x6A81
	swFileNotFound         = 0x6A82
	swWrongP1P2            = 0x6A86
	swRefDataNotFound      = 0x6A88
	swLastCommandExpected  = 0x6883 // a command chain broken by another command
	swChainingNotSupported = 0x6884 // command chaining for an INS that does not take it
	swINSNotSupported      = 0x6D00
	swCLANotSupported      = 0x6E00
	swBytesRemaining       = 0x6100 // | number of bytes still available (00: 256 or more)
	swWrongPINTriesLeft    = 0x63C0 // | tries left
)

// command is a parsed ISO 7816-4 command APDU (short or extended).
type command struct {
	cla, ins, p1, p2 byte
	data             []byte
	ne               int  // maximum response length the client accepts (Le; 0 when absent)
	hasLe            bool // the APDU carried an Le field
	extended         bool
}

// parseCommand decodes the four ISO 7816-3 cases in short and extended form.
func parseCommand(b []byte) (command, bool) {
	if len(b) < 4 {
		return command{}, false
	}
	c := command{cla: b[0], ins: b[1], p1: b[2], p2: b[3]}
	body := b[4:]
	switch {
	case len(body) == 0: // case 1
		return c, true
	case len(body) == 1: // case 2S
		c.hasLe, c.ne = true, shortLe(body[0])
		return c, true
	case body[0] != 0: // case 3S / 4S
		lc := int(body[0])
		switch len(body) {
		case 1 + lc:
			c.data = body[1:]
			return c, true
		case 2 + lc:
			c.data = body[1 : 1+lc]
			c.hasLe, c.ne = true, shortLe(body[1+lc])
			return c, true
		}
		return command{}, false
	case len(body) == 3: // case 2E
		c.extended, c.hasLe = true, true
		c.ne = extLe(body[1:3])
		return c, true
	case len(body) > 3: // case 3E / 4E
		lc := int(binary.BigEndian.Uint16(body[1:3]))
		if lc == 0 {
			return command{}, false
		}
		c.extended = true
		switch len(body) {
		case 3 + lc:
			c.data = body[3:]
			return c, true
		case 5 + lc:
			c.data = body[3 : 3+lc]
			c.hasLe, c.ne = true, extLe(body[3+lc:])
			return c, true
		}
	}
	return command{}, false
}

func shortLe(b byte) int {
	if b == 0 {
		return 256
	}
	return int(b)
}

func extLe(b []byte) int {
	n := int(binary.BigEndian.Uint16(b))
	if n == 0 {
		return 65536
	}
	return n
}

// withSW appends a status word to data.
func withSW(data []byte, sw uint16) []byte {
	out := make([]byte, 0, len(data)+2)
	out = append(out, data...)
	return binary.BigEndian.AppendUint16(out, sw)
}

// tlv encodes one BER-TLV data object. tag is one, two or three bytes
// (0x4F, 0x5F52, 0x7F49, ...); value parts are concatenated.
func tlv(tag uint32, value ...[]byte) []byte {
	n := 0
	for _, v := range value {
		n += len(v)
	}
	var out []byte
	switch {
	case tag > 0xFFFF:
		out = append(out, byte(tag>>16), byte(tag>>8), byte(tag))
	case tag > 0xFF:
		out = append(out, byte(tag>>8), byte(tag))
	default:
		out = append(out, byte(tag))
	}
	switch {
	case n < 0x80:
		out = append(out, byte(n))
	case n <= 0xFF:
		out = append(out, 0x81, byte(n))
	default:
		out = append(out, 0x82, byte(n>>8), byte(n))
	}
	for _, v := range value {
		out = append(out, v...)
	}
	return out
}

// berObject is one decoded BER-TLV data object.
type berObject struct {
	tag   uint32
	value []byte
}

var errBadTLV = errors.New("cardemu: malformed BER-TLV")

// parseTLVs decodes a sequence of BER-TLV data objects (tags up to three
// bytes, definite lengths up to 0xFFFF).
func parseTLVs(b []byte) ([]berObject, error) {
	var objs []berObject
	for len(b) > 0 {
		tag := uint32(b[0])
		i := 1
		if b[0]&0x1F == 0x1F {
			for {
				if i >= len(b) || i > 2 {
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
		n := int(b[i])
		i++
		switch {
		case n < 0x80:
		case n == 0x81 && i+1 <= len(b):
			n = int(b[i])
			i++
		case n == 0x82 && i+2 <= len(b):
			n = int(binary.BigEndian.Uint16(b[i:]))
			i += 2
		default:
			return nil, errBadTLV
		}
		if n > len(b)-i {
			return nil, errBadTLV
		}
		objs = append(objs, berObject{tag: tag, value: b[i : i+n]})
		b = b[i+n:]
	}
	return objs, nil
}

// findTLV returns the value of the first object with tag, if any.
func findTLV(objs []berObject, tag uint32) ([]byte, bool) {
	for _, o := range objs {
		if o.tag == tag {
			return o.value, true
		}
	}
	return nil, false
}
