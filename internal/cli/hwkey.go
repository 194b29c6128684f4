package cli

import (
	"bytes"
	"errors"
	"fmt"
	"os"

	"github.com/airlock-offline/airlock/dongle"
)

// DongleOptions returns hardware-key options whose PIN comes from pinFile,
// else $AIRLOCK_PIN, else a prompt on the terminal naming whose key it is
// (owner: "", or "customer's", "desk's signing"). The PIN is never logged.
func (u *UI) DongleOptions(pinFile, owner string) dongle.Options {
	return dongle.Options{PIN: func(reader string, kind dongle.Kind, triesLeft int) ([]byte, error) {
		if pinFile != "" {
			b, err := ReadFileLimited(pinFile, "the PIN file", MaxSecretFile)
			if err != nil {
				return nil, err
			}
			return bytes.TrimRight(b, "\r\n"), nil
		}
		if p := os.Getenv("AIRLOCK_PIN"); p != "" {
			return []byte(p), nil
		}
		whose := "the"
		if owner != "" {
			whose = "the " + owner
		}
		prompt := fmt.Sprintf("PIN of %s %s hardware key in %q", whose, kind, reader)
		if triesLeft >= 0 {
			prompt += fmt.Sprintf(" (%d tries left)", triesLeft)
		}
		return u.Secret(prompt + ": ")
	}}
}

// DongleFailure turns a hardware-key failure into an error with its hint
// and its own exit code (DongleExit).
func DongleFailure(err error) error {
	var de *dongle.Error
	if errors.As(err, &de) && de.Hint != "" {
		err = WithHint(err, de.Hint)
	}
	return &ExitErr{Code: DongleExit(err), Err: err}
}

// DongleExit gives each hardware-key failure its own exit code, the same
// in both commands: 40 not built in, 41 pcscd not running, 42 no reader,
// 43 no card, 44 card removed, 45 reader held by another program, 46
// timeout, 47 wrong PIN, 48 PIN blocked or too few tries left, 49
// unsupported card or PIN hashing scheme; else ExitError.
func DongleExit(err error) int {
	for _, c := range []struct {
		err  error
		code int
	}{
		{dongle.ErrNotBuiltIn, 40}, {dongle.ErrNoService, 41}, {dongle.ErrNoReader, 42}, {dongle.ErrNoCard, 43},
		{dongle.ErrRemoved, 44}, {dongle.ErrSharingViolation, 45}, {dongle.ErrTimeout, 46}, {dongle.ErrWrongPIN, 47},
		{dongle.ErrPINBlocked, 48}, {dongle.ErrTooFewTries, 48}, {dongle.ErrUnsupportedCard, 49}, {dongle.ErrPINScheme, 49},
		{dongle.ErrKeyNotFound, 50}, {dongle.ErrBadCardSignature, 51},
	} {
		if errors.Is(err, c.err) {
			return c.code
		}
	}
	return ExitError
}
