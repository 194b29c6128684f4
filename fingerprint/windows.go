package fingerprint

import (
	"bytes"
	"io/fs"
	"strings"
	"unicode/utf16"
)

// This file holds the Windows collector, built on every platform like the
// Linux one. On Windows the OS source answers through the registry and
// firmware-table APIs (WindowsAPI, winapi_windows.go): no child process on
// the hot path. Fixtures answer through Command with reg.exe's and wmic's
// output, so the same collector runs on them anywhere.

// errMissingValue reports a tool's output without the value asked for.
var errMissingValue = &fs.PathError{Op: "query", Path: "value", Err: fs.ErrNotExist}

const (
	keyCryptography = `HKLM\SOFTWARE\Microsoft\Cryptography`
	keyCPU0         = `HKLM\HARDWARE\DESCRIPTION\System\CentralProcessor\0`
	keyBIOS         = `HKLM\HARDWARE\DESCRIPTION\System\BIOS`
)

func collectWindows(src Source) *Report {
	var env envSet
	r := &Report{}

	guid, source, err := regQuery(src, keyCryptography, "MachineGuid")
	r.Components = append(r.Components, component(MachineGUID, source, bytes.ToLower(guid), err))

	r.Components = append(r.Components, smbiosUUID(src))

	if vals, source, err := regKeyValues(src, keyCPU0); err == nil {
		var fields []string
		for _, k := range []string{"VendorIdentifier", "Identifier", "ProcessorNameString"} {
			// reg.exe's output collapses runs of spaces; the API does not.
			if v := strings.Join(strings.Fields(vals[k]), " "); v != "" {
				fields = append(fields, k+"="+v)
			}
		}
		r.Components = append(r.Components, component(CPU, source, []byte(strings.Join(fields, "\n")), nil))
	} else {
		r.Components = append(r.Components, component(CPU, source, nil, err))
	}

	if vals, _, err := regKeyValues(src, keyBIOS); err == nil {
		matchHypervisor(&env, vals["SystemManufacturer"], vals["SystemProductName"])
	}
	r.Env, r.EnvReasons = env.env, env.reasons
	return r
}

// smbiosUUID reads the SMBIOS system UUID: from the firmware table through
// the API when the source has it, else Win32_ComputerSystemProduct.UUID
// through wmic, or through PowerShell where wmic has been removed (Windows
// 11 24H2 and later).
func smbiosUUID(src Source) Raw {
	if api, ok := src.(WindowsAPI); ok {
		const source = "SMBIOS system UUID (GetSystemFirmwareTable)"
		raw, err := api.SMBIOS()
		if err != nil {
			return component(SMBIOSUUID, source, nil, err)
		}
		u, err := smbiosSystemUUID(raw)
		return component(SMBIOSUUID, source, []byte(u), err)
	}
	const wmicSource = "wmic csproduct uuid"
	out, err := src.Command("wmic", "csproduct", "get", "uuid")
	if err == nil {
		lines := strings.Fields(decodeToolOutput(out))
		if len(lines) == 2 && strings.EqualFold(lines[0], "UUID") {
			return component(SMBIOSUUID, wmicSource, []byte(strings.ToLower(lines[1])), nil)
		}
		err = errMissingValue
	}
	const psSource = "powershell Win32_ComputerSystemProduct.UUID"
	out, err = src.Command("powershell", "-NoProfile", "-NonInteractive", "-Command",
		"(Get-CimInstance -ClassName Win32_ComputerSystemProduct).UUID")
	if err != nil {
		return component(SMBIOSUUID, psSource, nil, err)
	}
	return component(SMBIOSUUID, psSource, []byte(strings.ToLower(decodeToolOutput(out))), nil)
}

// regQuery reads one value, through the registry API when src has it,
// else with `reg query KEY /v NAME /reg:64`; it also returns the source to
// name in --explain.
func regQuery(src Source, key, name string) ([]byte, string, error) {
	var vals map[string]string
	source := "reg " + key + " " + name
	if api, ok := src.(WindowsAPI); ok {
		source = "registry " + key + " " + name
		var err error
		if vals, err = api.RegistryStrings(key); err != nil {
			return nil, source, err
		}
	} else {
		out, err := src.Command("reg", "query", key, "/v", name, "/reg:64")
		if err != nil {
			return nil, source, err
		}
		vals = regValues(out)
	}
	v, ok := vals[name]
	if !ok {
		return nil, source, errMissingValue
	}
	return []byte(v), source, nil
}

// regValues parses `reg query` output: lines of name, type and data
// separated by runs of spaces, under a line naming the key. Names may hold
// single spaces ("Update Revision"), so the type token (REG_*) splits the
// line.
func regValues(out []byte) map[string]string {
	vals := map[string]string{}
	for line := range strings.Lines(decodeToolOutput(out)) {
		f := strings.Fields(line)
		for i := 1; i < len(f); i++ {
			if strings.HasPrefix(f[i], "REG_") {
				vals[strings.Join(f[:i], " ")] = strings.Join(f[i+1:], " ")
				break
			}
		}
	}
	return vals
}

// decodeToolOutput turns UTF-16LE output (what wmic writes when redirected,
// and PowerShell in some consoles) into a string; other output is returned
// as is.
func decodeToolOutput(b []byte) string {
	if len(b) >= 2 && (b[0] == 0xff && b[1] == 0xfe || bytes.Count(b, []byte{0}) > len(b)/4) {
		if b[0] == 0xff && b[1] == 0xfe {
			b = b[2:]
		}
		u := make([]uint16, len(b)/2)
		for i := range u {
			u[i] = uint16(b[2*i]) | uint16(b[2*i+1])<<8
		}
		return string(utf16.Decode(u))
	}
	return string(b)
}
