package fingerprint

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os/exec"
	"slices"
	"strings"
)

// CustomComponent is an ISV's own hardware identity, added to the fingerprint
// beside the built-in components: the serial of a measurement device the
// product drives, an ID the ISV's installer stores, and so on.
//
// Collect runs Read with the same Source as the built-in collectors, so a
// custom component can be tested on fixture trees too. Read returns the raw
// value, which is digested like every other component and never leaves the
// package. An error, or an empty value, makes the component unavailable; the
// Reason is the error's text, so it must not contain the value. Use
// Unavailable to give a plain reason.
type CustomComponent struct {
	// ID is the component's wire number, from CustomMin to 255. It must
	// never change for a product once licenses exist.
	ID ComponentID
	// Name is a short lower-case name for explanations, such as
	// "scope-serial": 1 to 32 characters of a-z, 0-9 and "-".
	Name string
	// Read returns the raw value.
	Read func(src Source) ([]byte, error)
}

// Unavailable returns an error that a CustomComponent's Read returns to mark
// its component unavailable with the given reason.
func Unavailable(reason string) error { return &unavailableError{reason} }

type unavailableError struct{ reason string }

func (e *unavailableError) Error() string { return e.reason }

// Bounds on custom components: their number, so that a fingerprint always
// encodes (MaxComponents), and the size of a value.
const (
	maxCustom      = 32
	maxCustomValue = 4 << 10
)

// Collect reads the components of the machine src describes, and detects
// virtual machines and containers. A nil src means OSSource().
//
// Every component the operating system's collector knows is in the report,
// sorted by ID: unreadable ones are marked unavailable with a reason, never
// dropped. Collection is deterministic: the same machine gives the same
// report on every call and for every user with the same privileges. If no
// component is available, Collect returns the report and ErrNoComponents.
//
// On Linux it reads a few small files under /etc, /proc and /sys and runs no
// command. On macOS it runs ioreg and sysctl; on Windows, reg and wmic (or
// PowerShell where wmic is gone).
func Collect(src Source) (*Report, error) {
	return CollectWith(src)
}

// CollectWith is Collect with the ISV's own components added: at most 32,
// with distinct IDs from CustomMin up.
func CollectWith(src Source, custom ...CustomComponent) (*Report, error) {
	if src == nil {
		src = OSSource()
	}
	if len(custom) > maxCustom {
		return nil, fmt.Errorf("%w: %d custom components, at most %d", ErrInvalidCustom, len(custom), maxCustom)
	}
	for i, c := range custom {
		if err := c.check(); err != nil {
			return nil, err
		}
		for _, d := range custom[:i] {
			if d.ID == c.ID {
				return nil, fmt.Errorf("%w: ID %d used twice", ErrInvalidCustom, c.ID)
			}
		}
	}
	var r *Report
	switch goos := src.GOOS(); goos {
	case "linux", "android":
		r = collectLinux(src)
	case "darwin":
		r = collectDarwin(src)
	case "windows":
		r = collectWindows(src)
	default:
		return nil, fmt.Errorf("%w: %q", ErrUnsupportedOS, clip(goos))
	}
	for _, c := range custom {
		r.Components = append(r.Components, c.collect(src))
	}
	slices.SortStableFunc(r.Components, func(a, b Raw) int { return int(a.ID) - int(b.ID) })
	if len(r.Available()) == 0 {
		return r, ErrNoComponents
	}
	return r, nil
}

func (c CustomComponent) check() error {
	if c.ID < CustomMin {
		return fmt.Errorf("%w: ID %d is below %d", ErrInvalidCustom, c.ID, CustomMin)
	}
	if c.Read == nil {
		return fmt.Errorf("%w: %s has no Read function", ErrInvalidCustom, c.ID)
	}
	if len(c.Name) == 0 || len(c.Name) > 32 {
		return fmt.Errorf("%w: %s: name must be 1 to 32 characters", ErrInvalidCustom, c.ID)
	}
	for _, r := range c.Name {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return fmt.Errorf("%w: %s: name %q has characters other than a-z, 0-9 and -", ErrInvalidCustom, c.ID, c.Name)
		}
	}
	return nil
}

func (c CustomComponent) collect(src Source) (raw Raw) {
	raw = Raw{ID: c.ID, Source: "custom:" + c.Name}
	defer func() {
		// A panicking hook is the ISV's bug, but it must not take the
		// product down with it.
		if p := recover(); p != nil {
			raw = Raw{ID: c.ID, Source: "custom:" + c.Name, Reason: "custom component panicked"}
		}
	}()
	v, err := c.Read(src)
	switch {
	case err != nil:
		raw.Reason = err.Error()
		if raw.Reason == "" {
			raw.Reason = "custom component failed"
		}
	case len(bytes.TrimSpace(v)) == 0:
		raw.Reason = "empty"
	case len(v) > maxCustomValue:
		raw.Reason = "value too long"
	default:
		raw.Available = true
		raw.value = bytes.Clone(v)
	}
	return raw
}

// reasonFor turns a read error into a Reason: the kind of failure, never the
// content of anything.
func reasonFor(err error) string {
	var ee *exec.Error
	switch {
	case errors.Is(err, fs.ErrPermission):
		return "permission denied"
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, exec.ErrNotFound), errors.As(err, &ee):
		return "not present"
	case errors.Is(err, ErrFileTooLarge):
		return "file too large"
	case errors.Is(err, ErrCommandTimeout):
		return "command timed out"
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return "read failed: " + pe.Err.Error()
	}
	var xe *exec.ExitError
	if errors.As(err, &xe) {
		return "command failed: " + xe.ProcessState.String()
	}
	return "read failed"
}

