package atomicfile

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// tempPrefix is the start of the name of a temporary file for base: a
// dot (hidden), base, ".tmp-" and the writer's process id, so that
// [RemoveStale] can tell the leftovers of a killed process from the files
// of one at work.
func tempPrefix(base string) string {
	return "." + base + ".tmp-" + pid + "-"
}

var pid = strconv.Itoa(os.Getpid())

// File is one file for [WriteMany]: its name in the directory, and its
// content.
type File struct {
	Name string
	Data []byte
}

// WriteMany writes files into dir, each as [Write] would (atomically, with
// mode perm as the umask leaves it, as os.WriteFile does), with one sync for them all instead of one per file: each file's
// data goes to a temporary file; then one sync makes them all durable
// (syncfs on Linux, else an fsync per file); then each is renamed into
// place, and the directory is synced once. So a crash at any point leaves
// each file absent (or as it was) or complete, never half written.
// progress, if not nil, is called as files are written (phase "write"),
// after the sync ("sync"), and as they are renamed ("rename"). errs[i] is
// the failure of files[i], or nil.
func WriteMany(dir string, files []File, perm fs.FileMode, progress func(phase string, done, total int)) (errs []error) {
	if progress == nil {
		progress = func(string, int, int) {}
	}
	errs = make([]error, len(files))
	tmps := make([]string, len(files))
	var rnd [4]byte
	rand.Read(rnd[:])
	run := hex.EncodeToString(rnd[:])
	for i, f := range files {
		if filepath.Base(f.Name) != f.Name || f.Name == "." || f.Name == ".." {
			errs[i] = fmt.Errorf("%w: %q is not a file name", fs.ErrInvalid, f.Name)
			continue
		}
		tmps[i] = filepath.Join(dir, tempPrefix(f.Name)+run+strconv.Itoa(i))
		errs[i] = writeTemp(tmps[i], f.Data, perm)
		if errs[i] != nil {
			os.Remove(tmps[i])
			tmps[i] = ""
		}
		progress("write", i+1, len(files))
	}
	progress("sync", 0, 1)
	if err := syncAll(dir, tmps); err != nil {
		for i, t := range tmps {
			if t != "" {
				os.Remove(t)
				errs[i] = err
			}
		}
		return errs
	}
	progress("sync", 1, 1)
	for i, t := range tmps {
		if t != "" {
			if err := rename(t, filepath.Join(dir, files[i].Name)); err != nil {
				os.Remove(t)
				errs[i] = err
			}
		}
		progress("rename", i+1, len(files))
	}
	if err := syncDir(dir); err != nil {
		for i, t := range tmps {
			if t != "" && errs[i] == nil {
				errs[i] = err
			}
		}
	}
	return errs
}

// RemoveStale removes from dir the temporary files that a killed process
// left while writing a file whose name match accepts (Write's and
// WriteMany's: ".NAME.tmp-PID-…" of a process that no longer runs), and
// returns how many it removed. Files of processes still running are left
// alone, as are all of them where processes cannot be probed.
func RemoveStale(dir string, match func(name string) bool) (int, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	n := 0
	var errs []error
	for _, e := range ents {
		name := e.Name()
		i := strings.LastIndex(name, ".tmp-")
		if !strings.HasPrefix(name, ".") || i < 1 || !e.Type().IsRegular() || !match(name[1:i]) {
			continue
		}
		pidStr, _, ok := strings.Cut(name[i+len(".tmp-"):], "-")
		pid, err := strconv.Atoi(pidStr)
		if !ok || err != nil || pid <= 0 || pid == os.Getpid() || processRuns(pid) {
			continue
		}
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}
