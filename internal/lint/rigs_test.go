package lint

import (
	"os/exec"
	"strings"
	"testing"
)

// No binary links a test rig: the card emulator and the public test keys
// live under internal/testrig, apart from the runtime helpers.
func TestBinariesLinkNoTestRig(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "../../cmd/...").CombinedOutput()
	if err != nil {
		t.Skipf("go list: %v\n%s", err, out)
	}
	n := 0
	for _, p := range strings.Fields(string(out)) {
		n++
		if strings.Contains(p, "/internal/testrig") {
			t.Errorf("a binary depends on the test rig %s", p)
		}
	}
	if n < 50 {
		t.Fatalf("go list gave %d packages: the check is broken", n)
	}
}
