//go:build linux

package redistest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

const envLeakChild = "REDISTEST_LEAK_CHILD"

// TestLeakChild is the child process of TestNoLeakWhenBinaryDies: it starts
// servers, prints their process ids and dies without any cleanup.
func TestLeakChild(t *testing.T) {
	if os.Getenv(envLeakChild) == "" {
		t.Skip("runs only as the child of TestNoLeakWhenBinaryDies")
	}
	Client(t)
	s := NewServer(t)
	fmt.Printf("PIDS %d %d\n", single.srv.pid(), s.pid())
	os.Exit(3) // like a -timeout panic: no cleanup, no Main epilogue
}

func (s *Server) pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proc.cmd.Process.Pid
}

func TestNoLeakWhenBinaryDies(t *testing.T) {
	requireBinary(t, "")
	cmd := exec.Command(os.Args[0], "-test.run=^TestLeakChild$", "-test.count=1")
	// The child leaves its directories behind; keep them in ours.
	cmd.Env = append(os.Environ(), envLeakChild+"=1", EnvURL+"=", "TMPDIR="+t.TempDir())
	out, err := cmd.Output()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 3 {
		t.Fatalf("child: err = %v, want exit status 3; output:\n%s", err, out)
	}
	i := bytes.Index(out, []byte("PIDS "))
	if i < 0 {
		t.Fatalf("child printed no PIDS line:\n%s", out)
	}
	line, _, _ := strings.Cut(string(out[i+len("PIDS "):]), "\n")
	for _, f := range strings.Fields(line) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("bad pid %q in %q", f, line)
		}
		deadline := time.Now().Add(10 * time.Second)
		for alive(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("redis-server %d outlived the test binary that started it", pid)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// alive reports whether pid is a live (not zombie) redis-server.
func alive(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name.
	_, rest, _ := strings.Cut(string(stat), ") ")
	return strings.Contains(string(stat), "(redis-server)") && !strings.HasPrefix(rest, "Z")
}
