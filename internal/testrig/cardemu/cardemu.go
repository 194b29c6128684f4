// Package cardemu is a virtual smart card for tests: an OpenPGP card (v3.4)
// and/or a YubiKey-style PIV applet that plugs into pcscd through the vpcd
// reader driver (vsmartcard), so the real PC/SC stack (pcscd, libpcsclite,
// the dongle package) talks to it as it would to a USB token. It needs no
// cgo and nothing outside the standard library.
//
// # Setup
//
// scripts/pcsc-stack.sh start runs a private pcscd whose vpcd driver listens
// on TCP 35963 ("Virtual PCD 00 00") and 35964 ("Virtual PCD 00 01"); [Slots]
// returns both. A card is a TCP client of one of those ports:
//
//	card := cardemu.New(cardemu.Config{OpenPGP: &cardemu.OpenPGPConfig{Serial: 0x0A0B0C0D, AuthKey: key}})
//	if err := card.Insert(cardemu.Slots()[0].Addr); err != nil { ... }
//	defer card.Remove()
//	if err := card.WaitReady(5 * time.Second); err != nil { ... }
//
// pcscd notices an inserted card at its next presence poll (every 400 ms)
// and powers it up, so a client can connect 0.1–0.5 s after [Card.Insert];
// [Card.WaitReady] waits for exactly that. After [Card.Remove] pcscd reports
// the card gone within about 0.4 s. Tests that need the stack call
// [SkipUnlessStack] first (the Makefile sets PCSC_VPCD=1).
//
// One card at a time can use a slot: Insert takes an advisory lock (a file
// in os.TempDir named after the port) and waits up to a minute for it, so
// tests in different packages that share a slot take turns.
//
// Without pcscd, [Card.Transmit] drives the APDU handler directly.
//
// # Wire protocol
//
// vpcd frames every message as a big-endian uint16 length and a payload. A
// one-byte payload is a control code: 0 power off, 1 power on, 2 reset,
// 4 ATR request (the card answers with its ATR; vpcd's presence poll is an
// ATR request); anything longer is a command APDU, answered with the
// response APDU. When the card closes the connection instead of answering,
// vpcd hands the PC/SC client an empty response with no error, then reports
// the card removed.
//
// # Card behaviour
//
// Short and extended APDUs (ISO 7816-4). Responses longer than 256 bytes to
// short APDUs (certificates) come in parts: 256 bytes with SW 61xx, the rest
// by GET RESPONSE; an extended Le gets up to Le bytes at once. Command
// chaining (CLA 10, ISO 7816-4) is accepted for PSO (2A) and GENERAL
// AUTHENTICATE (87): every piece but the last answers 9000 and the last
// one runs the command over all the data (at most 0xFFFF bytes, else 6700);
// CLA 10 with another INS answers 6884; any other command, or a piece with
// another INS, P1 or P2, in the middle of a chain answers 6883 and drops
// the chain. A successful SELECT, a power cycle and a
// reset (vpcd's or [Card.Reset]) clear every PIN verification and the
// selected applet, as on a Java Card; retry counters persist. The OpenPGP
// and PIV applets have separate PINs and counters.
//
// # Commands
//
// Any applet:
//
//	00 A4 04 00|04|0C Lc AID [00]    SELECT by DF name, a prefix of at least 5 bytes of the AID: 9000;
//	                                 unknown 6A82; P1≠04 6A81; the PIV applet answers 61 { 4F .. 79 { 4F A0 00 00 03 08 } }
//	00 C0 00 00 Le                   GET RESPONSE after 61xx; nothing pending 6985
//	FF CA 00 00 00                   card UID (Config.UID); unset 6A81
//	other INS 6D00 (also everything before a SELECT), other CLA 6E00, malformed APDU 6700
//
// OpenPGP (AID D2 76 00 01 24 01):
//
//	00 CA 00 4F 00                   AID: D2 76 00 01 24 01 03 04 <manufacturer:2> <serial:4> 00 00
//	00 CA 00 6E 00                   application related data: 4F, 5F52, 7F66, 73 { C0 C1 C2 C3 C4 C5 C6 CD DE };
//	                                 C1 (signature key), C3 (auth key) = 16 2B 06 01 04 01 DA 47 0F 01 (Ed25519) or
//	                                 13 2A 86 48 CE 3D 03 01 07 (P-256); an empty slot reports the other key's algorithm,
//	                                 a blank card RSA 2048; C5 holds the keys' v4 fingerprints (signature, zero, auth)
//	00 CA 00 C4 00                   PW status bytes (byte 1: 00, PW1 valid for one PSO:CDS; byte 5: PW1 tries left)
//	00 CA 00 7A 00                   security support template: 7A { 93 <signature counter, 3 bytes> }
//	00 CA 00|5F|7F 5E|65|50|52|21|66  other DOs; unknown tags 6A88
//	00 20 00 81|82 Lc PIN            VERIFY PW1 (81: for one PSO:CDS, 82: for INTERNAL AUTHENTICATE): 9000;
//	                                 wrong 63Cx (x tries left, 63C0 on the last; both verifications lost); blocked 6983
//	00 20 00 81|82                   9000 when verified, else 63Cx, or 6983 when blocked
//	00 20 FF 81|82|83                forget the verification
//	00 20 00 83 Lc PIN               VERIFY PW3, the admin PIN ("12345678", 3 tries; hashed under a KDF-DO)
//	00 DA 00 F9 Lc KDF-DO            PUT DATA of the KDF-DO after PW3 (gpg's kdf-setup): 87/88 become the PINs' hashes;
//	                                 other DOs 6A88
//	00 CA 00 F9 00                   KDF-DO (81 01 00 when off); 00 CA 00 D6..D9 user interaction flags (00 20)
//	00 F1 00 00 00                   GET VERSION (YubiKey): 05 07 01
//	00 47 81 00 02 A4|B6 00 00       read the auth (A4) or signature (B6) public key: 7F49 { 86 <Ed25519 32 bytes | P-256 04||X||Y> };
//	                                 no key 6A88; B8 the decryption key once generated; P1 80 (generate) without PW3 6982
//	00 88 00 00 Lc data 00           INTERNAL AUTHENTICATE with the auth key: Ed25519 signs data (64 bytes);
//	                                 P-256 signs data as the digest (r || s, 64 bytes); needs VERIFY 82 (6982); no key 6A88
//	00 2A 9E 9A Lc data 00           PSO: COMPUTE DIGITAL SIGNATURE with the signature key, signing as INTERNAL AUTHENTICATE
//	                                 does (chained for data over 255 bytes); needs VERIFY 81 before each signature (6982)
//	                                 unless PW status byte 1 is 01, counts signatures in DO 93; no key 6A88; other P1 P2 6A86
//	00 DA 00 C1|C2|C3|C4|C7..D0|F9   PUT DATA after PW3 (gpg --card-edit): algorithm attributes (key-attr; the slot's key
//	                                 is deleted), PW status byte 1, fingerprints, generation times, the KDF-DO
//	00 47 80 00 02 B6|B8|A4 00 00    GENERATE after PW3: a key of the slot's attributes (Ed25519, P-256; decryption
//	                                 X25519 or ECDH P-256, public part only), 7F49 { 86 point }; RSA 6A80
//
// PIV (AID A0 00 00 03 08), slots 9A (authentication) and 9C (digital signature):
//
//	00 F8 00 00 00                   GET SERIAL (YubiKey): 4 bytes big-endian
//	00 FD 00 00 00                   GET VERSION (YubiKey): 05 07 01
//	00 CB 3F FF 05 5C 03 5F C1 05 00 GET DATA slot-9A certificate: 53 { 70 <DER> 71 01 00 FE 00 } (61xx chained);
//	                                 5C 03 5F C1 0A: slot 9C's; 5C 03 5F FF 01: the attestation (F9) certificate;
//	                                 absent objects 6A82; no 5C 6A80
//	00 20 00 80 08 <PIN FF-padded>   VERIFY: 9000; wrong 63Cx; blocked 6983; not 8 bytes 6A80
//	00 20 00 80                      9000 when verified, else 63Cx, or 6983 when blocked; 00 20 FF 80 forgets it
//	00 87 11|E0 9A|9C Lc 7C { 82 00 81 <challenge> } 00
//	                                 GENERAL AUTHENTICATE: 7C { 82 <signature> }: P-256 (11) DER ECDSA over the challenge
//	                                 as digest, Ed25519 (E0) 64 bytes over the challenge (chained for data over 255
//	                                 bytes); needs VERIFY (6982), slot 9C a VERIFY before each signature (PIN policy
//	                                 "always"); algorithm not the key's 6A86; other slot or empty slot 6A88; bad template 6A80
//	00 F9 9A 00 00                   ATTEST (YubiKey): certificate DER (61xx chained), see PIVConfig.Attestation;
//	                                 not configured 6D00
//	00 F7 00 9A|9C|9B|80|81 00       GET METADATA (YubiKey 5.3+): 01 algorithm, 02 policy, 03 origin, 04 { 86 public key };
//	                                 9B: 3DES management key (05 default?); 80/81: PIN/PUK tries; empty slot 6A88;
//	                                 PIVConfig.NoMetadata: 6D00
//	00 87 03 9B Lc 7C { 80 00 }      management key mutual authentication (3DES, DefaultManagementKey): witness,
//	                                 then 7C { 80 witness 81 challenge } answered 7C { 82 challenge encrypted }
//	00 47 00 9A|9C Lc AC { 80 alg }  GENERATE (after the management key): a new P-256 or Ed25519 key, 7F49 { 86 point };
//	                                 the slot's certificate is left as it was
//	00 DB 3F FF Lc 5C tag 53 { .. }  PUT DATA (after the management key): certificates of 9A/9C, CHUID, CCC, ...
//
// YubiKey management applet (AID A0 00 00 05 27 47 11 17, with Config.YubiKey):
//
//	SELECT                           "Virtual mgr - FW version 5.7.1"
//	00 1D 00 00 00                   READ CONFIG: length, 01 capabilities, 02 serial, 03 enabled, 04 form factor, 05 version
//
// A card with Config.YubiKey takes at most a YubiKey 5's command data,
// after chaining: 3070 bytes in OpenPGP (DO 7F66 says 0BFE), 3072 in PIV;
// more answers 6700.
package cardemu

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"
)

