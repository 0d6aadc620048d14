package console

// SessionsOf counts user's per-user sessions (for console_test).
func (c *Console) SessionsOf(user string) int { return c.sessionsOf(user) }
