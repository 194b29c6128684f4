// Command benchreport prints airlock's performance figures from the brief,
// each as a ratio against its physical limit measured in the same run:
//
//   - license verify (parse + signature + bindings) vs one raw ed25519.Verify
//   - request build (fingerprint + sign + encode) vs one raw ed25519.Sign
//   - desk sign (verify request, ledger write committed with fsync, sign
//     license) vs one raw ed25519.Verify + ed25519.Sign + one fsync'd write
//   - fingerprint computation, in absolute time (target: under 1 ms)
//
// Each pair is measured in alternation over several rounds and the median
// ratio is reported, so a noisy machine moves both sides alike.
package main

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/desk"
	"github.com/airlock-offline/airlock/fingerprint"
	"github.com/airlock-offline/airlock/internal/armor"
	"github.com/airlock-offline/airlock/internal/testrig/testkeys"
	"github.com/airlock-offline/airlock/ledger"
	"github.com/airlock-offline/airlock/licensekey"
	"github.com/airlock-offline/airlock/qr"
	"github.com/airlock-offline/airlock/request"
	"github.com/airlock-offline/airlock/response"
)

const rounds = 5

func nsPerOp(f func(b *testing.B)) float64 {
	r := testing.Benchmark(f)
	return float64(r.T.Nanoseconds()) / float64(r.N)
}

// pair measures a and its limit alternately and returns the medians.
func pair(a, limit func(b *testing.B)) (float64, float64, float64) {
	var as, ls, ratios []float64
	for i := 0; i < rounds; i++ {
		x, y := nsPerOp(a), nsPerOp(limit)
		as, ls, ratios = append(as, x), append(ls, y), append(ratios, x/y)
	}
	return median(as), median(ls), median(ratios)
}

func median(v []float64) float64 {
	sort.Float64s(v)
	return v[len(v)/2]
}

func must[T any](v T, err error) T {
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(1)
	}
	return v
}

