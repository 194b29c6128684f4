package ledger

import (
	"context"
	"encoding/binary"
	"fmt"
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
