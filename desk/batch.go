package desk

import (
	"context"
	"encoding/hex"
	"runtime"
	"sync"

	"github.com/airlock-offline/airlock/internal/armor"
	"github.com/airlock-offline/airlock/ledger"
	"github.com/airlock-offline/airlock/response"
	"github.com/airlock-offline/airlock/result"
)

// BatchResult is the outcome of one request of a batch: a license, or why
// not.
type BatchResult struct {
	Issued *Issued
	Err    error
}

// Phase is a phase of [Desk.SignBatch], for its progress.
type Phase int

const (
	// PhaseCheck: requests checked and their licenses signed, done of
	// total requests.
	PhaseCheck Phase = iota
	// PhaseRecord: the new activations committed to the ledger (one
	// transaction: 0 of 1, then 1 of 1), renewals recorded one by one,
	// and refusals written to the audit log.
	PhaseRecord
)

func (p Phase) String() string {
	if p == PhaseRecord {
		return "recording in the ledger"
	}
	return "checking and signing"
}

// SignBatch signs many requests (any text presentation each) as Sign would,
// with the checks and signatures spread over every core and all new
// activations committed to the ledger in one transaction, with one fsync.
// A failing request does not stop the others. progress, if not nil, is
// called as the batch goes through its phases: as requests finish their
// checks (PhaseCheck, done of total), then around the ledger's commit
// (PhaseRecord). When SignBatch returns, every license it returns is
// recorded durably.
func (d *Desk) SignBatch(ctx context.Context, texts [][]byte, progress func(phase Phase, done, total int)) []BatchResult {
	return d.SignBatchFrom(ctx, len(texts), func(i int) ([]byte, error) { return texts[i], nil }, progress)
}

// SignBatchFrom is SignBatch for n requests that load reads as the
// signing goroutines reach them (load(i) is request i: a folder's files,
// read while other requests are checked). load may be called from several
// goroutines at once. A request that load fails on has load's error as
// its result.
func (d *Desk) SignBatchFrom(ctx context.Context, n int, load func(i int) ([]byte, error), progress func(phase Phase, done, total int)) []BatchResult {
	if progress == nil {
		progress = func(Phase, int, int) {}
	}
	// The checks read the ledger through a cache of the batch.
	cctx := withBatchCache(ctx, n)
	texts := make([][]byte, n)
	out := make([]BatchResult, len(texts))
	jobs := make([]*job, len(texts))
	lics := make([]*response.Signed, len(texts))
	acts := make([]*ledger.Activation, len(texts))

	var mu sync.Mutex
	done := 0
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < runtime.GOMAXPROCS(0); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				var b []byte
				var err error
				if texts[i], err = load(i); err != nil {
					out[i].Err = err
				} else if b, err = armor.DecodeKind(texts[i], armor.Request); err != nil {
					out[i].Err = result.Wrap(result.Malformed, "not a valid request", err)
				} else if jobs[i], err = d.prepare(cctx, b); err != nil {
					out[i].Err = err
				} else if jobs[i].prevLease == nil {
					// Renewals go one by one below; new activations are
					// signed here and recorded together.
					lics[i], acts[i], out[i].Err = d.license(jobs[i])
				}
				mu.Lock()
				done++
				progress(PhaseCheck, done, len(texts))
				mu.Unlock()
			}
		}()
	}
	for i := range texts {
		next <- i
	}
	close(next)
	wg.Wait()

	progress(PhaseRecord, 0, 1)
	defer progress(PhaseRecord, 1, 1)
	var batch []*ledger.Activation
	var index []int
	for i, a := range acts {
		if a != nil && out[i].Err == nil {
			batch = append(batch, a)
			index = append(index, i)
		}
	}
	if len(batch) > 0 {
		res, err := d.Ledger.RecordBatch(ctx, batch)
		for k, i := range index {
			switch {
			case err != nil:
				out[i].Err = result.Wrap(result.Internal, "cannot record the activations in the ledger", err)
			case res[k].Err != nil:
				out[i].Err = recordError(jobs[i].lic, res[k].Err)
			case batch[k].ID != hex.EncodeToString(jobs[i].actID):
				// The same machine twice in one batch: the ledger kept the
				// first activation id; sign this one again under it.
				out[i].Issued, out[i].Err = d.finish(ctx, jobs[i])
			default:
				out[i].Issued = d.issued(jobs[i], lics[i], res[k].Reused)
			}
		}
	}
	for i, j := range jobs {
		if j != nil && j.prevLease != nil && out[i].Err == nil {
			out[i].Issued, out[i].Err = d.finish(ctx, j)
		}
	}
	// The refusals, in one transaction.
	var refusals []ledger.AuditRecord
	for i, r := range out {
		if r.Err != nil {
			b, err := armor.DecodeKind(texts[i], armor.Request)
			if err != nil {
				b = nil
			}
			if rec, ok := refusalRecord(b, r.Err); ok {
				refusals = append(refusals, rec)
			}
		}
	}
	_ = d.Ledger.AuditMany(ctx, refusals)
	return out
}
