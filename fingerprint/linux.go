package fingerprint

import (
	"bytes"
	"errors"
	"io/fs"
	"path"
	"slices"
	"strings"
)

// This file holds the Linux collector. It is built on every platform, so
// that any machine can run the Linux fixtures; which collector runs depends
// on Source.GOOS, not on the build.

const (
	dmiDir = "/sys/class/dmi/id/"
	// cpuinfoPrefix is enough of /proc/cpuinfo for the first processor,
	// whose flags line alone can take 1.5 KiB. The kernel formats only
	// what is read, so on a machine with hundreds of CPUs this is the
	// difference between microseconds and a millisecond.
	cpuinfoPrefix = 8 << 10
	// mountinfoFirst and mountinfoPrefix are how much of
	// /proc/self/mountinfo is searched for the root mount: first one page,
	// where it is on every system we know, then, if it was not there, up to
	// 64 KiB. Hosts running many containers have mount tables far longer,
	// and formatting them is slow.
	mountinfoFirst  = 4 << 10
	mountinfoPrefix = 64 << 10
	// maxSlaveDepth bounds the walk down stacked device-mapper and md
	// devices (LVM on LUKS on RAID is three).
	maxSlaveDepth = 4
)

// wellKnownMachineIDs are machine IDs that many installations share on
// purpose or by mistake, so they identify nothing.
var wellKnownMachineIDs = []string{
	// Whonix and Kicksecure ship one machine ID to all users, and privacy
	// guides copy it.
	"b08dfa6083e7567a1921a715000001fb",
}

type linuxCollector struct {
	src Source
	env envSet

	cpuinfo    map[string]string // the first processor's block
	cpuinfoErr error
	mounts     []mountEntry
	mountsErr  error
}

func collectLinux(src Source) *Report {
	c := &linuxCollector{src: src}
	if b, err := readPrefix(src, "/proc/cpuinfo", cpuinfoPrefix); err == nil {
		c.cpuinfo = firstCPU(completeLines(b, cpuinfoPrefix))
	} else {
		c.cpuinfoErr = err
	}
	c.mounts, c.mountsErr = readMounts(src)

	r := &Report{Components: []Raw{
		c.machineID(),
		c.dmi(ProductUUID, "product_uuid"),
		c.dmi(BoardSerial, "board_serial"),
		c.dmi(ProductSerial, "product_serial"),
		c.disk(),
		c.cpu(),
	}}
	c.detectEnv()
	r.Env, r.EnvReasons = c.env.env, c.env.reasons
	return r
}

func (c *linuxCollector) machineID() Raw {
	const etc, dbus = "/etc/machine-id", "/var/lib/dbus/machine-id"
	b, err := c.src.ReadFile(etc)
	source := etc
	if errors.Is(err, fs.ErrNotExist) || (err == nil && len(bytes.TrimSpace(b)) == 0) {
		// Older systems and some images only have the D-Bus copy.
		if b2, err2 := c.src.ReadFile(dbus); err2 == nil && len(bytes.TrimSpace(b2)) > 0 {
			b, err, source = b2, nil, dbus
		}
	}
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			c.env.add(EnvNoMachineID, "machine-id:missing")
		}
		return component(MachineID, source, nil, err)
	}
	id := strings.ToLower(strings.TrimSpace(string(b)))
	switch {
	case id == "" || id == "uninitialized":
		// systemd writes "uninitialized" until first boot completes.
		c.env.add(EnvNoMachineID, "machine-id:missing")
		return unavailable(MachineID, source, "not initialised")
	case !isHex(id) || len(id) != 32:
		return unavailable(MachineID, source, "malformed (not 32 hexadecimal digits)")
	case strings.Trim(id, "0") == "":
		return unavailable(MachineID, source, "placeholder value (all zeros)")
	case slices.Contains(wellKnownMachineIDs, id):
		c.env.add(EnvSharedMachineID, "machine-id:shared")
		return unavailable(MachineID, source, "well-known value shared by many installations")
	}
	return Raw{ID: MachineID, Source: source, Available: true, value: []byte(id)}
}

func (c *linuxCollector) dmi(id ComponentID, file string) Raw {
	p := dmiDir + file
	b, err := c.src.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		if _, derr := c.src.ReadDir("/sys/class/dmi"); errors.Is(derr, fs.ErrNotExist) {
			// ARM boards without SMBIOS, WSL, Xen PV, Firecracker...
			return unavailable(id, p, "not present (no SMBIOS/DMI on this machine)")
		}
	}
	if errors.Is(err, fs.ErrPermission) {
		return unavailable(id, p, "permission denied (readable by root only)")
	}
	if id == ProductUUID && err == nil {
		b = bytes.ToLower(b)
	}
	return component(id, p, b, err)
}

