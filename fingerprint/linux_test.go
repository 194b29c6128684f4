package fingerprint

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

// tree is an in-memory fixture: file contents by absolute path, symbolic
// links, and paths an unprivileged user cannot read.
type tree struct {
	files  map[string]string
	links  map[string]string
	denied []string
}

func (tr tree) source(goos string) Source {
	m := fstest.MapFS{}
	for p, c := range tr.files {
		m[strings.TrimPrefix(p, "/")] = &fstest.MapFile{Data: []byte(c)}
	}
	var links, denied strings.Builder
	for from, to := range tr.links {
		fmt.Fprintf(&links, "%s -> %s\n", from, to)
	}
	for _, d := range tr.denied {
		fmt.Fprintln(&denied, d)
	}
	m[".fixture/links"] = &fstest.MapFile{Data: []byte(links.String())}
	m[".fixture/denied"] = &fstest.MapFile{Data: []byte(denied.String())}
	return FSSource(m, goos)
}

const testCPU = "processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 158\nmodel name\t: Intel(R) Core(TM) i7-8700 CPU @ 3.20GHz\nstepping\t: 10\ncpu MHz\t\t: 800.021\nflags\t\t: fpu vme sse sse2\n\n"

// baseTree is a plain machine with an NVMe root; tests change parts of it.
func baseTree() tree {
	const nvme = "../../devices/pci0000:00/0000:00:1d.0/0000:3d:00.0/nvme/nvme0/nvme0n1/nvme0n1p2"
	return tree{
		files: map[string]string{
			"/etc/machine-id":                      "0123456789abcdef0123456789abcdef\n",
			"/sys/class/dmi/id/sys_vendor":         "LENOVO\n",
			"/sys/class/dmi/id/product_name":       "20XW0055GE\n",
			"/sys/class/dmi/id/product_uuid":       "e2a4c5f1-3b6d-11b2-a85c-8f0e6d2c4b1a\n",
			"/sys/class/dmi/id/board_serial":       "L1HF16A02XY\n",
			"/sys/class/dmi/id/product_serial":     "PF2ABCDE\n",
			"/proc/cpuinfo":                        testCPU,
			"/proc/self/mountinfo":                 "26 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw\n",
			"/proc/1/cgroup":                       "0::/init.scope\n",
			"/proc/sys/kernel/osrelease":           "6.8.0-45-generic\n",
			"/sys/class/block/nvme0n1p2/partition": "2\n",
			"/sys/block/nvme0n1/device/serial":     "  PHAB1234005X512A  \n",
		},
		links: map[string]string{"/sys/dev/block/259:2": nvme, "/sys/class/block/nvme0n1p2": nvme},
	}
}

func (tr tree) with(files map[string]string) tree {
	out := tree{files: map[string]string{}, links: map[string]string{}, denied: tr.denied}
	for k, v := range tr.files {
		out.files[k] = v
	}
	for k, v := range tr.links {
		out.links[k] = v
	}
	for k, v := range files {
		if v == "\x00delete" {
			delete(out.files, k)
		} else {
			out.files[k] = v
		}
	}
	return out
}

func findComponent(r *Report, id ComponentID) Raw {
	for _, c := range r.Components {
		if c.ID == id {
			return c
		}
	}
	return Raw{}
}

const del = "\x00delete"

