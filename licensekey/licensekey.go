// Package licensekey makes and checks human-typeable license keys.
//
// A key is 20 random symbols (100 bits) of Crockford's base32 alphabet plus
// one check symbol (the value mod 37, Crockford's check alphabet), written as
// four groups of five and the check symbol: "7Q2KX-M4ZT9-0WDBE-HN3RA-J". Parsing forgives what
// people and scanners do: lower case, dashes or spaces anywhere, O for 0 and
// I or L for 1. A typo is caught by the check symbol before anything is sent.
package licensekey

import (
	"crypto/rand"
	"errors"
	"io"
	"strings"
)

const (
	alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	checkSym = alphabet + "*~$=U"
	symbols  = 20
)

// Errors from Parse.
var (
	ErrFormat = errors.New("license key must be 21 letters and digits, dashes optional")
	ErrCheck  = errors.New("license key has a typo: its check symbol does not match")
)

// New returns a fresh key from random (nil means crypto/rand).
func New(random io.Reader) (string, error) {
	if random == nil {
		random = rand.Reader
	}
	// Draw until the check symbol is a letter or digit: the five extra
	// check symbols (*~$=U) are awkward to type, glob in shells, and break
	// on keyboard layouts. Parse still accepts all 37.
	for {
		var raw [symbols]byte
		if _, err := io.ReadFull(random, raw[:]); err != nil {
			return "", err
		}
		var b strings.Builder
		for _, r := range raw {
			b.WriteByte(alphabet[r&31])
		}
		if c := check(b.String()); strings.IndexByte(alphabet, c) >= 0 {
			return format(b.String() + string(c)), nil
		}
	}
}

// check returns the check symbol: the 100-bit value of s mod 37, computed
// digit by digit (Horner's rule, mod 37 at every step).
func check(s string) byte {
	m := 0
	for i := 0; i < len(s); i++ {
		m = (m*32 + strings.IndexByte(alphabet, s[i])) % 37
	}
	return checkSym[m]
}

func format(s string) string {
	return s[0:5] + "-" + s[5:10] + "-" + s[10:15] + "-" + s[15:20] + "-" + s[20:]
}

// Parse normalizes a typed key and checks its check symbol. It returns the
// canonical form (upper case, grouped by dashes).
func Parse(s string) (string, error) {
	if len(s) > 64 {
		return "", ErrFormat
	}
	var b strings.Builder
	for _, c := range strings.ToUpper(s) {
		switch {
		case c == '-' || c == ' ' || c == '\t':
			continue
		case c == 'O':
			c = '0'
		case c == 'I' || c == 'L':
			c = '1'
		}
		b.WriteRune(c)
	}
	n := b.String()
	if len(n) != symbols+1 {
		return "", ErrFormat
	}
	for i := 0; i < symbols; i++ {
		if strings.IndexByte(alphabet, n[i]) < 0 {
			return "", ErrFormat
		}
	}
	if strings.IndexByte(checkSym, n[symbols]) < 0 {
		return "", ErrFormat
	}
	if check(n[:symbols]) != n[symbols] {
		return "", ErrCheck
	}
	return format(n), nil
}