func main() {
	vendor := testkeys.Identity(crypto.RoleVendor, "bench-vendor")
	inst := testkeys.Identity(crypto.RoleInstallation, "bench-inst")
	src := fingerprint.OSSource()
	now := time.Now()
	kid := vendor.ID()
	fp := must(fingerprint.Collect(src)).Hash("acme-cad", kid)
	comps := map[uint8][]byte{}
	for _, d := range fp.Components {
		comps[uint8(d.ID)] = append([]byte(nil), d.Sum[:]...)
	}
	key := must(licensekey.New(nil))
	reqParams := request.Params{Product: "acme-cad", LicenseKey: key, Fingerprint: fp.ID[:], Components: comps,
		Env: uint16(fp.Env), Vendor: vendor.Public(), Now: now}
	req := must(request.New(reqParams, inst))
	lic := must(response.New(vendor, req, response.Params{LicenseKey: key, ActivationID: make([]byte, 16),
		Product: "acme-cad", Licensee: "ACME Corp", Features: map[string]uint64{"export": 1, "seats": 25},
		Issued: now, Expires: now.AddDate(1, 0, 0), Policy: fingerprint.MatchMost}))
	pub, priv, _ := ed25519.GenerateKey(nil)
	rawSig := ed25519.Sign(priv, lic.Bytes)
	if len(os.Args) > 1 && os.Args[1] == "cli-batch" {
		// go run ./internal/benchreport cli-batch: that figure alone.
		cliBatchFigures(reqParams, 10_000)
		return
	}
	expect := &response.Expect{VendorKeys: []*crypto.Public{vendor.Public()}, Product: "acme-cad",
		Installation: inst.Public(), Fingerprint: &fp, Now: now}

	verdict := func(ok bool) string {
		if ok {
			return "ok"
		}
		return "OVER TARGET"
	}
	fmt.Println("airlock benchmarks (median of", rounds, "alternating rounds; ratios against the physical limit in the same run)")
	rv, lv := qr.Budget(string(req.Text()), string(lic.Text()))
	fmt.Printf("QR size:          request %d bytes, %d characters: version %d-M (target <= 15: %s); license %d bytes, %d characters: version %d-M (target <= 20: %s)\n",
		len(req.Bytes), len(armor.Text(armor.Request, req.Bytes)), rv, verdict(rv > 0 && rv <= 15),
		len(lic.Bytes), len(armor.Text(armor.License, lic.Bytes)), lv, verdict(lv > 0 && lv <= 20))

	v, raw, ratio := pair(func(b *testing.B) {
		for b.Loop() {
			if _, err := response.Verify(lic.Bytes, expect); err != nil {
				b.Fatal(err)
			}
		}
	}, func(b *testing.B) {
		for b.Loop() {
			if !ed25519.Verify(pub, lic.Bytes, rawSig) {
				b.Fatal("raw verify")
			}
		}
	})
	fmt.Printf("license verify:   %8.1f µs vs ed25519.Verify %8.1f µs  ratio %.2fx  (target <= 1.30x: %s)\n", v/1e3, raw/1e3, ratio, verdict(ratio <= 1.3))

	fpNs := median([]float64{nsPerOp(fpBench(src, kid)), nsPerOp(fpBench(src, kid)), nsPerOp(fpBench(src, kid))})
	fmt.Printf("fingerprint:      %8.1f µs  (target < 1000 µs: %s)\n", fpNs/1e3, verdict(fpNs < 1e6))

	rb, rs, ratio := pair(func(b *testing.B) {
		for b.Loop() {
			f := must(fingerprint.Collect(src)).Hash("acme-cad", kid)
			p := reqParams
			p.Fingerprint = f.ID[:]
			if _, err := request.New(p, inst); err != nil {
				b.Fatal(err)
			}
		}
	}, func(b *testing.B) {
		for b.Loop() {
			ed25519.Sign(priv, req.Bytes)
		}
	})
	fmt.Printf("request build:    %8.1f µs vs ed25519.Sign   %8.1f µs  ratio %.2fx  (fingerprint + sign + encode)\n", rb/1e3, rs/1e3, ratio)

	dir := must(os.MkdirTemp("", "airlock-bench-"))
	defer os.RemoveAll(dir)
	l := must(ledger.Open(filepath.Join(dir, "ledger.db")))
	defer l.Close()
	ctx := context.Background()
	if err := l.CreateLicense(ctx, &ledger.License{Key: key, Product: "acme-cad", Licensee: "ACME Corp",
		MaxMachines: 1_000_000, MatchPolicy: "most", Created: now}); err != nil {
		must(0, err)
	}
	d := &desk.Desk{Key: vendor, Ledger: l}
	var reqs []*request.Signed
	for i := 0; i < 1000; i++ {
		reqs = append(reqs, must(request.New(reqParams, testkeys.Identity(crypto.RoleInstallation, fmt.Sprint("inst", i)))))
	}
	next := 0
	probe := filepath.Join(dir, "probe")
	ds, dl, ratio := pair(func(b *testing.B) {
		for b.Loop() {
			if next == len(reqs) {
				next = 0 // same machines again: seats reused, still a durable write
			}
			if _, err := d.Sign(ctx, reqs[next].Bytes); err != nil {
				b.Fatal(err)
			}
			next++
		}
	}, func(b *testing.B) {
		for b.Loop() {
			if !ed25519.Verify(pub, lic.Bytes, rawSig) {
				b.Fatal("raw verify")
			}
			ed25519.Sign(priv, lic.Bytes)
			f := must(os.Create(probe))
			f.Write(lic.Bytes)
			f.Sync()
			f.Close()
		}
	})
	batchFigures(vendor, reqParams, must(licensekey.New(nil)), now, 10_000)
	cliBatchFigures(reqParams, 10_000)
	fmt.Printf("desk sign:        %8.1f µs vs verify+sign+fsync %6.1f µs  ratio %.2fx  (one request, ledger durable)\n", ds/1e3, dl/1e3, ratio)
	photoFigures()
}

