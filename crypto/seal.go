package crypto

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"filippo.io/age"
)

// MaxSealed bounds a sealed field, ciphertext and plaintext alike.
const MaxSealed = 4 << 10

// ErrSealed is returned when a sealed field cannot be opened.
var ErrSealed = errors.New("sealed field cannot be opened with this key")

// Seal encrypts plaintext to the X25519 key of to with age (binary form, no
// armor: the message that carries it is armored as a whole).
func Seal(to *Public, plaintext []byte) ([]byte, error) {
	if len(plaintext) > MaxSealed {
		return nil, fmt.Errorf("sealed field larger than %d bytes", MaxSealed)
	}
	r, err := to.Recipient()
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	w, err := age.Encrypt(&out, r)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(plaintext); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// Open decrypts a field sealed to id.
func Open(id *Identity, sealed []byte) ([]byte, error) {
	if len(sealed) > MaxSealed+512 {
		return nil, fmt.Errorf("%w: too large", ErrSealed)
	}
	r, err := age.Decrypt(bytes.NewReader(sealed), id.box)
	if err != nil {
		return nil, ErrSealed
	}
	out, err := io.ReadAll(io.LimitReader(r, MaxSealed+1))
	if err != nil || len(out) > MaxSealed {
		return nil, ErrSealed
	}
	return out, nil
}
