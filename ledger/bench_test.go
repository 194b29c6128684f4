package ledger

import (
	"context"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"testing"
)

// forEachBenchBackend runs bench as a sub-benchmark per backend; the
// PostgreSQL one runs when AIRLOCK_TEST_POSTGRES is set.
func forEachBenchBackend(b *testing.B, bench func(*testing.B, testBackend)) {
	for _, be := range testBackends {
		b.Run(be.name, func(b *testing.B) { bench(b, be) })
	}
}

func benchLedger(b *testing.B, be testBackend) *Ledger {
	b.Helper()
	l, _ := be.open(b)
	if err := l.CreateLicense(context.Background(), testLicense("BNCH-0001", 1<<30)); err != nil {
		b.Fatal(err)
	}
	return l
}

func benchActivation(i int) *Activation {
	a := activation("BNCH-0001", 1, fmt.Sprintf("%016x", i))
	binary.BigEndian.PutUint64(a.InstallKey, uint64(i))
	return a
}

// BenchmarkRecord records one new seat per operation: one commit, one fsync.
func BenchmarkRecord(b *testing.B) { forEachBenchBackend(b, benchmarkRecord) }

func benchmarkRecord(b *testing.B, be testBackend) {
	l := benchLedger(b, be)
	ctx := context.Background()
	for i := 0; b.Loop(); i++ {
		if _, err := l.Record(ctx, benchActivation(i)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRecordBatch records batches of 1000 new seats per operation.
func BenchmarkRecordBatch(b *testing.B) { forEachBenchBackend(b, benchmarkRecordBatch) }

func benchmarkRecordBatch(b *testing.B, be testBackend) {
	l := benchLedger(b, be)
	ctx := context.Background()
	const size = 1000
	batch := make([]*Activation, size)
	for n := 0; b.Loop(); n++ {
		for i := range batch {
			batch[i] = benchActivation(n*size + i)
		}
		res, err := l.RecordBatch(ctx, batch)
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range res {
			if r.Err != nil {
				b.Fatal(r.Err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*size), "ns/activation")
}

// BenchmarkOpenCheck measures opening a SQLite ledger for writing, which
// checks it (integrity_check and the seat counters), beside quick_check
// alone, on ledgers of 10,000 and 100,000 activations.
func BenchmarkOpenCheck(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		path := filepath.Join(b.TempDir(), "ledger.db")
		l, err := Open(path)
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		if err := l.CreateLicense(ctx, testLicense("BNCH-0001", 1<<30)); err != nil {
			b.Fatal(err)
		}
		for done := 0; done < n; done += 10_000 {
			batch := make([]*Activation, 10_000)
			for i := range batch {
				batch[i] = benchActivation(done + i)
				batch[i].License = make([]byte, 600) // a license's size
			}
			if _, err := l.RecordBatch(ctx, batch); err != nil {
				b.Fatal(err)
			}
		}
		l.Close()
		b.Run(fmt.Sprintf("open/%d", n), func(b *testing.B) {
			for b.Loop() {
				l, err := OpenWith(path, Options{})
				if err != nil {
					b.Fatal(err)
				}
				l.Close()
			}
		})
		b.Run(fmt.Sprintf("quick_check/%d", n), func(b *testing.B) {
			l, err := OpenWith(path, Options{ReadOnly: true})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			for b.Loop() {
				if p, err := l.pragmaCheck(ctx, "quick_check"); err != nil || len(p) > 0 {
					b.Fatal(p, err)
				}
			}
		})
	}
}
