package fingerprint

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

const fixtures = "../testdata/fingerprint"

var (
	testVendor = [8]byte{1, 2, 3, 4, 5, 6, 7, 8}
	testKey2   = [8]byte{1, 2, 3, 4, 5, 6, 7, 9}
)

// fixture opens a fixture tree under testdata/fingerprint.
func fixture(name, goos string) Source {
	return DirSource(filepath.Join(fixtures, name), goos)
}

func mustCollect(t testing.TB, src Source) *Report {
	t.Helper()
	r, err := Collect(src)
	if err != nil {
		t.Fatalf("Collect: %v", err)
	}
	return r
}

type fixtureCase struct {
	name        string
	goos        string
	env         Env
	reasons     []string
	available   []ComponentID
	unavailable map[ComponentID]string // component -> part of its Reason
	sources     map[ComponentID]string // component -> its Source
}

var fixtureCases = []fixtureCase{
	{
		name: "bare-metal", goos: "linux", env: 0,
		available: []ComponentID{MachineID, ProductUUID, BoardSerial, ProductSerial, Disk, CPU},
		sources:   map[ComponentID]string{Disk: "/sys/block/nvme0n1/device/serial", MachineID: "/etc/machine-id"},
	},
	{
		name: "swapped-disk", goos: "linux", env: 0,
		available: []ComponentID{MachineID, ProductUUID, BoardSerial, ProductSerial, Disk, CPU},
	},
	{
		name: "reinstalled-os", goos: "linux", env: 0,
		available: []ComponentID{MachineID, ProductUUID, BoardSerial, ProductSerial, Disk, CPU},
	},
	{
		name: "new-board-reinstalled-os", goos: "linux", env: 0,
		available: []ComponentID{MachineID, ProductUUID, BoardSerial, ProductSerial, Disk, CPU},
	},
	{
		name: "bare-metal-user", goos: "linux", env: 0,
		available: []ComponentID{MachineID, Disk, CPU},
		unavailable: map[ComponentID]string{
			ProductUUID: "permission denied", BoardSerial: "permission denied", ProductSerial: "permission denied",
		},
	},
	{
		name: "kvm", goos: "linux", env: EnvVM,
		reasons:   []string{"dmi:qemu", "cpuinfo:hypervisor-flag"},
		available: []ComponentID{MachineID, ProductUUID, CPU},
		unavailable: map[ComponentID]string{
			BoardSerial: "empty", ProductSerial: "empty", Disk: "virtio disk without serial",
		},
	},
	{
		name: "vmware", goos: "linux", env: EnvVM,
		reasons:     []string{"dmi:vmware", "cpuinfo:hypervisor-flag"},
		available:   []ComponentID{MachineID, ProductUUID, ProductSerial, Disk, CPU},
		unavailable: map[ComponentID]string{BoardSerial: "placeholder"},
		sources:     map[ComponentID]string{Disk: "/sys/block/sda/device/wwid"},
	},
	{
		name: "hyperv", goos: "linux", env: EnvVM,
		reasons:   []string{"dmi:hyper-v", "cpuinfo:hypervisor-flag"},
		available: []ComponentID{MachineID, ProductUUID, BoardSerial, ProductSerial, Disk, CPU},
		sources:   map[ComponentID]string{Disk: "/sys/block/sda/device/vpd_pg80"},
	},
	{
		name: "docker", goos: "linux", env: EnvContainer | EnvNoMachineID,
		reasons:   []string{"machine-id:missing", "file:/.dockerenv", "mountinfo:docker"},
		available: []ComponentID{ProductUUID, BoardSerial, ProductSerial, CPU},
		unavailable: map[ComponentID]string{
			MachineID: "not present", Disk: "overlay",
		},
	},
	{
		name: "wsl", goos: "linux", env: EnvVM | EnvWSL,
		reasons:   []string{"cpuinfo:hypervisor-flag", "osrelease:wsl"},
		available: []ComponentID{MachineID, CPU},
		unavailable: map[ComponentID]string{
			ProductUUID: "no SMBIOS", BoardSerial: "no SMBIOS", ProductSerial: "no SMBIOS",
			Disk: "no serial number",
		},
	},
	{
		name: "macos", goos: "darwin", env: 0,
		available: []ComponentID{CPU, PlatformUUID, PlatformSerial},
	},
	{
		name: "windows", goos: "windows", env: 0,
		available: []ComponentID{CPU, MachineGUID, SMBIOSUUID},
		sources:   map[ComponentID]string{SMBIOSUUID: "wmic csproduct uuid"},
	},
	{
		name: "windows-hyperv", goos: "windows", env: EnvVM,
		reasons:   []string{"dmi:hyper-v"},
		available: []ComponentID{CPU, MachineGUID, SMBIOSUUID},
		sources:   map[ComponentID]string{SMBIOSUUID: "powershell Win32_ComputerSystemProduct.UUID"},
	},
}

