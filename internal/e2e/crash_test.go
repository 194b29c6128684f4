package e2e

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The desk killed with SIGKILL at random points while it signs: afterwards
// the ledger opens, its audit chain verifies, its seat counts agree with its
// activations, and every license that reached the disk is recorded in it.
// On the SQLite file and on a PostgreSQL ledger.
func TestCrashSafety(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		desk, vk := initDesk(t, e)
		crashSafety(t, e, desk, vk, 40*time.Millisecond)
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		target, password := postgresLedger(t)
		e := newEnv(t).with("PGPASSWORD", password)
		desk, vk := initDesk(t, e, "--db", target)
		// Connecting to the server takes longer than opening a file.
		crashSafety(t, e, desk, vk, 120*time.Millisecond)
	})
}

// crashSafety kills each sign run after a random delay of up to maxDelay
// (or up to 1.5 times what a whole run takes here, if longer: a loaded
// machine runs slower). Then the same with sign --batch, each run killed
// at a random point of its phases (check and sign, commit, write, sync,
// rename).
func crashSafety(t *testing.T, e *env, desk, vk string, maxDelay time.Duration) {
	key := createLicense(t, e, desk, "--max-machines", "1000")
	dir := t.TempDir()
	// Requests from a few installations on a few machines.
	var reqs []string
	for i := 0; i < 6; i++ {
		m := machineA
		m.machineID = strings.Repeat(string(rune('a'+i)), 32)
		reqs = append(reqs, request(t, e.on(m.tree(t)), filepath.Join(t.TempDir(), "s"), vk, key))
	}
	r := rand.New(rand.NewPCG(7, 11))
	var outs []string
	killed := 0
	start := time.Now()
	expectOK(t, e.vendor("--dir", desk, "sign", reqs[0], "-o", filepath.Join(dir, "license-first.txt")))
	outs = append(outs, filepath.Join(dir, "license-first.txt"))
	maxDelay = max(maxDelay, time.Since(start)*3/2)
	runKilled := func(args ...string) {
		cmd := exec.Command(vendorBin, append([]string{"--dir", desk}, args...)...)
		cmd.Env = e.environ()
		cmd.Dir = e.work
		detach(cmd)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		delay := time.Duration(r.Int64N(int64(maxDelay)))
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(delay):
			cmd.Process.Kill() // SIGKILL: no cleanup runs
			<-done
			killed++
		}
	}
	for i := 0; i < 30; i++ {
		out := filepath.Join(dir, "license-"+string(rune('a'+i%26))+string(rune('0'+i/26))+".txt")
		runKilled("sign", reqs[i%len(reqs)], "-o", out)
		outs = append(outs, out)
	}
	t.Logf("%d of 30 sign runs killed", killed)
	if killed == 0 {
		t.Fatal("no run was killed: the test proved nothing")
	}

	// Batches, in a folder of 30 requests (the six installations again,
	// and new ones).
	batch := t.TempDir()
	for i := 0; i < 30; i++ {
		req := reqs[i%len(reqs)]
		if i >= len(reqs) {
			m := machineA
			m.machineID = fmt.Sprintf("%032x", 0xba7c4+i)
			req = request(t, e.on(m.tree(t)), filepath.Join(t.TempDir(), "s"), vk, key)
		}
		writeFile(t, filepath.Join(batch, fmt.Sprintf("req-%02d.txt", i)), readFile(t, req))
	}
	start = time.Now()
	expectOK(t, e.vendor("--dir", desk, "sign", "--batch", batch))
	batchDelay := max(maxDelay, time.Since(start)*3/2)
	for _, l := range licenseFiles(t, batch) {
		os.Remove(l)
	}
	killed = 0
	for i := 0; i < 15; i++ {
		maxDelay = batchDelay
		runKilled("sign", "--batch", batch)
	}
	t.Logf("%d of 15 batch runs killed", killed)
	if killed == 0 {
		t.Fatal("no batch run was killed: the test proved nothing")
	}
	outs = append(outs, licenseFiles(t, batch)...)

	// The ledger is consistent.
	o := e.vendor("--dir", desk, "audit", "verify")
	expectOK(t, o)
	o = e.vendor("--dir", desk, "ledger", "export", "--json")
	expectOK(t, o)
	var ledger []struct {
		Key         string `json:"license_key"`
		SeatsUsed   int    `json:"seats_used"`
		Activations []struct {
			ID       string `json:"activation_id"`
			Released bool   `json:"released"`
		} `json:"activations"`
	}
	if err := json.Unmarshal([]byte(o.stdout), &ledger); err != nil || len(ledger) != 1 {
		t.Fatalf("export: %v\n%s", err, o.stdout)
	}
	recorded := map[string]bool{}
	for _, a := range ledger[0].Activations {
		recorded[a.ID] = true
	}
	list := e.vendor("--dir", desk, "license", "list", "--json")
	expectOK(t, list)
	var lics []struct {
		SeatsUsed int `json:"seats_used"`
	}
	if err := json.Unmarshal([]byte(list.stdout), &lics); err != nil || len(lics) != 1 || lics[0].SeatsUsed != len(ledger[0].Activations) {
		t.Fatalf("seat count %v disagrees with %d activations", lics, len(ledger[0].Activations))
	}

	// No license exists that the ledger does not record; no half file.
	licenses := 0
	for _, out := range outs {
		b, err := os.ReadFile(out)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		licenses++
		o := e.vendor("--dir", desk, "inspect", "--json", out)
		if o.code != 0 {
			t.Fatalf("%s is not a whole license:\n%s\n%s", out, b, o)
		}
		var rep struct {
			Verified bool `json:"verified"`
			Fields   []struct{ Name, Value string }
		}
		json.Unmarshal([]byte(o.stdout), &rep)
		id := ""
		for _, f := range rep.Fields {
			if f.Name == "activation id" {
				id = f.Value
			}
		}
		if !rep.Verified || !recorded[id] {
			t.Fatalf("%s: license for activation %q that the ledger does not record", out, id)
		}
	}
	leftovers, _ := filepath.Glob(filepath.Join(dir, ".*"))
	for _, l := range leftovers {
		t.Logf("temporary file left by a killed run (never read as a license): %s", filepath.Base(l))
	}
	// The next batch run removes what killed runs left in its folder.
	expectOK(t, e.vendor("--dir", desk, "sign", "--batch", batch))
	if l, _ := filepath.Glob(filepath.Join(batch, ".*")); len(l) > 0 {
		t.Errorf("temporary files left after a whole batch run: %v", l)
	}
	t.Logf("%d licenses written, %d activations recorded", licenses, len(recorded))
	if licenses == 0 || killed == 30 {
		t.Fatal("no run finished: the test proved nothing about finished runs")
	}
}
