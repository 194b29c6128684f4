package e2e

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/airlock-offline/airlock/internal/testrig/cardemu"
)

// Independent tools — the programs people set up real tokens with — talk
// to the emulated cards through pcscd. Where the emulator and a tool
// disagree, the tool wins: a tool that cannot read or provision the card
// fails the test. `make test-deps` installs them (Debian: yubikey-manager,
// yubico-piv-tool, opensc, gnupg, scdaemon).

// runTool runs an installed tool with a deadline; a missing tool fails
// the test (the stack's tests must run them).
func runTool(t *testing.T, env []string, name string, args ...string) (string, error) {
	t.Helper()
	return runToolInput(t, env, "", name, args...)
}

// runToolInput is runTool with stdin.
func runToolInput(t *testing.T, env []string, stdin, name string, args ...string) (string, error) {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not installed (make test-deps installs it): %v", name, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func mustTool(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	out, err := runTool(t, env, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

func wantLines(t *testing.T, tool, out string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(out, s) {
			t.Fatalf("%s: output lacks %q:\n%s", tool, s, out)
		}
	}
}

// readerArg is what ykman and yubico-piv-tool take to pick vpcd's first
// reader (a substring of its name, which the second reader's lacks).
func readerArg() string {
	r := cardemu.Slots()[0].Reader
	if i := strings.Index(r, "PCD"); i >= 0 {
		return r[i:]
	}
	return r
}

// gnupgHome makes a GnuPG home whose scdaemon uses pcscd (shared) and
// vpcd's first reader, and stops its daemons at the end of the test.
func gnupgHome(t *testing.T) []string {
	t.Helper()
	home, err := os.MkdirTemp("", "gh") // short: the agent's socket path is bounded
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(home, 0o700); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf("disable-ccid\npcsc-shared\nreader-port %s\n", cardemu.Slots()[0].Reader)
	writeFile(t, filepath.Join(home, "scdaemon.conf"), []byte(conf))
	env := []string{"GNUPGHOME=" + home}
	t.Cleanup(func() {
		if p, err := exec.LookPath("gpgconf"); err == nil {
			cmd := exec.Command(p, "--kill", "all")
			cmd.Env = append(os.Environ(), env...)
			_ = cmd.Run()
		}
		os.RemoveAll(home)
	})
	return env
}

// transcriptCard is the YubiKey of the recorded transcripts: both applets
// and the management applet, keys from fixed seeds and Ed25519 throughout
// (deterministic signatures), so the emulator's answers can be replayed
// byte for byte (testdata/transcripts, internal/testrig/cardemu/transcript_test.go).
func transcriptCard() *cardemu.Card { return cardemu.New(cardemu.TranscriptConfig()) }

// maybeWriteTranscript stores what the tool sent and the card answered
// under testdata/transcripts when AIRLOCK_WRITE_TRANSCRIPTS=1.
func maybeWriteTranscript(t *testing.T, c *cardemu.Card, name, header string) {
	t.Helper()
	if os.Getenv("AIRLOCK_WRITE_TRANSCRIPTS") != "1" {
		return
	}
	path := filepath.Join(moduleDir, "testdata", "transcripts", name+".txt")
	if err := os.WriteFile(path, cardemu.FormatTranscript(header, c.Transcript()), 0o644); err != nil {
		t.Fatal(err)
	}
}

func toolVersion(t *testing.T, name string, args ...string) string {
	out, _ := runTool(t, nil, name, args...)
	line, _, _ := strings.Cut(strings.TrimSpace(out), "\n")
	return line
}