func TestFixtures(t *testing.T) {
	for _, tc := range fixtureCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := mustCollect(t, fixture(tc.name, tc.goos))
			if r.Env != tc.env {
				t.Errorf("Env = %v, want %v (reasons %q)", r.Env, tc.env, r.EnvReasons)
			}
			if tc.reasons != nil && !slices.Equal(r.EnvReasons, tc.reasons) {
				t.Errorf("EnvReasons = %q, want %q", r.EnvReasons, tc.reasons)
			}
			if got := r.Available(); !slices.Equal(got, tc.available) {
				t.Errorf("available = %v, want %v\n%s", got, tc.available, r)
			}
			// Nothing is silently dropped: every component of the OS is
			// listed, in ID order, each with a reason or a value.
			if !slices.IsSortedFunc(r.Components, func(a, b Raw) int { return int(a.ID) - int(b.ID) }) {
				t.Errorf("components not sorted by ID: %v", r.Components)
			}
			want := map[string]int{"linux": 6, "darwin": 3, "windows": 3}[tc.goos]
			if len(r.Components) != want {
				t.Errorf("%d components, want %d", len(r.Components), want)
			}
			for _, c := range r.Components {
				if c.Available != (len(c.value) > 0) || c.Available != (c.Reason == "") {
					t.Errorf("%s: Available=%t, Reason=%q, %d value bytes", c.ID, c.Available, c.Reason, len(c.value))
				}
				if c.Source == "" {
					t.Errorf("%s: no Source", c.ID)
				}
				if sub, ok := tc.unavailable[c.ID]; ok && !strings.Contains(c.Reason, sub) {
					t.Errorf("%s: Reason = %q, want it to mention %q", c.ID, c.Reason, sub)
				}
				if s, ok := tc.sources[c.ID]; ok && c.Source != s {
					t.Errorf("%s: Source = %q, want %q", c.ID, c.Source, s)
				}
			}

			// Deterministic: a second collection is identical, values too.
			r2 := mustCollect(t, fixture(tc.name, tc.goos))
			if !reflect.DeepEqual(r, r2) {
				t.Errorf("two collections differ:\n%s\n%s", r, r2)
			}
			f1, f2 := r.Hash("acme-cad", testVendor), r2.Hash("acme-cad", testVendor)
			if !f1.Equal(f2) {
				t.Errorf("two hashes differ: %v, %v", f1, f2)
			}
			if len(f1.Components) != len(tc.available) || f1.Env != tc.env {
				t.Errorf("fingerprint has %d components and env %v", len(f1.Components), f1.Env)
			}
			if !f1.CheckID("acme-cad", testVendor) || f1.CheckID("acme-cam", testVendor) {
				t.Errorf("CheckID does not tie the ID to the product")
			}
		})
	}
}

// TestBareMetalVector ties the Linux collector's normalisation to the
// published vectors: the bare-metal fixture must hash to the "bare-metal"
// vector.
func TestBareMetalVector(t *testing.T) {
	var want *vector
	for _, v := range readVectors(t) {
		if v.name == "bare-metal" {
			want = &v
		}
	}
	if want == nil {
		t.Fatal("no bare-metal vector")
	}
	fp := mustCollect(t, fixture("bare-metal", "linux")).Hash(want.product, want.vendorKeyID)
	if got := fp.String(); got != want.id {
		t.Errorf("ID = %s, want %s", got, want.id)
	}
	var got []string
	for _, d := range fp.Components {
		got = append(got, d.String())
	}
	if !slices.Equal(got, want.digests) {
		t.Errorf("digests = %q, want %q", got, want.digests)
	}
}

