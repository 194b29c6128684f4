package main

import (
	"errors"
	"os"
	"strings"
	"time"

	"github.com/airlock-offline/airlock/client"
	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/dongle"
	"github.com/airlock-offline/airlock/internal/cli"
)

// provisionalGrace is the product's opt-in to phone codes: the longest
// provisional activation, from --provisional-grace or
// $AIRLOCK_PROVISIONAL_GRACE (where the product pins its vendor key); 0
// when it did not opt in.
func (a *app) provisionalGrace() (time.Duration, error) {
	s := a.provisional
	if s == "" {
		s = os.Getenv("AIRLOCK_PROVISIONAL_GRACE")
	}
	if s == "" {
		return 0, nil
	}
	d, err := cli.ParseDuration(s)
	if err != nil || d <= 0 || d > 30*24*time.Hour {
		return 0, cli.Usagef("--provisional-grace: want a duration from 1h to 30d, such as 72h")
	}
	return d, nil
}

// dongleOptions: the hardware key's PIN comes from --pin-file, $AIRLOCK_PIN
// or a prompt on the terminal; it is never logged.
func (a *app) dongleOptions() dongle.Options { return a.ui.DongleOptions(a.pinFile, "") }

// licenseeSecret reads the licensee secret from --licensee-secret-file or
// $AIRLOCK_LICENSEE_SECRET; nil when neither is given.
func (a *app) licenseeSecret() ([]byte, error) {
	if a.secretFile != "" {
		b, err := a.ui.ReadLimited(a.secretFile, "the licensee secret file", cli.MaxSecretFile)
		if err != nil {
			return nil, err
		}
		b = []byte(strings.TrimRight(string(b), "\r\n"))
		if len(b) == 0 {
			return nil, errors.New("the licensee secret file is empty")
		}
		return b, nil
	}
	if s := os.Getenv("AIRLOCK_LICENSEE_SECRET"); s != "" {
		return []byte(s), nil
	}
	return nil, nil
}

// vendorPublics resolves --vendor-key values (or $AIRLOCK_VENDOR_KEY).
func (a *app) vendorPublics(required bool) ([]*crypto.Public, error) {
	vals := a.vendorKeys
	if len(vals) == 0 {
		if env := os.Getenv("AIRLOCK_VENDOR_KEY"); env != "" {
			vals = strings.Split(env, ",")
		}
	}
	if len(vals) == 0 {
		if required {
			return nil, cli.Usagef("the vendor's public key is needed: pass --vendor-key AV1… (or @FILE) or set AIRLOCK_VENDOR_KEY")
		}
		return nil, nil
	}
	var out []*crypto.Public
	for _, v := range vals {
		s := v
		if file, ok := strings.CutPrefix(v, "@"); ok {
			b, err := a.ui.ReadLimited(file, "the vendor key file", cli.MaxKeyFile)
			if err != nil {
				return nil, err
			}
			s = string(b)
		}
		p, err := crypto.ParsePublic(s)
		if err != nil {
			return nil, cli.Usagef("--vendor-key: %v", err)
		}
		if p.Role != crypto.RoleVendor {
			return nil, cli.Usagef("--vendor-key: this is an installation key, not a vendor key")
		}
		out = append(out, p)
	}
	return out, nil
}

func (a *app) verifier(product string, keys []*crypto.Public) *client.Verifier {
	v := &client.Verifier{Product: product, VendorKeys: keys, Dir: a.state, Source: cli.FingerprintSource(), Now: cli.NowFunc(),
		Dongle: a.dongleOptions()}
	v.Provisional, a.secretErr = a.provisionalGrace()
	if a.secretErr != nil {
		return v
	}
	v.LicenseeSecret, a.secretErr = a.licenseeSecret()
	v.SecretFromKey = a.secretFromKey
	return v
}
