package response_test

import (
	"bytes"
	"encoding/hex"
	"os/exec"
	"strings"
	"testing"

	"github.com/airlock-offline/airlock/response"
)

// The licensee-secret binding is Argon2id with the documented parameters,
// not a fast hash: a copy of a license must not let anyone test millions of
// guesses of the secret per second. The expected value comes from Python's
// cryptography package (an Argon2id implementation nobody here wrote).
func TestSecretBindingIsArgon2id(t *testing.T) {
	actID := make([]byte, 16)
	for i := range actID {
		actID[i] = byte(i)
	}
	inst := bytes.Repeat([]byte{0x42}, 32)
	secret := []byte("correct horse battery staple")
	const want = "8653197cb0a1ef902742ff7cf010f8da562dc7a4e76fe144def9831f798c08ab"
	got := hex.EncodeToString(response.SecretBinding(actID, inst, secret))
	if got != want {
		t.Fatalf("SecretBinding = %s, want %s (Argon2id t=2 m=19MiB p=1)", got, want)
	}
	if bytes.Equal(response.SecretBinding(actID, bytes.Repeat([]byte{0x43}, 32), secret), response.SecretBinding(actID, inst, secret)) {
		t.Fatal("the binding does not depend on the installation key (salt)")
	}

	// The same computation, live, by Python's cryptography when present.
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Log("python3 not installed: checked against the recorded value only")
		return
	}
	script := `import sys
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
salt = b"airlock licensee secret binding v2\x00" + bytes.fromhex(sys.argv[1]) + bytes.fromhex(sys.argv[2])
print(Argon2id(salt=salt, length=32, iterations=2, lanes=1, memory_cost=19*1024).derive(sys.argv[3].encode()).hex())`
	out, err := exec.Command(py, "-c", script, hex.EncodeToString(actID), hex.EncodeToString(inst), "another secret").CombinedOutput()
	if err != nil {
		t.Logf("python3 cryptography without Argon2id (%v): checked against the recorded value only", strings.TrimSpace(string(out)))
		return
	}
	if g := hex.EncodeToString(response.SecretBinding(actID, inst, []byte("another secret"))); g != strings.TrimSpace(string(out)) {
		t.Fatalf("SecretBinding = %s, Python's cryptography says %s", g, out)
	}
}

// BenchmarkSecretBinding is what one licensee-secret check costs the
// machine at verify time, the desk at signing, and an attacker per guess
// of the secret from a copy of the license (the figure in make bench).
func BenchmarkSecretBinding(b *testing.B) {
	actID, inst := make([]byte, 16), make([]byte, 32)
	b.ReportAllocs()
	for b.Loop() {
		response.SecretBinding(actID, inst, []byte("correct horse battery staple"))
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "guesses/s")
}