func TestLinuxEdgeCases(t *testing.T) {
	base := baseTree()
	type check struct {
		id        ComponentID
		available bool
		part      string // part of Reason, or of Source when available
		value     string // exact value when available and non-empty
	}
	tests := []struct {
		name    string
		tree    tree
		env     Env
		reasons []string
		checks  []check
	}{
		{name: "base", tree: base, checks: []check{
			{MachineID, true, "/etc/machine-id", "0123456789abcdef0123456789abcdef"},
			{Disk, true, "/sys/block/nvme0n1/device/serial", "PHAB1234005X512A"},
			{CPU, true, "", "vendor_id=GenuineIntel\ncpu family=6\nmodel=158\nstepping=10\nmodel name=Intel(R) Core(TM) i7-8700 CPU @ 3.20GHz"},
		}},
		{name: "whonix machine-id", tree: base.with(map[string]string{"/etc/machine-id": "b08dfa6083e7567a1921a715000001fb\n"}),
			env: EnvSharedMachineID, reasons: []string{"machine-id:shared"},
			checks: []check{{MachineID, false, "well-known", ""}}},
		{name: "uninitialized machine-id", tree: base.with(map[string]string{"/etc/machine-id": "uninitialized\n"}),
			env: EnvNoMachineID, checks: []check{{MachineID, false, "not initialised", ""}}},
		{name: "empty machine-id", tree: base.with(map[string]string{"/etc/machine-id": ""}),
			env: EnvNoMachineID, checks: []check{{MachineID, false, "not initialised", ""}}},
		{name: "dbus machine-id only", tree: base.with(map[string]string{"/etc/machine-id": del, "/var/lib/dbus/machine-id": "FEDCBA9876543210FEDCBA9876543210\n"}),
			checks: []check{{MachineID, true, "/var/lib/dbus/machine-id", "fedcba9876543210fedcba9876543210"}}},
		{name: "empty machine-id, dbus copy", tree: base.with(map[string]string{"/etc/machine-id": "\n", "/var/lib/dbus/machine-id": "fedcba9876543210fedcba9876543210\n"}),
			checks: []check{{MachineID, true, "/var/lib/dbus/machine-id", ""}}},
		{name: "malformed machine-id", tree: base.with(map[string]string{"/etc/machine-id": "hello\n"}),
			checks: []check{{MachineID, false, "malformed", ""}}},
		{name: "zero machine-id", tree: base.with(map[string]string{"/etc/machine-id": "00000000000000000000000000000000\n"}),
			checks: []check{{MachineID, false, "placeholder", ""}}},
		{name: "firmware placeholders", tree: base.with(map[string]string{
			"/sys/class/dmi/id/product_uuid":   "03000200-0400-0500-0006-000700080009\n",
			"/sys/class/dmi/id/board_serial":   "To Be Filled By O.E.M.\n",
			"/sys/class/dmi/id/product_serial": "Default string\n",
		}), checks: []check{
			{ProductUUID, false, "placeholder", ""}, {BoardSerial, false, "placeholder", ""}, {ProductSerial, false, "placeholder", ""},
		}},
		{name: "more placeholders", tree: base.with(map[string]string{
			"/sys/class/dmi/id/product_uuid":   "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF\n",
			"/sys/class/dmi/id/board_serial":   "0000000000\n",
			"/sys/class/dmi/id/product_serial": "System Serial Number\n",
		}), checks: []check{
			{ProductUUID, false, "placeholder", ""}, {BoardSerial, false, "placeholder", ""}, {ProductSerial, false, "placeholder", ""},
		}},
		{name: "upper-case product uuid", tree: base.with(map[string]string{"/sys/class/dmi/id/product_uuid": "E2A4C5F1-3B6D-11B2-A85C-8F0E6D2C4B1A\n"}),
			checks: []check{{ProductUUID, true, "", "e2a4c5f1-3b6d-11b2-a85c-8f0e6d2c4b1a"}}},
		{name: "no DMI at all", tree: base.with(map[string]string{
			"/sys/class/dmi/id/sys_vendor": del, "/sys/class/dmi/id/product_name": del, "/sys/class/dmi/id/product_uuid": del,
			"/sys/class/dmi/id/board_serial": del, "/sys/class/dmi/id/product_serial": del,
		}), checks: []check{{ProductUUID, false, "no SMBIOS", ""}}},
		{name: "one DMI file missing", tree: base.with(map[string]string{"/sys/class/dmi/id/board_serial": del}),
			checks: []check{{BoardSerial, false, "not present", ""}, {ProductUUID, true, "", ""}}},

		// Root disks.
		{name: "luks on lvm", tree: func() tree {
			t := base.with(map[string]string{
				"/proc/self/mountinfo":                     "26 1 253:1 / / rw - ext4 /dev/mapper/vg-root rw\n",
				"/sys/class/block/dm-1/slaves/dm-0/x":      "",
				"/sys/class/block/dm-0/slaves/nvme0n1p3/x": "",
				"/sys/class/block/nvme0n1p3/partition":     "3\n",
			})
			t.links["/sys/dev/block/253:1"] = "../../devices/virtual/block/dm-1"
			t.links["/sys/class/block/nvme0n1p3"] = "../../devices/pci0000:00/0000:00:1d.0/0000:3d:00.0/nvme/nvme0/nvme0n1/nvme0n1p3"
			return t
		}(), checks: []check{{Disk, true, "/sys/block/nvme0n1/device/serial", ""}}},
		{name: "md raid picks the first member", tree: func() tree {
			t := base.with(map[string]string{
				"/proc/self/mountinfo":                 "26 1 9:127 / / rw - ext4 /dev/md127 rw\n",
				"/sys/class/block/md127/slaves/sdb1/x": "",
				"/sys/class/block/md127/slaves/sda1/x": "",
				"/sys/class/block/sda1/partition":      "1\n",
				"/sys/block/sda/device/vpd_pg80":       "\x00\x80\x00\x14  WD-WCC4N1234567    ",
				"/sys/block/sdb/device/vpd_pg80":       "\x00\x80\x00\x14  WD-WCC4N7654321    ",
			})
			t.links["/sys/dev/block/9:127"] = "../../devices/virtual/block/md127"
			t.links["/sys/class/block/sda1"] = "../../devices/pci0000:00/0000:00:17.0/ata1/host0/target0:0:0/0:0:0:0/block/sda/sda1"
			return t
		}(), checks: []check{{Disk, true, "/sys/block/sda/device/vpd_pg80", "WD-WCC4N1234567"}}},
		{name: "btrfs mapper root", tree: func() tree {
			t := base.with(map[string]string{
				"/proc/self/mountinfo":                     "26 1 0:31 /@ / rw - btrfs /dev/mapper/luks-1234 rw,subvol=/@\n",
				"/sys/class/block/dm-0/slaves/nvme0n1p2/x": "",
			})
			t.links["/dev/mapper/luks-1234"] = "../dm-0"
			return t
		}(), checks: []check{{Disk, true, "/sys/block/nvme0n1/device/serial", ""}}},
		{name: "emmc", tree: func() tree {
			t := base.with(map[string]string{
				"/proc/self/mountinfo":                 "26 1 179:2 / / rw - ext4 /dev/mmcblk0p2 rw\n",
				"/sys/class/block/mmcblk0p2/partition": "2\n",
				"/sys/block/mmcblk0/device/serial":     "0x1a2b3c4d\n",
			})
			p := "../../devices/platform/emmc2bus/fe340000.mmc/mmc_host/mmc0/mmc0:0001/block/mmcblk0/mmcblk0p2"
			t.links["/sys/dev/block/179:2"], t.links["/sys/class/block/mmcblk0p2"] = p, p
			return t
		}(), checks: []check{{Disk, true, "/sys/block/mmcblk0/device/serial", "0x1a2b3c4d"}}},
		{name: "nvme wwid only", tree: base.with(map[string]string{"/sys/block/nvme0n1/device/serial": "   \n", "/sys/block/nvme0n1/wwid": "eui.0025388b91b2c3d4\n"}),
			checks: []check{{Disk, true, "/sys/block/nvme0n1/wwid", "eui.0025388b91b2c3d4"}}},
		{name: "no disk identity", tree: base.with(map[string]string{"/sys/block/nvme0n1/device/serial": del}),
			checks: []check{{Disk, false, "no serial number or WWN", ""}}},
		{name: "disk identity unreadable", tree: func() tree {
			t := base.with(nil)
			t.denied = []string{"/sys/block/nvme0n1"}
			return t
		}(), checks: []check{{Disk, false, "permission denied", ""}}},
		{name: "zfs root", tree: base.with(map[string]string{"/proc/self/mountinfo": "26 1 0:25 / / rw - zfs rpool/ROOT/ubuntu rw\n"}),
			checks: []check{{Disk, false, "ZFS", ""}}},
		{name: "nfs root", tree: base.with(map[string]string{"/proc/self/mountinfo": "26 1 0:25 / / rw - nfs4 10.0.0.1:/export/root rw\n"}),
			checks: []check{{Disk, false, "network", ""}}},
		{name: "loop root", tree: func() tree {
			t := base.with(map[string]string{"/proc/self/mountinfo": "26 1 7:0 / / ro - squashfs /dev/loop0 ro\n"})
			t.links["/sys/dev/block/7:0"] = "../../devices/virtual/block/loop0"
			return t
		}(), checks: []check{{Disk, false, "virtual block device", ""}}},
		{name: "live system overlay is not a container", tree: base.with(map[string]string{
			"/proc/self/mountinfo": "26 1 0:25 / / rw - overlay overlay rw,lowerdir=/run/live/rootfs/filesystem.squashfs,upperdir=/run/live/overlay/rw\n"}),
			checks: []check{{Disk, false, "overlay", ""}}},
		{name: "unknown root device", tree: base.with(map[string]string{"/proc/self/mountinfo": "26 1 0:2 / / rw - ext4 /dev/root rw\n"}),
			checks: []check{{Disk, false, "not named", ""}}},
		{name: "no root mount", tree: base.with(map[string]string{"/proc/self/mountinfo": "27 26 0:5 / /proc rw - proc proc rw\n"}),
			checks: []check{{Disk, false, "root mount not found", ""}}},
		{name: "no mountinfo", tree: base.with(map[string]string{"/proc/self/mountinfo": del}),
			checks: []check{{Disk, false, "not present", ""}}},
		{name: "last root mount wins", tree: func() tree {
			t := base.with(map[string]string{"/proc/self/mountinfo": "1 0 0:2 / / rw - rootfs rootfs rw\n26 1 259:2 / / rw - ext4 /dev/nvme0n1p2 rw\n"})
			return t
		}(), checks: []check{{Disk, true, "nvme0n1", ""}}},
		{name: "root mount after the first page", tree: base.with(map[string]string{
			"/proc/self/mountinfo": strings.Repeat("27 26 0:5 / /some/long/mount/point/for/padding/the/table rw - tmpfs tmpfs rw\n", 100) +
				"26 1 259:2 / / rw - ext4 /dev/nvme0n1p2 rw\n"}),
			checks: []check{{Disk, true, "nvme0n1", ""}}},
		{name: "root mount beyond the limit", tree: base.with(map[string]string{
			"/proc/self/mountinfo": strings.Repeat("27 26 0:5 / /some/long/mount/point/for/padding/the/table rw - tmpfs tmpfs rw\n", 1000) +
				"26 1 259:2 / / rw - ext4 /dev/nvme0n1p2 rw\n"}),
			checks: []check{{Disk, false, "root mount not found", ""}}},

		// CPUs.
		{name: "arm64 cpu", tree: base.with(map[string]string{"/proc/cpuinfo": "processor\t: 0\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x3\nCPU part\t: 0xd0c\nCPU revision\t: 1\n\nprocessor\t: 1\nBogoMIPS\t: 108.00\n"}),
			checks: []check{{CPU, true, "", "CPU implementer=0x41\nCPU architecture=8\nCPU variant=0x3\nCPU part=0xd0c\nCPU revision=1"}}},
		{name: "cpu frequency does not count", tree: base.with(map[string]string{"/proc/cpuinfo": strings.Replace(testCPU, "800.021", "4600.000", 1)}),
			checks: []check{{CPU, true, "", "vendor_id=GenuineIntel\ncpu family=6\nmodel=158\nstepping=10\nmodel name=Intel(R) Core(TM) i7-8700 CPU @ 3.20GHz"}}},
		{name: "many cpus", tree: base.with(map[string]string{"/proc/cpuinfo": strings.Repeat(testCPU, 500)}),
			checks: []check{{CPU, true, "", "vendor_id=GenuineIntel\ncpu family=6\nmodel=158\nstepping=10\nmodel name=Intel(R) Core(TM) i7-8700 CPU @ 3.20GHz"}}},
		{name: "cpu without identity", tree: base.with(map[string]string{"/proc/cpuinfo": "processor\t: 0\nBogoMIPS\t: 50.00\n\n"}),
			checks: []check{{CPU, false, "no processor identity", ""}}},

		// Environments.
		{name: "docker, cgroup v1", tree: base.with(map[string]string{"/proc/1/cgroup": "12:pids:/docker/3f5e8a1b2c4d\n11:memory:/docker/3f5e8a1b2c4d\n"}),
			env: EnvContainer, reasons: []string{"cgroup:docker"}},
		{name: "kubernetes", tree: base.with(map[string]string{"/proc/1/cgroup": "0::/kubepods.slice/kubepods-burstable.slice/cri-containerd-1a2b.scope\n"}),
			env: EnvContainer, reasons: []string{"cgroup:kubepods"}},
		{name: "kubernetes mounts", tree: base.with(map[string]string{
			"/proc/1/cgroup":       "0::/\n",
			"/proc/self/mountinfo": "26 1 0:60 / / rw - overlay overlay rw,lowerdir=/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/12/fs\n30 26 259:2 /var/lib/kubelet/pods/0a1b/etc-hosts /etc/hosts rw - ext4 /dev/nvme0n1p2 rw\n"}),
			env: EnvContainer, reasons: []string{"mountinfo:containerd", "mountinfo:kubepods"}},
		{name: "podman", tree: base.with(map[string]string{"/run/.containerenv": "engine=\"podman-4.9.3\"\n"}),
			env: EnvContainer, reasons: []string{"file:/run/.containerenv"}},
		{name: "lxc", tree: base.with(map[string]string{"/run/systemd/container": "lxc\n"}),
			env: EnvContainer, reasons: []string{"file:/run/systemd/container"}},
		{name: "wsl marker is not a container", tree: base.with(map[string]string{"/run/systemd/container": "wsl\n", "/proc/sys/kernel/osrelease": "4.4.0-19041-Microsoft\n"}),
			env: EnvWSL, reasons: []string{"osrelease:wsl"}},
		{name: "xen pv", tree: base.with(map[string]string{"/sys/hypervisor/type": "xen\n", "/sys/class/dmi/id/sys_vendor": del, "/sys/class/dmi/id/product_name": del}),
			env: EnvVM, reasons: []string{"sysfs:hypervisor"}},
		{name: "ec2 vm", tree: base.with(map[string]string{"/sys/class/dmi/id/sys_vendor": "Amazon EC2\n", "/sys/class/dmi/id/product_name": "m5.large\n"}),
			env: EnvVM | EnvCloud, reasons: []string{"dmi:amazon-ec2"}},
		{name: "ec2 metal", tree: base.with(map[string]string{"/sys/class/dmi/id/sys_vendor": "Amazon EC2\n", "/sys/class/dmi/id/product_name": "i3.metal\n"}),
			env: EnvCloud, reasons: []string{"dmi:amazon-ec2-metal"}},
		{name: "google", tree: base.with(map[string]string{"/sys/class/dmi/id/sys_vendor": "Google\n", "/sys/class/dmi/id/product_name": "Google Compute Engine\n"}),
			env: EnvVM | EnvCloud, reasons: []string{"dmi:google"}},
		{name: "virtualbox", tree: base.with(map[string]string{"/sys/class/dmi/id/sys_vendor": "innotek GmbH\n", "/sys/class/dmi/id/product_name": "VirtualBox\n"}),
			env: EnvVM, reasons: []string{"dmi:virtualbox"}},
		{name: "parallels", tree: base.with(map[string]string{"/sys/class/dmi/id/sys_vendor": "Parallels Software International Inc.\n", "/sys/class/dmi/id/product_name": "Parallels Virtual Platform\n"}),
			env: EnvVM, reasons: []string{"dmi:parallels"}},
		{name: "xen hvm", tree: base.with(map[string]string{"/sys/class/dmi/id/sys_vendor": "Xen\n", "/sys/class/dmi/id/product_name": "HVM domU\n"}),
			env: EnvVM, reasons: []string{"dmi:xen"}},
		{name: "surface is not hyper-v", tree: base.with(map[string]string{"/sys/class/dmi/id/sys_vendor": "Microsoft Corporation\n", "/sys/class/dmi/id/product_name": "Surface Pro 9\n"}),
			env: 0},
		{name: "docker host is not a container", tree: base.with(map[string]string{
			"/proc/self/mountinfo": "26 1 259:2 / / rw - ext4 /dev/nvme0n1p2 rw\n512 26 0:63 / /var/lib/docker/overlay2/9a1c/merged rw - overlay overlay rw,lowerdir=/var/lib/docker/overlay2/l/A\n513 26 259:2 /var/lib/docker/containers/3f5e/hostname /var/lib/docker/containers/3f5e/mounts/hostname rw - ext4 /dev/nvme0n1p2 rw\n"}),
			env: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			src := tc.tree.source("linux")
			r, err := Collect(src)
			if err != nil {
				t.Fatal(err)
			}
			if r.Env != tc.env {
				t.Errorf("Env = %v (%q), want %v", r.Env, r.EnvReasons, tc.env)
			}
			if tc.reasons != nil && !slices.Equal(r.EnvReasons, tc.reasons) {
				t.Errorf("EnvReasons = %q, want %q", r.EnvReasons, tc.reasons)
			}
			for _, ch := range tc.checks {
				c := findComponent(r, ch.id)
				if c.Available != ch.available {
					t.Errorf("%v, want available=%t", c, ch.available)
					continue
				}
				where := c.Reason
				if c.Available {
					where = c.Source
				}
				if !strings.Contains(where, ch.part) {
					t.Errorf("%v: want %q", c, ch.part)
				}
				if ch.value != "" && string(c.value) != ch.value {
					t.Errorf("%s value = %q, want %q", c.ID, c.value, ch.value)
				}
			}
			r2, _ := Collect(src)
			if !r.Hash("p", testVendor).Equal(r2.Hash("p", testVendor)) {
				t.Error("not deterministic")
			}
		})
	}
}

