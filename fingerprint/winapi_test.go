package fingerprint

import (
	"encoding/binary"
	"io/fs"
	"strings"
	"testing"
)

// apiSource answers the Windows collector through WindowsAPI, with the
// values of the windows fixture, and has no tools at all: what the OS
// source does on a real Windows machine.
type apiSource struct {
	Source // the fixture, for GOOS; Command must not be called
	t      *testing.T
	reg    map[string]map[string]string
	smbios []byte
}

func (a apiSource) Command(name string, args ...string) ([]byte, error) {
	a.t.Errorf("a child process on the hot path: %s %s", name, strings.Join(args, " "))
	return nil, fs.ErrNotExist
}

func (a apiSource) RegistryStrings(key string) (map[string]string, error) {
	v, ok := a.reg[key]
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: key, Err: fs.ErrNotExist}
	}
	return v, nil
}

func (a apiSource) SMBIOS() ([]byte, error) { return a.smbios, nil }

// smbiosTable builds a RawSMBIOSData blob: a BIOS (type 0) structure with
// strings, then a system (type 1) structure holding uuid, then the end.
func smbiosTable(uuid [16]byte) []byte {
	var d []byte
	d = append(d, 0, 0x18, 0, 0)           // type 0, length 0x18, handle
	d = append(d, make([]byte, 0x18-4)...) // formatted area
	d = append(d, "Dell Inc.\x001.2.3\x00\x00"...)
	t1 := make([]byte, 0x1b)
	t1[0], t1[1] = 1, 0x1b
	copy(t1[8:24], uuid[:])
	d = append(d, t1...)
	d = append(d, "Dell Inc.\x00Precision 3660\x00\x00"...)
	d = append(d, 127, 4, 0, 0, 0, 0)
	h := []byte{0, 3, 4, 0, 0, 0, 0, 0}
	binary.LittleEndian.PutUint32(h[4:], uint32(len(d)))
	return append(h, d...)
}

// The API path gives the same fingerprint as reg.exe and wmic on the same
// machine: an upgrade from one to the other keeps every license valid.
func TestWindowsAPIMatchesTools(t *testing.T) {
	fixture := DirSource("../testdata/fingerprint/windows", "windows")
	viaTools, err := Collect(fixture)
	if err != nil {
		t.Fatal(err)
	}
	// 4C4C4544-0042-3510-8052-B4C04F565333 as SMBIOS stores it: the first
	// three fields little endian.
	uuid := [16]byte{0x44, 0x45, 0x4C, 0x4C, 0x42, 0x00, 0x10, 0x35, 0x80, 0x52, 0xB4, 0xC0, 0x4F, 0x56, 0x53, 0x33}
	src := apiSource{Source: fixture, t: t, smbios: smbiosTable(uuid), reg: map[string]map[string]string{
		keyCryptography: {"MachineGuid": "6f1a2b3c-4d5e-4f70-8192-a3b4c5d6e7f8"},
		keyCPU0: {"Identifier": "Intel64 Family 6 Model 151 Stepping 2", "VendorIdentifier": "GenuineIntel",
			// The API keeps the padding that reg.exe's output loses.
			"ProcessorNameString": "12th Gen Intel(R)  Core(TM)   i7-12700   "},
		keyBIOS: {"SystemManufacturer": "Dell Inc.", "SystemProductName": "Precision 3660"},
	}}
	viaAPI, err := Collect(src)
	if err != nil {
		t.Fatal(err)
	}
	a, b := viaTools.Hash("acme-cad", [8]byte{1}), viaAPI.Hash("acme-cad", [8]byte{1})
	if a.ID != b.ID || len(a.Components) != 3 || len(b.Components) != len(a.Components) {
		t.Fatalf("fingerprint through the API %x (%d components), through the tools %x (%d)", b.ID, len(b.Components), a.ID, len(a.Components))
	}
	for _, c := range viaAPI.Components {
		if !c.Available {
			t.Errorf("component %v unavailable through the API: %s", c.ID, c.Reason)
		}
	}
}

func TestSMBIOSSystemUUID(t *testing.T) {
	uuid := [16]byte{0x44, 0x45, 0x4C, 0x4C, 0x42, 0x00, 0x10, 0x35, 0x80, 0x52, 0xB4, 0xC0, 0x4F, 0x56, 0x53, 0x33}
	got, err := smbiosSystemUUID(smbiosTable(uuid))
	if err != nil || got != "4c4c4544-0042-3510-8052-b4c04f565333" {
		t.Fatalf("UUID %q, %v", got, err)
	}
	for _, bad := range [][]byte{nil, {0, 3, 4, 0}, {0, 3, 4, 0, 4, 0, 0, 0, 1, 2, 0, 0}, {0, 3, 4, 0, 0xff, 0xff, 0xff, 0xff, 0, 200, 0, 0}} {
		if _, err := smbiosSystemUUID(bad); err == nil {
			t.Errorf("table % x: no error", bad)
		}
	}
}

func FuzzSMBIOSSystemUUID(f *testing.F) {
	f.Add(smbiosTable([16]byte{1, 2, 3}))
	f.Add([]byte{0, 3, 4, 0, 8, 0, 0, 0, 1, 4, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := smbiosSystemUUID(b)
		if err == nil && len(s) != 36 {
			t.Fatalf("UUID %q", s)
		}
	})
}