// disk finds the block device holding "/" and reads its serial or WWN.
func (c *linuxCollector) disk() Raw {
	const mountinfo = "/proc/self/mountinfo"
	if c.mountsErr != nil {
		return component(Disk, mountinfo, nil, c.mountsErr)
	}
	root, ok := rootMount(c.mounts)
	if !ok {
		return unavailable(Disk, mountinfo, "root mount not found")
	}
	name, reason := c.rootBlockDevice(root)
	if name == "" {
		return unavailable(Disk, mountinfo, reason)
	}
	disk, reason := c.wholeDisk(name, 0)
	if disk == "" {
		return unavailable(Disk, "/sys/class/block/"+name, reason)
	}
	return c.diskSerial(disk)
}

// rootBlockDevice returns the kernel name ("nvme0n1p2", "dm-0") of the
// device the root file system is mounted from.
func (c *linuxCollector) rootBlockDevice(m mountEntry) (name, reason string) {
	switch m.fstype {
	case "overlay", "aufs", "fuse-overlayfs":
		return "", "root file system is an overlay (container image), not a disk"
	case "tmpfs", "ramfs", "rootfs":
		return "", "root file system is in memory, not on a disk"
	case "nfs", "nfs4", "cifs", "smb3", "9p", "virtiofs", "fuse", "ceph", "glusterfs":
		return "", "root file system is on the network or shared from the host, not on a local disk"
	case "zfs":
		return "", "root file system is a ZFS dataset, not a single disk"
	}
	if m.major != "0" {
		// The kernel's own major:minor is exact; the mount source may be
		// a name like /dev/root.
		if t, err := c.src.Readlink("/sys/dev/block/" + m.major + ":" + m.minor); err == nil {
			return path.Base(t), ""
		}
	}
	// btrfs and some others report an anonymous device number: fall back
	// to the mount source.
	srcPath := m.source
	if !strings.HasPrefix(srcPath, "/dev/") {
		return "", "root file system is not mounted from a block device"
	}
	if strings.HasPrefix(srcPath, "/dev/mapper/") {
		t, err := c.src.Readlink(srcPath)
		if err != nil {
			return "", "cannot resolve the root device-mapper name: " + reasonFor(err)
		}
		return path.Base(t), ""
	}
	name = path.Base(srcPath)
	if name == "root" || name == "." || name == "/" {
		return "", "root device is not named by the kernel"
	}
	return name, ""
}

// wholeDisk maps a partition to its disk and a device-mapper or md device to
// the first (by name) device beneath it.
func (c *linuxCollector) wholeDisk(name string, depth int) (string, string) {
	if depth > maxSlaveDepth || name == "" || strings.ContainsAny(name, "/\x00") || name == ".." {
		return "", "block device stack too deep"
	}
	base := "/sys/class/block/" + name
	if slaves, err := c.src.ReadDir(base + "/slaves"); err == nil && len(slaves) > 0 {
		names := make([]string, 0, len(slaves))
		for _, s := range slaves {
			names = append(names, s.Name())
		}
		slices.Sort(names)
		return c.wholeDisk(names[0], depth+1)
	}
	if _, err := c.src.ReadFile(base + "/partition"); err == nil {
		t, err := c.src.Readlink(base)
		if err != nil {
			return "", "cannot find the disk of partition " + name + ": " + reasonFor(err)
		}
		// .../block/sda/sda2 or .../nvme0/nvme0n1/nvme0n1p2: the parent
		// directory is the disk.
		disk := path.Base(path.Dir(t))
		if disk == "." || disk == "/" || disk == "block" {
			return "", "cannot find the disk of partition " + name
		}
		return disk, ""
	}
	return name, ""
}

// diskSerial reads a disk's identity, trying the attributes from the most to
// the least specific. The first one present wins, so the choice is stable
// for a given disk and kernel.
func (c *linuxCollector) diskSerial(disk string) Raw {
	base := "/sys/block/" + disk
	var firstErr error
	for _, attr := range []string{"/device/serial", "/serial", "/device/vpd_pg80", "/wwid", "/device/wwid"} {
		p := base + attr
		b, err := c.src.ReadFile(p)
		if err != nil {
			if firstErr == nil || errors.Is(err, fs.ErrPermission) {
				firstErr = err
			}
			continue
		}
		if attr == "/device/vpd_pg80" {
			b = parseVPD80(b)
		}
		if r := component(Disk, p, b, nil); r.Available {
			return r
		}
	}
	switch {
	case strings.HasPrefix(disk, "vd"):
		return unavailable(Disk, base, "root disk "+disk+" has no serial number (virtio disk without serial)")
	case strings.HasPrefix(disk, "xvd"):
		return unavailable(Disk, base, "root disk "+disk+" has no serial number (Xen virtual disk)")
	case strings.HasPrefix(disk, "loop"), strings.HasPrefix(disk, "zram"), strings.HasPrefix(disk, "ram"):
		return unavailable(Disk, base, "root disk "+disk+" is a virtual block device")
	case errors.Is(firstErr, fs.ErrPermission):
		return unavailable(Disk, base, "permission denied")
	}
	return unavailable(Disk, base, "root disk "+disk+" has no serial number or WWN")
}

