package crypto

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"filippo.io/age"
	agearmor "filippo.io/age/armor"

	"github.com/airlock-offline/airlock/internal/armor"
	"github.com/airlock-offline/airlock/internal/wire"
)

// Key files.
//
// A plaintext key file is the armored text of kind "SECRET KEY" (tag AK1)
// whose payload is the deterministic CBOR map
//
//	{1: version (1), 2: role, 3: Ed25519 seed (32 bytes), 4: X25519 scalar (32 bytes)}
//
// or, for an identity whose signing key is on a hardware key (version 2),
//
//	{1: 2, 2: role, 4: X25519 scalar, 5: Ed25519 public key (32 bytes),
//	 6: hardware key kind, 7: hardware key serial (1 to 64 bytes)}
//
// An encrypted key file (the default) is that same text encrypted with age
// to a passphrase (scrypt) and armored by age ("BEGIN AGE ENCRYPTED FILE"),
// so the standard age tool can open it too.

// MaxKeyFile bounds the size of a key file read from disk.
const MaxKeyFile = 16 << 10

// DefaultWorkFactor is the scrypt work factor (log2 N) for new key files.
const DefaultWorkFactor = 18

// The scrypt work factors MarshalEncrypted accepts. Files are opened with
// work factors up to MaxWorkFactor; below DefaultWorkFactor is for tests.
const (
	MinWorkFactor = 10
	MaxWorkFactor = 22
)

// Errors from key files.
var (
	ErrKeyFile         = errors.New("not a valid airlock secret key file")
	ErrWrongPassphrase = errors.New("wrong passphrase, or the key file is damaged")
	ErrNeedPassphrase  = errors.New("the key file is encrypted and no passphrase was given")
)

type keyFile struct {
	Version  uint   `cbor:"1,keyasint"`
	Role     Role   `cbor:"2,keyasint"`
	Seed     []byte `cbor:"3,keyasint,omitempty"`
	Scalar   []byte `cbor:"4,keyasint"`
	SignPub  []byte `cbor:"5,keyasint,omitempty"`
	HWKind   uint8  `cbor:"6,keyasint,omitempty"`
	HWSerial []byte `cbor:"7,keyasint,omitempty"`
}

// Key file versions: the signing seed in the file, or on a hardware key.
const (
	keyFileSeed     = 1
	keyFileHardware = 2
)

// MarshalPlaintext returns the unencrypted key file of id. Callers must
// write it only where the user asked for plaintext, with mode 0600.
func (id *Identity) MarshalPlaintext() []byte {
	kf := keyFile{Version: keyFileSeed, Role: id.Role, Scalar: id.scalar}
	if id.hw != nil {
		kf.Version, kf.SignPub, kf.HWKind, kf.HWSerial = keyFileHardware, id.pub.Sign, id.hw.Kind, id.hw.Serial
	} else {
		kf.Seed = id.sign.Seed()
	}
	b, err := wire.Marshal(&kf)
	if err != nil {
		panic("crypto: cannot encode key file: " + err.Error())
	}
	return armor.Encode(armor.SecretKey, b)
}

// MarshalEncrypted returns the key file of id encrypted with age to
// passphrase, with the given scrypt work factor (0 means DefaultWorkFactor).
func (id *Identity) MarshalEncrypted(passphrase []byte, workFactor int) ([]byte, error) {
	if len(passphrase) == 0 {
		return nil, errors.New("empty passphrase")
	}
	r, err := age.NewScryptRecipient(string(passphrase))
	if err != nil {
		return nil, err
	}
	if workFactor == 0 {
		workFactor = DefaultWorkFactor
	}
	if workFactor < MinWorkFactor || workFactor > MaxWorkFactor {
		return nil, fmt.Errorf("scrypt work factor %d is outside %d..%d", workFactor, MinWorkFactor, MaxWorkFactor)
	}
	r.SetWorkFactor(workFactor)
	var out bytes.Buffer
	aw := agearmor.NewWriter(&out)
	w, err := age.Encrypt(aw, r)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(id.MarshalPlaintext()); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	if err := aw.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// IsEncryptedKeyFile reports whether data looks like an age-encrypted file.
func IsEncryptedKeyFile(data []byte) bool {
	return bytes.HasPrefix(bytes.TrimLeft(data, " \t\r\n"), []byte(agearmor.Header))
}

// ParseKeyFile reads a key file. For an encrypted one it calls passphrase
// (which may prompt); passphrase may be nil for plaintext files. The role
// in the file must equal want.
func ParseKeyFile(data []byte, want Role, passphrase func() ([]byte, error)) (*Identity, error) {
	if len(data) > MaxKeyFile {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrKeyFile, MaxKeyFile)
	}
	if IsEncryptedKeyFile(data) {
		if passphrase == nil {
			return nil, ErrNeedPassphrase
		}
		pass, err := passphrase()
		if err != nil {
			return nil, err
		}
		if len(pass) == 0 {
			return nil, ErrNeedPassphrase
		}
		si, err := age.NewScryptIdentity(string(pass))
		if err != nil {
			return nil, err
		}
		// Refuse work factors far above ours: a hostile file must not
		// make us burn minutes of CPU.
		si.SetMaxWorkFactor(MaxWorkFactor)
		r, err := age.Decrypt(agearmor.NewReader(bytes.NewReader(bytes.TrimLeft(data, " \t\r\n"))), si)
		if err != nil {
			var nm *age.NoIdentityMatchError
			if errors.As(err, &nm) || errors.Is(err, age.ErrIncorrectIdentity) {
				return nil, ErrWrongPassphrase
			}
			return nil, fmt.Errorf("%w: cannot decrypt", ErrKeyFile)
		}
		plain, err := io.ReadAll(io.LimitReader(r, MaxKeyFile+1))
		if err != nil {
			return nil, ErrWrongPassphrase
		}
		if len(plain) > MaxKeyFile {
			return nil, fmt.Errorf("%w: larger than %d bytes", ErrKeyFile, MaxKeyFile)
		}
		data = plain
	}
	payload, err := armor.DecodeKind(data, armor.SecretKey)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKeyFile, err)
	}
	return parseKeyPayload(payload, want)
}

func parseKeyPayload(payload []byte, want Role) (*Identity, error) {
	var kf keyFile
	if err := wire.Unmarshal(payload, &kf); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKeyFile, err)
	}
	if kf.Role != want {
		return nil, fmt.Errorf("%w: this is a %s key, expected a %s key", ErrKeyFile, kf.Role, want)
	}
	var id *Identity
	var err error
	switch kf.Version {
	case keyFileSeed:
		if kf.SignPub != nil || kf.HWKind != 0 || kf.HWSerial != nil {
			return nil, fmt.Errorf("%w: unexpected hardware key fields", ErrKeyFile)
		}
		id, err = newIdentity(kf.Role, kf.Seed, kf.Scalar)
	case keyFileHardware:
		if kf.Seed != nil {
			return nil, fmt.Errorf("%w: a hardware-key file holds no signing seed", ErrKeyFile)
		}
		id, err = newHardwareIdentity(kf.Role, kf.SignPub, HardwareKeyRef{Kind: kf.HWKind, Serial: kf.HWSerial}, kf.Scalar)
	default:
		return nil, fmt.Errorf("%w: unsupported version %d", ErrKeyFile, kf.Version)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKeyFile, err)
	}
	return id, nil
}