// Config describes a card. The zero Config is a card with no applets that
// answers only SELECT (6A82) and FF CA (6A81).
type Config struct {
	OpenPGP *OpenPGPConfig // nil: no OpenPGP applet
	PIV     *PIVConfig     // nil: no PIV applet
	UID     []byte         // answer to FF CA 00 00 00 (generic card UID); nil: 6A81
	// YubiKey adds the YubiKey management applet (AID A0 00 00 05 27 47
	// 11 17), which ykman reads for the device's serial, firmware and
	// applets: SELECT answers "Virtual mgr - FW version 5.7.1", READ
	// CONFIG (00 1D 00 00) the device information. nil: no such applet.
	YubiKey *YubiKeyConfig
	ATR     []byte // nil: DefaultATR
}

// DefaultATR is the ATR of an OpenPGP card v3 (ZeitControl/Kernel Concepts),
// T=1, with historical bytes announcing extended Lc/Le.
var DefaultATR = []byte{
	0x3B, 0xDA, 0x18, 0xFF, 0x81, 0xB1, 0xFE, 0x75, 0x1F, 0x03,
	0x00, 0x31, 0xF5, 0x73, 0xC0, 0x01, 0x60, 0x00, 0x90, 0x00, 0x1C,
}

type applet int

const (
	appNone applet = iota
	appOpenPGP
	appPIV
	appManagement
)

