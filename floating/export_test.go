package floating

func init() {
	// Cheap password hashing in tests: the parameters are not what is
	// tested.
	argonTime, argonMemory = 1, 1024
}

// SyncHistory sweeps, closes the history buckets that ended by the server's
// clock, rolls up if the hour changed, and waits for the writes.
func (s *Server) SyncHistory() {
	now := s.now()
	s.mu.Lock()
	for _, p := range s.pools {
		s.sweep(p, now.Unix())
	}
	s.mu.Unlock()
	s.historyTick(now)
	_ = s.st.exec()
}

// LockKey is the advisory lock key of name (LockServer, LockHistory) in
// the server's schema.
func (s *Server) LockKey(name string) int64 { return s.st.key(name) }

const (
	LockServer  = lockServer
	LockHistory = lockHistory
)

// ErrorCodes lists every error code the server sends.
func ErrorCodes() []string {
	out := []string{CodeHWKeyNotAccessible, CodeHWKeyMismatch, CodeHWKeyProofFailed} // 400, the default status
	for c := range statusOf {
		out = append(out, c)
	}
	return out
}
