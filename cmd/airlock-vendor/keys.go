package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/internal/atomicfile"
	"github.com/airlock-offline/airlock/internal/cli"
	"github.com/airlock-offline/airlock/ledger"
)

func (a *app) cmdInit(args []string) error {
	fs := a.newFlags("init")
	plaintext := fs.Bool("plaintext", false, "")
	workFactor := cli.WorkFactorFlag(fs)
	hwReader := fs.String("hardware-key", "", "")
	fs.Lookup("hardware-key").NoOptDefVal = "auto"
	applet := fs.String("hardware-key-applet", "", "")
	if done, err := a.parse(fs, args); done || err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return cli.Usagef("init takes no arguments")
	}
	kinds, err := parseApplet(*applet)
	if err != nil {
		return err
	}
	if *applet != "" && *hwReader == "" {
		return cli.Usagef("--hardware-key-applet goes with --hardware-key")
	}
	home, err := a.home()
	if err != nil {
		return err
	}
	if tightened, err := atomicfile.MkdirPrivate(home); err != nil {
		return fmt.Errorf("cannot create a private directory for the desk: %w", err)
	} else if tightened {
		a.ui.Warnf("%s was accessible to other users: it is now private (mode 0700)", home)
	}
	keyPath := filepath.Join(home, "vendor.key")
	if _, err := os.Lstat(keyPath); err == nil {
		return fmt.Errorf("a vendor key already exists at %s; refusing to replace it", keyPath)
	}
	// The ledger first: a server that cannot be reached, or a wrong
	// password, must not leave a key behind that blocks the next init.
	target := a.db
	if target == "" {
		target = filepath.Join(home, "ledger.db")
	}
	l, err := openLedgerAt(target, "", "create", ledger.Options{Create: true})
	if err != nil {
		return err
	}
	backend := l.Backend()
	l.Close()
	var id *crypto.Identity
	if *hwReader != "" {
		s, err := a.openDongle()
		if err != nil {
			return err
		}
		card, err := a.cardSigningKey(s, *hwReader, kinds)
		if err != nil {
			return err
		}
		ref := crypto.HardwareKeyRef{Kind: uint8(card.Kind), Serial: card.Serial}
		if id, err = crypto.NewHardwareIdentity(crypto.RoleVendor, card.PublicKey, ref, nil); err != nil {
			return err
		}
		a.ui.Infof("the signing key stays on the %s; the key file keeps the sealing key", card)
	} else if id, err = crypto.Generate(crypto.RoleVendor, nil); err != nil {
		return err
	}
	var data []byte
	if *plaintext {
		if _, onCard := id.HardwareKey(); onCard {
			a.ui.Warnf("the sealing key is stored UNENCRYPTED at %s: anyone who can read that file can open the secrets customers seal to you", keyPath)
		} else {
			a.ui.Warnf("the private key is stored UNENCRYPTED at %s: anyone who can read that file can sign licenses", keyPath)
		}
		data = id.MarshalPlaintext()
	} else {
		pass, err := a.ui.Passphrase(a.passphraseFile, true)()
		if err != nil {
			return err
		}
		cli.WarnWeakPassphrase(a.ui, pass)
		if data, err = id.MarshalEncrypted(pass, *workFactor); err != nil {
			return err
		}
	}
	if err := atomicfile.CreateExclusive(keyPath, data); err != nil {
		return fmt.Errorf("cannot write the vendor key: %w", err)
	}
	if err := atomicfile.Write(filepath.Join(home, "vendor.pub"), []byte(id.Public().String()+"\n"), 0o644); err != nil {
		return fmt.Errorf("cannot write the vendor public key: %w", err)
	}
	if a.db != "" {
		// Later commands find the ledger without --db. A password is
		// never written to disk by airlock.
		rec, hadPassword := withoutPassword(a.db)
		if backend == "sqlite" {
			if rec, err = filepath.Abs(a.db); err != nil {
				return err
			}
		}
		if err := atomicfile.Write(filepath.Join(home, ledgerURLFile), []byte(rec+"\n"), 0o600); err != nil {
			return fmt.Errorf("cannot record where the ledger is: %w", err)
		}
		if hadPassword {
			a.ui.Warnf("the ledger's password is not recorded: give it to later commands with PGPASSWORD or ~/.pgpass")
		}
		a.ui.Infof("ledger: %s (%s)", ledger.RedactDSN(rec), backend)
	}
	a.ui.Infof("vendor key %s created in %s", id.ID(), home)
	a.ui.Infof("pin this public key in your product:")
	fmt.Fprintln(a.ui.Stdout, id.Public().String())
	return nil
}

func (a *app) cmdPubkey(args []string) error {
	fs := a.newFlags("pubkey")
	asJSON := fs.Bool("json", false, "")
	if done, err := a.parse(fs, args); done || err != nil {
		return err
	}
	pub, err := a.loadPublic()
	if err != nil {
		return err
	}
	if *asJSON {
		return a.ui.PrintJSON(map[string]string{"public_key": pub.String(), "key_id": pub.ID().String()})
	}
	fmt.Fprintln(a.ui.Stdout, pub.String())
	return nil
}
