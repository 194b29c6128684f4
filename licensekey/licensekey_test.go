package licensekey_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/airlock-offline/airlock/internal/testrig/testkeys"
	"github.com/airlock-offline/airlock/licensekey"
)

func TestNewParse(t *testing.T) {
	r := testkeys.Rand("keys")
	for i := 0; i < 500; i++ {
		k, err := licensekey.New(r)
		if err != nil {
			t.Fatal(err)
		}
		if len(k) != 25 || strings.Count(k, "-") != 4 || strings.ContainsAny(k, "*~$=U") {
			t.Fatalf("bad shape %q", k)
		}
		got, err := licensekey.Parse(k)
		if err != nil || got != k {
			t.Fatalf("%q: %q %v", k, got, err)
		}
		typed := strings.ToLower(strings.ReplaceAll(k, "-", " "))
		typed = strings.ReplaceAll(strings.ReplaceAll(typed, "0", "o"), "1", "l")
		if got, err := licensekey.Parse(typed); err != nil || got != k {
			t.Fatalf("typed %q: %q %v", typed, got, err)
		}
	}
}

// Every single-symbol typo is caught by the check symbol.
func TestTyposCaught(t *testing.T) {
	k, _ := licensekey.New(testkeys.Rand("typo"))
	raw := strings.ReplaceAll(k, "-", "")
	const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	for i := 0; i < 20; i++ {
		for _, c := range alphabet {
			if byte(c) == raw[i] {
				continue
			}
			typo := raw[:i] + string(c) + raw[i+1:]
			if _, err := licensekey.Parse(typo); !errors.Is(err, licensekey.ErrCheck) {
				t.Fatalf("typo %q accepted: %v", typo, err)
			}
		}
	}
	// Two adjacent symbols swapped.
	for i := 0; i < 19; i++ {
		if raw[i] == raw[i+1] {
			continue
		}
		swap := raw[:i] + string(raw[i+1]) + string(raw[i]) + raw[i+2:]
		if _, err := licensekey.Parse(swap); err == nil {
			t.Fatalf("transposition %q accepted", swap)
		}
	}
}

func TestRejects(t *testing.T) {
	for _, s := range []string{"", "ABC", strings.Repeat("A", 70), "UUUUU-UUUUU-UUUUU-UUUUU-U", "#####-#####-#####-#####-#"} {
		if _, err := licensekey.Parse(s); !errors.Is(err, licensekey.ErrFormat) {
			t.Errorf("%q: %v", s, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add("51NKE-B51YC-93SW3-MNXGX-C")
	f.Add("51nke b51yc 93sw3 mnxgx c")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		k, err := licensekey.Parse(s)
		if err != nil {
			if !errors.Is(err, licensekey.ErrFormat) && !errors.Is(err, licensekey.ErrCheck) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if again, err := licensekey.Parse(k); err != nil || again != k {
			t.Fatalf("canonical form %q does not parse to itself", k)
		}
	})
}
