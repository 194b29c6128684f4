package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/dongle"
	"github.com/airlock-offline/airlock/fingerprint"
	"github.com/airlock-offline/airlock/floating"
	"github.com/airlock-offline/airlock/internal/cli"
	"github.com/airlock-offline/airlock/result"
)

// exitNoHardwareKey is serve's exit code with --crash-if-no-hardware-key
// when the key is found missing or invalid: HARDWARE_KEY_NOT_ACCESSIBLE's
// (19), as the desk's flag.
var exitNoHardwareKey = result.HardwareKeyNotAccessible.ExitCode()

// unattendedDongle gives the hardware key's PIN from --pin-file or
// $AIRLOCK_PIN, never from a prompt: serve runs with no one at the
// terminal.
func (a *app) unattendedDongle() dongle.Options {
	opt := a.ui.DongleOptions(a.pinFile, "server's")
	prompt := opt.PIN
	opt.PIN = func(reader string, kind dongle.Kind, tries int) ([]byte, error) {
		if a.pinFile == "" && os.Getenv("AIRLOCK_PIN") == "" {
			return nil, errors.New("the hardware key needs its PIN: pass --pin-file FILE or set AIRLOCK_PIN for serve")
		}
		return prompt(reader, kind, tries)
	}
	opt.Timeout = 5 * time.Second
	return opt
}

// hardwareKeyConfig is how serve checks the hardware key of pools bound to
// one: proved every interval and after every reader event, the machine's
// fingerprint as the hardware ID without the key, and with crash the
// process exits (exitNoHardwareKey) the moment the key is found missing.
func (a *app) hardwareKeyConfig(s *server, interval time.Duration, crash bool) floating.HardwareKeyConfig {
	c := floating.HardwareKeyConfig{
		PIN:           s.dongle.PIN,
		ProofInterval: interval,
		Logf:          func(format string, args ...any) { a.ui.Infof(format, args...) },
		MachineID:     machineID(s),
	}
	if crash {
		c.OnLost = func(st floating.HardwareKeyStatus) {
			msg := fmt.Sprintf("hardware key %s is missing or invalid (%s: %s): --crash-if-no-hardware-key stops the server (exit %d)", st.Serial, st.Code, st.Reason, exitNoHardwareKey)
			a.ui.Errorf("%s", msg)
			if st.Holder != "" {
				a.ui.Hintf("another program holds the reader: %s", st.Holder)
			}
			s.exiting.Lock() // never unlocked: the process ends
			os.Remove(s.path("serve.json"))
			os.Exit(exitNoHardwareKey)
		}
	}
	return c
}

// machineID is the machine's hardware ID as `airlock fingerprint` prints
// it with the first pinned vendor key: the server's hardware ID while no
// hardware key is plugged in.
func machineID(s *server) string {
	var kid crypto.KeyID
	if keys, err := s.vendorKeys(); err == nil && len(keys) > 0 {
		kid = keys[0].ID()
	}
	rep, err := fingerprint.Collect(cli.FingerprintSource())
	if err != nil {
		return ""
	}
	return rep.Hash("", kid).String()
}

// printHardwareKey is status's view of the hardware ID and key.
func printHardwareKey(w io.Writer, hw floating.HardwareKeyInfo) {
	if hw.HardwareID != "" {
		fmt.Fprintf(w, "hardware ID: %s\n", hw.HardwareID)
	}
	k := hw.HardwareKey
	if !k.Required {
		return
	}
	if k.Present {
		fmt.Fprintf(w, "hardware key: %s present in reader %q, proved %s\n", k.Serial, k.Reader, k.LastProof.Local().Format(time.RFC3339))
		return
	}
	fmt.Fprintf(w, "hardware key: %s NOT AVAILABLE (%s): %s; pools %s refuse every action\n", k.Serial, orNone(k.Code), orNone(k.Reason), strings.Join(k.Products, ", "))
	if k.Holder != "" {
		fmt.Fprintf(w, "  another program holds the reader: %s\n", k.Holder)
	}
}
