package dongle

import (
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Failure is the type of the package's sentinel errors (ErrNoCard, ...).
// Message is the user-facing text of the failure; Hint says what the user
// can do about it. Neither ever holds a secret. Compare failures with
// errors.Is, never by their text.
type Failure struct {
	Message string
	Hint    string
}

func (f *Failure) Error() string { return f.Message }

// The failures Session methods and VerifyProof return, wrapped in an
// *Error (the PIN failures inside a *PINError). Test for them with
// errors.Is.
var (
	ErrNotBuiltIn = &Failure{
		"PC/SC support not built in (this binary was built without cgo)",
		"rebuild with CGO_ENABLED=1 and the PC/SC headers (Debian/Ubuntu: apt-get install libpcsclite-dev pkg-config)",
	}
	ErrNoService = &Failure{
		"the smart card service (pcscd) is not running",
		noServiceHint(runtime.GOOS),
	}
	ErrNoReader = &Failure{
		"no smart card reader found",
		"plug in the hardware key (or its reader); pcsc_scan or opensc-tool -l lists what the smart card service sees",
	}
	ErrNoCard = &Failure{
		"no hardware key in the reader",
		"insert the hardware key, then run the command again",
	}
	ErrRemoved = &Failure{
		"the hardware key was removed or reset during the operation",
		"keep the hardware key plugged in until the command has finished, then run it again",
	}
	ErrSharingViolation = &Failure{
		"another program is using the smart card reader (sharing violation)",
		"close the program that holds the card; gpg's scdaemon often does: gpg-connect-agent \"SCD KILLSCD\" /bye; " +
			"to find others look for a running scdaemon or another pcscd client: fuser -v /dev/bus/usb/*/* or lsof | grep pcscd",
	}
	ErrTimeout = &Failure{
		"the hardware key did not answer in time",
		"another program may hold a transaction on the card (gpg's scdaemon, opensc, a browser): close it or re-plug the key; " +
			"gpg-connect-agent \"SCD KILLSCD\" /bye stops scdaemon",
	}
	ErrWrongPIN = &Failure{
		"wrong PIN",
		"type the card's user PIN (OpenPGP: PW1, PIV: the PIN, not the PUK)",
	}
	ErrPINBlocked = &Failure{
		"the PIN of the hardware key is blocked",
		"unblock it with the card's own tool: gpg --card-edit (admin, passwd, unblock) or ykman piv access unblock-pin",
	}
	ErrTooFewTries = &Failure{
		"too few PIN tries left: airlock will not risk blocking the card",
		"check the PIN with the card's own tool first (gpg --card-edit, verify; ykman piv info), then run the command again",
	}
	ErrInvalidPIN = &Failure{
		"the PIN has the wrong length for this card (nothing was sent to the card)",
		"an OpenPGP user PIN has at least 6 characters, a PIV PIN 6 to 8",
	}
	ErrNoPINPrompt = &Failure{
		"the hardware key needs a PIN, but no way to ask for it was given",
		"run the command in a terminal, or pass the PIN as the command's documented option",
	}
	ErrUnsupportedCard = &Failure{
		"the card is not a supported hardware key",
		"airlock needs an OpenPGP card or a PIV token (YubiKey) with an Ed25519 or ECDSA P-256 authentication key, " +
			"or a card whose reader reports a UID (identity only)",
	}
	ErrPINScheme = &Failure{
		"the card hashes its PIN with a scheme airlock does not know (nothing was sent to the card)",
		"the card was set up with an unusual KDF-DO (gpg --card-edit, kdf-setup); airlock knows ITERSALTED_S2K with SHA-256 or SHA-512, as gpg sets it up",
	}
	ErrProof = &Failure{
		"the hardware key's signature does not verify",
		"this is not the enrolled hardware key, or its key was replaced: plug in the key the license was issued for",
	}
	ErrKeyNotFound = &Failure{
		"no hardware key plugged in holds the expected signing key",
		"plug in the hardware key that holds this Ed25519 signing key; a card with another key (or a key generated anew on the card) does not match",
	}
	ErrBadCardSignature = &Failure{
		"the hardware key returned a signature that does not verify under its public key",
		"nothing was signed; the card may be faulty, or its signing key was replaced since it was found: re-plug it and try again, else check it with the card's own tool",
	}
	ErrBadPublicKey = &Failure{
		"malformed hardware key public key",
		"",
	}
	ErrPCSC = &Failure{
		"the smart card service reported an error",
		"re-plug the hardware key; if it persists, restart the smart card service (pcscd)",
	}
	ErrClosed = &Failure{
		"the smart card session is closed",
		"",
	}
)

func noServiceHint(goos string) string {
	switch goos {
	case "windows":
		return "start the Smart Card service: sc start SCardSvr (sc query SCardSvr shows its state)"
	case "darwin":
		return "macOS starts its smart card service on demand: re-plug the hardware key and try again"
	}
	return "start it: systemctl start pcscd (or pcscd --foreground & as root; Debian/Ubuntu package pcscd)"
}

// Error is the error every Session method returns: what was being done,
// on which reader, and why. Err is one of the Err* failures (possibly
// wrapping the PC/SC library's error), a *PINError, or an error the PIN
// prompt returned. Hint is the advice to show the user; it may be more
// specific than the failure's own Hint. Nothing in an Error is secret.
type Error struct {
	Op     string // "identify", "prove", "list readers", ...
	Reader string // the reader's name, empty when not known
	Err    error
	Hint   string
}

func (e *Error) Error() string {
	s := "dongle: " + e.Op
	if e.Reader != "" {
		s += " (reader " + strconv.Quote(e.Reader) + ")"
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// PINError reports a PIN the card refused. errors.Is(err, ErrWrongPIN)
// holds for it, and errors.Is(err, ErrPINBlocked) too when no try is left.
type PINError struct {
	TriesLeft int // tries left before the PIN is blocked; -1 when the card did not say
}

func (e *PINError) Error() string {
	switch {
	case e.TriesLeft == 0:
		return "wrong PIN: the PIN is now blocked"
	case e.TriesLeft == 1:
		return "wrong PIN (1 try left)"
	case e.TriesLeft > 1:
		return fmt.Sprintf("wrong PIN (%d tries left)", e.TriesLeft)
	}
	return "wrong PIN"
}

func (e *PINError) Unwrap() []error {
	if e.TriesLeft == 0 {
		return []error{ErrWrongPIN, ErrPINBlocked}
	}
	return []error{ErrWrongPIN}
}

// cause joins a failure and the detail that explains it, so that
// errors.Is finds both.
func cause(f *Failure, detail error) error {
	if detail == nil {
		return f
	}
	return fmt.Errorf("%w: %w", f, detail)
}

// causef joins a failure and a formatted detail.
func causef(f *Failure, format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{f}, args...)...)
}

// wrap turns err into an *Error for op and reader, with the hint that fits.
// A nil err stays nil; an *Error passes through (filling in a missing reader).
func wrap(op, reader string, err error, timeout time.Duration, minTries int) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		if e.Reader == "" {
			e.Reader = reader
		}
		return e
	}
	return &Error{Op: op, Reader: reader, Err: err, Hint: hintFor(err, timeout, minTries)}
}

