package crypto

import stdcrypto "crypto"

// Signer returns the identity's Ed25519 signing key as a crypto.Signer,
// for uses beside airlock's own messages: the floating server's TLS
// certificate carries its installation key, so that the pool license that
// certifies the key certifies the connection too. The private key stays
// inside the returned value.
func (id *Identity) Signer() (stdcrypto.Signer, error) { return id.signer() }
