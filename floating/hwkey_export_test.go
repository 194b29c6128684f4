package floating

// ExpireHardwareKeyProofs makes the next action on every hardware-key
// pool prove the key again (the benchmark's "proof due").
func ExpireHardwareKeyProofs(s *Server) {
	s.hw.mu.Lock()
	defer s.hw.mu.Unlock()
	for _, k := range s.hw.keys {
		k.ok = false
	}
}
