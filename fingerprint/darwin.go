package fingerprint

import (
	"bytes"
	"strings"
)

// This file holds the macOS collector, built on every platform like the
// Linux one.

const ioregSource = "ioreg IOPlatformExpertDevice "

func collectDarwin(src Source) *Report {
	var env envSet
	out, err := src.Command("ioreg", "-rd1", "-c", "IOPlatformExpertDevice")
	r := &Report{}
	if err != nil {
		r.Components = []Raw{
			component(PlatformUUID, ioregSource+"IOPlatformUUID", nil, err),
			component(PlatformSerial, ioregSource+"IOPlatformSerialNumber", nil, err),
		}
	} else {
		uuid, uerr := ioregValue(out, "IOPlatformUUID")
		serial, serr := ioregValue(out, "IOPlatformSerialNumber")
		r.Components = []Raw{
			component(PlatformUUID, ioregSource+"IOPlatformUUID", bytes.ToLower(uuid), uerr),
			component(PlatformSerial, ioregSource+"IOPlatformSerialNumber", serial, serr),
		}
		manufacturer, _ := ioregValue(out, "manufacturer")
		model, _ := ioregValue(out, "model")
		matchHypervisor(&env, string(manufacturer), string(model))
	}

	const cpuSource = "sysctl machdep.cpu.brand_string"
	brand, err := src.Command("sysctl", "-n", "machdep.cpu.brand_string")
	if err == nil {
		brand = normalize(brand)
		if len(brand) > 0 {
			brand = append([]byte("brand="), brand...)
		}
	}
	r.Components = append(r.Components, component(CPU, cpuSource, brand, err))

	// Set by macOS 11 and later inside any hypervisor.
	if v, err := src.Command("sysctl", "-n", "kern.hv_vmm_present"); err == nil && strings.TrimSpace(string(v)) == "1" {
		env.add(EnvVM, "sysctl:kern.hv_vmm_present")
	}
	r.Env, r.EnvReasons = env.env, env.reasons
	return r
}

// ioregValue finds `"key" = "value"` or `"key" = <"value">` in ioreg output.
func ioregValue(out []byte, key string) ([]byte, error) {
	needle := `"` + key + `" = `
	for line := range strings.Lines(string(out)) {
		_, v, ok := strings.Cut(line, needle)
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		v = strings.TrimSuffix(strings.TrimPrefix(v, "<"), ">")
		if len(v) >= 2 && v[0] == '"' {
			if end := strings.IndexByte(v[1:], '"'); end >= 0 {
				return []byte(v[1 : 1+end]), nil
			}
		}
		return nil, errMissingValue
	}
	return nil, errMissingValue
}
