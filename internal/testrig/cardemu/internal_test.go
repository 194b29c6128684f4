package cardemu

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"encoding/binary"
	"encoding/hex"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

func TestDefaultATR(t *testing.T) {
	var tck byte
	for _, b := range DefaultATR[1:] {
		tck ^= b
	}
	if tck != 0 {
		t.Fatalf("DefaultATR: TCK check gives %02X, want 00", tck)
	}
	if h := historicalBytes(DefaultATR); !bytes.Equal(h, unhex(t, "00 31 F5 73 C0 01 60 00 90 00")) {
		t.Fatalf("historical bytes %X", h)
	}
}

func TestHistoricalBytes(t *testing.T) {
	for _, tc := range []struct{ atr, want string }{
		{"3B FD 13 00 00 81 31 FE 15 80 73 C0 21 C0 57 59 75 62 69 4B 65 79 40", "80 73 C0 21 C0 57 59 75 62 69 4B 65 79"}, // YubiKey 5
		{"3B 95 13 81 01 80 73 FF 01 00 0B", "80 73 FF 01 00"},                                                             // vicc iso7816
		{"3B 02 14 50", "14 50"},
		{"3B 80 80 01 01", ""},
		{"3B", "-"},
		{"3B FD 13 00", "-"},          // truncated interface bytes
		{"3B 0A 01 02", "-"},          // truncated historical bytes
		{"3B 80 80 80 80 80 80", "-"}, // TD chain runs off the end
	} {
		got := historicalBytes(unhex(t, tc.atr))
		want := unhex(t, tc.want)
		if tc.want == "-" {
			want = nil
		}
		if !bytes.Equal(got, want) || (got == nil) != (want == nil) {
			t.Errorf("%s: %X, want %X", tc.atr, got, want)
		}
	}
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	if s == "-" {
		return nil
	}
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseCommand(t *testing.T) {
	for _, tc := range []struct {
		apdu     string
		ok       bool
		data     string
		ne       int
		hasLe    bool
		extended bool
	}{
		{"00 A4 04 00", true, "", 0, false, false},
		{"00 CA 00 4F 00", true, "", 256, true, false},
		{"00 CA 00 4F 10", true, "", 16, true, false},
		{"00 20 00 82 02 31 32", true, "31 32", 0, false, false},
		{"00 20 00 82 02 31 32 00", true, "31 32", 256, true, false},
		{"00 CA 00 4F 00 00 00", true, "", 65536, true, true},
		{"00 CA 00 4F 00 01 00", true, "", 256, true, true},
		{"00 20 00 82 00 00 02 31 32", true, "31 32", 0, false, true},
		{"00 20 00 82 00 00 02 31 32 04 00", true, "31 32", 1024, true, true},
		{"00 A4 04", false, "", 0, false, false},
		{"00 20 00 82 02 31", false, "", 0, false, false},
		{"00 20 00 82 02 31 32 00 00", false, "", 0, false, false},
		{"00 20 00 82 00 00", false, "", 0, false, false},
		{"00 20 00 82 00 00 00 31", false, "", 0, false, false}, // extended Lc 0
		{"00 20 00 82 00 00 02 31 32 00", false, "", 0, false, false},
	} {
		c, ok := parseCommand(unhex(t, tc.apdu))
		if ok != tc.ok {
			t.Errorf("%s: ok=%v", tc.apdu, ok)
			continue
		}
		if ok && (!bytes.Equal(c.data, unhex(t, tc.data)) || c.ne != tc.ne || c.hasLe != tc.hasLe || c.extended != tc.extended) {
			t.Errorf("%s: data %X ne %d hasLe %v ext %v", tc.apdu, c.data, c.ne, c.hasLe, c.extended)
		}
	}
}

func TestParseTLVs(t *testing.T) {
	objs, err := parseTLVs(unhex(t, "7C 05 82 00 81 01 AA 5F C1 05 00 53 81 01 00 7F 49 82 00 01 FF"))
	if err != nil || len(objs) != 4 || objs[0].tag != 0x7C || objs[1].tag != 0x5FC105 || objs[2].tag != 0x53 || objs[3].tag != 0x7F49 {
		t.Fatalf("%v %v", objs, err)
	}
	for _, bad := range []string{"7C", "7C 02 00", "5F", "5F C1", "7C 81", "7C 83 00 00 01 00", "7C 82 00", "5F C1 85 80 00"} {
		if _, err := parseTLVs(unhex(t, bad)); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
	if got := tlv(0x53, make([]byte, 300)); !bytes.Equal(got[:4], []byte{0x53, 0x82, 0x01, 0x2C}) {
		t.Errorf("long TLV header %X", got[:4])
	}
	if got := tlv(0x7F49, make([]byte, 200)); !bytes.Equal(got[:4], []byte{0x7F, 0x49, 0x81, 0xC8}) {
		t.Errorf("two-byte tag header %X", got[:4])
	}
}

// The key IDs (low 64 bits) of these fingerprints match what
// `gpg --list-packets` computes for the same public-key packets.
func TestV4Fingerprint(t *testing.T) {
	ed := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{0x42}, 32))
	ec, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), bytes.Repeat([]byte{0x17}, 32))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		key  cardKey
		want string
	}{
		{newCardKey(ed, "ed"), "E6ED97948222ADC9929FC53E4F0DD2D23460C0C5"},
		{newCardKey(ec, "ec"), "D79F434C35E52109868832D40CC5BCE01CDDFC8C"},
		{cardKey{}, strings.Repeat("00", 20)},
	} {
		if got := hex.EncodeToString(v4Fingerprint(tc.key, keyCreated)); !strings.EqualFold(got, tc.want) {
			t.Errorf("fingerprint %s, want %s", got, tc.want)
		}
	}
}

