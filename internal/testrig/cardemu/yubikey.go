package cardemu

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// YubiKeyConfig describes the YubiKey management applet (what ykman reads
// to tell a YubiKey from another card: `ykman info`).
type YubiKeyConfig struct {
	Serial     uint32
	FormFactor byte // 1 USB-A keychain (the default when 0), 3 USB-C keychain, ...
}

var mgmtAID = []byte{0xA0, 0x00, 0x00, 0x05, 0x27, 0x47, 0x11, 0x17}

// YubiKey capability bits (as ykman names them).
const (
	capOpenPGP = 0x08
	capPIV     = 0x10
)

func (y *YubiKeyConfig) selectAnswer() []byte {
	return []byte(fmt.Sprintf("Virtual mgr - FW version %d.%d.%d", pivVersion[0], pivVersion[1], pivVersion[2]))
}

// handle answers READ CONFIG (00 1D 00 00): one length byte, then TLVs:
// 01 USB capabilities supported, 02 serial, 03 USB capabilities enabled,
// 04 form factor, 05 firmware version.
func (y *YubiKeyConfig) handle(cmd command, pgp, piv bool) ([]byte, uint16) {
	if cmd.ins != 0x1D {
		return nil, swINSNotSupported
	}
	if cmd.p1 != 0 || cmd.p2 != 0 {
		return nil, swWrongP1P2
	}
	var caps uint16
	if pgp {
		caps |= capOpenPGP
	}
	if piv {
		caps |= capPIV
	}
	ff := y.FormFactor
	if ff == 0 {
		ff = 1
	}
	c := binary.BigEndian.AppendUint16(nil, caps)
	body := tlv(0x01, c)
	body = append(body, tlv(0x02, binary.BigEndian.AppendUint32(nil, y.Serial))...)
	body = append(body, tlv(0x03, c)...)
	body = append(body, tlv(0x04, []byte{ff})...)
	body = append(body, tlv(0x05, pivVersion)...)
	return append([]byte{byte(len(body))}, body...), swOK
}

// TranscriptConfig is the card of the recorded tool transcripts
// (testdata/transcripts): a YubiKey 5 with serial 12345678, an OpenPGP
// applet (manufacturer 0006, Yubico) with an Ed25519 authentication key,
// and a PIV applet with an Ed25519 slot-9A key and an Ed25519 attestation
// key, all from fixed seeds. Ed25519 signatures are deterministic, so the
// card answers the same commands with the same bytes every time: a test
// can replay a transcript against it.
func TranscriptConfig() Config {
	seed := func(label string) ed25519.PrivateKey {
		s := sha256.Sum256([]byte("cardemu transcript " + label))
		return ed25519.NewKeyFromSeed(s[:])
	}
	return Config{
		OpenPGP: &OpenPGPConfig{Manufacturer: 0x0006, Serial: 12345678, AuthKey: seed("openpgp auth")},
		PIV:     &PIVConfig{Serial: 12345678, Key: seed("piv 9a"), AttestationKey: seed("piv f9")},
		YubiKey: &YubiKeyConfig{Serial: 12345678},
	}
}

// FormatTranscript writes exchanges as a transcript file: header lines
// starting with "#", then "> command" and "< response" lines in upper-case
// hex.
func FormatTranscript(header string, ex []Exchange) []byte {
	var b strings.Builder
	for _, h := range strings.Split(header, "\n") {
		fmt.Fprintf(&b, "# %s\n", h)
	}
	for _, x := range ex {
		fmt.Fprintf(&b, "> %X\n< %X\n", x.Command, x.Response)
	}
	return []byte(b.String())
}

// ParseTranscript reads a transcript file written by FormatTranscript.
func ParseTranscript(data []byte) ([]Exchange, error) {
	var out []Exchange
	var cmd []byte
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "> ") && cmd == nil:
			b, err := hex.DecodeString(line[2:])
			if err != nil || len(b) < 4 {
				return nil, fmt.Errorf("line %d: bad command", i+1)
			}
			cmd = b
		case strings.HasPrefix(line, "< ") && cmd != nil:
			b, err := hex.DecodeString(line[2:])
			if err != nil || len(b) < 2 {
				return nil, fmt.Errorf("line %d: bad response", i+1)
			}
			out = append(out, Exchange{cmd, b})
			cmd = nil
		default:
			return nil, fmt.Errorf("line %d: unexpected %q", i+1, line)
		}
	}
	if cmd != nil {
		return nil, errors.New("a command without a response at the end")
	}
	return out, nil
}
