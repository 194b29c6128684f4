package floating_test

import (
	"testing"

	"github.com/airlock-offline/airlock/floating"
)

// FuzzProductRequest: the admin API's addProduct body (hardware_key and
// the seed's isHWKeyReq) never panics and answers a coded error.
func FuzzProductRequest(f *testing.F) {
	for _, s := range []string{`{"product":"p","license_key":"K","hardware_key":true}`, `{"product":"p","isHWKeyReq":"yes"}`,
		`{"product":"p","isHWKeyReq":true}`, `{"product":"p","isHWKeyReq":3}`, `{"product":"p","isHWKeyReq":{"a":[]}}`, `{"isHWKeyReq":null}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var r floating.ProductRequest
		if err := floating.DecodeJSON(data, &r); err != nil {
			if !floating.IsCode(err, floating.CodeMalformed) && !floating.IsCode(err, floating.CodeTooLarge) {
				t.Fatalf("uncoded error %v", err)
			}
			return
		}
		hw, err := r.WantsHardwareKey()
		if err != nil && !floating.IsCode(err, floating.CodeMalformed) {
			t.Fatalf("uncoded error %v", err)
		}
		if err == nil && r.HardwareKey && !hw {
			t.Fatal("hardware_key true read as false")
		}
	})
}
