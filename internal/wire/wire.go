// Package wire holds the CBOR settings every airlock message shares: RFC 8949
// core deterministic encoding out, and strict, bounded decoding in. A payload
// is accepted only if re-encoding it gives back the very same bytes, so each
// message has exactly one encoding.
package wire

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/fxamacker/cbor/v2"
)

// Bounds on every decoded structure, far above what a valid message needs.
const (
	MaxArrayElements = 64
	MaxMapPairs      = 64
	MaxNestedLevels  = 8
)

var (
	enc cbor.EncMode
	dec cbor.DecMode
)

func init() {
	var err error
	eo := cbor.CoreDetEncOptions()
	eo.Time = cbor.TimeUnix
	if enc, err = eo.EncMode(); err != nil {
		panic(err)
	}
	do := cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		TagsMd:            cbor.TagsForbidden,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
		MaxArrayElements:  MaxArrayElements,
		MaxMapPairs:       MaxMapPairs,
		MaxNestedLevels:   MaxNestedLevels,
		UTF8:              cbor.UTF8RejectInvalid,
		IntDec:            cbor.IntDecConvertNone,
	}
	if dec, err = do.DecMode(); err != nil {
		panic(err)
	}
}

// ErrNotCanonical is returned for CBOR that decodes but is not in its one
// deterministic encoding.
var ErrNotCanonical = errors.New("encoding is not canonical")

// Marshal encodes v in core deterministic CBOR.
func Marshal(v any) ([]byte, error) { return enc.Marshal(v) }

// Unmarshal strictly decodes data into v (a pointer) and checks that data is
// the canonical encoding of the result: no unknown fields, no duplicate keys,
// no indefinite lengths, no tags, no trailing bytes.
func Unmarshal(data []byte, v any) error {
	if err := dec.Unmarshal(data, v); err != nil {
		return fmt.Errorf("invalid CBOR: %w", err)
	}
	again, err := enc.Marshal(v)
	if err != nil {
		return fmt.Errorf("invalid CBOR: %w", err)
	}
	if !bytes.Equal(again, data) {
		return ErrNotCanonical
	}
	return nil
}
