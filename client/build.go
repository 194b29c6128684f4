package client

import (
	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/dongle"
	"github.com/airlock-offline/airlock/request"
)

// RequestOptions say what an activation request asks for; MakeRequest
// turns them into a signed request, as `airlock request` does.
type RequestOptions struct {
	// LicenseKey is the license key in canonical form (licensekey.Parse,
	// or licensekey.New for a product whose desk creates licenses on
	// request). A renewal takes it from the installed license.
	LicenseKey string
	// Renew asks to extend the installed license's lease (RenewRequest).
	Renew bool
	// Phone adds a phone-code seed, sealed to the vendor, for a product
	// that opted in to phone codes (Verifier.Provisional).
	Phone bool
	// HardwareKey enrols a hardware key and binds the license to it: the
	// card in HardwareKeyReader, or the one plugged in when that is "".
	HardwareKey       bool
	HardwareKeyReader string
}

// Made is what MakeRequest made.
type Made struct {
	Request *request.Signed
	// Enrolled is the hardware key enrolled, if the options asked for one.
	Enrolled *dongle.Identity
}

// MakeRequest builds and signs the request the options describe with the
// installation identity inst, and records it as pending. The licensee
// secret is v.LicenseeSecret or, with v.SecretFromKey, derived from the
// hardware key; it travels sealed to the vendor. Hardware-key failures
// are *dongle.Error values.
func (v *Verifier) MakeRequest(inst *crypto.Identity, o RequestOptions) (*Made, error) {
	if o.Renew {
		s, err := v.RenewRequest(inst)
		if err != nil {
			return nil, err
		}
		return &Made{Request: s}, nil
	}
	var conf *request.Confidential
	if o.Phone {
		var err error
		if conf, err = PhoneSeed(); err != nil {
			return nil, err
		}
	}
	// The hardware key first: a secret derived from a key comes from the
	// enrolled one, not from whichever card is found first.
	var hk *request.HardwareKey
	var enrolled *dongle.Identity
	if o.HardwareKey {
		var err error
		if hk, enrolled, err = v.EnrolHardwareKey(o.HardwareKeyReader); err != nil {
			return nil, err
		}
	}
	secret := v.LicenseeSecret
	if len(secret) == 0 && v.SecretFromKey {
		var err error
		if secret, err = v.DeriveSecretFrom(o.LicenseKey, hk); err != nil {
			return nil, err
		}
	}
	if len(secret) > 0 {
		if conf == nil {
			conf = &request.Confidential{}
		}
		conf.LicenseeSecret = string(secret)
	}
	var s *request.Signed
	var err error
	if hk != nil {
		s, err = v.RequestWithHardwareKey(inst, o.LicenseKey, conf, hk)
	} else {
		s, err = v.Request(inst, o.LicenseKey, conf)
	}
	if err != nil {
		return nil, err
	}
	return &Made{Request: s, Enrolled: enrolled}, nil
}
