package crypto_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/airlock-offline/airlock/crypto"
)

// Installation (and vendor) keys of small order are refused: such a key
// has no secret behind it, so it cannot identify anything.
func TestSmallOrderKeysRefused(t *testing.T) {
	box := gen(t, crypto.RoleInstallation, "small order").Public().Box
	for _, h := range []string{
		"0100000000000000000000000000000000000000000000000000000000000000", // identity
		"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // order 2
		"0000000000000000000000000000000000000000000000000000000000000000", // order 4
		"0000000000000000000000000000000000000000000000000000000000000080", // order 4
		"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05", // order 8
		"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a", // order 8
		"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85", // order 8
		"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa", // order 8
	} {
		k, _ := hex.DecodeString(h)
		_, err := crypto.NewPublic(crypto.RoleInstallation, k, box[:])
		if !errors.Is(err, crypto.ErrPublicKey) || !strings.Contains(err.Error(), "small order") {
			t.Errorf("key %s: %v, want a small-order refusal", h, err)
		}
	}
	// Non-canonical encodings (y >= p) are refused too.
	nc, _ := hex.DecodeString("eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f")
	if _, err := crypto.NewPublic(crypto.RoleInstallation, nc, box[:]); !errors.Is(err, crypto.ErrPublicKey) {
		t.Errorf("non-canonical key accepted: %v", err)
	}
	// An ordinary key passes.
	good := gen(t, crypto.RoleInstallation, "ordinary").Public()
	if _, err := crypto.NewPublic(crypto.RoleInstallation, good.Sign, box[:]); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(good.Sign, make([]byte, 32)) {
		t.Fatal("test bug")
	}
}

// The scrypt work factor is bounded: a negative one used to panic inside
// age, a tiny one makes a key file trivially crackable.
func TestWorkFactorBounds(t *testing.T) {
	id := gen(t, crypto.RoleVendor, "work factor")
	for _, wf := range []int{-1, 1, 9, 23, 64} {
		if _, err := id.MarshalEncrypted([]byte("passphrase"), wf); err == nil {
			t.Errorf("work factor %d accepted", wf)
		}
	}
	if _, err := id.MarshalEncrypted([]byte("passphrase"), crypto.MinWorkFactor); err != nil {
		t.Fatal(err)
	}
}