// Card is a virtual smart card. Its methods are safe for concurrent use.
type Card struct {
	mu   sync.Mutex
	atr  []byte
	uid  []byte
	pgp  *openPGP
	piv  *pivApp
	mgmt *YubiKeyConfig

	selected applet
	pending  []byte // response bytes left for GET RESPONSE
	chaining bool   // a command chain (CLA 10) is open
	chain    []byte // its data so far
	chainINS byte   // its header, which every piece repeats
	chainP1  byte
	chainP2  byte
	log      []string
	script   []Exchange // every command and response, for transcripts

	connMu    sync.Mutex // serialises Insert and Remove
	conn      net.Conn
	done      chan struct{} // closed when the serving goroutine has finished
	ready     chan struct{} // closed when pcscd powered the card after Insert
	poweredOn bool          // power on or reset seen, ready not yet closed
	dropNext  bool          // vanish during a command APDU through vpcd...
	dropAt    string        // ...with this header ("" any)
}

// New returns a card built from cfg. It panics when cfg holds a key of an
// unsupported type (only Ed25519 and ECDSA P-256 are emulated): a bug in
// the calling test, not a runtime condition.
func New(cfg Config) *Card {
	c := &Card{atr: bytes.Clone(cfg.ATR), uid: bytes.Clone(cfg.UID)}
	if c.atr == nil {
		c.atr = bytes.Clone(DefaultATR)
	}
	if cfg.OpenPGP != nil {
		c.pgp = newOpenPGP(*cfg.OpenPGP, historicalBytes(c.atr))
	}
	if cfg.PIV != nil {
		c.piv = newPIV(*cfg.PIV)
	}
	if cfg.YubiKey != nil {
		y := *cfg.YubiKey
		c.mgmt = &y
		if c.pgp != nil {
			c.pgp.yubiKey = true
		}
	}
	return c
}