func TestHashSeparatesProductsAndVendors(t *testing.T) {
	r := mustCollect(t, fixture("bare-metal", "linux"))
	fps := map[string]Fingerprint{
		"acme-cad/key1": r.Hash("acme-cad", testVendor),
		"acme-cam/key1": r.Hash("acme-cam", testVendor),
		"acme-cad/key2": r.Hash("acme-cad", testKey2),
		// Length-prefixing keeps "ab"+"c" apart from "a"+"bc" style
		// ambiguities; an empty product is still a product.
		"(empty)/key1": r.Hash("", testVendor),
	}
	seen := map[string]string{}
	for name, fp := range fps {
		if len(fp.Components) != 6 {
			t.Fatalf("%s: %d components", name, len(fp.Components))
		}
		if other, dup := seen[fp.String()]; dup {
			t.Errorf("%s and %s share the ID %s", name, other, fp)
		}
		seen[fp.String()] = name
		for _, d := range fp.Components {
			s := hex.EncodeToString(d.Sum[:])
			if other, dup := seen[s]; dup {
				t.Errorf("%s %s and %s share a digest", name, d.ID, other)
			}
			seen[s] = name + " " + d.ID.String()
		}
	}
	// The same machine under the same product and vendor gives the same
	// digests; only the changed component differs.
	a := r.Hash("acme-cad", testVendor)
	b := mustCollect(t, fixture("swapped-disk", "linux")).Hash("acme-cad", testVendor)
	for i := range a.Components {
		same := a.Components[i] == b.Components[i]
		if same != (a.Components[i].ID != Disk) {
			t.Errorf("%s: digest equal = %t", a.Components[i].ID, same)
		}
	}
	if a.ID == b.ID {
		t.Error("a changed disk left the combined ID unchanged")
	}
}

// rawStrings returns the raw values a report holds and the raw identifiers in
// its fixture files, in the forms a leak could take.
func rawStrings(r *Report, extra ...string) []string {
	var out []string
	add := func(s string) {
		if len(s) < 6 {
			return
		}
		out = append(out, s, strings.ToUpper(s), strings.ToLower(s), hex.EncodeToString([]byte(s)),
			fmt.Sprint([]byte(s)), fmt.Sprintf("%q", s))
	}
	for _, c := range r.Components {
		if c.Available {
			add(string(c.value))
			for line := range strings.Lines(string(c.value)) {
				_, v, _ := strings.Cut(strings.TrimSpace(line), "=")
				add(v)
			}
		}
	}
	for _, e := range extra {
		add(e)
	}
	return out
}

func TestNoRawValuesInOutput(t *testing.T) {
	known := []string{
		"4c1b7d0e9a2f4e6b8d3c5a7f1e0b2d49", "4c4c4544-0042-3510-8052-b4c04f565333",
		"CNFCW0022100B1", "7B5R3S2", "S5P2NG0R612345K", "eui.002538b611b2c3d4",
		"a41f0c2e6b8d4a1e9c7f3b5d2e0a8c64", "564d8f3a-1b2c-3d4e-5f60-718293a4b5c6",
		"6002248015A1B2C3D4E5F6A7B8C9D0E1", "2166-5573-3391-4538-7164-3475-41",
		"C02QXK9WMQ5", "3A1F2B4C-5D6E-4F70-8192-A3B4C5D6E7F8",
		"6f1a2b3c-4d5e-4f70-8192-a3b4c5d6e7f8", "Intel(R) Core(TM) i7-12700",
	}
	for _, tc := range fixtureCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := mustCollect(t, fixture(tc.name, tc.goos))
			fp := r.Hash("acme-cad", testVendor)
			var out bytes.Buffer
			for _, v := range []any{r, *r, r.Components, fp, &fp, fp.Components, r.Hash("", [8]byte{})} {
				for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
					fmt.Fprintf(&out, verb+"\n", v)
				}
				j, err := json.Marshal(v)
				if err != nil {
					t.Fatalf("json.Marshal(%T): %v", v, err)
				}
				out.Write(j)
				j, _ = json.MarshalIndent(v, "", " ")
				out.Write(j)
			}
			for _, c := range r.Components {
				fmt.Fprintln(&out, c.String(), c.Reason, c.Source)
			}
			out.WriteString(r.String())
			out.WriteString(fp.String())
			bin, _ := fp.MarshalBinary()
			out.Write(bin)
			for _, s := range rawStrings(r, known...) {
				if bytes.Contains(out.Bytes(), []byte(s)) {
					t.Errorf("output shows raw value %q", s)
				}
			}
			if testing.Verbose() && tc.name == "bare-metal" {
				t.Logf("%+v\n%s", r, fp)
			}
		})
	}
}