func TestParsers(t *testing.T) {
	if got := unescapeMount(`/mnt/my\040disk\134x\0`); got != `/mnt/my disk\x\0` {
		t.Errorf("unescapeMount = %q", got)
	}
	if got := parseVPD80([]byte("\x00\x83\x00\x04abcd")); got != nil {
		t.Errorf("VPD page 0x83 parsed as serial: %q", got)
	}
	if got := parseVPD80([]byte("\x00\x80\x00\x10short")); string(got) != "short" {
		t.Errorf("short VPD page: %q", got)
	}
	ms := parseMountinfo([]byte("bad line\n26 1 259:2 / / rw - ext4 /dev/nvme0n1p2 rw\n36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n"))
	if len(ms) != 2 || ms[1].root != "/mnt1" || ms[1].mountPoint != "/mnt2" || ms[1].source != "/dev/root" || ms[1].major != "98" {
		t.Errorf("parseMountinfo = %+v", ms)
	}
	for _, s := range []string{"Default string", "  none ", "00000000", "FFFFFFFF", "To be filled by O.E.M.", "0"} {
		if !isPlaceholder(s) {
			t.Errorf("%q is not a placeholder", s)
		}
	}
	for _, s := range []string{"PF2ABCDE", "VMware-56 4d 8f", "e2a4c5f1-3b6d-11b2-a85c-8f0e6d2c4b1a"} {
		if isPlaceholder(s) {
			t.Errorf("%q is a placeholder", s)
		}
	}
	if got := normalize([]byte("  Intel(R)   Core(TM)\ti7 \x00\x00")); string(got) != "Intel(R) Core(TM) i7" {
		t.Errorf("normalize = %q", got)
	}
}

