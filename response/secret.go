package response

import (
	"crypto/subtle"

	"golang.org/x/crypto/argon2"

	"github.com/airlock-offline/airlock/result"
)

// Argon2id parameters of the licensee-secret binding: OWASP's recommended
// minimum for Argon2id (19 MiB, two passes, one lane). One binding costs
// tens of milliseconds, paid once per verify of a secret-bound license and
// once per signature at the desk; every guess by someone holding a copy of
// the license costs the same.
const (
	SecretArgonTime    = 2
	SecretArgonMemory  = 19 * 1024 // KiB
	SecretArgonThreads = 1
	secretBindingLen   = 32
)

// secretSaltTag separates the binding's salt from every other use of the
// same values.
const secretSaltTag = "airlock licensee secret binding v2\x00"

// SecretBinding is what a license binds of a licensee secret: Argon2id of
// the secret, salted with a domain tag, the activation id and the
// installation key, so each license has its own salt. The client computes
// it from the secret it is given at verify time; the desk never stores it.
//
// A license copy lets anyone test guesses of the secret offline; Argon2id
// makes each guess slow and memory-hard, but a secret a person chose can
// still be guessed: licensee secrets should be random tokens of 128 bits
// or more (the CLI warns below that).
func SecretBinding(activationID, installKey, secret []byte) []byte {
	salt := make([]byte, 0, len(secretSaltTag)+len(activationID)+len(installKey))
	salt = append(salt, secretSaltTag...)
	salt = append(salt, activationID...)
	salt = append(salt, installKey...)
	return argon2.IDKey(secret, salt, SecretArgonTime, SecretArgonMemory, SecretArgonThreads, secretBindingLen)
}

// CheckSecret returns the check for Expect.LicenseeSecret: nil error when
// secret is the one l is bound to (compared in constant time).
func (l *License) CheckSecret(secret []byte) func([]byte) error {
	return func(bound []byte) error {
		if len(secret) == 0 {
			return result.New(result.LicenseeSecretMismatch, "license requires a licensee secret and none was given")
		}
		if subtle.ConstantTimeCompare(SecretBinding(l.ActivationID, l.Binding.InstallKey, secret), bound) != 1 {
			return result.New(result.LicenseeSecretMismatch, "the licensee secret is wrong")
		}
		return nil
	}
}