// fakeVPCD plays vpcd's side of the wire protocol, so the framing, control
// codes and connection handling are tested without pcscd.
type fakeVPCD struct {
	ln    net.Listener
	conns chan net.Conn
}

func newFakeVPCD(t *testing.T) *fakeVPCD {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeVPCD{ln: ln, conns: make(chan net.Conn, 4)}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			f.conns <- c
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		os.Remove(slotLockPath(ln.Addr().String()))
	})
	return f
}

func (f *fakeVPCD) addr() string { return f.ln.Addr().String() }

func (f *fakeVPCD) accept(t *testing.T) net.Conn {
	t.Helper()
	select {
	case c := <-f.conns:
		t.Cleanup(func() { c.Close() })
		return c
	case <-time.After(5 * time.Second):
		t.Fatal("no card connected")
		return nil
	}
}

func send(t *testing.T, c net.Conn, msg []byte) {
	t.Helper()
	if err := writeFrame(c, msg); err != nil {
		t.Fatal(err)
	}
}

func recv(t *testing.T, c net.Conn) ([]byte, error) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	return readFrame(c)
}

func xfer(t *testing.T, c net.Conn, msg []byte) []byte {
	t.Helper()
	send(t, c, msg)
	r, err := recv(t, c)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestWireProtocol(t *testing.T) {
	vpcd := newFakeVPCD(t)
	card := New(Config{OpenPGP: &OpenPGPConfig{AuthKey: ed25519.NewKeyFromSeed(make([]byte, 32))}})
	if err := card.Insert(vpcd.addr()); err != nil {
		t.Fatal(err)
	}
	defer card.Remove()
	conn := vpcd.accept(t)
	if err := card.Insert(vpcd.addr()); err == nil {
		t.Fatal("second Insert of an inserted card succeeded")
	}

	// Presence poll (ATR request without power-on) does not make the card ready.
	if atr := xfer(t, conn, []byte{ctrlATR}); !bytes.Equal(atr, DefaultATR) {
		t.Fatalf("ATR %X", atr)
	}
	if err := card.WaitReady(50 * time.Millisecond); err == nil {
		t.Fatal("ready before power-on")
	}
	send(t, conn, []byte{ctrlOn})
	xfer(t, conn, []byte{ctrlATR})
	if err := card.WaitReady(time.Second); err != nil {
		t.Fatal(err)
	}

	sel := unhex(t, "00 A4 04 00 06 D2 76 00 01 24 01 00")
	if r := xfer(t, conn, sel); !bytes.Equal(r, []byte{0x90, 0x00}) {
		t.Fatalf("SELECT: %X", r)
	}
	if r := xfer(t, conn, unhex(t, "00 20 00 82 06 313233343536")); !bytes.Equal(r, []byte{0x90, 0x00}) {
		t.Fatalf("VERIFY: %X", r)
	}
	// vpcd reset (control 2) forgets the selection and the PIN.
	send(t, conn, []byte{ctrlReset})
	if r := xfer(t, conn, unhex(t, "00 88 00 00 01 00 00")); !bytes.Equal(r, []byte{0x6D, 0x00}) {
		t.Fatalf("INTERNAL AUTHENTICATE after reset: %X", r)
	}
	xfer(t, conn, sel)
	xfer(t, conn, unhex(t, "00 20 00 82 06 313233343536"))
	send(t, conn, []byte{ctrlOff})
	send(t, conn, []byte{ctrlOn})
	xfer(t, conn, sel)
	if r := xfer(t, conn, unhex(t, "00 88 00 00 01 00 00")); !bytes.Equal(r, []byte{0x69, 0x82}) {
		t.Fatalf("INTERNAL AUTHENTICATE after a power cycle: %X", r)
	}
	xfer(t, conn, unhex(t, "00 20 00 82 06 313233343536"))
	card.Reset()
	if r := xfer(t, conn, unhex(t, "00 88 00 00 01 00 00")); !bytes.Equal(r, []byte{0x6D, 0x00}) {
		t.Fatalf("INTERNAL AUTHENTICATE after Reset: %X", r)
	}

	// The card vanishes mid-command: no answer, connection closed.
	card.RemoveDuringNextAPDU()
	send(t, conn, sel)
	if r, err := recv(t, conn); err != io.EOF {
		t.Fatalf("after RemoveDuringNextAPDU: %X, %v; want EOF", r, err)
	}
	waitFor(t, func() bool { return !card.Inserted() })
	log := card.Log()
	if log[len(log)-1] != "00A40400" {
		t.Fatalf("the dropped APDU is not logged: %q", log)
	}

	// Inserted again: a fresh connection, power-up state.
	if err := card.Insert(vpcd.addr()); err != nil {
		t.Fatal(err)
	}
	conn = vpcd.accept(t)
	if r := xfer(t, conn, unhex(t, "00 CA 00 4F 00")); !bytes.Equal(r, []byte{0x6D, 0x00}) {
		t.Fatalf("GET DATA after reinsertion: %X", r)
	}
	card.Remove()
	if _, err := recv(t, conn); err != io.EOF {
		t.Fatalf("after Remove: %v, want EOF", err)
	}
	card.Remove() // idempotent
	if err := card.WaitReady(time.Second); err == nil {
		t.Fatal("WaitReady on a removed card succeeded")
	}
}

func TestWireProtocolVPCDCloses(t *testing.T) {
	vpcd := newFakeVPCD(t)
	card := New(Config{})
	if err := card.Insert(vpcd.addr()); err != nil {
		t.Fatal(err)
	}
	vpcd.accept(t).Close() // pcscd stopped
	waitFor(t, func() bool { return !card.Inserted() })
	card.Remove()
}

func TestInsertNoVPCD(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	defer os.Remove(slotLockPath(addr))
	err = New(Config{}).Insert(addr)
	if err == nil || !strings.Contains(err.Error(), "scripts/pcsc-stack.sh start") {
		t.Fatalf("Insert with nothing listening: %v", err)
	}
}

// Two cards on one slot take turns: the second Insert waits for the first
// card's Remove.
func TestSlotLock(t *testing.T) {
	vpcd := newFakeVPCD(t)
	first, second := New(Config{}), New(Config{})
	if err := first.Insert(vpcd.addr()); err != nil {
		t.Fatal(err)
	}
	vpcd.accept(t)
	inserted := make(chan error, 1)
	go func() { inserted <- second.Insert(vpcd.addr()) }()
	select {
	case err := <-inserted:
		t.Fatalf("second card inserted while the first holds the slot (%v)", err)
	case <-time.After(300 * time.Millisecond):
	}
	first.Remove()
	select {
	case err := <-inserted:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("second card still waiting after the first was removed")
	}
	vpcd.accept(t)
	second.Remove()
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// FuzzTransmit: no APDU panics the card, every response ends in a status
// word, and the card keeps answering.
func FuzzTransmit(f *testing.F) {
	for _, s := range []string{
		"00 A4 04 00 06 D2 76 00 01 24 01 00", "00 A4 04 00 05 A0 00 00 03 08 00",
		"00 CA 00 6E 00", "00 20 00 82 06 31 32 33 34 35 36", "00 88 00 00 01 00 00",
		"00 47 81 00 02 A4 00 00", "00 CB 3F FF 05 5C 03 5F C1 05 00", "00 C0 00 00 00",
		"00 87 11 9A 07 7C 05 82 00 81 01 00 00", "10 87 E0 9A 02 7C 05", "00 F9 9A 00 00",
		"00 20 00 80 08 31 32 33 34 35 36 FF FF", "FF CA 00 00 00", "00 CB 3F FF 00 00 05 5C 03 5F C1 05 00 00",
		"00 20 00 81 06 31 32 33 34 35 36", "00 47 81 00 02 B6 00 00", "10 2A 9E 9A 01 AA", "00 2A 9E 9A 01 AA 00",
		"00 87 E0 9C 07 7C 05 82 00 81 01 00 00", "00 CB 3F FF 05 5C 03 5F C1 0A 00", "10 CA 00 C4 00",
	} {
		b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, b)
	}
	ed := ed25519.NewKeyFromSeed(make([]byte, 32))
	ec, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), bytes.Repeat([]byte{1}, 32))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, a, b []byte) {
		c := New(Config{
			OpenPGP: &OpenPGPConfig{AuthKey: ec, SignKey: ed},
			PIV:     &PIVConfig{Key: ed, SignKey: ed, AttestationKey: ec},
			UID:     []byte{1},
		})
		for _, apdu := range [][]byte{a, b, a, unhex(t, "00 C0 00 00 00")} {
			r := c.Transmit(apdu)
			if len(r) < 2 {
				t.Fatalf("% X: response %X without a status word", apdu, r)
			}
			if sw := binary.BigEndian.Uint16(r[len(r)-2:]); sw != 0x9000 && sw>>8 != 0x61 && len(r) != 2 {
				t.Fatalf("% X: data with SW %04X", apdu, sw)
			}
		}
	})
}
