package floating

// TokenRole returns the role of a live bearer token (RoleAdmin or
// RoleUser), or the API's refusal (unauthorized) for an unknown, revoked or
// expired one. The server's web console checks its session with it on every
// request, so a token revoked through the API ends the console's session
// too.
func (s *Server) TokenRole(tok string) (string, error) { return s.checkToken(tok, RoleUser) }
