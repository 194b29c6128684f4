package main

import (
	"errors"

	"github.com/airlock-offline/airlock/client"
	"github.com/airlock-offline/airlock/internal/cli"
)

// withHint adds the command-line hint for library errors, which name no
// command themselves (an ISV's product has its own).
func withHint(err error) error {
	var he *cli.HintErr
	if err == nil || errors.As(err, &he) {
		return err
	}
	for _, h := range []struct {
		err  error
		hint string
	}{
		{client.ErrNoInstallation, "make a request first: airlock request --product P --license-key KEY"},
		{client.ErrTooManyCodes, "make a new request with airlock request --phone, and call the vendor again"},
		{client.ErrNoPhoneRequest, "a phone code answers a request made with airlock request --phone"},
	} {
		if errors.Is(err, h.err) {
			return cli.WithHint(err, h.hint)
		}
	}
	return err
}
