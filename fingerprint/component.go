package fingerprint

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// ComponentID names a hardware or installation identity. The numbers are on
// the wire, in every license ever issued: never renumber them.
type ComponentID uint8

const (
	// MachineID is the Linux systemd/D-Bus machine ID (/etc/machine-id,
	// /var/lib/dbus/machine-id), made at OS install.
	MachineID ComponentID = 1
	// ProductUUID is the SMBIOS system UUID as Linux shows it
	// (/sys/class/dmi/id/product_uuid, root only).
	ProductUUID ComponentID = 2
	// BoardSerial is the SMBIOS baseboard serial number (root only).
	BoardSerial ComponentID = 3
	// ProductSerial is the SMBIOS system serial number (root only).
	ProductSerial ComponentID = 4
	// Disk is the serial number or WWN of the disk holding the root
	// file system.
	Disk ComponentID = 5
	// CPU is the processor model: vendor, family, model, stepping and
	// name. Never its frequency, microcode or count.
	CPU ComponentID = 6
	// PlatformUUID is the macOS IOPlatformUUID.
	PlatformUUID ComponentID = 7
	// PlatformSerial is the macOS IOPlatformSerialNumber.
	PlatformSerial ComponentID = 8
	// MachineGUID is the Windows MachineGuid
	// (HKLM\SOFTWARE\Microsoft\Cryptography), made at OS install.
	MachineGUID ComponentID = 9
	// SMBIOSUUID is the SMBIOS system UUID as Windows shows it
	// (Win32_ComputerSystemProduct.UUID).
	SMBIOSUUID ComponentID = 10

	// CustomMin is the first ID for components an ISV supplies through
	// CustomComponent; IDs from CustomMin to 255 are theirs.
	CustomMin ComponentID = 32
)

var componentNames = [...]string{
	MachineID:      "machine-id",
	ProductUUID:    "product-uuid",
	BoardSerial:    "board-serial",
	ProductSerial:  "product-serial",
	Disk:           "disk",
	CPU:            "cpu",
	PlatformUUID:   "platform-uuid",
	PlatformSerial: "platform-serial",
	MachineGUID:    "machine-guid",
	SMBIOSUUID:     "smbios-uuid",
}

// String returns the component's stable lower-case name, such as
// "machine-id". Custom components are "custom-32" and up; IDs not yet
// assigned are "component-11" and so on.
func (c ComponentID) String() string {
	if int(c) < len(componentNames) && componentNames[c] != "" {
		return componentNames[c]
	}
	if c >= CustomMin {
		return "custom-" + strconv.Itoa(int(c))
	}
	return "component-" + strconv.Itoa(int(c))
}

// ParseComponentID is the inverse of ComponentID.String.
func ParseComponentID(s string) (ComponentID, error) {
	for i, n := range componentNames {
		if n != "" && n == s {
			return ComponentID(i), nil
		}
	}
	for _, prefix := range []string{"custom-", "component-"} {
		rest, ok := strings.CutPrefix(s, prefix)
		if !ok {
			continue
		}
		n, err := parseSmallUint(rest)
		if err == nil && n <= 255 {
			c := ComponentID(n)
			if c.String() == s {
				return c, nil
			}
		}
	}
	return 0, fmt.Errorf("%w: unknown component %q", ErrMalformed, clip(s))
}

// MarshalText encodes the component as its name.
func (c ComponentID) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// UnmarshalText decodes a component name.
func (c *ComponentID) UnmarshalText(b []byte) error {
	id, err := ParseComponentID(string(b))
	if err != nil {
		return err
	}
	*c = id
	return nil
}

// Env describes what kind of machine the fingerprint was taken on. It is
// information for the vendor's policy, not part of the fingerprint's ID.
type Env uint16

const (
	// EnvVM: a hypervisor is present (DMI vendor, CPU hypervisor flag,
	// Xen sysfs, or on macOS kern.hv_vmm_present). Its hardware IDs are
	// whatever the VM's host configured and are copied with the VM.
	EnvVM Env = 1 << iota
	// EnvContainer: a container runtime's marker was found (/.dockerenv,
	// /run/.containerenv, /run/systemd/container, container cgroups or
	// mounts). Hardware IDs are the host's; the machine ID is the image's.
	EnvContainer
	// EnvWSL: Windows Subsystem for Linux.
	EnvWSL
	// EnvSharedMachineID: the machine ID is a well-known value shared by
	// many installations (it is then left out of the fingerprint).
	EnvSharedMachineID
	// EnvNoMachineID: the OS has no machine ID (missing, empty or not yet
	// initialised), as in most container images.
	EnvNoMachineID
	// EnvCloud: a public cloud's DMI vendor (Amazon EC2, Google Compute
	// Engine, ...), including bare-metal cloud instances.
	EnvCloud
)

var envNames = []string{"vm", "container", "wsl", "shared-machine-id", "no-machine-id", "cloud"}

// Has reports whether every flag of flags is set in e.
func (e Env) Has(flags Env) bool { return e&flags == flags }

// String lists the flags, comma-separated, such as "vm,container"; "none" for
// no flag. Flags without a name yet show as "bit6" and so on.
func (e Env) String() string {
	if e == 0 {
		return "none"
	}
	var parts []string
	for i := range 16 {
		if e&(1<<i) == 0 {
			continue
		}
		if i < len(envNames) {
			parts = append(parts, envNames[i])
		} else {
			parts = append(parts, "bit"+strconv.Itoa(i))
		}
	}
	return strings.Join(parts, ",")
}

