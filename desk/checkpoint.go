package desk

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/internal/armor"
	"github.com/airlock-offline/airlock/internal/wire"
	"github.com/airlock-offline/airlock/ledger"
)

// Signed audit checkpoints.
//
// The audit log is a hash chain: editing or removing an entry breaks it,
// but whoever can write the ledger can drop its newest entries, or re-hash
// the whole chain after an edit, and it verifies again. A checkpoint is the
// desk's signing key's statement "the audit log had entry SEQ with hash
// HASH at TIME", a COSE_Sign1 (tag airlock/ckpt-v1) over the CBOR array
//
//	["airlock audit checkpoint", SEQ, HASH (32 bytes), TIME (Unix seconds)]
//
// Kept outside the ledger (a file, a ticket, a printout), it proves that a
// later log extends the log it was taken from, without trusting the desk:
// only the key can sign another one. The desk signs one after every
// command that changes the ledger, and appends it to the log as an entry
// "audit.checkpoint" (its detail ends with the signed checkpoint in
// base64url), so the ledger keeps every checkpoint it signed.

// CheckpointAction is the audit action of a stored checkpoint.
const CheckpointAction = "audit.checkpoint"

const checkpointContext = "airlock audit checkpoint"

// Checkpoint is a signed audit checkpoint. All fields are trusted once
// ParseCheckpoint (or SignCheckpoint) returned it.
type Checkpoint struct {
	Seq    int64        // the audit entry it names
	Hash   []byte       // that entry's hash
	At     time.Time    // when it was signed (second precision, UTC)
	KeyID  crypto.KeyID // the desk key that signed it
	Signed []byte       // the COSE_Sign1
}

type checkpointPayload struct {
	_       struct{} `cbor:",toarray"`
	Context string
	Seq     int64
	Hash    []byte
	At      int64
}

// Text returns the checkpoint in armor, as a file.
func (c *Checkpoint) Text() []byte { return armor.Encode(armor.Checkpoint, c.Signed) }

// String returns "SEQ:HASH", the head it names.
func (c *Checkpoint) String() string { return fmt.Sprintf("%d:%x", c.Seq, c.Hash) }

// SignCheckpoint signs the audit log's head with the desk's key and appends
// the checkpoint to the log. It returns nil, nil for an empty log.
func (d *Desk) SignCheckpoint(ctx context.Context) (*Checkpoint, error) {
	seq, hash, err := d.Ledger.AuditHead(ctx)
	if err != nil || seq == 0 {
		return nil, err
	}
	at := d.now().UTC().Truncate(time.Second)
	payload, err := wire.Marshal(checkpointPayload{Context: checkpointContext, Seq: seq, Hash: hash, At: at.Unix()})
	if err != nil {
		return nil, err
	}
	signed, err := crypto.Sign(d.Key, crypto.TagCheckpoint, payload)
	if err != nil {
		return nil, fmt.Errorf("cannot sign the audit checkpoint: %w", err)
	}
	c := &Checkpoint{Seq: seq, Hash: hash, At: at, KeyID: d.Key.ID(), Signed: signed}
	detail := fmt.Sprintf("entry %d signed by key %s at %s: %s", seq, c.KeyID, at.Format(time.RFC3339), base64.RawURLEncoding.EncodeToString(signed))
	if err := d.Ledger.Audit(ctx, CheckpointAction, "", detail); err != nil {
		return nil, fmt.Errorf("cannot keep the audit checkpoint in the ledger: %w", err)
	}
	return c, nil
}

// ErrCheckpoint: not a valid checkpoint of a trusted key.
var ErrCheckpoint = errors.New("not a valid audit checkpoint")

// ParseCheckpoint verifies a checkpoint (armored text, or the COSE_Sign1
// itself) under one of keys.
func ParseCheckpoint(data []byte, keys ...*crypto.Public) (*Checkpoint, error) {
	if b, err := armor.DecodeKind(data, armor.Checkpoint); err == nil {
		data = b
	}
	var pubs []ed25519.PublicKey
	for _, k := range keys {
		pubs = append(pubs, k.Sign)
	}
	payload, kid, err := crypto.Verify(data, crypto.TagCheckpoint, pubs...)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCheckpoint, err)
	}
	var p checkpointPayload
	if err := wire.Unmarshal(payload, &p); err != nil || p.Context != checkpointContext || p.Seq < 1 || len(p.Hash) != 32 {
		return nil, fmt.Errorf("%w: malformed payload", ErrCheckpoint)
	}
	return &Checkpoint{Seq: p.Seq, Hash: p.Hash, At: time.Unix(p.At, 0).UTC(), KeyID: kid, Signed: data}, nil
}

// StoredCheckpoint returns the checkpoint that the audit entry e (action
// CheckpointAction) keeps, verified under keys.
func StoredCheckpoint(e ledger.AuditEntry, keys ...*crypto.Public) (*Checkpoint, error) {
	i := strings.LastIndex(e.Detail, ": ")
	if e.Action != CheckpointAction || i < 0 {
		return nil, fmt.Errorf("%w: audit entry %d keeps none", ErrCheckpoint, e.Seq)
	}
	b, err := base64.RawURLEncoding.DecodeString(e.Detail[i+2:])
	if err != nil {
		return nil, fmt.Errorf("%w: audit entry %d: %v", ErrCheckpoint, e.Seq, err)
	}
	return ParseCheckpoint(b, keys...)
}

// CheckStoredCheckpoints verifies every checkpoint kept in the log
// entries (as AuditLog returns them, the chain verified): each must verify
// under keys and name an earlier entry by its true hash. It returns the
// newest one (nil if none).
func CheckStoredCheckpoints(entries []ledger.AuditEntry, keys ...*crypto.Public) (*Checkpoint, error) {
	var last *Checkpoint
	for _, e := range entries {
		if e.Action != CheckpointAction {
			continue
		}
		c, err := StoredCheckpoint(e, keys...)
		if err != nil {
			return nil, fmt.Errorf("audit entry %d: %w", e.Seq, err)
		}
		if c.Seq >= e.Seq || c.Seq > int64(len(entries)) || string(entries[c.Seq-1].Hash) != string(c.Hash) {
			return nil, fmt.Errorf("audit entry %d: %w: it names entry %d with another hash", e.Seq, ErrCheckpoint, c.Seq)
		}
		last = c
	}
	return last, nil
}
