// Package vectors reads the test vectors in testdata/vectors: files any
// implementation of the airlock format can run. Each file starts with
// "name: value" header lines, then a blank line, then the message exactly as
// a user would hand it over (armored file, bare text, scanner-typed text).
//
// Headers:
//
//	expect:       the result code verification must give (VALID, MALFORMED, …)
//	kind:         request, license or receipt
//	description:  what the vector is about
//	now:          the verifier's clock, RFC 3339 (license)
//	product:      the product the verifier expects (license)
//	vendor-key:   the pinned vendor public key, AV1… (license)
//	installation: this installation's public key, AI1… (license)
//	machine:      this machine's fingerprint now: the combined id in hex, then
//	              component digests as id=hex separated by commas (license)
//	env:          optional: the environment the machine reports, as
//	              fingerprint.Env text ("vm,cloud"); default none
package vectors

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Vector is one test vector file.
type Vector struct {
	Name    string
	Headers map[string]string
	Body    []byte
}

// Dir returns the vectors directory, found from the module root.
func Dir() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "testdata", "vectors"), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// Load reads every vector, sorted by name.
func Load() ([]Vector, error) {
	dir, err := Dir()
	if err != nil {
		return nil, err
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.txt"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	var out []Vector
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		v, err := Parse(filepath.Base(f), data)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// Parse splits a vector file into headers and body.
func Parse(name string, data []byte) (Vector, error) {
	v := Vector{Name: strings.TrimSuffix(name, ".txt"), Headers: map[string]string{}}
	sep := bytes.Index(data, []byte("\n\n"))
	if sep < 0 {
		return v, fmt.Errorf("%s: no blank line after the headers", name)
	}
	sc := bufio.NewScanner(bytes.NewReader(data[:sep]))
	for sc.Scan() {
		k, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			return v, fmt.Errorf("%s: bad header line %q", name, sc.Text())
		}
		v.Headers[strings.TrimSpace(k)] = strings.TrimSpace(val)
	}
	if v.Headers["expect"] == "" || v.Headers["kind"] == "" {
		return v, fmt.Errorf("%s: missing expect: or kind: header", name)
	}
	v.Body = data[sep+2:]
	return v, nil
}
