package vectors

import (
	"testing"

	"github.com/airlock-offline/airlock/internal/armor"
)

// Seeds returns the texts and the decoded binary payloads of every vector,
// for seeding fuzz targets. It fails the test if there are none, so a fuzz
// target can never silently run without its corpus.
func Seeds(tb testing.TB) (texts [][]byte, payloads [][]byte) {
	tb.Helper()
	vs, err := Load()
	if err != nil {
		tb.Fatal(err)
	}
	for _, v := range vs {
		texts = append(texts, v.Body)
		if _, p, err := armor.Decode(v.Body); err == nil {
			payloads = append(payloads, p)
		}
	}
	if len(texts) == 0 || len(payloads) == 0 {
		tb.Fatal("no test vectors to seed from")
	}
	return texts, payloads
}
