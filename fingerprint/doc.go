// Package fingerprint computes airlock's hashed hardware ID: a per-product,
// per-vendor keyed digest of a machine's stable identities, with one digest
// per component so that a license can tolerate some hardware changes.
//
// The full description, with the digest construction, the match policies
// and what VM and container detection mean for a vendor, is
// docs/fingerprint.md; test vectors are in testdata/fingerprint/vectors.txt.
//
// # Collecting
//
// Collect reads the machine through a Source: OSSource for the real machine,
// DirSource or FSSource for a fixture tree in tests. The result is a Report:
// every component the operating system's collector knows, sorted by
// ComponentID, each available or unavailable with a Reason ("permission
// denied (readable by root only)", "root disk vda has no serial number
// (virtio disk without serial)"), and the detected environment (Env: VM,
// container, WSL, missing or shared machine ID).
//
//   - Linux: machine-id, the SMBIOS product UUID, board and product serials
//     (root only on most distributions), the root disk's serial or WWN, and
//     the CPU model. Collection reads a few small files and runs no command;
//     it takes well under a millisecond.
//   - macOS: IOPlatformUUID and IOPlatformSerialNumber (ioreg) and the CPU
//     brand (sysctl).
//   - Windows: MachineGuid (reg), the SMBIOS UUID (wmic, or PowerShell where
//     wmic is gone) and the CPU identifier (reg).
//
// MAC addresses are never used. CollectWith adds an ISV's own components
// (CustomComponent).
//
// # Privacy
//
// Raw values never leave the package: Raw keeps its value unexported, and
// no String, fmt verb or JSON encoding of a Raw, Report or Fingerprint shows
// it. Report.Hash turns the available components into a Fingerprint of
// HMAC-SHA-256 digests keyed by the product name and the vendor's 8-byte key
// ID, so two products, or two vendors, see unrelated IDs for one machine.
//
// # Matching
//
// A license carries the Fingerprint.Components it was issued for and a
// Policy; Policy.Match compares them with the machine's digests now:
// "exact", "all", "most" (strictly more than half) or "atleast:N". A
// component unavailable now counts as not matching. Match names the
// components that changed, went missing or were added, never their values.
//
//	r, err := fingerprint.Collect(nil) // nil: this machine
//	if err != nil {
//		return err
//	}
//	now := r.Hash(product, vendorKeyID)
//	if m := policy.Match(licensed, now.Components); !m.OK {
//		return fmt.Errorf("license is for another machine: %v", m)
//	}
package fingerprint