// FuzzLinuxFiles feeds arbitrary system files to the Linux collector: it
// must not panic, and must stay deterministic.
func FuzzLinuxFiles(f *testing.F) {
	base := baseTree()
	f.Add([]byte(base.files["/proc/self/mountinfo"]), []byte(testCPU), []byte("\x00\x80\x00\x04abcd"), []byte("0::/docker/x\n"))
	f.Add([]byte("26 1 0:31 /@ / rw - btrfs /dev/mapper/x rw\n"), []byte("processor : 0\n\n"), []byte{}, []byte("::\n"))
	f.Add([]byte(`1 2 3:4 \ / - - /dev/\777 \04`), []byte(":\n:\n"), []byte("\x00\x80\xff\xff"), []byte(""))
	f.Fuzz(func(t *testing.T, mountinfo, cpuinfo, vpd, cgroup []byte) {
		tr := base.with(map[string]string{
			"/proc/self/mountinfo":               string(mountinfo),
			"/proc/cpuinfo":                      string(cpuinfo),
			"/sys/block/nvme0n1/device/serial":   del,
			"/sys/block/nvme0n1/device/vpd_pg80": string(vpd),
			"/proc/1/cgroup":                     string(cgroup),
		})
		src := tr.source("linux")
		r1, _ := Collect(src)
		r2, _ := Collect(src)
		if !r1.Hash("p", testVendor).Equal(r2.Hash("p", testVendor)) {
			t.Fatal("not deterministic")
		}
		for _, c := range r1.Components {
			if c.Available && (len(c.value) == 0 || bytes.Contains([]byte(c.Reason), c.value)) {
				t.Fatalf("bad component %v", c)
			}
		}
	})
}
