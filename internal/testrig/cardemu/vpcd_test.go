package cardemu_test

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/airlock-offline/airlock/internal/testrig/cardemu"
)

// The integration test runs against the stack of scripts/pcsc-stack.sh
// (PCSC_VPCD=1). It uses the second slot, "Virtual PCD 00 01": the first
// belongs to the dongle package's tests, which run in parallel with these.

var readerLine = regexp.MustCompile(`^(\d+)\s+(Yes|No)\s+(.*)$`)

// readers lists PC/SC readers with `opensc-tool -l`: name → (index, card present).
func readers(t *testing.T) map[string]struct {
	index string
	card  bool
} {
	t.Helper()
	out, err := tool(t, "-l")
	if err != nil {
		t.Fatalf("opensc-tool -l: %v\n%s", err, out)
	}
	m := map[string]struct {
		index string
		card  bool
	}{}
	for _, line := range strings.Split(out, "\n") {
		if f := readerLine.FindStringSubmatch(strings.TrimSpace(line)); f != nil {
			name := strings.TrimSpace(f[3])
			for _, r := range []string{"Virtual PCD 00 00", "Virtual PCD 00 01"} {
				if strings.HasSuffix(name, r) {
					name = r
				}
			}
			m[name] = struct {
				index string
				card  bool
			}{f[1], f[2] == "Yes"}
		}
	}
	return m
}

// tool runs opensc-tool with a 10 s bound.
func tool(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "opensc-tool", args...).CombinedOutput()
	return string(out), err
}

// waitCard polls until the reader shows the card present (or absent) and
// returns how long that took.
func waitCard(t *testing.T, reader string, present bool) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		r, ok := readers(t)[reader]
		if !ok {
			t.Fatalf("reader %q not listed", reader)
		}
		if r.card == present {
			return time.Since(start)
		}
		if time.Since(start) > 5*time.Second {
			t.Fatalf("reader %q: card present=%v after 5 s, want %v", reader, r.card, present)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestVPCD(t *testing.T) {
	cardemu.SkipUnlessStack(t)
	if _, err := exec.LookPath("opensc-tool"); err != nil {
		t.Fatal("opensc-tool not found: scripts/pcsc-stack.sh start installs opensc")
	}
	slot := cardemu.Slots()[1]
	r, ok := readers(t)[slot.Reader]
	if !ok {
		t.Fatalf("pcscd lists no reader %q: is the stack from scripts/pcsc-stack.sh running?", slot.Reader)
	}
	idx := r.index

	card := cardemu.New(cardemu.Config{
		OpenPGP: &cardemu.OpenPGPConfig{Manufacturer: 0xFFFE, Serial: 0x0A0B0C0D, AuthKey: edKey},
		PIV:     &cardemu.PIVConfig{Serial: 12345678, Key: ecKey},
		UID:     []byte{0xDE, 0xAD, 0xBE, 0xEF},
	})
	start := time.Now()
	if err := card.Insert(slot.Addr); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(card.Remove)
	connected := time.Since(start)
	if err := card.WaitReady(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	ready := time.Since(start)
	waitCard(t, slot.Reader, true)
	t.Logf("insert: connected %v, powered by pcscd %v, listed with a card %v", connected, ready, time.Since(start))

	// The ATR as pcscd reports it.
	out, err := tool(t, "-r", idx, "-a")
	if want := strings.ToLower(fmt.Sprintf("% X", cardemu.DefaultATR)); err != nil || !strings.Contains(out, strings.ReplaceAll(want, " ", ":")) {
		t.Fatalf("opensc-tool -a: %v\n%s\nwant %s", err, out, want)
	}

	// APDUs through pcscd: OpenPGP AID, the UID, and the PIV certificate,
	// which needs 61xx + GET RESPONSE (opensc follows them).
	card.ResetLog()
	out, err = tool(t, "-r", idx, "-c", "default",
		"-s", "00A4040006D2760001240100", "-s", "00CA004F00", "-s", "FFCA000000",
		"-s", "00A4040005A000000308", "-s", "00CB3FFF055C035FC10500")
	if err != nil {
		t.Fatalf("opensc-tool -s: %v\n%s", err, out)
	}
	for _, want := range []string{"D2 76 00 01 24 01 03 04 FF FE 0A 0B 0C 0D 00 00", "DE AD BE EF", "cardemu PIV 9a"} {
		if !strings.Contains(out, want) {
			t.Errorf("opensc-tool -s output lacks %q:\n%s", want, out)
		}
	}
	if log := card.Log(); !slices.Contains(log, "00C00000") {
		t.Errorf("no GET RESPONSE reached the card: %q", log)
	}

	// A reset through pcscd (vpcd control codes) clears the PIN state.
	card.Transmit([]byte{0x00, 0xA4, 0x04, 0x00, 0x06, 0xD2, 0x76, 0x00, 0x01, 0x24, 0x01})
	card.Transmit([]byte{0x00, 0x20, 0x00, 0x82, 0x06, '1', '2', '3', '4', '5', '6'})
	if out, err := tool(t, "-r", idx, "--reset"); err != nil {
		t.Fatalf("opensc-tool --reset: %v\n%s", err, out)
	}
	if r := card.Transmit([]byte{0x00, 0x88, 0x00, 0x00, 0x01, 0x00, 0x00}); fmt.Sprintf("%X", r) != "6D00" {
		t.Errorf("INTERNAL AUTHENTICATE after a reset through pcscd: %X, want 6D00 (state cleared)", r)
	}

	// The card vanishes mid-command: the client's transmit fails.
	card.RemoveDuringNextAPDU()
	if out, err := tool(t, "-r", idx, "-c", "default", "-s", "00CA004F00"); err == nil {
		t.Errorf("transmit to a card pulled mid-APDU succeeded:\n%s", out)
	}
	if card.Inserted() {
		t.Error("card still inserted after RemoveDuringNextAPDU")
	}
	gone := waitCard(t, slot.Reader, false)
	t.Logf("pulled mid-APDU: absent after %v", gone)

	// Inserted again, then removed.
	start = time.Now()
	if err := card.Insert(slot.Addr); err != nil {
		t.Fatal(err)
	}
	if err := card.WaitReady(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	waitCard(t, slot.Reader, true)
	t.Logf("reinsert: listed with a card after %v", time.Since(start))
	start = time.Now()
	card.Remove()
	waitCard(t, slot.Reader, false)
	t.Logf("remove: listed without a card after %v", time.Since(start))
}
