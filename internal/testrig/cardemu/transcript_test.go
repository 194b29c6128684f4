package cardemu

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// The transcripts under testdata/transcripts were captured from
// independent tools (ykman, yubico-piv-tool, gpg's scdaemon) talking to
// this emulator through pcscd (internal/e2e TestToolsReadEmulatedCard with
// AIRLOCK_WRITE_TRANSCRIPTS=1). Replaying each recorded command against a
// fresh card of the same configuration must give the recorded answer byte
// for byte: an emulator change that drifts from what those tools were
// answered fails here, without pcscd. (Regenerate the transcripts only
// with the tools, never by hand.)
func TestTranscriptsReplay(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "..", "testdata", "transcripts", "*.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no transcripts in testdata/transcripts")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			ex, err := ParseTranscript(data)
			if err != nil {
				t.Fatal(err)
			}
			if len(ex) == 0 {
				t.Fatal("empty transcript")
			}
			c := New(TranscriptConfig())
			for i, x := range ex {
				if got := c.Transmit(x.Command); !bytes.Equal(got, x.Response) {
					t.Fatalf("exchange %d: %X answered\n%X\nthe tool was answered\n%X", i+1, x.Command, got, x.Response)
				}
			}
			// Round trip of the file format.
			if again := FormatTranscript("x", ex); !bytes.Equal(bytes.SplitN(again, []byte("\n"), 2)[1], dropHeader(data)) {
				t.Fatal("the transcript does not round-trip through FormatTranscript")
			}
		})
	}
}

func dropHeader(b []byte) []byte {
	for bytes.HasPrefix(b, []byte("#")) {
		_, b, _ = bytes.Cut(b, []byte("\n"))
	}
	return b
}