// ATR returns the card's answer to reset.
func (c *Card) ATR() []byte { return bytes.Clone(c.atr) }

// Transmit processes one command APDU and returns the response APDU (data
// and status word), exactly as the card answers through vpcd (see the
// package doc for the commands). It is the handler that Insert serves;
// tests can call it without pcscd, also while the card is inserted.
func (c *Card) Transmit(apdu []byte) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.transmitLocked(apdu)
}

func (c *Card) logAPDU(apdu []byte) {
	c.log = append(c.log, fmt.Sprintf("%X", apdu[:min(4, len(apdu))]))
}

func (c *Card) transmitLocked(apdu []byte) []byte {
	resp := c.processLocked(apdu)
	if len(c.script) < maxTranscript {
		c.script = append(c.script, Exchange{bytes.Clone(apdu), bytes.Clone(resp)})
	}
	return resp
}

func (c *Card) processLocked(apdu []byte) []byte {
	c.logAPDU(apdu)
	cmd, ok := parseCommand(apdu)
	if !ok {
		c.pending = nil
		c.endChain()
		return withSW(nil, swWrongLength)
	}
	if c.chaining && (cmd.cla&^0x10 != 0 || cmd.ins != c.chainINS || cmd.p1 != c.chainP1 || cmd.p2 != c.chainP2) {
		// Another command in the middle of a chain: the chain is lost.
		c.pending = nil
		c.endChain()
		return withSW(nil, swLastCommandExpected)
	}
	if cmd.cla == 0x00 && cmd.ins == 0xC0 {
		return c.getResponse(cmd)
	}
	c.pending = nil
	if cmd.cla == 0x10 {
		if cmd.ins != 0x2A && cmd.ins != 0x87 {
			c.endChain()
			return withSW(nil, swChainingNotSupported)
		}
		if len(c.chain)+len(cmd.data) > c.maxData() {
			c.endChain()
			return withSW(nil, swWrongLength)
		}
		c.chaining, c.chainINS, c.chainP1, c.chainP2 = true, cmd.ins, cmd.p1, cmd.p2
		c.chain = append(c.chain, cmd.data...)
		return withSW(nil, swOK)
	}
	if c.chaining {
		cmd.data = append(c.chain, cmd.data...)
		c.endChain()
	}
	if len(cmd.data) > c.maxData() {
		return withSW(nil, swWrongLength)
	}
	data, sw := c.dispatch(cmd)
	return c.respond(cmd, data, sw)
}