// The tools read the emulated YubiKey as they read a real one.
func TestToolsReadEmulatedCard(t *testing.T) {
	cardemu.SkipUnlessStack(t)
	s := newSlot(t)
	c := transcriptCard()
	s.insert(c)
	r := readerArg()

	c.ResetTranscript()
	out := mustTool(t, nil, "ykman", "--reader", r, "info")
	wantLines(t, "ykman info", out, "Serial number: 12345678", "Firmware version: 5.7.1", "OpenPGP     \tEnabled", "PIV         \tEnabled")
	maybeWriteTranscript(t, c, "ykman-info", "ykman --reader R info ("+toolVersion(t, "ykman", "--version")+")")

	c.ResetTranscript()
	out = mustTool(t, nil, "ykman", "--reader", r, "piv", "info")
	wantLines(t, "ykman piv info", out, "PIV version: 5.7.1", "PIN tries remaining: 3/3", "Management key algorithm: TDES", "Slot 9a:")
	maybeWriteTranscript(t, c, "ykman-piv-info", "ykman --reader R piv info ("+toolVersion(t, "ykman", "--version")+")")

	c.ResetTranscript()
	out = mustTool(t, nil, "ykman", "--reader", r, "openpgp", "info")
	wantLines(t, "ykman openpgp info", out, "OpenPGP version: 3.4", "PIN tries remaining: 3")

	c.ResetTranscript()
	out = mustTool(t, nil, "yubico-piv-tool", "-r", r, "-a", "status")
	wantLines(t, "yubico-piv-tool -a status", out, "Version:\t5.7.1", "Serial Number:\t12345678", "Slot 9a:", "PIN tries left:\t3")
	maybeWriteTranscript(t, c, "yubico-piv-tool-status", "yubico-piv-tool -r R -a status ("+toolVersion(t, "yubico-piv-tool", "--version")+")")

	c.ResetTranscript()
	out = mustTool(t, nil, "openpgp-tool", "-r", "0")
	wantLines(t, "openpgp-tool", out, "Language:        en")

	c.ResetTranscript()
	env := gnupgHome(t)
	out = mustTool(t, env, "gpg", "--card-status")
	wantLines(t, "gpg --card-status", out, "Application type .: OpenPGP", "Version ..........: 3.4", "Manufacturer .....: Yubico",
		"Serial number ....: 00BC614E", "PIN retry counter : 3 0 3", "KDF setting ......: off", "Authentication key: ")
	if strings.Contains(out, "Authentication key: [none]") {
		t.Fatalf("gpg sees no authentication key:\n%s", out)
	}
	maybeWriteTranscript(t, c, "gpg-card-status", "gpg --card-status ("+toolVersion(t, "gpg", "--version")+", scdaemon through pcscd)")
}

const defaultMgmtKey = "010203040506070801020304050607080102030405060708"

// PIV keys set up as their owners set them up — with ykman and
// yubico-piv-tool, with and without a certificate — then enrolled, signed
// and verified through the binaries.
func TestToolsProvisionPIV(t *testing.T) {
	cardemu.SkipUnlessStack(t)
	s := newSlot(t)
	r := readerArg()
	e := newEnv(t).on(machineA.tree(t)).with("AIRLOCK_PIN", "123456")
	blank := func(serial uint32) *cardemu.Card {
		return cardemu.New(cardemu.Config{
			PIV:     &cardemu.PIVConfig{Serial: serial, AttestationKey: ed25519.NewKeyFromSeed(make([]byte, 32))},
			YubiKey: &cardemu.YubiKeyConfig{Serial: serial}})
	}

	// ykman piv keys generate 9a: a key and no certificate.
	s.insert(blank(20000001))
	pub := filepath.Join(t.TempDir(), "pub.pem")
	mustTool(t, nil, "ykman", "--reader", r, "piv", "keys", "generate", "-m", defaultMgmtKey, "-a", "ECCP256", "9a", pub)
	f := enrolAndActivate(t, e, "piv card 20000001 (p256)")
	verify(t, e, f.state, f.vk, "VALID", 0)
	// ...then a self-signed certificate for it, as ykman makes it.
	mustTool(t, nil, "ykman", "--reader", r, "piv", "certificates", "generate", "-m", defaultMgmtKey, "-P", "123456", "-s", "CN=airlock test", "9a", pub)
	out := mustTool(t, nil, "yubico-piv-tool", "-r", r, "-a", "status")
	wantLines(t, "yubico-piv-tool -a status", out, "Subject DN:\tCN=airlock test")
	out = mustTool(t, nil, "pkcs15-tool", "-r", "0", "--list-public-keys")
	wantLines(t, "pkcs15-tool --list-public-keys", out, "PIV AUTH pubkey", "Key ref        : 154 (0x9A)")
	verify(t, e, f.state, f.vk, "VALID", 0)

	// yubico-piv-tool -a generate: a key and no certificate.
	s.insert(blank(20000002))
	mustTool(t, nil, "yubico-piv-tool", "-r", r, "-a", "generate", "-s", "9a", "-A", "ECCP256")
	g := enrolAndActivate(t, e, "piv card 20000002 (p256)")
	verify(t, e, g.state, g.vk, "VALID", 0)

	// A key generated anew on the same token: the enrolled key is gone.
	mustTool(t, nil, "ykman", "--reader", r, "piv", "keys", "generate", "-m", defaultMgmtKey, "-a", "ECCP256", "9a", pub)
	verify(t, e, g.state, g.vk, "HARDWARE_KEY_PROOF_FAILED", 21)
}

