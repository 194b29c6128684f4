package usage_test

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/internal/testrig/testkeys"
	"github.com/airlock-offline/airlock/request"
	"github.com/airlock-offline/airlock/usage"
)

// pythonVerify parses each COSE_Sign1 with a CBOR reader of its own,
// rebuilds the Sig_structure of RFC 9052 section 4.4 and checks the
// Ed25519 signature with Python's cryptography, which nobody here wrote.
// It prints, per line "hex(message) hex(public key) tag", "ok" or why not.
const pythonVerify = `
import sys
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

def item(b, i):
    ib = b[i]; major, info = ib >> 5, ib & 31; i += 1
    if info < 24: n = info
    elif info == 24: n = b[i]; i += 1
    elif info == 25: n = int.from_bytes(b[i:i+2], "big"); i += 2
    elif info == 26: n = int.from_bytes(b[i:i+4], "big"); i += 4
    else: raise ValueError("length form %d" % info)
    if major == 0: return n, i
    if major == 1: return -1 - n, i
    if major in (2, 3):
        v = b[i:i+n]; return (v if major == 2 else v.decode()), i + n
    if major == 4:
        out = []
        for _ in range(n):
            v, i = item(b, i); out.append(v)
        return out, i
    if major == 5:
        out = {}
        for _ in range(n):
            k, i = item(b, i); v, i = item(b, i); out[k] = v
        return out, i
    if major == 6: return item(b, i)  # the tag (18) around COSE_Sign1
    raise ValueError("major type %d" % major)

def head(major, n):
    if n < 24: return bytes([major << 5 | n])
    if n < 256: return bytes([major << 5 | 24, n])
    if n < 65536: return bytes([major << 5 | 25]) + n.to_bytes(2, "big")
    return bytes([major << 5 | 26]) + n.to_bytes(4, "big")

def bstr(v): return head(2, len(v)) + v

for line in sys.stdin:
    msg, key, tag = line.split()
    msg, key = bytes.fromhex(msg), bytes.fromhex(key)
    if msg[0] != 0xd2:
        print("no COSE_Sign1 tag"); continue
    (protected, unprotected, payload, sig), end = item(msg, 0)
    hdr, _ = item(protected, 0)
    if end != len(msg) or hdr.get(1) != -8 or hdr.get(3) != tag:
        print("headers", hdr); continue
    tbs = head(4, 4) + head(3, 10) + b"Signature1" + bstr(protected) + bstr(b"") + bstr(payload)
    try:
        Ed25519PublicKey.from_public_bytes(key).verify(sig, tbs)
        print("ok")
    except Exception as e:
        print("bad signature", type(e).__name__)
`

// The signatures of usage reports and of the nodes' co-signatures (and so
// of every message crypto.Sign makes) verify with Python's cryptography,
// from the bytes alone; a changed payload does not.
func TestSignaturesByPythonCryptography(t *testing.T) {
	py := "/usr/bin/python3" // Debian's, with python3-cryptography (yubikey-manager depends on it; make test installs both)
	if out, err := exec.Command(py, "-c", "import cryptography.hazmat.primitives.asymmetric.ed25519").CombinedOutput(); err != nil {
		t.Skipf("no Python cryptography here (%v: %s): make test installs it", err, bytes.TrimSpace(out))
	}
	server := testkeys.Identity(crypto.RoleInstallation, "server")
	rep, err := usage.Sign(server, sample(1, nil))
	if err != nil {
		t.Fatal(err)
	}
	cosign, err := crypto.Sign(server, request.TagNodeCosign, []byte{0x82, 0x40, 0x80})
	if err != nil {
		t.Fatal(err)
	}
	tampered := bytes.Clone(rep.Bytes)
	i := bytes.Index(tampered, []byte("acme"))
	if i < 0 {
		t.Fatal("the sample report does not name acme")
	}
	tampered[i] ^= 0x20
	cases := []struct {
		msg  []byte
		tag  string
		want string
	}{
		{rep.Bytes, usage.Tag, "ok"},
		{cosign, request.TagNodeCosign, "ok"},
		{tampered, usage.Tag, "bad signature"},
		{rep.Bytes, request.TagNodeCosign, "headers"},
	}
	var in strings.Builder
	key := hex.EncodeToString(server.Public().Sign)
	for _, c := range cases {
		fmt.Fprintf(&in, "%x %s %s\n", c.msg, key, c.tag)
	}
	cmd := exec.Command(py, "-c", pythonVerify)
	cmd.Stdin = strings.NewReader(in.String())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	got := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(got) != len(cases) {
		t.Fatalf("python answered %q", out)
	}
	for i, c := range cases {
		if !strings.HasPrefix(got[i], c.want) {
			t.Errorf("case %d (%s): Python says %q, want %q", i, c.tag, got[i], c.want)
		}
	}
}