// Exchange is one command APDU and the card's response APDU.
type Exchange struct{ Command, Response []byte }

// maxTranscript bounds the exchanges a card keeps.
const maxTranscript = 4096

// Transcript returns every command APDU the card has processed and its
// response, oldest first (at most 4096; VERIFY data included: test PINs
// only).
func (c *Card) Transcript() []Exchange {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Exchange(nil), c.script...)
}

// ResetTranscript empties the transcript.
func (c *Card) ResetTranscript() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.script = nil
}

// maxChain bounds the data of one command chain (the largest extended Lc).
const maxChain = 0xFFFF

func (c *Card) endChain() { c.chaining, c.chain = false, nil }

// YubiKey command buffers: the most command data (after chaining) a
// YubiKey 5 takes, as its OpenPGP applet reports it in DO 7F66 (0BFE) and
// as its PIV applet's buffer holds.
const (
	yubiKeyOpenPGPMax = 0x0BFE
	yubiKeyPIVMax     = 3072
)

// maxData is the most command data the selected applet takes: a YubiKey's
// buffers when the card is one (Config.YubiKey), else a chain's limit.
func (c *Card) maxData() int {
	if c.mgmt != nil {
		switch c.selected {
		case appOpenPGP:
			return yubiKeyOpenPGPMax
		case appPIV:
			return yubiKeyPIVMax
		}
	}
	return maxChain
}

func (c *Card) dispatch(cmd command) ([]byte, uint16) {
	if cmd.cla == 0xFF {
		return c.pseudoAPDU(cmd)
	}
	if cmd.cla == 0x80 && cmd.ins == 0xFB && c.selected == appOpenPGP {
		return c.pgp.attest(cmd) // YubiKey's proprietary GET ATTESTATION
	}
	if cmd.cla&^0x10 != 0 {
		return nil, swCLANotSupported
	}
	if cmd.ins == 0xA4 {
		return c.selectApplet(cmd)
	}
	switch c.selected {
	case appOpenPGP:
		return c.pgp.handle(cmd)
	case appPIV:
		return c.piv.handle(cmd)
	case appManagement:
		return c.mgmt.handle(cmd, c.pgp != nil, c.piv != nil)
	}
	return nil, swINSNotSupported
}

// respond sends data that does not fit the client's Ne (256 for short
// APDUs) in parts: the first part with 61xx, the rest by GET RESPONSE.
func (c *Card) respond(cmd command, data []byte, sw uint16) []byte {
	if sw != swOK {
		return withSW(nil, sw)
	}
	limit := 256
	if cmd.extended {
		limit = 0xFFFF - 2 // a vpcd frame holds at most 0xFFFF bytes
		if cmd.hasLe {
			limit = min(limit, cmd.ne)
		}
	}
	if len(data) <= limit {
		return withSW(data, swOK)
	}
	c.pending = bytes.Clone(data[limit:])
	return withSW(data[:limit], swBytesRemaining|remaining(len(c.pending)))
}

func remaining(n int) uint16 {
	if n >= 256 {
		return 0
	}
	return uint16(n)
}

func (c *Card) getResponse(cmd command) []byte {
	if cmd.p1 != 0 || cmd.p2 != 0 {
		c.pending = nil
		return withSW(nil, swWrongP1P2)
	}
	if len(c.pending) == 0 {
		return withSW(nil, swNoPendingData)
	}
	n := 256
	if cmd.hasLe {
		n = cmd.ne
	}
	n = min(n, len(c.pending), 0xFFFF-2)
	out := c.pending[:n]
	c.pending = c.pending[n:]
	if len(c.pending) == 0 {
		c.pending = nil
		return withSW(out, swOK)
	}
	return withSW(out, swBytesRemaining|remaining(len(c.pending)))
}

