//go:build unix

package redistest

import (
	"sync"
	"syscall"
	"testing"
)

// Pause freezes the server (SIGSTOP): it keeps its connections and the
// kernel accepts new ones, but it reads and answers nothing, as a Redis
// stalled by a long fork, a slow command or a paused VM. The returned
// func resumes it (SIGCONT); t's cleanup resumes it too. Pause fails t on
// a stopped server.
func (s *Server) Pause(t testing.TB) (resume func()) {
	t.Helper()
	s.mu.Lock()
	p := s.proc
	s.mu.Unlock()
	if p == nil {
		t.Fatal("redistest: Pause on a stopped server")
	}
	if err := p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	resume = func() { once.Do(func() { _ = p.cmd.Process.Signal(syscall.SIGCONT) }) }
	t.Cleanup(resume)
	return resume
}
