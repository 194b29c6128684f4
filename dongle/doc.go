// Package dongle reads and proves the identity of a hardware key (a smart
// card or USB token) through PC/SC, and signs with an Ed25519 key held on
// one.
//
// It never prints or prompts: the command supplies the PIN prompt
// (Options.PIN) and shows the *Error's message and Hint.
//
//	s, err := dongle.Open(dongle.Options{PIN: askPIN})
//	id, err := s.Identify("")                   // enrolment: no PIN
//	ch, err := dongle.Challenge(nil, activationID)
//	_, alg, sig, err := s.Prove(id.Reader, ch)  // asks for the PIN
//	err = dongle.VerifyProof(alg, id.PublicKey, ch, sig)
//
// and for a signing key on a card:
//
//	key, err := s.SigningKey("", 0)             // set-up: no PIN
//	cs, err := s.Signer("", key.Kind, pub)      // asks for the PIN once
//	defer cs.Close()                            // zeroes the PIN
//	sig, err := cs.Sign(sigStructure)           // as often as needed
//
// # Card types
//
//   - OpenPGP card (YubiKey, Nitrokey, Gnuk, ...): the serial is the
//     manufacturer and serial number from the AID; the proof key is the
//     authentication key (Ed25519 or ECDSA P-256), which signs by INTERNAL
//     AUTHENTICATE after VERIFY of the user PIN (PW1).
//   - PIV (YubiKey): the serial from GET SERIAL (else the CHUID's GUID);
//     the proof key is slot 9A's, found from its certificate (or the
//     attestation), which signs by GENERAL AUTHENTICATE after VERIFY of the
//     PIN. A YubiKey's attestation of slot 9A is part of the identity.
//   - Any other card whose reader reports a UID (FF CA 00 00 00): an
//     identity only. A UID, like any serial, can be copied or emulated;
//     only a proof shows that the enrolled key is present.
//
// # Proof
//
// Challenge makes 32 fresh bytes bound to airlock's domain tag and a
// context (the activation id). The card signs them (Ed25519) or their
// SHA-256 digest (P-256), and VerifyProof checks the signature against the
// public key recorded at enrolment. The wire form of a public key in
// requests and licenses is one Algorithm byte followed by the key
// (Identity.WirePublicKey, ParseWirePublicKey).
//
// # Signing key
//
// A card can also hold a signing key: the vendor desk's Ed25519 key, which
// signs licenses (pure EdDSA over the COSE Sig_structure, up to
// MaxSignData bytes). It is the OpenPGP signature key (algorithm
// attributes C1, read with 00 47 81 00 B6 00; it signs by PSO: COMPUTE
// DIGITAL SIGNATURE after VERIFY of PW1 with P2 81) or the key of PIV slot
// 9C, found from its certificate (5FC10A; it signs by GENERAL
// AUTHENTICATE with algorithm E0, YubiKey 5.7+). Only Ed25519 counts; any
// other key is ErrUnsupportedCard. Messages longer than a short APDU go by
// command chaining.
//
// SigningKey reports such a key without a PIN. Signer finds the card that
// holds a given public key (compared in constant time; none is
// ErrKeyNotFound), asks for the PIN once and presents it at once, so a
// wrong PIN is reported before anything is signed. The CardSigner keeps
// the PIN in memory until Close, which overwrites it with zeros: an
// OpenPGP card by default accepts PW1 for one signature only, and slot 9C
// has the PIN policy "always", so every Sign presents the PIN again, in
// the same transaction as the signature. Sign first checks that the card
// in the reader still holds the key, so the PIN never goes to another
// card, and it checks every signature against the public key before
// returning it (ErrBadCardSignature otherwise). After the card refuses the
// PIN, the signer drops it and never sends it again.
//
// # PIN safety
//
// Prove, Signer and Sign read the PIN retry counter first and refuse
// (ErrTooFewTries) when fewer than Options.MinTriesLeft (default 2) tries
// are left, so a wrong PIN never blocks the card. A wrong PIN is a
// *PINError with the tries left. The card is told to forget the PIN when
// the proof or signature is done, or is reset when it cannot.
//
// # Failures
//
// Every error from a Session is an *Error (operation, reader, hint) that
// wraps one of the Err* failures; test with errors.Is. Every call into
// PC/SC has a deadline (Options.Timeout): another program's transaction
// makes a card call wait forever, and such a call fails with ErrTimeout
// instead (the stuck call is left behind and its context given up). A card
// pulled or reset during a command is reconnected once; a second failure
// is ErrRemoved. An answer shorter than a status word counts as a pulled
// card (vpcd gives one when the card vanishes mid-command).
//
// # Builds
//
// On Linux and macOS the package needs cgo and libpcsclite (pkg-config
// libpcsclite; Debian: libpcsclite-dev pkg-config); on Windows it uses
// winscard.dll and needs no cgo. Built with CGO_ENABLED=0 elsewhere it
// still compiles, Supported reports false and every Session call fails
// with ErrNotBuiltIn (so does Signer: there is no CardSigner without
// PC/SC); VerifyProof, Challenge and the public-key helpers work in every
// build.
//
// # Tests
//
// The unit tests drive the card logic through fake transports. The
// integration tests run against a real pcscd with the vpcd driver and the
// card emulator in internal/testrig/cardemu when PCSC_VPCD=1 (scripts/pcsc-stack.sh
// start sets up the stack); with PCSC_STACK_SCRIPT naming that script they
// also stop and restart pcscd to check ErrNoService.
package dongle
