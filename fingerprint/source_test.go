package fingerprint

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"unicode/utf16"
)

func TestDirSource(t *testing.T) {
	src := fixture("bare-metal-user", "linux")
	if src.GOOS() != "linux" {
		t.Error("GOOS")
	}
	if b, err := src.ReadFile("/etc/machine-id"); err != nil || !bytes.HasPrefix(b, []byte("4c1b")) {
		t.Errorf("ReadFile = %q, %v", b, err)
	}
	if _, err := src.ReadFile("/sys/class/dmi/id/product_uuid"); !errors.Is(err, fs.ErrPermission) {
		t.Errorf("denied file: %v", err)
	}
	if _, err := src.ReadFile("/sys/class/dmi/id/sys_vendor"); err != nil {
		t.Errorf("readable DMI file: %v", err)
	}
	if _, err := src.ReadFile("/nonexistent"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	} else if !strings.Contains(err.Error(), "/nonexistent") {
		t.Errorf("error names the fixture path, not the Source path: %v", err)
	}
	if _, err := src.ReadFile("etc/machine-id"); !errors.Is(err, fs.ErrInvalid) {
		t.Errorf("relative path: %v", err)
	}
	if _, err := src.ReadFile("/.fixture/links"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("fixture bookkeeping is visible: %v", err)
	}
	if _, err := src.ReadFile("/../../go.mod"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("path escapes the tree: %v", err)
	}
	if got, err := src.Readlink("/sys/class/block/nvme0n1p2"); err != nil || !strings.HasSuffix(got, "/nvme0n1/nvme0n1p2") {
		t.Errorf("Readlink = %q, %v", got, err)
	}
	if _, err := src.Readlink("/etc/machine-id"); err == nil {
		t.Error("Readlink of a plain file succeeded")
	}
	if _, err := src.Readlink("/nonexistent"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Readlink of a missing file: %v", err)
	}
	des, err := src.ReadDir("/")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range des {
		if d.Name() == ".fixture" {
			t.Error("ReadDir shows .fixture")
		}
	}
	if _, err := src.Command("reg", "query"); !errors.Is(err, exec.ErrNotFound) {
		t.Errorf("missing command: %v", err)
	}
	win := fixture("windows", "windows")
	if out, err := win.Command("reg", "query", `HKLM\SOFTWARE\Microsoft\Cryptography`, "/v", "MachineGuid", "/reg:64"); err != nil || !bytes.Contains(out, []byte("MachineGuid")) {
		t.Errorf("Command = %q, %v", out, err)
	}
	if got := CommandFileName("ioreg", "-rd1", "-c", "IOPlatformExpertDevice"); got != "ioreg_-rd1_-c_IOPlatformExpertDevice.txt" {
		t.Errorf("CommandFileName = %q", got)
	}
}

func TestSizeLimits(t *testing.T) {
	big := bytes.Repeat([]byte("x"), MaxFileSize+1)
	fits := bytes.Repeat([]byte("y"), MaxFileSize)
	mfs := fstest.MapFS{"big": {Data: big}, "fits": {Data: fits}}
	dir := t.TempDir()
	for name, data := range map[string][]byte{"big": big, "fits": fits} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for name, src := range map[string]Source{"fs": FSSource(mfs, "linux"), "os": OSSource()} {
		root := "/"
		if name == "os" {
			root = filepath.ToSlash(dir) + "/"
		}
		if _, err := src.ReadFile(root + "big"); !errors.Is(err, ErrFileTooLarge) {
			t.Errorf("%s: big file: %v", name, err)
		}
		if b, err := src.ReadFile(root + "fits"); err != nil || len(b) != MaxFileSize {
			t.Errorf("%s: file at the limit: %d bytes, %v", name, len(b), err)
		}
		pr := src.(PrefixReader)
		if b, err := pr.ReadFilePrefix(root+"big", 100); err != nil || len(b) != 100 {
			t.Errorf("%s: prefix: %d bytes, %v", name, len(b), err)
		}
		if b, err := readPrefix(src, root+"fits", 10); err != nil || len(b) != 10 {
			t.Errorf("%s: readPrefix: %d bytes, %v", name, len(b), err)
		}
		if _, err := src.ReadFile(root + "missing"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: missing file: %v", name, err)
		}
	}
	// A Source without PrefixReader still works for prefixes.
	if b, err := readPrefix(plainSource{FSSource(mfs, "linux")}, "/fits", 10); err != nil || len(b) != 10 {
		t.Errorf("readPrefix without PrefixReader: %d, %v", len(b), err)
	}
}

// plainSource hides the PrefixReader of the Source it wraps.
type plainSource struct{ s Source }

func (p plainSource) ReadFile(n string) ([]byte, error)             { return p.s.ReadFile(n) }
func (p plainSource) ReadDir(n string) ([]fs.DirEntry, error)       { return p.s.ReadDir(n) }
func (p plainSource) Readlink(n string) (string, error)             { return p.s.Readlink(n) }
func (p plainSource) Command(n string, a ...string) ([]byte, error) { return p.s.Command(n, a...) }
func (p plainSource) GOOS() string                                  { return p.s.GOOS() }

func TestPlainSourceCollects(t *testing.T) {
	a := mustCollect(t, fixture("bare-metal", "linux")).Hash("p", testVendor)
	b := mustCollect(t, plainSource{fixture("bare-metal", "linux")}).Hash("p", testVendor)
	if !a.Equal(b) {
		t.Errorf("PrefixReader changes the result: %v, %v", a, b)
	}
}

