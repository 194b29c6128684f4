package fingerprint

import (
	"bytes"
	"io/fs"
	"strings"
	"unicode/utf16"
)

// This file holds the Windows collector, built on every platform like the
// Linux one. It runs reg.exe rather than calling the registry API so that
// fixtures can stand in for the machine.

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

	// /reg:64 reads the 64-bit registry view even from a 32-bit process,
	// where MachineGuid lives.
	guid, err := regQuery(src, keyCryptography, "MachineGuid")
	r.Components = append(r.Components, component(MachineGUID, "reg "+keyCryptography+" MachineGuid", bytes.ToLower(guid), err))

	r.Components = append(r.Components, smbiosUUID(src))

	if out, err := src.Command("reg", "query", keyCPU0, "/reg:64"); err == nil {
		vals := regValues(out)
		var fields []string
		for _, k := range []string{"VendorIdentifier", "Identifier", "ProcessorNameString"} {
			if v := vals[k]; v != "" {
				fields = append(fields, k+"="+v)
			}
		}
		r.Components = append(r.Components, component(CPU, "reg "+keyCPU0, []byte(strings.Join(fields, "\n")), nil))
	} else {
		r.Components = append(r.Components, component(CPU, "reg "+keyCPU0, nil, err))
	}

	if out, err := src.Command("reg", "query", keyBIOS, "/reg:64"); err == nil {
		vals := regValues(out)
		matchHypervisor(&env, vals["SystemManufacturer"], vals["SystemProductName"])
	}
	r.Env, r.EnvReasons = env.env, env.reasons
	return r
}

// smbiosUUID reads Win32_ComputerSystemProduct.UUID through wmic, or through
// PowerShell where wmic has been removed (Windows 11 24H2 and later).
func smbiosUUID(src Source) Raw {
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

// regQuery reads one value with reg.exe.
func regQuery(src Source, key, name string) ([]byte, error) {
	out, err := src.Command("reg", "query", key, "/v", name, "/reg:64")
	if err != nil {
		return nil, err
	}
	v, ok := regValues(out)[name]
	if !ok {
		return nil, errMissingValue
	}
	return []byte(v), nil
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