// gpg --card-edit → admin → kdf-setup on a card already enrolled: from
// then on the card wants the PIN's hash, with the salt and iteration count
// gpg chose. airlock reads the KDF-DO gpg wrote and keeps proving, without
// spending a try.
func TestToolsGPGKDFSetup(t *testing.T) {
	cardemu.SkipUnlessStack(t)
	s := newSlot(t)
	c := cardemu.New(cardemu.Config{OpenPGP: &cardemu.OpenPGPConfig{Manufacturer: 0x0006, Serial: 22000001, AuthKey: edKey("gpg kdf")},
		YubiKey: &cardemu.YubiKeyConfig{Serial: 22000001}})
	s.insert(c)
	e := newEnv(t).on(machineA.tree(t)).with("AIRLOCK_PIN", "123456")
	f := enrolAndActivate(t, e, "openpgp card 0006 014FB181 (ed25519)")
	verify(t, e, f.state, f.vk, "VALID", 0)

	env := gnupgHome(t)
	out, err := runToolInput(t, env, "admin\nkdf-setup\n12345678\nquit\n", "gpg",
		"--batch", "--pinentry-mode", "loopback", "--command-fd", "0", "--status-fd", "1", "--card-edit")
	if err != nil {
		t.Fatalf("gpg --card-edit kdf-setup: %v\n%s", err, out)
	}
	out = mustTool(t, env, "gpg", "--card-status")
	wantLines(t, "gpg --card-status", out, "KDF setting ......: on")
	// gpg is done with the card: let airlock have it.
	mustTool(t, env, "gpgconf", "--kill", "all")

	verify(t, e, f.state, f.vk, "VALID", 0)
	if c.TriesLeft() != 3 {
		t.Fatalf("%d tries left after a right PIN on a KDF card, want 3", c.TriesLeft())
	}
}

// gpgCardEdit runs gpg --card-edit with the answers to its prompts, one a
// line (PINs through loopback pinentry).
func gpgCardEdit(t *testing.T, env []string, expert bool, answers ...string) string {
	t.Helper()
	args := []string{"--no-tty", "--pinentry-mode", "loopback", "--command-fd", "0", "--status-fd", "1"}
	if expert {
		args = append(args, "--expert")
	}
	args = append(args, "--card-edit")
	out, err := runToolInput(t, env, strings.Join(answers, "\n")+"\n", "gpg", args...)
	if err != nil && !strings.Contains(out, "KEY_CREATED") {
		t.Fatalf("gpg --card-edit: %v\n%s", err, out)
	}
	return out
}