// placeholders are values firmware ships instead of a real serial or UUID.
// They are the same on millions of machines, so they identify none.
var placeholders = []string{
	"", "0", "00000000", "0000000000", "000000000000", "1234567890", "123456789", "0123456789",
	"none", "n/a", "na", "null", "unknown", "undefined", "not specified", "not applicable",
	"not available", "default string", "to be filled by o.e.m.", "to be filled by oem",
	"o.e.m.", "oem", "system serial number", "base board serial number",
	"chassis serial number", "serial number", "system product name", "invalid",
	"xxxxxxxxxxxx", "empty", "filled by oem",
	// UUIDs: all zeros, all ones, and the sequence many boards ship.
	"00000000-0000-0000-0000-000000000000",
	"ffffffff-ffff-ffff-ffff-ffffffffffff",
	"03000200-0400-0500-0006-000700080009",
	"12345678-1234-5678-90ab-cddeefaabbcc",
}

func isPlaceholder(v string) bool {
	v = strings.ToLower(strings.TrimSpace(v))
	if slices.Contains(placeholders, v) {
		return true
	}
	// A run of one character ("00000000", "FFFFFFFF", "        ").
	if t := strings.Trim(v, "-"); t != "" && strings.Count(t, t[:1]) == len(t) {
		return true
	}
	return false
}

// normalize trims a firmware string and collapses runs of white space, so
// that padding differences between kernels and tools do not change the
// digest.
func normalize(b []byte) []byte {
	b = bytes.TrimRight(b, "\x00")
	return []byte(strings.Join(strings.Fields(string(b)), " "))
}

// component builds a Raw from a value read from source, applying the checks
// every identity needs.
func component(id ComponentID, source string, value []byte, err error) Raw {
	r := Raw{ID: id, Source: source}
	if err != nil {
		r.Reason = reasonFor(err)
		return r
	}
	v := normalize(value)
	switch {
	case len(v) == 0:
		r.Reason = "empty"
	case isPlaceholder(string(v)):
		r.Reason = "placeholder value set by the manufacturer"
	default:
		r.Available = true
		r.value = v
	}
	return r
}

// unavailable builds an unavailable Raw.
func unavailable(id ComponentID, source, reason string) Raw {
	return Raw{ID: id, Source: source, Reason: reason}
}

// envSet accumulates environment flags and the reasons for them, once each.
type envSet struct {
	env     Env
	reasons []string
}

func (e *envSet) add(flag Env, reason string) {
	e.env |= flag
	if !slices.Contains(e.reasons, reason) {
		e.reasons = append(e.reasons, reason)
	}
}

// hypervisor is a DMI (SMBIOS) vendor/product pair that marks a virtual
// machine or a cloud instance. Both match as case-insensitive substrings; an
// empty one matches anything.
type hypervisor struct {
	vendor, product string
	reason          string
	env             Env
}

var hypervisors = []hypervisor{
	{"qemu", "", "dmi:qemu", EnvVM},
	{"", "kvm", "dmi:kvm", EnvVM},
	{"red hat", "", "dmi:kvm", EnvVM},
	{"vmware", "", "dmi:vmware", EnvVM},
	{"", "vmware", "dmi:vmware", EnvVM},
	{"innotek", "", "dmi:virtualbox", EnvVM},
	{"", "virtualbox", "dmi:virtualbox", EnvVM},
	{"microsoft corporation", "virtual machine", "dmi:hyper-v", EnvVM},
	{"xen", "", "dmi:xen", EnvVM},
	{"", "hvm domu", "dmi:xen", EnvVM},
	{"parallels", "", "dmi:parallels", EnvVM},
	{"", "parallels", "dmi:parallels", EnvVM},
	{"bochs", "", "dmi:bochs", EnvVM},
	{"bhyve", "", "dmi:bhyve", EnvVM},
	{"nutanix", "", "dmi:nutanix", EnvVM},
	{"openstack", "", "dmi:openstack", EnvVM},
	{"", "openstack", "dmi:openstack", EnvVM},
	{"apple inc.", "virtualization", "dmi:apple-virtualization", EnvVM},
	{"", "virtualmac", "dmi:apple-virtualization", EnvVM},
	{"digitalocean", "", "dmi:digitalocean", EnvVM | EnvCloud},
	{"google", "google compute engine", "dmi:google", EnvVM | EnvCloud},
	{"alibaba cloud", "", "dmi:alibaba-cloud", EnvVM | EnvCloud},
	{"hetzner", "", "dmi:hetzner", EnvVM | EnvCloud},
	{"scaleway", "", "dmi:scaleway", EnvVM | EnvCloud},
	// Amazon EC2 is handled in matchHypervisor: its bare-metal instances
	// are cloud machines but not VMs.
}

// matchHypervisor checks a DMI vendor and product name.
func matchHypervisor(e *envSet, vendor, product string) {
	vendor = strings.ToLower(strings.TrimSpace(vendor))
	product = strings.ToLower(strings.TrimSpace(product))
	if vendor == "" && product == "" {
		return
	}
	if strings.Contains(vendor, "amazon ec2") {
		if strings.HasSuffix(product, ".metal") || strings.Contains(product, ".metal-") {
			e.add(EnvCloud, "dmi:amazon-ec2-metal")
		} else {
			e.add(EnvVM|EnvCloud, "dmi:amazon-ec2")
		}
		return
	}
	for _, h := range hypervisors {
		if strings.Contains(vendor, h.vendor) && strings.Contains(product, h.product) {
			e.add(h.env, h.reason)
			return
		}
	}
}
