package floating

import (
	"context"
	"database/sql"
	"time"
)

// The usage history of a pool served by several nodes.
//
// Its seats live in the shared database, not in any node's memory, so one
// node at a time — the one holding the advisory lock lockHistory, a
// session lock PostgreSQL frees when that node dies — reads the database's
// counts every sweep and records them; the next node to try the lock takes
// over. Denials and consumption are recorded by the node that saw them
// (recordDenial, recordConsumed):
// the history's rows add those up across nodes (history.go), and usage
// reports count them from the shared event log.

// sampleShared records the seats in use of every shared pool, if this node
// records them (see above).
func (s *Server) sampleShared(now time.Time) {
	s.mu.Lock()
	pools := s.sharedPools()
	s.mu.Unlock()
	if len(pools) == 0 || s.hist == nil || !s.st.pg {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), SharedTimeout)
	defer cancel()
	if !s.histLeader {
		var got bool
		err := s.st.onLock(func(c *sql.Conn) error {
			return c.QueryRowContext(ctx, `SELECT pg_try_advisory_lock($1)`, s.st.key(lockHistory)).Scan(&got)
		})
		if err != nil || !got {
			return
		}
		s.histLeader = true
	}
	for _, pl := range pools {
		var ps PoolStatus
		if err := s.seatsShared(ctx, pl.lic, &ps, now.Unix()); err != nil {
			continue
		}
		s.histAt(now, func(ms int64) {
			s.setSeats(histKey{pl.product, ""}, ms, ps.Held, ps.Borrowed)
			for f := range pl.lic.Pool.FeatureSeats {
				s.setSeats(histKey{pl.product, f}, ms, ps.FeatureSeats[f], 0)
			}
		})
	}
}