// batchFigures signs n requests as one batch into a fresh durable ledger,
// against the physical limit: the same n Ed25519 verifies and signs spread
// over every core, plus one fsync.
func batchFigures(vendor *crypto.Identity, reqParams request.Params, key string, now time.Time, n int) {
	dir := must(os.MkdirTemp("", "airlock-batch-"))
	defer os.RemoveAll(dir)
	l := must(ledger.Open(filepath.Join(dir, "ledger.db")))
	defer l.Close()
	ctx := context.Background()
	if err := l.CreateLicense(ctx, &ledger.License{Key: key, Product: "acme-cad", Licensee: "ACME Corp",
		MaxMachines: n, MatchPolicy: "most", Created: now}); err != nil {
		must(0, err)
	}
	reqParams.LicenseKey = key
	texts := make([][]byte, n)
	for i := range texts {
		inst := must(crypto.Generate(crypto.RoleInstallation, nil))
		texts[i] = must(request.New(reqParams, inst)).Text()
	}
	d := &desk.Desk{Key: vendor, Ledger: l}
	start := time.Now()
	res := d.SignBatch(ctx, texts, nil)
	took := time.Since(start)
	for _, r := range res {
		if r.Err != nil {
			must(0, r.Err)
		}
	}
	// The limit, measured now: n verifies + n signs on every core, one fsync.
	pub, priv, _ := ed25519.GenerateKey(nil)
	msg := res[0].Issued.License.Bytes
	sig := ed25519.Sign(priv, msg)
	start = time.Now()
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < runtime.GOMAXPROCS(0); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range next {
				ed25519.Verify(pub, msg, sig)
				ed25519.Sign(priv, msg)
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	f := must(os.Create(filepath.Join(dir, "probe")))
	f.Write(msg)
	f.Sync()
	f.Close()
	limit := time.Since(start)
	fmt.Printf("desk batch:       %d requests in %.2f s (%.0f/s) vs %d verify+sign on %d cores + fsync %.2f s  ratio %.2fx  (target: a few seconds)\n",
		n, took.Seconds(), float64(n)/took.Seconds(), n, runtime.GOMAXPROCS(0), limit.Seconds(), took.Seconds()/limit.Seconds())
}

func fpBench(src fingerprint.Source, kid crypto.KeyID) func(b *testing.B) {
	return func(b *testing.B) {
		for b.Loop() {
			must(fingerprint.Collect(src)).Hash("acme-cad", kid)
		}
	}
}

// cliBatchFigures times `airlock-vendor sign --batch` on a folder of n
// requests as a user runs it: the release binary, a desk made by init
// (its key encrypted with the default work factor), every license file
// written and durable. The target is 5 s for 10,000 requests on 2 cores.
// It runs three rounds, each on a new desk and folder, and prints each
// with the CPU time the process used and the machine's load, which on a
// shared machine says how much of the wall time was waiting for a core.
func cliBatchFigures(reqParams request.Params, n int) {
	dir := must(os.MkdirTemp("", "airlock-cli-batch-"))
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "bin")
	build := exec.Command("go", "build", "-o", bin+string(filepath.Separator), "./cmd/airlock-vendor")
	build.Stderr = os.Stderr
	must(0, build.Run())
	vendorBin := filepath.Join(bin, "airlock-vendor")
	if other := os.Getenv("AIRLOCK_BENCH_VENDOR"); other != "" {
		vendorBin = other // another build, to compare
	}
	var walls []float64
	for round := 0; round < 3; round++ {
		wall, cpu, lics := cliBatchRound(vendorBin, filepath.Join(dir, fmt.Sprint("round", round)), reqParams, n)
		walls = append(walls, wall.Seconds())
		load, _ := os.ReadFile("/proc/loadavg")
		fmt.Printf("desk batch (CLI): %d requests -> %d license files in %.2f s (%.0f/s), %.2f s of CPU, load %s\n",
			n, lics, wall.Seconds(), float64(n)/wall.Seconds(), cpu.Seconds(), strings.Join(strings.Fields(string(load))[:1], ""))
	}
	m := median(walls)
	verdict := "ok"
	if m > 5 {
		verdict = "OVER TARGET"
	}
	fmt.Printf("desk batch (CLI): median %.2f s through `airlock-vendor sign --batch`, key decryption and fsyncs included  (target <= 5 s on 2 cores: %s)\n", m, verdict)
}

// cliBatchRound makes a desk and a folder of n requests in dir and signs
// them; it returns the wall and CPU time of the signing, and the number of
// license files written.
func cliBatchRound(vendorBin, dir string, reqParams request.Params, n int) (wall, cpu time.Duration, lics int) {
	desk := filepath.Join(dir, "desk")
	env := append(os.Environ(), "AIRLOCK_PASSPHRASE=bench-passphrase")
	run := func(args ...string) (string, *os.ProcessState) {
		cmd := exec.Command(vendorBin, append([]string{"--dir", desk}, args...)...)
		cmd.Env = env
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			must(0, fmt.Errorf("airlock-vendor %s: %v\n%s", strings.Join(args, " "), err, stderr.String()))
		}
		return strings.TrimSpace(string(out)), cmd.ProcessState
	}
	out, _ := run("init")
	pub := must(crypto.ParsePublic(out))
	key, _ := run("license", "create", "--product", "acme-cad", "--licensee", "ACME Corp", "--max-machines", fmt.Sprint(n))
	reqs := filepath.Join(dir, "requests")
	must(0, os.MkdirAll(reqs, 0o755))
	// The fingerprint is keyed by the vendor key it is for.
	fp := must(fingerprint.Collect(fingerprint.OSSource())).Hash("acme-cad", pub.ID())
	comps := map[uint8][]byte{}
	for _, d := range fp.Components {
		comps[uint8(d.ID)] = append([]byte(nil), d.Sum[:]...)
	}
	reqParams.Fingerprint, reqParams.Components = fp.ID[:], comps
	reqParams.LicenseKey, reqParams.Vendor, reqParams.Now = key, pub, time.Now()
	for i := 0; i < n; i++ {
		inst := must(crypto.Generate(crypto.RoleInstallation, nil))
		must(0, os.WriteFile(filepath.Join(reqs, fmt.Sprintf("req-%05d.txt", i)), must(request.New(reqParams, inst)).Text(), 0o644))
	}
	start := time.Now()
	_, ps := run("sign", "--batch", reqs)
	wall = time.Since(start)
	cpu = ps.UserTime() + ps.SystemTime()
	return wall, cpu, len(must(filepath.Glob(filepath.Join(reqs, "*.license.txt"))))
}
