package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/dongle"
	"github.com/airlock-offline/airlock/fingerprint"
	"github.com/airlock-offline/airlock/internal/cli"
)

func (a *app) cmdFingerprint(args []string) error {
	fs := a.newFlags("fingerprint")
	product := fs.String("product", "", "")
	explain := fs.Bool("explain", false, "")
	asJSON := fs.Bool("json", false, "")
	if done, err := a.parse(fs, args); done || err != nil {
		return err
	}
	keys, err := a.vendorPublics(false)
	if err != nil {
		return err
	}
	var kid crypto.KeyID
	if len(keys) > 0 {
		kid = keys[0].ID()
	}
	rep, err := fingerprint.Collect(cli.FingerprintSource())
	if err != nil {
		return fmt.Errorf("cannot compute the fingerprint: %w", err)
	}
	fp := rep.Hash(*product, kid)
	digests := map[fingerprint.ComponentID]string{}
	for _, d := range fp.Components {
		digests[d.ID] = fmt.Sprintf("%x", d.Sum)
	}
	type comp struct {
		Name      string `json:"name"`
		Source    string `json:"source"`
		Available bool   `json:"available"`
		Reason    string `json:"reason,omitempty"`
		Digest    string `json:"digest,omitempty"`
	}
	var comps []comp
	for _, c := range rep.Components {
		comps = append(comps, comp{c.ID.String(), c.Source, c.Available, c.Reason, digests[c.ID]})
	}
	scope := "local (no product or vendor key given: the vendor sees another ID)"
	if *product != "" && len(keys) > 0 {
		scope = fmt.Sprintf("product %q, vendor key %s", *product, kid)
	}
	// While a hardware key is plugged in, it is the hardware ID (as in
	// LicenseSpring's hardware-key licenses); without it, the machine's.
	hwID := ""
	if s, err := dongle.Open(dongle.Options{Timeout: 2 * time.Second}); err == nil {
		if id, err := s.Identify(""); err == nil {
			hwID = id.Kind.String() + ":" + strings.ReplaceAll(id.SerialString(), " ", "")
		}
		s.Close()
	}
	if *asJSON {
		out := map[string]any{"fingerprint": fp.String(), "scope": scope, "environment": fp.Env.String()}
		if hwID != "" {
			out["hardware_key"] = hwID
			out["hardware_id"] = hwID
		} else {
			out["hardware_id"] = fp.String()
		}
		if *explain {
			out["components"] = comps
		}
		return a.ui.PrintJSON(out)
	}
	if hwID != "" {
		fmt.Fprintln(a.ui.Stdout, hwID)
		a.ui.Infof("(a hardware key is plugged in: it is the hardware ID; without it the machine's fingerprint %s)", fp)
	} else {
		fmt.Fprintln(a.ui.Stdout, fp.String())
	}
	if *explain {
		w := a.ui.Stdout
		fmt.Fprintf(w, "scope:       %s\n", scope)
		fmt.Fprintf(w, "environment: %s\n", fp.Env)
		for _, c := range comps {
			if c.Available {
				fmt.Fprintf(w, "  %-16s %-40s %s\n", c.Name, c.Source, c.Digest)
			} else {
				fmt.Fprintf(w, "  %-16s %-40s unavailable: %s\n", c.Name, c.Source, c.Reason)
			}
		}
		fmt.Fprintln(w, "(digests are keyed one-way hashes; no raw hardware data leaves this machine)")
	}
	return nil
}