var pivAID = []byte{0xA0, 0x00, 0x00, 0x03, 0x08, 0x00, 0x00, 0x10, 0x00, 0x01, 0x00}

func (c *Card) selectApplet(cmd command) ([]byte, uint16) {
	if cmd.p1 != 0x04 {
		return nil, swFuncNotSupported
	}
	if cmd.p2 != 0x00 && cmd.p2 != 0x04 && cmd.p2 != 0x0C {
		return nil, swWrongP1P2
	}
	aid := cmd.data
	if len(aid) == 0 {
		return nil, swWrongLength
	}
	var app applet
	switch {
	case len(aid) < 5:
	case c.pgp != nil && bytes.HasPrefix(c.pgp.aid, aid):
		app = appOpenPGP
	case c.piv != nil && bytes.HasPrefix(pivAID, aid):
		app = appPIV
	case c.mgmt != nil && bytes.HasPrefix(mgmtAID, aid):
		app = appManagement
	}
	if app == appNone {
		return nil, swFileNotFound
	}
	c.clearSecurityLocked()
	c.selected = app
	if app == appManagement {
		return c.mgmt.selectAnswer(), swOK
	}
	if app == appPIV && cmd.p2 != 0x0C {
		// Application property template, as a YubiKey answers.
		return tlv(0x61, tlv(0x4F, pivAID[5:]), tlv(0x79, tlv(0x4F, pivAID[:5]))), swOK
	}
	return nil, swOK
}

func (c *Card) pseudoAPDU(cmd command) ([]byte, uint16) {
	if cmd.ins != 0xCA {
		return nil, swINSNotSupported
	}
	if cmd.p1 != 0 || cmd.p2 != 0 || c.uid == nil {
		return nil, swFuncNotSupported
	}
	return bytes.Clone(c.uid), swOK
}

// clearSecurityLocked forgets every PIN verification.
func (c *Card) clearSecurityLocked() {
	if c.pgp != nil {
		c.pgp.pw81, c.pgp.pw82, c.pgp.pw83 = false, false, false
	}
	if c.piv != nil {
		c.piv.verified, c.piv.signArmed = false, false
		c.piv.mgmtAuthed, c.piv.witness = false, nil
	}
}

// resetLocked returns the card to its power-up state: nothing selected, no
// PIN verified, no pending response. Retry counters persist.
func (c *Card) resetLocked() {
	c.clearSecurityLocked()
	c.selected = appNone
	c.pending = nil
	c.endChain()
}

// Reset simulates a card reset (vpcd control code 2, as when another
// application resets the card): the selected applet, PIN verifications and
// any pending response are lost; retry counters persist. The PC/SC side
// sees nothing; its next command that needs a PIN answers 6982.
func (c *Card) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.resetLocked()
}

// TriesLeft returns the OpenPGP user PIN (PW1) tries left, or -1 without an
// OpenPGP applet.
func (c *Card) TriesLeft() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pgp == nil {
		return -1
	}
	return c.pgp.tries
}

// PIVTriesLeft returns the PIV PIN tries left, or -1 without a PIV applet.
func (c *Card) PIVTriesLeft() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.piv == nil {
		return -1
	}
	return c.piv.tries
}

// Log returns the header (CLA INS P1 P2, upper-case hex such as "00A40400")
// of every command APDU the card has seen, oldest first. PINs and other
// command data are never logged.
func (c *Card) Log() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.log...)
}

// ResetLog empties the APDU log.
func (c *Card) ResetLog() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.log = nil
}