// ParseEnv is the inverse of Env.String.
func ParseEnv(s string) (Env, error) {
	if s == "none" {
		return 0, nil
	}
	var e Env
	for part := range strings.SplitSeq(s, ",") {
		bit := -1
		for i, n := range envNames {
			if part == n {
				bit = i
			}
		}
		if rest, ok := strings.CutPrefix(part, "bit"); ok && bit < 0 {
			if n, err := parseSmallUint(rest); err == nil && n >= len(envNames) && n < 16 {
				bit = n
			}
		}
		if bit < 0 || e&(1<<bit) != 0 {
			return 0, fmt.Errorf("%w: environment %q", ErrMalformed, clip(s))
		}
		e |= 1 << bit
	}
	if e.String() != s { // flags out of order
		return 0, fmt.Errorf("%w: environment %q", ErrMalformed, clip(s))
	}
	return e, nil
}

// MarshalText encodes the flags as String does.
func (e Env) MarshalText() ([]byte, error) { return []byte(e.String()), nil }

// UnmarshalText decodes what MarshalText encodes.
func (e *Env) UnmarshalText(b []byte) error {
	v, err := ParseEnv(string(b))
	if err != nil {
		return err
	}
	*e = v
	return nil
}

// Raw is one collected component. Its value never leaves the package: it is
// unexported, and every fmt verb prints only the fields below.
type Raw struct {
	// ID is the component.
	ID ComponentID
	// Source says where the value was read, such as "/etc/machine-id" or
	// "reg HKLM\SOFTWARE\Microsoft\Cryptography MachineGuid"; for a
	// custom component, "custom:" and its name.
	Source string
	// Available reports whether a usable value was read.
	Available bool
	// Reason says why the component is unavailable, such as
	// "permission denied"; empty when available. It never holds the value.
	Reason string

	value []byte
}

// String describes the component without its value, such as
// "machine-id: available (/etc/machine-id)".
func (r Raw) String() string {
	if r.Available {
		return fmt.Sprintf("%s: available (%s)", r.ID, r.Source)
	}
	return fmt.Sprintf("%s: unavailable: %s (%s)", r.ID, r.Reason, r.Source)
}

// Format prints String for every verb, and Go syntax without the value for
// %#v, so that no formatting of a Raw or a Report shows the raw value.
func (r Raw) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		fmt.Fprintf(f, "fingerprint.Raw{ID:%d, Source:%q, Available:%t, Reason:%q}", uint8(r.ID), r.Source, r.Available, r.Reason)
		return
	}
	if verb == 'q' {
		fmt.Fprintf(f, "%q", r.String())
		return
	}
	fmt.Fprint(f, r.String())
}

// Report is the result of collection: every component the collector for the
// operating system knows, available or not, sorted by ID, and the
// environment. It holds raw values in memory only; see Hash.
type Report struct {
	// Components lists every component tried, sorted by ID.
	Components []Raw
	// Env is the detected environment.
	Env Env
	// EnvReasons names the markers that set Env, such as "dmi:qemu" or
	// "file:/.dockerenv", in a fixed vocabulary; never file contents.
	EnvReasons []string
}

// Available returns the IDs of the available components, in order.
func (r *Report) Available() []ComponentID {
	var ids []ComponentID
	for _, c := range r.Components {
		if c.Available {
			ids = append(ids, c.ID)
		}
	}
	return ids
}

// Unreadable returns the IDs of the components that exist but that this
// process may not read (a permission was denied): what differs between a
// fingerprint taken as root and one taken as a user on the same machine.
func (r *Report) Unreadable() []ComponentID {
	var ids []ComponentID
	for _, c := range r.Components {
		if !c.Available && strings.HasPrefix(c.Reason, "permission denied") {
			ids = append(ids, c.ID)
		}
	}
	return ids
}

// Without returns a copy of the report without the named components. An ISV
// whose product runs unprivileged can use it to leave out the root-only
// components on both sides, so that a fingerprint taken as root matches one
// taken as a user.
func (r *Report) Without(ids ...ComponentID) *Report {
	out := &Report{Env: r.Env, EnvReasons: append([]string(nil), r.EnvReasons...)}
	for _, c := range r.Components {
		if !containsID(ids, c.ID) {
			out.Components = append(out.Components, c)
		}
	}
	return out
}

// String lists the components, one per line, and the environment; no values.
func (r *Report) String() string {
	var b strings.Builder
	for _, c := range r.Components {
		b.WriteString(c.String())
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, "env: %s", r.Env)
	if len(r.EnvReasons) > 0 {
		fmt.Fprintf(&b, " (%s)", strings.Join(r.EnvReasons, ", "))
	}
	return b.String()
}

func containsID(ids []ComponentID, id ComponentID) bool { return slices.Contains(ids, id) }

// parseSmallUint parses a canonical decimal number: digits only, no sign, no
// leading zero, at most three digits.
func parseSmallUint(s string) (int, error) {
	if s == "" || len(s) > 3 || (len(s) > 1 && s[0] == '0') {
		return 0, strconv.ErrSyntax
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, strconv.ErrSyntax
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, nil
}

// clip shortens untrusted text before it goes into an error message.
func clip(s string) string {
	const max = 40
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}
