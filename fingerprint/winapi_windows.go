//go:build windows

package fingerprint

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"unsafe"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/registry"
)

// RegistryStrings reads key's string values with the registry API (the
// 64-bit view).
func (osSource) RegistryStrings(key string) (map[string]string, error) {
	path, ok := strings.CutPrefix(key, `HKLM\`)
	if !ok {
		return nil, fmt.Errorf("registry key %q: only HKLM is read", key)
	}
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, path, registry.QUERY_VALUE|registry.WOW64_64KEY)
	if err != nil {
		if errors.Is(err, registry.ErrNotExist) || errors.Is(err, windows.ERROR_FILE_NOT_FOUND) {
			return nil, &fs.PathError{Op: "open", Path: key, Err: fs.ErrNotExist}
		}
		if errors.Is(err, windows.ERROR_ACCESS_DENIED) {
			return nil, &fs.PathError{Op: "open", Path: key, Err: fs.ErrPermission}
		}
		return nil, &fs.PathError{Op: "open", Path: key, Err: err}
	}
	defer k.Close()
	names, err := k.ReadValueNames(0)
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: key, Err: err}
	}
	vals := make(map[string]string, len(names))
	for _, n := range names {
		if v, _, err := k.GetStringValue(n); err == nil {
			vals[n] = v
		}
	}
	return vals, nil
}

var procGetSystemFirmwareTable = windows.NewLazySystemDLL("kernel32.dll").NewProc("GetSystemFirmwareTable")

// SMBIOS reads the raw SMBIOS table with GetSystemFirmwareTable('RSMB').
func (osSource) SMBIOS() ([]byte, error) {
	if err := procGetSystemFirmwareTable.Find(); err != nil {
		return nil, err
	}
	const rsmb = 'R'<<24 | 'S'<<16 | 'M'<<8 | 'B'
	n, _, err := procGetSystemFirmwareTable.Call(rsmb, 0, 0, 0)
	if n == 0 {
		return nil, fmt.Errorf("GetSystemFirmwareTable: %w", err)
	}
	if n > 1<<20 {
		return nil, errors.New("GetSystemFirmwareTable: table too large")
	}
	buf := make([]byte, n)
	got, _, err := procGetSystemFirmwareTable.Call(rsmb, 0, uintptr(unsafe.Pointer(&buf[0])), n)
	if got == 0 || got > n {
		return nil, fmt.Errorf("GetSystemFirmwareTable: %w", err)
	}
	return buf[:got], nil
}
