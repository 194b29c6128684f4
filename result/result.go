// Package result defines the stable result codes that every airlock
// verification returns, as typed errors that work with [errors.Is] and
// [errors.As], together with the process exit code each one maps to.
//
// # Stability
//
// The code strings (for example "SIGNATURE_INVALID") and the exit codes are
// part of airlock's public contract: scripts and other languages depend on
// them. New codes may be added; existing ones are never renamed or renumbered.
package result

import (
	"errors"
	"strings"
)

// Code is a stable, upper-case result code.
type Code string

// The result codes. VALID is the only success.
const (
	Valid                    Code = "VALID"
	NotActivated             Code = "NOT_ACTIVATED"
	SignatureInvalid         Code = "SIGNATURE_INVALID"
	UnknownVendorKey         Code = "UNKNOWN_VENDOR_KEY"
	FingerprintMismatch      Code = "FINGERPRINT_MISMATCH"
	ProductMismatch          Code = "PRODUCT_MISMATCH"
	NotYetValid              Code = "NOT_YET_VALID"
	Expired                  Code = "EXPIRED"
	LeaseExpired             Code = "LEASE_EXPIRED"
	ClockTampered            Code = "CLOCK_TAMPERED"
	HardwareKeyNotAccessible Code = "HARDWARE_KEY_NOT_ACCESSIBLE"
	HardwareKeyMismatch      Code = "HARDWARE_KEY_MISMATCH"
	HardwareKeyProofFailed   Code = "HARDWARE_KEY_PROOF_FAILED"
	LicenseeSecretMismatch   Code = "LICENSEE_SECRET_MISMATCH"
	TooManyMachines          Code = "TOO_MANY_MACHINES"
	LicenseUnknown           Code = "LICENSE_UNKNOWN"
	LicenseSuspended         Code = "LICENSE_SUSPENDED"
	RequestStale             Code = "REQUEST_STALE"
	Malformed                Code = "MALFORMED"
	// InstallationMismatch: the license answers another installation's
	// request (another client key), so it cannot be used here.
	InstallationMismatch Code = "INSTALLATION_MISMATCH"
	// RequestMismatch: the license was signed for a request this
	// installation did not make (or no longer waits for).
	RequestMismatch Code = "REQUEST_MISMATCH"
	// EnvironmentRefused: (desk) the license's policy refuses requests
	// from this kind of machine (a VM, a container, …).
	EnvironmentRefused Code = "ENVIRONMENT_REFUSED"
	// Provisional: no signed license yet, but a phone code from the vendor
	// was accepted; the software may run until the grace period ends.
	// Like VALID it exits 0 (see Runnable).
	Provisional Code = "PROVISIONAL"
	// Internal is returned for failures that are not about the license
	// itself: an unreadable state directory, a full disk.
	Internal Code = "ERROR"
)

// exitCodes maps each code to its process exit code. 0 is success, 1 a
// generic error and 2 a usage error; license outcomes start at 10.
var exitCodes = map[Code]int{
	Valid:                    0,
	Provisional:              31,
	Internal:                 1,
	NotActivated:             10,
	SignatureInvalid:         11,
	UnknownVendorKey:         12,
	FingerprintMismatch:      13,
	ProductMismatch:          14,
	NotYetValid:              15,
	Expired:                  16,
	LeaseExpired:             17,
	ClockTampered:            18,
	HardwareKeyNotAccessible: 19,
	HardwareKeyMismatch:      20,
	HardwareKeyProofFailed:   21,
	LicenseeSecretMismatch:   22,
	TooManyMachines:          23,
	LicenseUnknown:           24,
	LicenseSuspended:         25,
	RequestStale:             26,
	Malformed:                27,
	InstallationMismatch:     28,
	RequestMismatch:          29,
	EnvironmentRefused:       30,
}

// Codes returns every code in exit-code order, for documentation and tests.
func Codes() []Code {
	out := make([]Code, 0, len(exitCodes))
	for c := range exitCodes {
		out = append(out, c)
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && exitCodes[out[j]] < exitCodes[out[j-1]]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// ExitCode returns the process exit code for c; unknown codes map to 1.
func (c Code) ExitCode() int {
	if n, ok := exitCodes[c]; ok {
		return n
	}
	return 1
}

// Known reports whether c is one of the defined codes.
func (c Code) Known() bool { _, ok := exitCodes[c]; return ok }

// Error is a verification outcome other than VALID. Code is stable; Msg is a
// human sentence that never contains secrets or untrusted content; Details
// lists public, non-secret facts (for example the names of fingerprint
// components that changed). Err, if set, is the underlying cause.
type Error struct {
	Code    Code
	Msg     string
	Details []string
	Err     error
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Msg != "" {
		b.WriteString(e.Msg)
	} else {
		b.WriteString(strings.ToLower(strings.ReplaceAll(string(e.Code), "_", " ")))
	}
	if len(e.Details) > 0 {
		b.WriteString(" (")
		b.WriteString(strings.Join(e.Details, ", "))
		b.WriteString(")")
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Is makes errors.Is(err, result.ErrExpired) true for any *Error with the
// same code, whatever its message.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// New returns an *Error with code c and message msg.
func New(c Code, msg string) *Error { return &Error{Code: c, Msg: msg} }

// Wrap returns an *Error with code c and message msg wrapping err.
func Wrap(c Code, msg string, err error) *Error { return &Error{Code: c, Msg: msg, Err: err} }

// Sentinels for errors.Is.
var (
	ErrNotActivated             = &Error{Code: NotActivated}
	ErrSignatureInvalid         = &Error{Code: SignatureInvalid}
	ErrUnknownVendorKey         = &Error{Code: UnknownVendorKey}
	ErrFingerprintMismatch      = &Error{Code: FingerprintMismatch}
	ErrProductMismatch          = &Error{Code: ProductMismatch}
	ErrNotYetValid              = &Error{Code: NotYetValid}
	ErrExpired                  = &Error{Code: Expired}
	ErrLeaseExpired             = &Error{Code: LeaseExpired}
	ErrClockTampered            = &Error{Code: ClockTampered}
	ErrHardwareKeyNotAccessible = &Error{Code: HardwareKeyNotAccessible}
	ErrHardwareKeyMismatch      = &Error{Code: HardwareKeyMismatch}
	ErrHardwareKeyProofFailed   = &Error{Code: HardwareKeyProofFailed}
	ErrLicenseeSecretMismatch   = &Error{Code: LicenseeSecretMismatch}
	ErrTooManyMachines          = &Error{Code: TooManyMachines}
	ErrLicenseUnknown           = &Error{Code: LicenseUnknown}
	ErrLicenseSuspended         = &Error{Code: LicenseSuspended}
	ErrRequestStale             = &Error{Code: RequestStale}
	ErrMalformed                = &Error{Code: Malformed}
	ErrInstallationMismatch     = &Error{Code: InstallationMismatch}
	ErrRequestMismatch          = &Error{Code: RequestMismatch}
	ErrEnvironmentRefused       = &Error{Code: EnvironmentRefused}
	ErrProvisional              = &Error{Code: Provisional}
)

// Runnable reports whether the software may run: VALID (nil) or
// PROVISIONAL.
func Runnable(err error) bool {
	c := CodeOf(err)
	return c == Valid || c == Provisional
}

// CodeOf returns the result code carried by err: VALID for nil, the code of
// the first *Error in the chain, and ERROR for anything else.
func CodeOf(err error) Code {
	if err == nil {
		return Valid
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Internal
}