// parseVPD80 extracts the unit serial number from a SCSI VPD page 0x80.
func parseVPD80(b []byte) []byte {
	if len(b) < 4 || b[1] != 0x80 {
		return nil
	}
	n := int(b[2])<<8 | int(b[3])
	b = b[4:]
	if n < len(b) {
		b = b[:n]
	}
	return b
}

func (c *linuxCollector) cpu() Raw {
	const p = "/proc/cpuinfo"
	if c.cpuinfoErr != nil {
		return component(CPU, p, nil, c.cpuinfoErr)
	}
	v := cpuIdentity(c.cpuinfo)
	if v == nil {
		return unavailable(CPU, p, "no processor identity in cpuinfo")
	}
	return Raw{ID: CPU, Source: p, Available: true, value: v}
}

// firstCPU returns the "key: value" pairs of the first processor block.
func firstCPU(b []byte) map[string]string {
	kv := map[string]string{}
	for line := range strings.Lines(string(b)) {
		k, v, ok := strings.Cut(line, ":")
		k = strings.TrimSpace(k)
		if !ok {
			if strings.TrimSpace(line) == "" && len(kv) > 0 {
				break // end of the first processor's block
			}
			continue
		}
		if _, dup := kv[k]; dup {
			// Some architectures (s390, older ARM) lead with global
			// lines; a repeated key is the next processor.
			break
		}
		kv[k] = strings.TrimSpace(v)
	}
	return kv
}

// cpuIdentity picks the stable identity fields of a processor: on x86 the
// vendor, family, model, stepping and name; on ARM the implementer,
// architecture, variant, part and revision. Frequency, microcode, bogomips
// and flags change with firmware and load and are left out.
func cpuIdentity(kv map[string]string) []byte {
	var fields []string
	for _, k := range []string{
		"vendor_id", "cpu family", "model", "stepping", "model name",
		"CPU implementer", "CPU architecture", "CPU variant", "CPU part", "CPU revision",
		"cpu", "revision", "isa", "uarch", "vendor", "machine", // ppc64, riscv, s390
	} {
		if v, ok := kv[k]; ok && v != "" {
			fields = append(fields, k+"="+strings.Join(strings.Fields(v), " "))
		}
	}
	if len(fields) == 0 {
		return nil
	}
	return []byte(strings.Join(fields, "\n"))
}

// readMounts reads the start of /proc/self/mountinfo: enough to hold the
// root mount.
func readMounts(src Source) ([]mountEntry, error) {
	const p = "/proc/self/mountinfo"
	b, err := readPrefix(src, p, mountinfoFirst)
	if err != nil {
		return nil, err
	}
	ms := parseMountinfo(completeLines(b, mountinfoFirst))
	if _, ok := rootMount(ms); ok || len(b) < mountinfoFirst {
		return ms, nil
	}
	if b, err = readPrefix(src, p, mountinfoPrefix); err != nil {
		return nil, err
	}
	return parseMountinfo(completeLines(b, mountinfoPrefix)), nil
}

// completeLines drops a partial last line from a prefix of a file that was
// cut at limit bytes.
func completeLines(b []byte, limit int) []byte {
	if len(b) >= limit {
		if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
			return b[:i+1]
		}
		return nil
	}
	return b
}

type mountEntry struct {
	root, mountPoint string
	major, minor     string
	fstype, source   string
	superOptions     string
}

// parseMountinfo parses /proc/self/mountinfo (proc(5)). Malformed lines are
// skipped.
func parseMountinfo(b []byte) []mountEntry {
	var ms []mountEntry
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		sep := slices.Index(f, "-")
		if sep < 6 || len(f) < sep+3 {
			continue
		}
		major, minor, ok := strings.Cut(f[2], ":")
		if !ok {
			continue
		}
		m := mountEntry{
			root: unescapeMount(f[3]), mountPoint: unescapeMount(f[4]),
			major: major, minor: minor,
			fstype: f[sep+1], source: unescapeMount(f[sep+2]),
		}
		if len(f) > sep+3 {
			m.superOptions = f[sep+3]
		}
		ms = append(ms, m)
	}
	return ms
}