func TestUnprivileged(t *testing.T) {
	src := fixture("bare-metal-user", "linux")
	r := mustCollect(t, src)
	for _, c := range r.Components {
		switch c.ID {
		case ProductUUID, BoardSerial, ProductSerial:
			if c.Available || c.Reason != "permission denied (readable by root only)" {
				t.Errorf("%v", c)
			}
		default:
			if !c.Available {
				t.Errorf("%v", c)
			}
		}
	}
	fp := r.Hash("acme-cad", testVendor)
	for range 3 {
		if again := mustCollect(t, src).Hash("acme-cad", testVendor); !again.Equal(fp) {
			t.Fatalf("not deterministic: %v then %v", fp, again)
		}
	}
	// The components an unprivileged user can read have the same digests
	// as root's.
	root := mustCollect(t, fixture("bare-metal", "linux")).Hash("acme-cad", testVendor)
	for _, d := range fp.Components {
		if !slices.Contains(root.Components, d) {
			t.Errorf("%s differs between root and user", d.ID)
		}
	}
	// Report.Without makes root's and the user's fingerprints identical.
	rootR := mustCollect(t, fixture("bare-metal", "linux"))
	a := rootR.Without(ProductUUID, BoardSerial, ProductSerial).Hash("acme-cad", testVendor)
	b := r.Without(ProductUUID, BoardSerial, ProductSerial).Hash("acme-cad", testVendor)
	if !a.Equal(b) {
		t.Errorf("Without: %v != %v", a, b)
	}
	if len(rootR.Components) != 6 {
		t.Error("Without changed the report it was called on")
	}
}

func TestCollectErrors(t *testing.T) {
	if _, err := Collect(DirSource(t.TempDir(), "plan9")); !errors.Is(err, ErrUnsupportedOS) {
		t.Errorf("unknown GOOS: %v", err)
	}
	r, err := Collect(DirSource(t.TempDir(), "linux"))
	if !errors.Is(err, ErrNoComponents) || r == nil || len(r.Components) != 6 {
		t.Errorf("empty tree: %v, %v", r, err)
	}
	if fp := r.Hash("acme-cad", testVendor); !fp.IsZero() || fp.String() != "00000000-00000000-00000000-00000000" {
		t.Errorf("empty report hashes to %v", fp)
	}
	if (*Report)(nil).Hash("x", testVendor).ID != [16]byte{} {
		t.Error("nil report")
	}
}

// TestRealMachine runs collection on the machine the tests run on.
func TestRealMachine(t *testing.T) {
	r, err := Collect(OSSource())
	if err != nil {
		t.Fatalf("Collect(OSSource()): %v\n%v", err, r)
	}
	if len(r.Available()) == 0 {
		t.Fatalf("no component available:\n%s", r)
	}
	r2, err := Collect(nil) // nil is the real machine too
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(r, r2) {
		t.Errorf("not deterministic:\n%s\n---\n%s", r, r2)
	}
	f1, f2 := r.Hash("acme-cad", testVendor), r2.Hash("acme-cad", testVendor)
	if !f1.Equal(f2) {
		t.Errorf("hash not deterministic: %v, %v", f1, f2)
	}
	if m := MatchExact.Match(f1.Components, f2.Components); !m.OK {
		t.Errorf("exact match of the machine with itself: %v", m)
	}
	for _, s := range rawStrings(r) {
		if strings.Contains(fmt.Sprintf("%+v %#v %s", r, r, f1), s) {
			t.Errorf("output shows a raw value")
		}
	}
	t.Logf("this machine (%s):\n%s\nfingerprint %s", OSSource().GOOS(), r, f1)
}

// BenchmarkCompute measures collecting and hashing the real machine's
// fingerprint, as every start of a licensed product does. Nothing is cached
// between iterations.
func BenchmarkCompute(b *testing.B) {
	src := OSSource()
	if _, err := Collect(src); err != nil {
		b.Skipf("cannot collect on this machine: %v", err)
	}
	b.ReportAllocs()
	for b.Loop() {
		r, _ := Collect(src)
		fp := r.Hash("acme-cad", testVendor)
		if len(fp.Components) == 0 {
			b.Fatal("no components")
		}
	}
}
