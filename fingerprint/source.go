package fingerprint

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Limits that every Source applies.
const (
	// MaxFileSize is the largest file ReadFile returns. Collection reads
	// only small system files; a longer file is an error wrapping
	// ErrFileTooLarge.
	MaxFileSize = 64 << 10
	// MaxCommandOutput is the most standard output Command keeps.
	MaxCommandOutput = 64 << 10
	// CommandTimeout bounds every command OSSource runs. PowerShell can take
	// seconds to start on a cold Windows machine.
	CommandTimeout = 15 * time.Second
)

// Source is how collection reads the machine: the real OS (OSSource) or a
// fixture tree (DirSource, FSSource). Paths are slash-separated and absolute,
// as on Linux ("/etc/machine-id").
//
// Implementations must return errors that wrap fs.ErrNotExist for a missing
// file and fs.ErrPermission for an unreadable one: collection reports those
// as the reason a component is unavailable.
type Source interface {
	// ReadFile returns the content of a small file. A file longer than
	// MaxFileSize is an error wrapping ErrFileTooLarge.
	ReadFile(path string) ([]byte, error)
	// ReadDir lists a directory, sorted by name.
	ReadDir(path string) ([]fs.DirEntry, error)
	// Readlink returns the target of a symbolic link, unresolved.
	Readlink(path string) (string, error)
	// Command runs a system tool with a timeout and returns its standard
	// output (at most MaxCommandOutput bytes). Collection never runs a
	// command on Linux.
	Command(name string, args ...string) ([]byte, error)
	// GOOS names the operating system the source describes, as
	// runtime.GOOS does: "linux", "darwin", "windows".
	GOOS() string
}

// PrefixReader is an optional interface a Source may implement to read only
// the start of a file. Collection uses it for /proc/cpuinfo and
// /proc/self/mountinfo, which grow with the number of CPUs and mounts and
// whose first part is all it needs. Without it, collection calls ReadFile.
type PrefixReader interface {
	// ReadFilePrefix returns at most the first n bytes of a file. A longer
	// file is not an error.
	ReadFilePrefix(path string, n int) ([]byte, error)
}

// readPrefix reads at most n bytes of name from src, through PrefixReader when
// src has it.
func readPrefix(src Source, name string, n int) ([]byte, error) {
	if pr, ok := src.(PrefixReader); ok {
		return pr.ReadFilePrefix(name, n)
	}
	b, err := src.ReadFile(name)
	if len(b) > n {
		b = b[:n]
	}
	return b, err
}

// OSSource returns the Source for the machine the program runs on.
//
// On Windows and macOS, Command runs the well-known system tools ("reg",
// "wmic", "powershell", "ioreg", "sysctl") from their fixed system
// locations, never from PATH; any other name is looked up with
// exec.LookPath. Each command runs with CommandTimeout.
func OSSource() Source { return osSource{} }

type osSource struct{}

func (osSource) GOOS() string { return runtime.GOOS }

func (osSource) ReadFile(name string) ([]byte, error) {
	// Almost every file collection reads is one short line.
	b, err := readOSFile(name, MaxFileSize+1, 512)
	if err != nil {
		return nil, err
	}
	if len(b) > MaxFileSize {
		return nil, &fs.PathError{Op: "read", Path: name, Err: ErrFileTooLarge}
	}
	return b, nil
}

func (osSource) ReadFilePrefix(name string, n int) ([]byte, error) {
	return readOSFile(name, n, 4096)
}

func (osSource) ReadDir(name string) ([]fs.DirEntry, error) {
	return os.ReadDir(filepath.FromSlash(name))
}

func (osSource) Readlink(name string) (string, error) {
	return os.Readlink(filepath.FromSlash(name))
}

func (osSource) Command(name string, args ...string) ([]byte, error) {
	bin, err := systemTool(name)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), CommandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	out := &cappedBuffer{max: MaxCommandOutput}
	cmd.Stdout = out
	cmd.Stderr = nil
	cmd.WaitDelay = time.Second
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return out.Bytes(), fmt.Errorf("%s: %w", name, ErrCommandTimeout)
		}
		return out.Bytes(), fmt.Errorf("%s: %w", name, err)
	}
	return out.Bytes(), nil
}

// systemTool resolves the tools collection runs to their fixed locations, so
// that a directory early in PATH cannot stand in for them.
func systemTool(name string) (string, error) {
	switch runtime.GOOS {
	case "windows":
		root := os.Getenv("SystemRoot")
		if root == "" {
			root = `C:\Windows`
		}
		switch name {
		case "reg":
			return root + `\System32\reg.exe`, nil
		case "wmic":
			return root + `\System32\wbem\WMIC.exe`, nil
		case "powershell":
			return root + `\System32\WindowsPowerShell\v1.0\powershell.exe`, nil
		}
	case "darwin":
		switch name {
		case "ioreg":
			return "/usr/sbin/ioreg", nil
		case "sysctl":
			return "/usr/sbin/sysctl", nil
		}
	}
	return exec.LookPath(name)
}

