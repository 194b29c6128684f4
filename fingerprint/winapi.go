package fingerprint

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// WindowsAPI is an optional interface a Source implements to answer the
// Windows collector through the system's APIs instead of child processes:
// the OS source on Windows reads the registry with RegQueryValueEx and the
// SMBIOS tables with GetSystemFirmwareTable, microseconds where reg.exe and
// wmic.exe take tens of milliseconds each. Sources without it (fixtures)
// answer through Command, with the tools' output.
type WindowsAPI interface {
	// RegistryStrings returns the string values (REG_SZ, REG_EXPAND_SZ) of
	// key, an HKLM\ path read in the 64-bit view; missing values are
	// absent from the map. A missing key wraps fs.ErrNotExist.
	RegistryStrings(key string) (map[string]string, error)
	// SMBIOS returns the raw SMBIOS table ('RSMB' provider): the
	// RawSMBIOSData header and the structures.
	SMBIOS() ([]byte, error)
}

// regKeyValues reads the values of key through the registry API when src
// has it, else through `reg query KEY /reg:64` (/reg:64 reads the 64-bit
// view even from a 32-bit process, where MachineGuid lives). It returns the
// source to name in --explain.
func regKeyValues(src Source, key string) (map[string]string, string, error) {
	if api, ok := src.(WindowsAPI); ok {
		vals, err := api.RegistryStrings(key)
		return vals, "registry " + key, err
	}
	out, err := src.Command("reg", "query", key, "/reg:64")
	if err != nil {
		return nil, "reg " + key, err
	}
	return regValues(out), "reg " + key, nil
}

// errNoSMBIOSUUID means the SMBIOS table has no system (type 1) structure
// with a UUID.
var errNoSMBIOSUUID = errors.New("SMBIOS table has no system UUID")

// smbiosSystemUUID returns the system UUID from a raw SMBIOS table as
// Windows reports it (Win32_ComputerSystemProduct.UUID, what wmic prints):
// the type 1 structure's 16 bytes at offset 8, the first three fields
// little endian (SMBIOS 2.6 and later), in lower case.
func smbiosSystemUUID(raw []byte) (string, error) {
	// RawSMBIOSData: Used20CallingMethod, major, minor, DmiRevision (1 byte
	// each), Length (4 bytes LE), then Length bytes of structures.
	if len(raw) < 8 {
		return "", fmt.Errorf("SMBIOS table of %d bytes: too short", len(raw))
	}
	n := binary.LittleEndian.Uint32(raw[4:8])
	data := raw[8:]
	if uint64(n) < uint64(len(data)) {
		data = data[:n]
	}
	for len(data) >= 4 {
		typ, length := data[0], int(data[1])
		if length < 4 || length > len(data) {
			return "", errors.New("SMBIOS table is damaged")
		}
		if typ == 127 { // end of table
			break
		}
		if typ == 1 && length >= 0x18 {
			u := data[8:24]
			return strings.ToLower(fmt.Sprintf("%08X-%04X-%04X-%X-%X",
				binary.LittleEndian.Uint32(u[0:4]), binary.LittleEndian.Uint16(u[4:6]),
				binary.LittleEndian.Uint16(u[6:8]), u[8:10], u[10:16])), nil
		}
		// Skip the formatted area and the string set (ends with two NULs).
		rest := data[length:]
		end := 0
		for end+1 < len(rest) && (rest[end] != 0 || rest[end+1] != 0) {
			end++
		}
		if end+1 >= len(rest) {
			break
		}
		data = rest[end+2:]
	}
	return "", errNoSMBIOSUUID
}