// Insert connects the card to vpcd at addr (e.g. "127.0.0.1:35963") and
// serves it until Remove, or until vpcd closes the connection. It returns
// once the TCP connection is up; pcscd notices the card at its next
// presence poll (use WaitReady to wait for that). The card starts in its
// power-up state. A card can be inserted again after Remove.
//
// Insert first takes the slot's lock (see the package doc), waiting up to
// a minute while another card holds the slot.
func (c *Card) Insert(addr string) error {
	c.connMu.Lock()
	defer c.connMu.Unlock()
	c.mu.Lock()
	busy := c.conn != nil
	c.mu.Unlock()
	if busy {
		return errors.New("cardemu: card is already inserted")
	}
	release, err := lockSlot(addr, slotWait)
	if err != nil {
		return err
	}
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		release()
		return fmt.Errorf("cardemu: cannot reach vpcd at %s (is the stack running? scripts/pcsc-stack.sh start): %w", addr, err)
	}
	done := make(chan struct{})
	c.mu.Lock()
	c.conn, c.done, c.ready = conn, done, make(chan struct{})
	c.poweredOn = false
	c.resetLocked()
	c.mu.Unlock()
	go c.serve(conn, done, release)
	return nil
}

// Remove disconnects the card: pcscd reports it pulled at its next presence
// poll (about 0.4 s). Remove waits until the serving goroutine has stopped
// and does nothing when the card is not inserted.
func (c *Card) Remove() {
	c.connMu.Lock()
	defer c.connMu.Unlock()
	c.mu.Lock()
	conn, done := c.conn, c.done
	c.mu.Unlock()
	if conn == nil {
		return
	}
	conn.Close()
	<-done
}

// RemoveDuringNextAPDU makes the card vanish in the middle of the next
// command APDU that arrives through vpcd (Transmit ignores it): the card
// reads the command (and logs it), then closes the connection without
// answering. vpcd hands the PC/SC client an empty response with no error
// for that command, and "card was removed" afterwards.
func (c *Card) RemoveDuringNextAPDU() { c.RemoveDuringAPDU("") }

// RemoveDuringAPDU is RemoveDuringNextAPDU for the next command APDU whose
// header (CLA INS P1 P2 in upper-case hex, as Log shows it: "102A9E9A" is
// a chained piece of PSO:CDS) is header; "" matches any command.
func (c *Card) RemoveDuringAPDU(header string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dropNext, c.dropAt = true, header
}

// Inserted reports whether the card is connected to vpcd.
func (c *Card) Inserted() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.conn != nil
}

// WaitReady waits until pcscd has powered the card up after Insert and
// read its ATR, so a PC/SC client can connect to it; it fails after timeout
// or when the card is removed first.
func (c *Card) WaitReady(timeout time.Duration) error {
	c.mu.Lock()
	ready, done := c.ready, c.done
	c.mu.Unlock()
	if ready == nil {
		return errors.New("cardemu: card was never inserted")
	}
	select {
	case <-done:
		return errors.New("cardemu: card is not inserted")
	default:
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-ready:
		// pcscd publishes the new reader state right after the ATR
		// exchange; leave it a moment so a client that connects now
		// sees the card.
		time.Sleep(20 * time.Millisecond)
		return nil
	case <-done:
		return errors.New("cardemu: card was removed before pcscd powered it")
	case <-t.C:
		return fmt.Errorf("cardemu: pcscd did not power the card within %v", timeout)
	}
}

// vpcd control codes.
const (
	ctrlOff   = 0
	ctrlOn    = 1
	ctrlReset = 2
	ctrlATR   = 4
)

// removalSettle is how long a slot stays locked after its card left:
// longer than pcscd's presence poll (400 ms), so that pcscd sees the slot
// empty before the next card connects. A card that connects within the
// same poll can be taken for the old one, never powered up, and its
// WaitReady fails.
const removalSettle = 500 * time.Millisecond