// cappedBuffer keeps the first max bytes written to it and drops the rest.
type cappedBuffer struct {
	bytes.Buffer
	max int
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); room > 0 {
		b.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// DirSource returns a Source that reads a fixture tree in the directory root
// instead of the machine: "/etc/machine-id" is root/etc/machine-id. It is
// FSSource(os.DirFS(root), goos); see FSSource for the fixture conventions.
func DirSource(root string, goos string) Source {
	return FSSource(os.DirFS(root), goos)
}

// FSSource returns a Source that reads a fixture tree from fsys for an
// operating system goos. Paths are looked up without their leading slash.
// Three entries under .fixture/ describe what a plain tree cannot:
//
//   - .fixture/links: lines "path -> target"; Readlink returns target. A
//     symbolic link in fsys works too, where fsys supports fs.ReadLinkFS.
//   - .fixture/denied: one absolute path per line; reading it, or anything
//     below it, fails with fs.ErrPermission, as root-only files do for an
//     unprivileged user.
//   - .fixture/commands/NAME.txt: the output of a command, where NAME is the
//     command and its arguments joined by single spaces, with each of
//     / \ : * ? " < > | and white space replaced by "_". For example
//     `reg query HKLM\SOFTWARE\Microsoft\Cryptography /v MachineGuid` reads
//     .fixture/commands/reg_query_HKLM_SOFTWARE_Microsoft_Cryptography__v_MachineGuid.txt.
//     A missing file is a command that failed.
//
// Lines starting with "#" in links and denied are comments.
func FSSource(fsys fs.FS, goos string) Source {
	s := &fsSource{fsys: fsys, goos: goos, links: map[string]string{}}
	if b, err := fs.ReadFile(fsys, ".fixture/links"); err == nil {
		for _, line := range fixtureLines(b) {
			from, to, ok := strings.Cut(line, " -> ")
			if ok {
				s.links[path.Clean(strings.TrimSpace(from))] = strings.TrimSpace(to)
			}
		}
	}
	if b, err := fs.ReadFile(fsys, ".fixture/denied"); err == nil {
		for _, line := range fixtureLines(b) {
			s.denied = append(s.denied, path.Clean(line))
		}
	}
	return s
}

func fixtureLines(b []byte) []string {
	var lines []string
	for line := range strings.Lines(string(b)) {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "#") {
			lines = append(lines, line)
		}
	}
	return lines
}

type fsSource struct {
	fsys   fs.FS
	goos   string
	links  map[string]string
	denied []string
}

func (s *fsSource) GOOS() string { return s.goos }

// name maps an absolute Source path to an fs.FS name, applying the denied
// list.
func (s *fsSource) name(op, p string) (string, error) {
	if !strings.HasPrefix(p, "/") {
		return "", &fs.PathError{Op: op, Path: p, Err: fs.ErrInvalid}
	}
	p = path.Clean(p)
	for _, d := range s.denied {
		if p == d || strings.HasPrefix(p, d+"/") || d == "/" {
			return "", &fs.PathError{Op: op, Path: p, Err: fs.ErrPermission}
		}
	}
	if p == "/" {
		return ".", nil
	}
	name := p[1:]
	if name == ".fixture" || strings.HasPrefix(name, ".fixture/") {
		return "", &fs.PathError{Op: op, Path: p, Err: fs.ErrNotExist}
	}
	return name, nil
}

func (s *fsSource) ReadFile(p string) ([]byte, error) {
	b, err := s.ReadFilePrefix(p, MaxFileSize+1)
	if err != nil {
		return nil, err
	}
	if len(b) > MaxFileSize {
		return nil, &fs.PathError{Op: "read", Path: p, Err: ErrFileTooLarge}
	}
	return b, nil
}

func (s *fsSource) ReadFilePrefix(p string, n int) ([]byte, error) {
	name, err := s.name("open", p)
	if err != nil {
		return nil, err
	}
	f, err := s.fsys.Open(name)
	if err != nil {
		return nil, rewritePath(err, p)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, int64(n)))
	if err != nil {
		return nil, rewritePath(err, p)
	}
	return b, nil
}

func (s *fsSource) ReadDir(p string) ([]fs.DirEntry, error) {
	name, err := s.name("readdir", p)
	if err != nil {
		return nil, err
	}
	des, err := fs.ReadDir(s.fsys, name)
	if err != nil {
		return nil, rewritePath(err, p)
	}
	// The fixture bookkeeping is not part of the tree.
	return slices.DeleteFunc(des, func(d fs.DirEntry) bool { return name == "." && d.Name() == ".fixture" }), nil
}

func (s *fsSource) Readlink(p string) (string, error) {
	name, err := s.name("readlink", p)
	if err != nil {
		return "", err
	}
	if t, ok := s.links[path.Clean(p)]; ok {
		return t, nil
	}
	if t, err := fs.ReadLink(s.fsys, name); err == nil {
		return t, nil
	} else if !errors.Is(err, fs.ErrInvalid) && !errors.Is(err, errors.ErrUnsupported) {
		return "", rewritePath(err, p)
	}
	// Like readlink(2) on a file that is not a link.
	if _, err := fs.Stat(s.fsys, name); err != nil {
		return "", rewritePath(err, p)
	}
	return "", &fs.PathError{Op: "readlink", Path: p, Err: fs.ErrInvalid}
}

func (s *fsSource) Command(name string, args ...string) ([]byte, error) {
	file := ".fixture/commands/" + CommandFileName(name, args...)
	b, err := fs.ReadFile(s.fsys, file)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, exec.ErrNotFound)
	}
	if len(b) > MaxCommandOutput {
		b = b[:MaxCommandOutput]
	}
	return b, nil
}

// CommandFileName is the file name under .fixture/commands/ that FSSource
// reads for a command line; see FSSource.
func CommandFileName(name string, args ...string) string {
	line := strings.Join(append([]string{name}, args...), " ")
	var b strings.Builder
	for _, r := range line {
		if strings.ContainsRune(`/\:*?"<>|`, r) || r == ' ' || r == '\t' || r == '\n' || r == '\r' {
			r = '_'
		}
		b.WriteRune(r)
	}
	return b.String() + ".txt"
}

// rewritePath reports a fixture error under the Source path rather than the
// fs.FS name.
func rewritePath(err error, p string) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return &fs.PathError{Op: pe.Op, Path: p, Err: pe.Err}
	}
	return err
}