// unescapeMount undoes the octal escapes (\040 for space) in mountinfo.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) && isOctal(s[i+1:i+4]) {
			v := (s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0')
			b.WriteByte(v)
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(s string) bool {
	for i := 0; i < 3; i++ {
		if s[i] < '0' || s[i] > '7' {
			return false
		}
	}
	return s[0] <= '3'
}

// rootMount returns the mount visible at "/": the last one listed, since a
// later mount covers an earlier one.
func rootMount(ms []mountEntry) (mountEntry, bool) {
	for i := len(ms) - 1; i >= 0; i-- {
		if ms[i].mountPoint == "/" {
			return ms[i], true
		}
	}
	return mountEntry{}, false
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if !('0' <= s[i] && s[i] <= '9' || 'a' <= s[i] && s[i] <= 'f') {
			return false
		}
	}
	return true
}

// containerKeywords are path pieces that container runtimes leave in
// /proc/1/cgroup and in the host paths of the files they bind-mount into a
// container (/etc/hostname, /etc/hosts, /etc/resolv.conf).
var containerKeywords = []struct{ keyword, name string }{
	{"docker", "docker"},
	{"kubepods", "kubepods"},
	{"kubelet", "kubepods"},
	{"containerd", "containerd"},
	{"cri-containerd", "containerd"},
	{"crio", "cri-o"},
	{"libpod", "podman"},
	{"containers/storage", "podman"},
	{"lxc", "lxc"},
	{"machine.slice/machine-", "systemd-nspawn"},
}

func containerKeyword(s string) string {
	for _, k := range containerKeywords {
		if strings.Contains(s, k.keyword) {
			return k.name
		}
	}
	return ""
}

// detectEnv looks for the markers of virtual machines, containers and WSL.
// It runs after the components, so that the machine-id flags come first.
func (c *linuxCollector) detectEnv() {
	// Hypervisor vendors in DMI. sys_vendor and product_name are
	// world-readable.
	vendor, _ := c.src.ReadFile(dmiDir + "sys_vendor")
	product, _ := c.src.ReadFile(dmiDir + "product_name")
	matchHypervisor(&c.env, string(vendor), string(product))
	if t, err := c.src.ReadFile("/sys/hypervisor/type"); err == nil && len(bytes.TrimSpace(t)) > 0 {
		c.env.add(EnvVM, "sysfs:hypervisor")
	}
	// The CPUID hypervisor bit, as Linux shows it.
	if c.cpuinfoErr == nil {
		for f := range strings.FieldsSeq(c.cpuinfo["flags"]) {
			if f == "hypervisor" {
				c.env.add(EnvVM, "cpuinfo:hypervisor-flag")
				break
			}
		}
	}

	// Container runtimes' marker files.
	for _, f := range []string{"/.dockerenv", "/run/.containerenv"} {
		if _, err := c.src.ReadFile(f); err == nil || errors.Is(err, fs.ErrPermission) || errors.Is(err, ErrFileTooLarge) {
			c.env.add(EnvContainer, "file:"+f)
		}
	}
	if b, err := c.src.ReadFile("/run/systemd/container"); err == nil {
		// Written by the container manager for systemd; WSL writes "wsl".
		if v := strings.TrimSpace(string(b)); v != "" && v != "wsl" {
			c.env.add(EnvContainer, "file:/run/systemd/container")
		}
	}
	if b, err := c.src.ReadFile("/proc/1/cgroup"); err == nil {
		for line := range strings.Lines(string(b)) {
			// "hierarchy:controllers:path"; only the path counts.
			parts := strings.SplitN(strings.TrimSpace(line), ":", 3)
			if len(parts) == 3 {
				if k := containerKeyword(parts[2]); k != "" {
					c.env.add(EnvContainer, "cgroup:"+k)
					break
				}
			}
		}
	}
	for _, m := range c.mounts {
		switch m.mountPoint {
		case "/etc/hostname", "/etc/hosts", "/etc/resolv.conf":
			// In a container these are bind mounts of files the
			// runtime keeps on the host, under its own directory.
			if k := containerKeyword(m.root); k != "" {
				c.env.add(EnvContainer, "mountinfo:"+k)
			}
		case "/":
			if m.fstype == "overlay" || m.fstype == "aufs" || m.fstype == "fuse-overlayfs" {
				if k := containerKeyword(m.superOptions); k != "" {
					c.env.add(EnvContainer, "mountinfo:"+k)
				}
			}
		}
	}

	// WSL 1 reports "...-Microsoft", WSL 2 "...-microsoft-standard-WSL2".
	if b, err := c.src.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		s := strings.ToLower(string(b))
		if strings.Contains(s, "microsoft") || strings.Contains(s, "wsl") {
			c.env.add(EnvWSL, "osrelease:wsl")
		}
	}
}
