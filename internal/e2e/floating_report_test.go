package e2e

// Usage reports across the gap, through the real binaries: the server
// serves some seats, writes its report (through the running server and
// from its database), the customer reads it (pseudonymised too), the desk
// imports it, flags a repeated report, a cloned server and a skipped
// number, answers with a pool refresh that lifts report_overdue, and a
// clock turned back stops grants and shows in the next report.

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/airlock-offline/airlock/floating"
	"github.com/airlock-offline/airlock/result"
	"github.com/airlock-offline/airlock/usage"
)

type reportShow struct {
	Hash   string       `json:"hash"`
	Report usage.Report `json:"report"`
}

type importJSON struct {
	Seq     uint64 `json:"seq"`
	Flag    string `json:"flag"`
	Message string `json:"message"`
	Refresh string `json:"refresh"`
}

func TestFloatingUsageReports(t *testing.T) {
	f := newFloating(t, "seats=2,ttl=180,heartbeat=60,report-every=30,report-grace=5")
	dir := t.TempDir()
	file := func(name string) string { return filepath.Join(dir, name) }
	at := func(d time.Duration) { f.e = f.e.at(t0.Add(d)) }
	stop := func(cmd *exec.Cmd) {
		cmd.Process.Signal(syscall.SIGTERM) // a clean stop writes the history
		cmd.Wait()
	}
	acquire := func(addr string, i int) (out, floatingJSON) {
		o := f.e.airlock("--state", filepath.Join(f.e.work, "client-"+string(rune('a'+i))), "floating", "acquire", "--server", addr,
			"--product", "acme-cad", "--vendor-key", f.vendorKey, "--plaintext-key", "--json", "--hostname", "ws-"+string(rune('a'+i)))
		return o, decodeJSON[floatingJSON](t, o)
	}
	show := func(path string) reportShow {
		o := f.server("report", "show", "--json", path)
		expectOK(t, o)
		return decodeJSON[reportShow](t, o)
	}
	imp := func(path string, code int, extra ...string) importJSON {
		o := f.e.vendor(append([]string{"--dir", f.desk, "report", "import", "--json", path}, extra...)...)
		expect(t, o, code)
		return decodeJSON[importJSON](t, o)
	}

	// Two seats taken, a third client refused; report 1 through the
	// running server.
	at(time.Hour)
	addr, cmd := f.serve(t)
	for i := range 2 {
		if o, j := acquire(addr, i); j.Result != "ok" {
			t.Fatalf("client %d: %s", i, o)
		}
	}
	if o, j := acquire(addr, 2); j.Result != floating.CodeNoSeat {
		t.Fatalf("third client: %s", o)
	}
	at(2 * time.Hour)
	o := f.server("report", "-o", file("r1.txt"))
	expectOK(t, o)
	expectContains(t, "report stderr", o.stderr, "usage report 1 written to")
	o = f.server("report", "show", file("r1.txt"))
	expectOK(t, o)
	expectContains(t, "report show", o.stdout, "product acme-cad (license "+f.key+", 2 seats)")
	expectContains(t, "report show", o.stdout, "peak 2 seats")
	expectContains(t, "report show", o.stdout, "denials 1")
	expectContains(t, "report show", o.stdout, "ws-a")
	r1 := show(file("r1.txt"))
	if r1.Report.Seq != 1 || r1.Report.Products[0].Usage.Peak != 2 || r1.Report.Products[0].Usage.Denials != 1 || len(r1.Report.Products[0].Holders) != 2 {
		t.Fatalf("report 1: %+v", r1.Report)
	}
	stop(cmd)
	o = f.e.vendor("inspect", file("r1.txt"))
	expectOK(t, o)
	expectContains(t, "inspect", o.stdout, "usage report")
	expectContains(t, "inspect", o.stdout, "peak 2 of 2 seats, 1 denials")

	// Report 2 from the database, pseudonymised; the text form is what a
	// QR code or a scanner carries too.
	at(3 * time.Hour)
	o = f.server("report", "--pseudonymise", "-o", file("r2.txt"), "--qr", file("r2.png"))
	expectOK(t, o)
	if _, err := os.Stat(file("r2.png")); err != nil {
		t.Errorf("no QR code: %v", err)
	}
	r2 := show(file("r2.txt"))
	if r2.Report.Seq != 2 || !r2.Report.Pseudonymised || r2.Report.From != r1.Report.To {
		t.Fatalf("report 2: %+v", r2.Report)
	}
	for _, h := range r2.Report.Products[0].Holders {
		if strings.HasPrefix(h.Host, "ws-") || !strings.HasPrefix(h.Host, "h-") {
			t.Errorf("a host name left in the pseudonymised report: %+v", h)
		}
	}

	// The desk imports both and answers with a pool refresh; the same
	// report again is flagged.
	if j := imp(file("r1.txt"), 0); j.Seq != 1 || j.Flag != "" {
		t.Fatalf("import 1: %+v", j)
	}
	if j := imp(file("r2.txt"), 0, "--refresh", "90d", "-o", file("refresh.txt")); j.Flag != "" || j.Refresh == "" {
		t.Fatalf("import 2: %+v", j)
	}
	if j := imp(file("r1.txt"), 1); j.Flag != usage.FlagRepeated {
		t.Fatalf("report 1 again: %+v", j)
	}
	o = f.server("activate", file("refresh.txt"))
	expectOK(t, o)

	// A cloned server: its state copied, both copies report.
	clone := filepath.Join(t.TempDir(), "clone")
	if err := exec.Command("cp", "-a", f.state, clone).Run(); err != nil {
		t.Fatal(err)
	}
	at(4 * time.Hour)
	expectOK(t, f.server("report", "-o", file("r3.txt")))
	expectOK(t, f.e.at(t0.Add(4*time.Hour+time.Minute)).run(f.bin, nil, "--state", clone, "report", "-o", file("r3-clone.txt")))
	if j := imp(file("r3.txt"), 0); j.Flag != "" {
		t.Fatalf("import 3: %+v", j)
	}
	j := imp(file("r3-clone.txt"), 1)
	if j.Flag != usage.FlagCloned || !strings.Contains(j.Message, "two different reports numbered 3") {
		t.Fatalf("the clone's report 3: %+v", j)
	}
	// A skipped number: report 4 never arrives.
	expectOK(t, f.server("report", "-o", file("r4.txt")))
	expectOK(t, f.server("report", "-o", file("r5.txt")))
	if j := imp(file("r5.txt"), 1); j.Flag != usage.FlagGap || !strings.Contains(j.Message, "reports 4 to 4") {
		t.Fatalf("report 5 after 3: %+v", j)
	}
	o = f.e.vendor("--dir", f.desk, "report", "list", "--json")
	expectOK(t, o)
	list := decodeJSON[[]importJSON](t, o)
	flags := map[string]int{}
	for _, r := range list {
		flags[r.Flag]++
	}
	if len(list) != 5 || flags[""] != 3 || flags[usage.FlagCloned] != 1 || flags[usage.FlagGap] != 1 {
		t.Fatalf("the ledger keeps %d reports, flags %v; want 5 (the repeat is not stored twice)", len(list), flags)
	}

	// 36 days after the refresh, past its 30 days and 5 days' grace: no
	// new seat, and the message says what to do.
	refreshed := t0.Add(3 * time.Hour)
	at(refreshed.Sub(t0) + 36*24*time.Hour)
	addr, cmd = f.serve(t)
	o = f.server("status")
	expectOK(t, o)
	expectContains(t, "status", o.stdout, "report:    due ")
	o, fj := acquire(addr, 3)
	if fj.Result != floating.CodeReportOverdue || !strings.Contains(fj.Message, "send the vendor a usage report") {
		t.Fatalf("overdue: %s", o)
	}
	expectOK(t, f.server("report", "-o", file("r6.txt")))
	expectOK(t, f.e.vendor("--dir", f.desk, "report", "import", file("r6.txt"), "--refresh", "90d", "-o", file("refresh2.txt")))
	o = f.server("activate", file("refresh2.txt"))
	expectOK(t, o)
	expectContains(t, "activate", o.stderr, "the running server serves it now")
	if o, fj := acquire(addr, 3); fj.Result != "ok" {
		t.Fatalf("after the refresh: %s", o)
	}
	stop(cmd)

	// The clock turned back two hours: no new seats, and the next report
	// shows the jump.
	// (The server runs three hours on first: the refreshed license is not
	// valid before its issue time.)
	now, _ := time.Parse(time.RFC3339, f.e.vars["AIRLOCK_TEST_NOW"])
	f.e = f.e.at(now.Add(3 * time.Hour))
	_, cmd = f.serve(t)
	stop(cmd)
	f.e = f.e.at(now.Add(time.Hour))
	addr, cmd = f.serve(t)
	if o, fj := acquire(addr, 0); fj.Result != floating.CodeClockTampered {
		t.Fatalf("clock turned back: %s", o)
	}
	stop(cmd)
	f.e = f.e.at(now.Add(4 * time.Hour))
	expectOK(t, f.server("report", "-o", file("r7.txt")))
	r7 := show(file("r7.txt"))
	if len(r7.Report.ClockJumps) == 0 || r7.Report.ClockJumps[0].Seconds > -2*3600+60 {
		t.Fatalf("report 7 shows no jump back: %+v", r7.Report.ClockJumps)
	}

	// Report 6 answered its refresh: shown again, it gets none, unless
	// forced; a flagged report (the clone's) likewise.
	o = f.e.vendor("--dir", f.desk, "report", "import", file("r6.txt"), "--refresh", "90d", "-o", file("refresh3.txt"))
	expect(t, o, result.LicenseSuspended.ExitCode())
	expectContains(t, "an answered report again", o.stderr, "usage report 6 was answered by the pool license issued")
	expectNoFile(t, file("refresh3.txt"))
	o = f.e.vendor("--dir", f.desk, "report", "import", file("r3-clone.txt"), "--refresh", "90d", "-o", file("refresh3.txt"))
	expect(t, o, result.LicenseSuspended.ExitCode())
	expectContains(t, "a flagged report", o.stderr, "flagged report_cloned")
	expectOK(t, f.e.vendor("--dir", f.desk, "report", "import", file("r6.txt"), "--refresh", "90d", "--force", "-o", file("refresh3.txt")))
	expectOK(t, f.server("activate", file("refresh3.txt")))

	// The desk shows a stored report by the first digits of its hash.
	o = f.e.vendor("--dir", f.desk, "report", "list", "--json")
	expectOK(t, o)
	var r6hash string
	for _, r := range decodeJSON[[]struct {
		Seq  uint64 `json:"seq"`
		Hash string `json:"hash"`
		Flag string `json:"flag"`
	}](t, o) {
		if r.Seq == 6 {
			r6hash = r.Hash
		}
	}
	o = f.e.vendor("--dir", f.desk, "report", "show", r6hash[:16])
	expectOK(t, o)
	expectContains(t, "report show", o.stdout, "usage report 6 of server")
}
