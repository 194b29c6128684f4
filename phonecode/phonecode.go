// Package phonecode is the phone fallback: a short, time-stepped code
// (TOTP, RFC 6238, through github.com/pquerna/otp) that the vendor reads out
// when nothing but a phone call crosses the air gap.
//
// The offline machine puts a fresh random seed in its request, sealed to the
// vendor (age), so only the desk can compute the code — unlike a seed in the
// clear, which lets anyone who sees the QR code compute it. The code is keyed
// with HMAC(seed, request hash), so it answers exactly one request. The
// client accepts it within its time window as a provisional activation for a
// grace period, until the signed license arrives.
package phonecode

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// Parameters of the code: 8 digits, a new code every 5 minutes, and one
// step of tolerance either side: a code read out on the phone is accepted
// until the end of the step after the one it was made in, 5 to 10 minutes.
const (
	Digits   = 8
	Period   = 5 * time.Minute
	Skew     = 1
	SeedSize = 20
)

func opts() totp.ValidateOpts {
	return totp.ValidateOpts{Period: uint(Period / time.Second), Skew: Skew, Digits: otp.DigitsEight, Algorithm: otp.AlgorithmSHA256}
}

// secret derives the TOTP secret for one request.
func secret(seed []byte, requestHash [32]byte) string {
	m := hmac.New(sha256.New, seed)
	m.Write([]byte("airlock phone code v1\x00"))
	m.Write(requestHash[:])
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(m.Sum(nil))
}

// Code returns the code for the request at time t (the desk).
func Code(seed []byte, requestHash [32]byte, t time.Time) (string, error) {
	if len(seed) != SeedSize {
		return "", errors.New("phone code seed has the wrong size")
	}
	return totp.GenerateCodeCustom(secret(seed, requestHash), t, opts())
}

// Valid reports whether code (spaces and dashes allowed) is the request's
// code at time t, within one step either side (the client).
func Valid(code string, seed []byte, requestHash [32]byte, t time.Time) bool {
	code = strings.NewReplacer(" ", "", "-", "").Replace(code)
	if len(code) != Digits || len(seed) != SeedSize {
		return false
	}
	ok, err := totp.ValidateCustom(code, secret(seed, requestHash), t, opts())
	return err == nil && ok
}

// Format groups a code for reading aloud: "1234 5678".
func Format(code string) string {
	if len(code) == Digits {
		return code[:4] + " " + code[4:]
	}
	return code
}