// Keys generated on a blank OpenPGP card with gpg --card-edit (key-attr,
// then generate), Ed25519 and NIST P-256, as their owners do it; then
// enrolled, signed and verified through the binaries.
func TestToolsGPGGenerate(t *testing.T) {
	cardemu.SkipUnlessStack(t)
	s := newSlot(t)
	e := newEnv(t).on(machineA.tree(t)).with("AIRLOCK_PIN", "123456")
	for _, tc := range []struct {
		name   string
		serial uint32
		expert bool
		curve  string // the answer to gpg's curve menu
		attrs  string
		alg    string
	}{
		{"ed25519", 23000001, false, "1", "Key attributes ...: ed25519 cv25519 ed25519", "ed25519"},
		{"p256", 23000002, true, "3", "Key attributes ...: nistp256 nistp256 nistp256", "p256"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.insert(cardemu.New(cardemu.Config{OpenPGP: &cardemu.OpenPGPConfig{Manufacturer: 0x0006, Serial: tc.serial},
				YubiKey: &cardemu.YubiKeyConfig{Serial: tc.serial}}))
			env := gnupgHome(t)
			admin := "12345678"
			out := gpgCardEdit(t, env, tc.expert, "admin", "key-attr",
				"2", tc.curve, admin, "2", tc.curve, admin, "2", tc.curve, admin,
				"generate", admin, "123456", "0", "Airlock Test", "test@example.com", "", "123456", "123456", "quit")
			wantLines(t, "gpg --card-edit generate", out, "[GNUPG:] KEY_CREATED")
			out = mustTool(t, env, "gpg", "--card-status")
			wantLines(t, "gpg --card-status", out, tc.attrs, "card-no: 0006 ")
			if strings.Contains(out, "Authentication key: [none]") {
				t.Fatalf("gpg made no authentication key:\n%s", out)
			}
			mustTool(t, env, "gpgconf", "--kill", "all") // let airlock have the card

			f := enrolAndActivate(t, e, fmt.Sprintf("openpgp card 0006 %08X (%s)", tc.serial, tc.alg))
			verify(t, e, f.state, f.vk, "VALID", 0)
		})
	}
}

// A YubiKey with both applets set up by their tools, in the usual order:
// a PIV key from ykman (enrolled: the OpenPGP applet is still empty), then
// gpg keys on the OpenPGP applet for SSH. The license stays VALID: the key
// is looked up by the applet it was enrolled with.
func TestToolsDualAppletYubiKey(t *testing.T) {
	cardemu.SkipUnlessStack(t)
	s := newSlot(t)
	r := readerArg()
	e := newEnv(t).on(machineA.tree(t)).with("AIRLOCK_PIN", "123456")
	s.insert(cardemu.New(cardemu.Config{
		OpenPGP: &cardemu.OpenPGPConfig{Manufacturer: 0x0006, Serial: 24000001},
		PIV:     &cardemu.PIVConfig{Serial: 24000001},
		YubiKey: &cardemu.YubiKeyConfig{Serial: 24000001}}))
	pub := filepath.Join(t.TempDir(), "pub.pem")
	mustTool(t, nil, "ykman", "--reader", r, "piv", "keys", "generate", "-m", defaultMgmtKey, "-a", "ECCP256", "9a", pub)
	f := enrolAndActivate(t, e, "piv card 24000001 (p256)")
	verify(t, e, f.state, f.vk, "VALID", 0)

	env := gnupgHome(t)
	admin := "12345678"
	out := gpgCardEdit(t, env, false, "admin", "key-attr", "2", "1", admin, "2", "1", admin, "2", "1", admin,
		"generate", admin, "123456", "0", "Airlock Test", "test@example.com", "", "123456", "123456", "quit")
	wantLines(t, "gpg --card-edit generate", out, "[GNUPG:] KEY_CREATED")
	mustTool(t, env, "gpgconf", "--kill", "all")
	out = mustTool(t, nil, "ykman", "--reader", r, "openpgp", "info")
	wantLines(t, "ykman openpgp info", out, "OpenPGP version: 3.4")
	verify(t, e, f.state, f.vk, "VALID", 0)
}
