package dongle

import (
	"bytes"
	"crypto/ed25519"
	"os"
	"path/filepath"
	"testing"

	"github.com/airlock-offline/airlock/internal/testrig/cardemu"
)

// apduKey is a command APDU without its Le: tools and airlock ask the
// same questions with different Le bytes.
func apduKey(b []byte) string {
	if len(b) <= 5 {
		return string(b[:min(4, len(b))])
	}
	if lc := int(b[4]); lc > 0 && len(b) >= 5+lc {
		return string(b[:5+lc])
	}
	return string(b[:4])
}

// transcriptTransport answers a command with the response an independent
// tool got for the same command (testdata/transcripts); a command the
// tool never sent is answered 6D00, as a card without it would.
type transcriptTransport struct {
	answers map[string][]byte
	missed  []string
}

func (tt *transcriptTransport) Transmit(cmd []byte) ([]byte, error) {
	if r, ok := tt.answers[apduKey(cmd)]; ok {
		return bytes.Clone(r), nil
	}
	tt.missed = append(tt.missed, apduKey(cmd))
	return []byte{0x6D, 0x00}, nil
}

func loadTranscript(t *testing.T, name string) *transcriptTransport {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "testdata", "transcripts", name))
	if err != nil {
		t.Fatal(err)
	}
	ex, err := cardemu.ParseTranscript(data)
	if err != nil {
		t.Fatal(err)
	}
	tt := &transcriptTransport{answers: map[string][]byte{}}
	for _, x := range ex {
		k := apduKey(x.Command)
		if _, ok := tt.answers[k]; !ok {
			tt.answers[k] = x.Response // the first answer: the card's state before anything changed
		}
	}
	return tt
}

// The client's parser reads the answers independent tools got from the
// card (gpg's scdaemon for OpenPGP, yubico-piv-tool for PIV): the same
// kind, serial and key as the card holds.
func TestTranscriptsParse(t *testing.T) {
	cfg := cardemu.TranscriptConfig()
	for _, tc := range []struct {
		file   string
		kind   Kind
		serial []byte
		pub    []byte
	}{
		{"gpg-card-status.txt", KindOpenPGP, []byte{0x00, 0x06, 0x00, 0xBC, 0x61, 0x4E}, cfg.OpenPGP.AuthKey.Public().(ed25519.PublicKey)},
		{"yubico-piv-tool-status.txt", KindPIV, []byte{0x00, 0xBC, 0x61, 0x4E}, cfg.PIV.Key.Public().(ed25519.PublicKey)},
	} {
		t.Run(tc.file, func(t *testing.T) {
			for _, full := range []bool{true, false} {
				tt := loadTranscript(t, tc.file)
				info, err := identify(tt, tc.kind, full)
				if err != nil {
					t.Fatalf("full %v: %v (commands the tool never sent: %q)", full, err, tt.missed)
				}
				if info.kind != tc.kind || !bytes.Equal(info.serial, tc.serial) || info.alg != AlgEd25519 {
					t.Fatalf("full %v: %s %X alg %v", full, info.kind, info.serial, info.alg)
				}
				if full && !bytes.Equal(info.pub, tc.pub) {
					t.Fatalf("public key %X, the card's is %X", info.pub, tc.pub)
				}
			}
		})
	}
}