func TestOSSourceCommand(t *testing.T) {
	if _, err := OSSource().Command("airlock-no-such-tool-7f3a"); err == nil {
		t.Error("a missing tool ran")
	} else if reasonFor(err) != "not present" {
		t.Errorf("reason for a missing tool: %q", reasonFor(err))
	}
	if _, err := exec.LookPath("sh"); err != nil || OSSource().GOOS() == "windows" {
		t.Skip("no sh")
	}
	out, err := OSSource().Command("sh", "-c", "echo hello; exit 3")
	if err == nil || string(out) != "hello\n" {
		t.Errorf("failing command: %q, %v", out, err)
	}
	if r := reasonFor(err); !strings.HasPrefix(r, "command failed") {
		t.Errorf("reason %q", r)
	}
}

func TestWindowsParsing(t *testing.T) {
	// wmic writes UTF-16 when its output is redirected to a file.
	utf16le := func(s string) []byte {
		b := []byte{0xff, 0xfe}
		for _, u := range utf16.Encode([]rune(s)) {
			b = append(b, byte(u), byte(u>>8))
		}
		return b
	}
	if got := decodeToolOutput(utf16le("UUID\r\r\nABC\r\r\n")); got != "UUID\r\r\nABC\r\r\n" {
		t.Errorf("decodeToolOutput = %q", got)
	}
	vals := regValues([]byte("\r\nHKEY_LOCAL_MACHINE\\HARDWARE\\DESCRIPTION\\System\\CentralProcessor\\0\r\n    Update Revision    REG_BINARY    00000000F4000000\r\n    ProcessorNameString    REG_SZ    Intel(R) Core(TM)   i7-8700 CPU @ 3.20GHz\r\n    (Default)    REG_SZ    \r\n"))
	if vals["Update Revision"] != "00000000F4000000" || vals["ProcessorNameString"] != "Intel(R) Core(TM) i7-8700 CPU @ 3.20GHz" {
		t.Errorf("regValues = %q", vals)
	}

	files := fstest.MapFS{}
	cmd := func(out string, name string, args ...string) {
		files[".fixture/commands/"+CommandFileName(name, args...)] = &fstest.MapFile{Data: []byte(out)}
	}
	cmd(string(utf16le("UUID  \r\r\nFFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF  \r\r\n")), "wmic", "csproduct", "get", "uuid")
	r, err := Collect(FSSource(files, "windows"))
	if !errors.Is(err, ErrNoComponents) {
		t.Fatalf("Collect: %v", err)
	}
	want := map[ComponentID]string{MachineGUID: "not present", SMBIOSUUID: "placeholder", CPU: "not present"}
	for _, c := range r.Components {
		if c.Available || !strings.Contains(c.Reason, want[c.ID]) {
			t.Errorf("%v, want reason %q", c, want[c.ID])
		}
	}
	// The UUID digest is the same whichever tool read it.
	a := mustCollect(t, fixture("windows", "windows")).Hash("p", testVendor)
	files = fstest.MapFS{}
	cmd("\r\nHKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Cryptography\r\n    MachineGuid    REG_SZ    6f1a2b3c-4d5e-4f70-8192-a3b4c5d6e7f8\r\n", "reg", "query", keyCryptography, "/v", "MachineGuid", "/reg:64")
	cmd("4C4C4544-0042-3510-8052-B4C04F565333\r\n", "powershell", "-NoProfile", "-NonInteractive", "-Command", "(Get-CimInstance -ClassName Win32_ComputerSystemProduct).UUID")
	b := mustCollect(t, FSSource(files, "windows")).Hash("p", testVendor)
	if m := MatchAll.Match(b.Components, a.Components); !m.OK || m.Matched != 2 {
		t.Errorf("wmic and PowerShell disagree: %v", m)
	}
}

func TestDarwinParsing(t *testing.T) {
	files := fstest.MapFS{}
	cmd := func(out string, name string, args ...string) {
		files[".fixture/commands/"+CommandFileName(name, args...)] = &fstest.MapFile{Data: []byte(out)}
	}
	cmd("+-o VirtualMac2,1  <class IOPlatformExpertDevice>\n    {\n      \"manufacturer\" = <\"Apple Inc.\">\n      \"model\" = <\"VirtualMac2,1\">\n      \"IOPlatformUUID\" = \"1B2C3D4E-5F60-4172-8394-A5B6C7D8E9F0\"\n      \"IOPlatformSerialNumber\" = \"\"\n    }\n",
		"ioreg", "-rd1", "-c", "IOPlatformExpertDevice")
	cmd("1\n", "sysctl", "-n", "kern.hv_vmm_present")
	r := mustCollect(t, FSSource(files, "darwin"))
	if r.Env != EnvVM || len(r.EnvReasons) != 2 {
		t.Errorf("Env = %v %q", r.Env, r.EnvReasons)
	}
	if got := r.Available(); len(got) != 1 || got[0] != PlatformUUID {
		t.Errorf("available = %v\n%s", got, r)
	}
	if c := findComponent(r, PlatformUUID); string(c.value) != "1b2c3d4e-5f60-4172-8394-a5b6c7d8e9f0" {
		t.Errorf("UUID not lower-cased: %q", c.value)
	}
	if c := findComponent(r, PlatformSerial); c.Reason != "empty" {
		t.Errorf("%v", c)
	}
	if c := findComponent(r, CPU); c.Reason != "not present" {
		t.Errorf("%v", c)
	}
	if _, err := ioregValue([]byte(`"IOPlatformUUID" = <02000000>`), "IOPlatformUUID"); err == nil {
		t.Error("ioregValue accepted binary data")
	}
}
