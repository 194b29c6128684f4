package atomicfile

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// WriteMany writes every file whole, leaves no temporary file, and reports
// a file it could not put in place without stopping the others.
func TestWriteMany(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "blocked.txt"), 0o755); err != nil {
		t.Fatal(err)
	}
	files := []File{{"a.txt", []byte("alpha")}, {"blocked.txt", []byte("x")}, {"b.txt", []byte("bravo")}, {"../escape.txt", []byte("no")}}
	var phases []string
	errs := WriteMany(dir, files, 0o644, func(phase string, done, total int) {
		if len(phases) == 0 || phases[len(phases)-1] != phase {
			phases = append(phases, phase)
		}
	})
	if errs[0] != nil || errs[2] != nil || errs[1] == nil || errs[3] == nil {
		t.Fatalf("errors %v", errs)
	}
	if got := strings.Join(phases, ","); got != "write,sync,rename" {
		t.Errorf("phases %s", got)
	}
	for _, f := range []File{files[0], files[2]} {
		if b, err := os.ReadFile(filepath.Join(dir, f.Name)); err != nil || string(b) != string(f.Data) {
			t.Errorf("%s: %q, %v", f.Name, b, err)
		}
	}
	if l, _ := filepath.Glob(filepath.Join(dir, ".*")); len(l) > 0 {
		t.Errorf("temporary files left: %v", l)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(dir), "escape.txt")); err == nil {
		t.Error("a name with a path escaped the folder")
	}
}

// RemoveStale removes the temporary files of processes that ended, and
// only those, and only for the names asked.
func TestRemoveStale(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skip(err)
	}
	dead := cmd.Process.Pid
	names := map[string]bool{ // name: removed?
		fmt.Sprintf(".x.license.txt.tmp-%d-1", dead):        true,
		fmt.Sprintf(".x.license.txt.tmp-%d-2", os.Getpid()): false,
		fmt.Sprintf(".notes.txt.tmp-%d-1", dead):            false,
		".x.license.txt.tmp-123456789":                      false, // no pid: not ours to judge
		"x.license.txt":                                     false,
	}
	for n := range names {
		if err := os.WriteFile(filepath.Join(dir, n), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	n, err := RemoveStale(dir, func(name string) bool { return strings.HasSuffix(name, ".license.txt") })
	if err != nil || n != 1 {
		t.Fatalf("RemoveStale = %d, %v", n, err)
	}
	for name, removed := range names {
		if _, err := os.Stat(filepath.Join(dir, name)); (err != nil) != removed {
			t.Errorf("%s: removed %v, want %v", name, err != nil, removed)
		}
	}
}
