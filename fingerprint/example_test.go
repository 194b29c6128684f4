package fingerprint_test

import (
	"fmt"

	"github.com/airlock-offline/airlock/fingerprint"
)

// The vendor's signing key ID, which keys the digests together with the
// product name.
var vendorKeyID = [8]byte{0x4a, 0x1f, 0x03, 0x9c, 0x5e, 0x77, 0xd2, 0x10}

func Example() {
	// At activation: collect this machine (fingerprint.OSSource() in a
	// product; a fixture tree here) and hash it for the product.
	r, err := fingerprint.Collect(fingerprint.DirSource("../testdata/fingerprint/bare-metal", "linux"))
	if err != nil {
		panic(err)
	}
	licensed := r.Hash("acme-cad", vendorKeyID)
	fmt.Println("licensed:", licensed)

	// Later the root disk was replaced. The license says "most".
	r, _ = fingerprint.Collect(fingerprint.DirSource("../testdata/fingerprint/swapped-disk", "linux"))
	now := r.Hash("acme-cad", vendorKeyID)
	policy, _ := fingerprint.ParsePolicy("most")
	fmt.Println("now:     ", now)
	fmt.Println(policy, policy.Match(licensed.Components, now.Components))
	fmt.Println("all", fingerprint.MatchAll.Match(licensed.Components, now.Components))
	// Output:
	// licensed: 19c411af-cf7887cd-ba71318f-2d02b039
	// now:      66e00f8b-a763cab1-79189d03-8429c225
	// most match: 5 of 6 components match; changed: disk
	// all mismatch: 5 of 6 components match; changed: disk
}

func ExampleReport_String() {
	r, _ := fingerprint.Collect(fingerprint.DirSource("../testdata/fingerprint/kvm", "linux"))
	fmt.Println(r)
	// Output:
	// machine-id: available (/etc/machine-id)
	// product-uuid: available (/sys/class/dmi/id/product_uuid)
	// board-serial: unavailable: empty (/sys/class/dmi/id/board_serial)
	// product-serial: unavailable: empty (/sys/class/dmi/id/product_serial)
	// disk: unavailable: root disk vda has no serial number (virtio disk without serial) (/sys/block/vda)
	// cpu: available (/proc/cpuinfo)
	// env: vm (dmi:qemu, cpuinfo:hypervisor-flag)
}

func ExampleCollectWith() {
	// An ISV whose product drives a measurement device adds its serial.
	scope := fingerprint.CustomComponent{
		ID:   fingerprint.CustomMin,
		Name: "scope-serial",
		Read: func(src fingerprint.Source) ([]byte, error) {
			b, err := src.ReadFile("/sys/bus/usb/devices/1-4/serial")
			if err != nil {
				return nil, fingerprint.Unavailable("scope not connected")
			}
			return b, nil
		},
	}
	r, _ := fingerprint.CollectWith(fingerprint.DirSource("../testdata/fingerprint/wsl", "linux"), scope)
	for _, c := range r.Components {
		if c.ID >= fingerprint.CustomMin {
			fmt.Println(c)
		}
	}
	// Output:
	// custom-32: unavailable: scope not connected (custom:scope-serial)
}

func ExampleParsePolicy() {
	for _, s := range []string{"most", "atleast-3", "exact", "half"} {
		p, err := fingerprint.ParsePolicy(s)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Println(p)
	}
	// Output:
	// most
	// atleast:3
	// exact
	// fingerprint: invalid match policy: "half": want all, most, exact or atleast:N
}
