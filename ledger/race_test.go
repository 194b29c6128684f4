package ledger

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestLastSeatRace has goroutines on two Ledgers on one file or schema (two
// desks) race, each for another machine, for the last seat of a license.
func TestLastSeatRace(t *testing.T) { forEachBackend(t, testLastSeatRace) }

func testLastSeatRace(t *testing.T, b testBackend) {
	ctx := context.Background()
	path := b.target(t)
	desks := openDesks(t, path, 2)

	const (
		maxMachines = 4
		perDesk     = 12
		rounds      = 3
	)
	for round := range rounds {
		key := fmt.Sprintf("RACE-%04d", round)
		mustCreate(t, desks[0], testLicense(key, maxMachines))
		for m := range maxMachines - 1 {
			if _, err := desks[m%2].Record(ctx, activation(key, byte(m), fmt.Sprintf("%02x%02x", round, m))); err != nil {
				t.Fatal(err)
			}
		}

		var (
			wg    sync.WaitGroup
			start = make(chan struct{})
			errs  = make([]error, 2*perDesk)
		)
		for g := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				machine := byte(100 + g)
				a := activation(key, machine, fmt.Sprintf("%02x%02x", round, machine))
				<-start
				var reused bool
				reused, errs[g] = desks[g%2].Record(ctx, a)
				if reused {
					errs[g] = errors.New("a new machine reused a seat")
				}
			}()
		}
		close(start)
		wg.Wait()

		won := 0
		for g, err := range errs {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, ErrTooManyMachines):
				t.Errorf("round %d, goroutine %d: %v", round, g, err)
			}
		}
		if won != 1 {
			t.Errorf("round %d: %d goroutines got the last seat, want exactly 1", round, won)
		}
		for i, l := range desks {
			if n := seats(t, l, key); n != maxMachines {
				t.Errorf("round %d: desk %d counts %d seats, want %d", round, i, n, maxMachines)
			}
		}
	}
	checkSeatCounters(t, desks[1])
}

// TestSameMachineRace has one installation's requests race on two desks
// for a one-seat license: one takes the seat, the others reuse it.
func TestSameMachineRace(t *testing.T) { forEachBackend(t, testSameMachineRace) }

func testSameMachineRace(t *testing.T, b testBackend) {
	ctx := context.Background()
	path := b.target(t)
	desks := openDesks(t, path, 2)
	const key = "SAME-0001"
	mustCreate(t, desks[0], testLicense(key, 1))

	const n = 16
	var (
		wg     sync.WaitGroup
		start  = make(chan struct{})
		reused = make([]bool, n)
		ids    = make([]string, n)
		errs   = make([]error, n)
	)
	for g := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := activation(key, 7, fmt.Sprintf("%02x", g))
			<-start
			reused[g], errs[g] = desks[g%2].Record(ctx, a)
			ids[g] = a.ID
		}()
	}
	close(start)
	wg.Wait()

	fresh, winner := 0, ""
	for g := range n {
		if errs[g] != nil {
			t.Fatalf("goroutine %d: %v", g, errs[g])
		}
		if !reused[g] {
			fresh++
			winner = ids[g]
		}
	}
	if fresh != 1 {
		t.Fatalf("%d requests took a new seat, want 1", fresh)
	}
	for g := range n {
		if ids[g] != winner {
			t.Errorf("goroutine %d got activation ID %q, want the seat's ID %q", g, ids[g], winner)
		}
	}
	if got := seats(t, desks[1], key); got != 1 {
		t.Errorf("seats = %d, want 1", got)
	}
}

// The environment of a TestLastSeatAcrossProcesses child process.
const (
	childDBEnv      = "AIRLOCK_LEDGER_TEST_DB"
	childMachineEnv = "AIRLOCK_LEDGER_TEST_MACHINE"
	childGoEnv      = "AIRLOCK_LEDGER_TEST_GO"
)

// TestLastSeatAcrossProcesses runs desks as separate processes (this test
// binary, running TestChildRecord) that race for the last seat.
func TestLastSeatAcrossProcesses(t *testing.T) { forEachBackend(t, testLastSeatAcrossProcesses) }

func testLastSeatAcrossProcesses(t *testing.T, b testBackend) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Skip(err)
	}
	path := b.target(t)
	goFile := filepath.Join(t.TempDir(), "go")
	l, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	const key = "PROC-0001"
	mustCreate(t, l, testLicense(key, 2))
	if _, err := l.Record(context.Background(), activation(key, 1, "01")); err != nil {
		t.Fatal(err)
	}

	const children = 4
	cmds := make([]*exec.Cmd, children)
	outs := make([]strings.Builder, children)
	for i := range cmds {
		cmd := exec.Command(exe, "-test.run=^TestChildRecord$", "-test.v")
		// The target travels in the environment, which other users
		// cannot read, not on the command line: a URL holds a password.
		cmd.Env = append(os.Environ(),
			childDBEnv+"="+path,
			childMachineEnv+"="+strconv.Itoa(10+i),
			childGoEnv+"="+goFile)
		cmd.Stdout = &outs[i]
		cmd.Stderr = &outs[i]
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds[i] = cmd
	}
	if err := os.WriteFile(goFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	won := 0
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("child %d: %v\n%s", i, err, outs[i].String())
		}
		switch out := outs[i].String(); {
		case strings.Contains(out, "RESULT won"):
			won++
		case strings.Contains(out, "RESULT full"):
		default:
			t.Fatalf("child %d did not report a result:\n%s", i, out)
		}
	}
	if won != 1 {
		t.Errorf("%d processes got the last seat, want exactly 1", won)
	}
	if n := seats(t, l, key); n != 2 {
		t.Errorf("seats = %d, want 2", n)
	}
}

// TestChildRecord is one desk process of TestLastSeatAcrossProcesses.
func TestChildRecord(t *testing.T) {
	path := os.Getenv(childDBEnv)
	if path == "" {
		t.Skip("run by TestLastSeatAcrossProcesses")
	}
	machine, err := strconv.Atoi(os.Getenv(childMachineEnv))
	if err != nil {
		t.Fatal(err)
	}
	l, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(os.Getenv(childGoEnv)); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no start signal")
		}
		time.Sleep(time.Millisecond)
	}
	_, err = l.Record(context.Background(), activation("PROC-0001", byte(machine), fmt.Sprintf("%02x", machine)))
	switch {
	case err == nil:
		fmt.Println("RESULT won")
	case errors.Is(err, ErrTooManyMachines):
		fmt.Println("RESULT full")
	default:
		t.Fatal(err)
	}
}
