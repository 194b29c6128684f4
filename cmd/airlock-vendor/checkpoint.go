package main

// Signed audit checkpoints: signed after every command that changes the
// ledger, printed by audit checkpoint, checked by audit verify.

import (
	"context"
	"errors"
	"fmt"

	"github.com/airlock-offline/airlock/desk"
	"github.com/airlock-offline/airlock/internal/cli"
	"github.com/airlock-offline/airlock/ledger"
)

// checkpoint signs the audit log's head with the desk's key and keeps it
// in the ledger. The ledger's change is committed already: a failure is a
// warning, and the next command's checkpoint covers this one's entries.
func (a *app) checkpoint(d *desk.Desk) {
	if _, err := d.SignCheckpoint(context.Background()); err != nil {
		a.ui.Warnf("the audit log's head is not signed: %v; the next command that changes the ledger signs it", err)
	}
}

// checkpointLedger is checkpoint for commands that change the ledger
// without the signing key otherwise: it loads the key (and its hardware
// key) for the signature.
func (a *app) checkpointLedger(l *ledger.Ledger) {
	key, err := a.loadKey()
	if err == nil {
		err = a.attachCard(key)
	}
	if err != nil {
		a.ui.Warnf("the audit log's head is not signed: %v; the next command that changes the ledger signs it", err)
		return
	}
	a.checkpoint(&desk.Desk{Key: key, Ledger: l, Now: cli.NowFunc()})
}

// cmdAuditCheckpoint prints the newest checkpoint kept in the ledger, to
// keep somewhere the desk cannot rewrite.
func (a *app) cmdAuditCheckpoint(args []string) error {
	fs := a.newFlags("audit checkpoint")
	out := fs.StringP("output", "o", "-", "")
	if done, err := a.parse(fs, args); done || err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return cli.Usagef("audit checkpoint takes no arguments")
	}
	pub, err := a.loadPublic()
	if err != nil {
		return err
	}
	l, err := a.openLedgerRead()
	if err != nil {
		return err
	}
	defer l.Close()
	ctx := context.Background()
	if _, _, err := l.VerifyAudit(ctx, ""); err != nil {
		return err
	}
	entries, err := l.AuditLog(ctx)
	if err != nil {
		return err
	}
	c, err := desk.CheckStoredCheckpoints(entries, pub)
	if err != nil {
		return err
	}
	if c == nil {
		return errors.New("the ledger keeps no signed checkpoint yet: every command that changes the ledger signs one")
	}
	if err := a.ui.WriteOutput(*out, c.Text()); err != nil {
		return err
	}
	a.ui.Infof("checkpoint of audit entry %d (of %d), signed by key %s at %s; keep it where the desk cannot rewrite it, and check the log against it with audit verify --checkpoint",
		c.Seq, len(entries), c.KeyID, c.At.Format("2006-01-02T15:04:05Z"))
	return nil
}

// verifyCheckpoint proves that the ledger's audit log extends the log the
// checkpoint in file was taken from.
func (a *app) verifyCheckpoint(ctx context.Context, l *ledger.Ledger, file string) error {
	pub, err := a.loadPublic()
	if err != nil {
		return err
	}
	data, err := a.ui.ReadInput(file)
	if err != nil {
		return fmt.Errorf("cannot read the checkpoint: %w", err)
	}
	c, err := desk.ParseCheckpoint(data, pub)
	if err != nil {
		return err
	}
	seq, hash, err := l.VerifyAudit(ctx, c.String())
	var ae *ledger.AuditError
	if errors.As(err, &ae) {
		return fmt.Errorf("the audit log does not extend the checkpoint of entry %d signed at %s: %w", c.Seq, c.At.Format("2006-01-02T15:04:05Z"), err)
	}
	if err != nil {
		return err
	}
	if err := a.checkStoredCheckpoints(ctx, l); err != nil {
		return err
	}
	a.ui.Infof("audit log intact: %d entries, extending the checkpoint of entry %d signed by key %s at %s; its head now:",
		seq, c.Seq, c.KeyID, c.At.Format("2006-01-02T15:04:05Z"))
	fmt.Fprintf(a.ui.Stdout, "%d:%x\n", seq, hash)
	return nil
}

// checkStoredCheckpoints verifies the checkpoints kept in the log under
// the desk's public key, if this desk has one.
func (a *app) checkStoredCheckpoints(ctx context.Context, l *ledger.Ledger) error {
	pub, err := a.loadPublic()
	if err != nil {
		return nil // an auditor's copy of the ledger alone: nothing to check them with
	}
	entries, err := l.AuditLog(ctx)
	if err != nil {
		return err
	}
	_, err = desk.CheckStoredCheckpoints(entries, pub)
	return err
}