// noSigningKeyError: the card has no Ed25519 signing key (the OpenPGP
// signature key, PIV slot 9C). It is an ErrUnsupportedCard with a hint of
// its own. why lists public facts: what each applet holds instead.
type noSigningKeyError struct{ why []string }

func (e *noSigningKeyError) Error() string {
	s := "the card has no Ed25519 signing key"
	if len(e.why) > 0 {
		s += " (" + strings.Join(e.why, "; ") + ")"
	}
	return s
}

func (e *noSigningKeyError) Unwrap() error { return ErrUnsupportedCard }

const noSigningKeyHint = "airlock signs only with an Ed25519 key: the OpenPGP signature key " +
	"(gpg --edit-card, admin, key-attr: ECC, Curve 25519; then generate) or PIV slot 9C on a YubiKey 5.7+ " +
	"(ykman piv keys generate -a ED25519 9c pub.pem, then ykman piv certificates generate 9c pub.pem); see docs/hardware-keys.md"

func hintFor(err error, timeout time.Duration, minTries int) string {
	var pe *PINError
	var ns *noSigningKeyError
	switch {
	case errors.As(err, &ns):
		return noSigningKeyHint
	case errors.As(err, &pe):
		switch {
		case pe.TriesLeft == 0:
			return ErrPINBlocked.Hint
		case pe.TriesLeft > 0 && pe.TriesLeft < minTries:
			return fmt.Sprintf("%d tries left: airlock will not try again; check the PIN with the card's own tool (gpg --card-edit, ykman)", pe.TriesLeft)
		case pe.TriesLeft > 0:
			return fmt.Sprintf("%s; %d tries left before the card blocks the PIN", ErrWrongPIN.Hint, pe.TriesLeft)
		}
		return ErrWrongPIN.Hint
	case errors.Is(err, ErrTimeout):
		return fmt.Sprintf("no answer within %v: %s", timeout, ErrTimeout.Hint)
	}
	var f *Failure
	if errors.As(err, &f) {
		return f.Hint
	}
	return ""
}
