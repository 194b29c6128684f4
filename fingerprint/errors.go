package fingerprint

import "errors"

var (
	// ErrNoComponents is returned by Collect when no component of the
	// machine could be read. The Report is returned with it, so that the
	// caller can show why.
	ErrNoComponents = errors.New("fingerprint: no component available")
	// ErrUnsupportedOS is returned by Collect for an operating system it
	// has no collector for.
	ErrUnsupportedOS = errors.New("fingerprint: unsupported operating system")
	// ErrInvalidCustom is returned by CollectWith for a CustomComponent
	// with a bad ID, name or function.
	ErrInvalidCustom = errors.New("fingerprint: invalid custom component")
	// ErrInvalidPolicy is returned by ParsePolicy.
	ErrInvalidPolicy = errors.New("fingerprint: invalid match policy")
	// ErrMalformed is returned when an encoded Fingerprint, Digest,
	// ComponentID or Env does not parse.
	ErrMalformed = errors.New("fingerprint: malformed encoding")
	// ErrFileTooLarge is wrapped by Source.ReadFile for a file longer than
	// MaxFileSize.
	ErrFileTooLarge = errors.New("file too large")
	// ErrCommandTimeout is wrapped by OSSource's Command when the command
	// ran longer than CommandTimeout.
	ErrCommandTimeout = errors.New("command timed out")
)
