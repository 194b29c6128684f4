package desk

import (
	"context"
	"sync"

	"github.com/airlock-offline/airlock/ledger"
)

// batchCache keeps a batch's reads of the ledger, so that ten thousand
// requests on one license read it once, not ten thousand times. Only reads
// that the batch's own writes cannot make stale are kept: a license's
// policy (a client secret is bound through the ledger, which says if
// another request bound one first) and the seats active before the batch
// (the batch's own new seats are reconciled by RecordBatch).
type batchCache struct {
	size  int
	mu    sync.Mutex
	lics  map[string]*ledger.License
	seats map[string]map[string]string // license key -> install key + fingerprint -> activation id; nil: too many to keep
}

type batchCacheKey struct{}

func withBatchCache(ctx context.Context, size int) context.Context {
	return context.WithValue(ctx, batchCacheKey{}, &batchCache{size: size, lics: map[string]*ledger.License{}, seats: map[string]map[string]string{}})
}

func batchCacheOf(ctx context.Context) *batchCache {
	c, _ := ctx.Value(batchCacheKey{}).(*batchCache)
	return c
}

// license returns the cached license (a copy), if any.
func (c *batchCache) license(key string) (*ledger.License, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	l, ok := c.lics[key]
	if !ok {
		return nil, false
	}
	cp := *l
	return &cp, true
}

func (c *batchCache) keepLicense(l *ledger.License) {
	cp := *l
	c.mu.Lock()
	c.lics[l.Key] = &cp
	c.mu.Unlock()
}

// activeSeat looks the installation's active seat up in the seats of the
// license read once for the batch; ok is false if they are too many to
// keep (the caller asks the ledger).
func (c *batchCache) activeSeat(ctx context.Context, l *ledger.Ledger, key string, installKey, fingerprint []byte) (id string, found, ok bool, err error) {
	c.mu.Lock()
	seats, loaded := c.seats[key]
	c.mu.Unlock()
	if !loaded {
		// A license with many more seats than the batch has requests is
		// cheaper to ask request by request.
		seats, err = l.ActiveSeatsUpTo(ctx, key, 4*c.size+64)
		if err != nil {
			return "", false, false, err
		}
		c.mu.Lock()
		c.seats[key] = seats
		c.mu.Unlock()
	}
	if seats == nil {
		return "", false, false, nil
	}
	id, found = seats[string(installKey)+string(fingerprint)]
	return id, found, true, nil
}
