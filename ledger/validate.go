package ledger

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The messages below name the offending field and never repeat its value.

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

// checkKey checks a license key: 1 to maxKeyLen printable ASCII characters
// without spaces, as a human types them.
func checkKey(key string) error {
	if key == "" {
		return invalid("license key is empty")
	}
	if len(key) > maxKeyLen {
		return invalid("license key is longer than %d bytes", maxKeyLen)
	}
	for i := 0; i < len(key); i++ {
		if c := key[i]; c <= ' ' || c > '~' {
			return invalid("license key contains a character other than printable ASCII")
		}
	}
	return nil
}

// checkText checks free text: valid UTF-8 without control characters, at
// most max bytes, and not empty if required.
func checkText(field, s string, max int, required bool) error {
	if s == "" {
		if required {
			return invalid("%s is empty", field)
		}
		return nil
	}
	if len(s) > max {
		return invalid("%s is longer than %d bytes", field, max)
	}
	if !utf8.ValidString(s) {
		return invalid("%s is not valid UTF-8", field)
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return invalid("%s contains a control character", field)
		}
	}
	return nil
}

func validateLicense(lic *License) error {
	if err := checkKey(lic.Key); err != nil {
		return err
	}
	if err := checkText("product", lic.Product, maxProductLen, true); err != nil {
		return err
	}
	if err := checkText("licensee", lic.Licensee, maxLicenseeLen, false); err != nil {
		return err
	}
	if err := validatePolicy(lic); err != nil {
		return err
	}
	switch lic.SecretMode {
	case "predefined":
		if len(lic.SecretHash) != 32 {
			return invalid("predefined licensee secret needs its 32-byte hash")
		}
	case "client":
	default:
		if len(lic.SecretHash) != 0 {
			return invalid("secret hash set on a license without a licensee secret")
		}
	}
	if !timeInRange(lic.Expires) && !lic.Expires.IsZero() {
		return invalid("expiry time is out of range")
	}
	if !timeInRange(lic.Created) && !lic.Created.IsZero() {
		return invalid("creation time is out of range")
	}
	return nil
}

// validatePolicy checks the policy part of a license, which a product's
// template of auto-created licenses holds too: every field but Key,
// Product, Licensee, SecretHash, Expires, Created and Suspended.
func validatePolicy(lic *License) error {
	if lic.MaxReactivations != nil && *lic.MaxReactivations < 0 {
		return invalid("max re-activations must not be negative")
	}
	switch lic.SecretMode {
	case "", "disabled", "client", "predefined":
	default:
		return invalid("unknown licensee secret mode")
	}
	if err := checkText("refused environments", lic.RefuseEnv, maxPolicyLen, false); err != nil {
		return err
	}
	if err := checkText("hardware-key environments", lic.HardwareEnv, maxPolicyLen, false); err != nil {
		return err
	}
	if err := checkText("match policy", lic.MatchPolicy, maxPolicyLen, false); err != nil {
		return err
	}
	if lic.MaxMachines < 1 {
		return invalid("max machines is %d, want at least 1", lic.MaxMachines)
	}
	if lic.LeasePeriod < 0 {
		return invalid("lease period is negative")
	}
	if len(lic.Features) > maxMapEntries {
		return invalid("more than %d features", maxMapEntries)
	}
	for name := range lic.Features {
		if err := checkText("feature name", name, maxMapNameLen, true); err != nil {
			return err
		}
	}
	if len(lic.Confidential) > maxMapEntries {
		return invalid("more than %d confidential fields", maxMapEntries)
	}
	for name, value := range lic.Confidential {
		if err := checkText("confidential field name", name, maxMapNameLen, true); err != nil {
			return err
		}
		// Values may hold any text (e.g. a secret with newlines) but
		// must be UTF-8, or JSON would silently replace bytes.
		if len(value) > maxConfidLen {
			return invalid("a confidential value is longer than %d bytes", maxConfidLen)
		}
		if !utf8.ValidString(value) {
			return invalid("a confidential value is not valid UTF-8")
		}
	}
	return nil
}

// checkActivationID checks an activation ID: lowercase hex, as
// hex.EncodeToString writes it, minActivationLen to maxActivationID digits.
func checkActivationID(id string) error {
	if id == "" {
		return invalid("activation id is empty")
	}
	if len(id) < minActivationLen || len(id) > maxActivationID {
		return invalid("activation id has %d characters, want %d to %d", len(id), minActivationLen, maxActivationID)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return invalid("activation id is not lowercase hex")
		}
	}
	return nil
}

func validateActivation(a *Activation) error {
	if err := checkActivationID(a.ID); err != nil {
		return err
	}
	if err := checkKey(a.LicenseKey); err != nil {
		return err
	}
	if len(a.InstallKey) != 32 {
		return invalid("install key is %d bytes, want 32", len(a.InstallKey))
	}
	if len(a.Fingerprint) != 16 {
		return invalid("fingerprint is %d bytes, want 16", len(a.Fingerprint))
	}
	if len(a.RequestHash) != 32 {
		return invalid("request hash is %d bytes, want 32", len(a.RequestHash))
	}
	if len(a.License) == 0 {
		return invalid("license bytes are empty")
	}
	if len(a.License) > maxLicenseBlob {
		return invalid("license bytes are longer than %d bytes", maxLicenseBlob)
	}
	if !timeInRange(a.Issued) && !a.Issued.IsZero() {
		return invalid("issue time is out of range")
	}
	if !timeInRange(a.LeaseUntil) && !a.LeaseUntil.IsZero() {
		return invalid("lease end is out of range")
	}
	if a.Released {
		return invalid("cannot record a released activation")
	}
	return nil
}

// storable reports whether every s can be stored as text on both backends:
// PostgreSQL refuses NUL bytes and invalid UTF-8. Keys and IDs are checked
// when stored, so a look-up by a value that is not storable finds nothing,
// and the look-ups say so without asking the database (which on PostgreSQL
// would fail instead).
func storable(ss ...string) bool {
	for _, s := range ss {
		if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
			return false
		}
	}
	return true
}