func (c *Card) serve(conn net.Conn, done chan struct{}, release func()) {
	defer func() {
		conn.Close()
		c.mu.Lock()
		if c.conn == conn {
			c.conn = nil
			c.dropNext = false
		}
		c.mu.Unlock()
		time.Sleep(removalSettle)
		release()
		close(done)
	}()
	for {
		quickAck(conn)
		msg, err := readFrame(conn)
		if err != nil {
			return
		}
		var resp []byte
		c.mu.Lock()
		switch {
		case len(msg) == 0:
		case len(msg) == 1:
			switch msg[0] {
			case ctrlOff:
				c.resetLocked()
			case ctrlOn, ctrlReset:
				c.resetLocked()
				c.poweredOn = true
			case ctrlATR:
				resp = bytes.Clone(c.atr)
				if c.poweredOn {
					c.poweredOn = false
					select {
					case <-c.ready:
					default:
						close(c.ready)
					}
				}
			}
		case c.dropNext && (c.dropAt == "" || c.dropAt == fmt.Sprintf("%X", msg[:min(4, len(msg))])):
			c.dropNext = false
			c.logAPDU(msg)
			c.mu.Unlock()
			return
		default:
			resp = c.transmitLocked(msg)
		}
		c.mu.Unlock()
		if resp != nil {
			if err := writeFrame(conn, resp); err != nil {
				return
			}
		}
	}
}

func readFrame(r io.Reader) ([]byte, error) {
	var hdr [2]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	msg := make([]byte, binary.BigEndian.Uint16(hdr[:]))
	if _, err := io.ReadFull(r, msg); err != nil {
		return nil, err
	}
	return msg, nil
}

func writeFrame(w io.Writer, msg []byte) error {
	if len(msg) > 0xFFFF {
		return errors.New("cardemu: vpcd frame too long")
	}
	buf := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(msg)), uint16(len(msg)))
	_, err := w.Write(append(buf, msg...))
	return err
}

// historicalBytes extracts the historical bytes from an ATR (ISO 7816-3),
// or nil when the ATR is malformed.
func historicalBytes(atr []byte) []byte {
	if len(atr) < 2 {
		return nil
	}
	k := int(atr[1] & 0x0F)
	y := atr[1] >> 4
	i := 2
	for {
		var td byte
		for bit := byte(1); bit <= 8; bit <<= 1 {
			if y&bit == 0 {
				continue
			}
			if i >= len(atr) {
				return nil
			}
			if bit == 8 {
				td = atr[i]
			}
			i++
		}
		if y&8 == 0 {
			break
		}
		y = td >> 4
	}
	if i+k > len(atr) {
		return nil
	}
	return bytes.Clone(atr[i : i+k])
}

// Slot is one vpcd reader: the address a card connects to and the reader
// name PC/SC clients see.
type Slot struct {
	Addr   string
	Reader string
}

// Slots returns vpcd's two slots as scripts/pcsc-stack.sh prints them
// (PCSC_VPCD_ADDR/PCSC_VPCD_READER and PCSC_VPCD_ADDR2/PCSC_VPCD_READER2),
// defaulting to 127.0.0.1:35963 "Virtual PCD 00 00" and 127.0.0.1:35964
// "Virtual PCD 00 01".
func Slots() [2]Slot {
	env := func(k, def string) string {
		if v := os.Getenv(k); v != "" {
			return v
		}
		return def
	}
	return [2]Slot{
		{env("PCSC_VPCD_ADDR", "127.0.0.1:35963"), env("PCSC_VPCD_READER", "Virtual PCD 00 00")},
		{env("PCSC_VPCD_ADDR2", "127.0.0.1:35964"), env("PCSC_VPCD_READER2", "Virtual PCD 00 01")},
	}
}

// SkipUnlessStack skips the test unless PCSC_VPCD=1, which the Makefile sets
// after scripts/pcsc-stack.sh start.
func SkipUnlessStack(tb testing.TB) {
	tb.Helper()
	if os.Getenv("PCSC_VPCD") != "1" {
		tb.Skip("PC/SC test stack not running: run scripts/pcsc-stack.sh start and set PCSC_VPCD=1 (make test does both)")
	}
}
