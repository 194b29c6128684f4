// Package dongle reads and proves the identity of a hardware key (a smart
// card or USB token) through PC/SC.
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
// # PIN safety
//
// Prove reads the PIN retry counter first and refuses (ErrTooFewTries) when
// fewer than Options.MinTriesLeft (default 2) tries are left, so a wrong PIN
// never blocks the card. A wrong PIN is a *PINError with the tries left. The
// card is told to forget the PIN when the proof is done.
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
// with ErrNotBuiltIn; VerifyProof, Challenge and the public-key helpers
// work in every build.
//
// # Tests
//
// The unit tests drive the card logic through fake transports. The
// integration tests run against a real pcscd with the vpcd driver and the
// card emulator in internal/cardemu when PCSC_VPCD=1 (scripts/pcsc-stack.sh
// start sets up the stack); with PCSC_STACK_SCRIPT naming that script they
// also stop and restart pcscd to check ErrNoService.
package dongle
