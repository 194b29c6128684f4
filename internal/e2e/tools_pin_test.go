package e2e

import (
	"crypto/ed25519"
	"testing"

	"github.com/airlock-offline/airlock/internal/testrig/cardemu"
)

// A PIN one try from blocked, reached the way an owner reaches it: wrong
// PINs typed into yubico-piv-tool. airlock then refuses to spend the last
// try (it would block the card), says why, and the card still has it.
func TestToolsPINOneTryLeft(t *testing.T) {
	cardemu.SkipUnlessStack(t)
	s := newSlot(t)
	r := readerArg()
	e := newEnv(t).on(machineA.tree(t)).with("AIRLOCK_PIN", "123456")
	s.insert(cardemu.New(cardemu.Config{
		PIV:     &cardemu.PIVConfig{Serial: 20000009, AttestationKey: ed25519.NewKeyFromSeed(make([]byte, 32))},
		YubiKey: &cardemu.YubiKeyConfig{Serial: 20000009}}))
	mustTool(t, nil, "yubico-piv-tool", "-r", r, "-a", "generate", "-s", "9a", "-A", "ECCP256")
	f := enrolAndActivate(t, e, "piv card 20000009 (p256)")
	verify(t, e, f.state, f.vk, "VALID", 0)

	for i := 0; i < 2; i++ {
		if out, err := runTool(t, nil, "yubico-piv-tool", "-r", r, "-a", "verify-pin", "-P", "000000"); err == nil {
			t.Fatalf("yubico-piv-tool accepted a wrong PIN:\n%s", out)
		}
	}
	wantLines(t, "yubico-piv-tool -a status", mustTool(t, nil, "yubico-piv-tool", "-r", r, "-a", "status"), "PIN tries left:\t1")

	o := e.airlock("--state", f.state, "verify", "--product", "acme-cad", "--vendor-key", f.vk)
	if o.code == 0 {
		t.Fatalf("verify spent the card's last PIN try:\n%s", o)
	}
	expectContains(t, "stderr", o.stderr, "tries left")
	// The last try is still there for its owner.
	wantLines(t, "yubico-piv-tool -a status", mustTool(t, nil, "yubico-piv-tool", "-r", r, "-a", "status"), "PIN tries left:\t1")
}
