package redistest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/backstop-go/backstop/internal/childproc"
)

const (
	// startAttempts bounds how often a server start is retried when its
	// port was taken between picking it and redis-server binding it.
	startAttempts = 5
	// readyTimeout bounds the wait for a started server to answer.
	// redis-server is ready within milliseconds; the margin is for a loaded
	// CI machine running the race detector.
	readyTimeout = 20 * time.Second
	logName      = "redis.log"
)

// Server is a redis-server process listening on a loopback port.
//
// NewServer returns one owned by a single test; the shared servers behind
// Client and Cluster are Servers owned by the test binary. A Server keeps
// its address across Stop and Restart, so clients created before a Stop
// reconnect on their own after the Restart. It holds no data across a
// Restart: persistence is off.
//
// Create a Server with NewServer; the zero value is not usable. The
// methods of a Server are safe for concurrent use.
type Server struct {
	bin     string // path of redis-server
	dir     string
	cluster bool

	mu      sync.Mutex
	port    int // client port; fixed after the first successful start
	busPort int // cluster bus port when cluster is set
	proc    *process
	clients map[*redis.Client]struct{} // made by Client, open
}

// process is one run of redis-server.
type process struct {
	cmd    *exec.Cmd
	log    *os.File
	exited chan struct{} // closed once cmd.Wait has returned
}

// NewServer starts a private redis-server for t, in a directory under
// t.TempDir(), and stops it when t and its subtests finish. It is meant for
// outage tests, which must not disturb the shared server: use Stop and
// Restart to take it down and bring it back on the same address.
//
// NewServer ignores REDIS_URL, since it needs to control the process. It
// skips t when no redis-server binary is on PATH (and fails t when the
// environment variable CI is set).
func NewServer(t testing.TB) *Server {
	t.Helper()
	bin := requireBinary(t, "set REDIS_URL to run the other Redis tests against an existing server")
	s := &Server{bin: bin, dir: t.TempDir()}
	// Registered after t.TempDir, so it runs before the directory is removed.
	t.Cleanup(s.stop)
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
	return s
}

// Addr returns the server's host:port. It does not change across Stop and
// Restart.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addrLocked()
}

func (s *Server) addrLocked() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
}

// Client returns a new client for the server, closed when t finishes. It
// uses the go-redis defaults except that it dials once per try instead of
// five times (DialerRetries 1), so that commands fail within milliseconds
// while the server is stopped. The client survives Stop and Restart:
// Restart returns once it answers again.
func (s *Server) Client(t testing.TB) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: s.Addr(), DialerRetries: 1})
	s.mu.Lock()
	if s.clients == nil {
		s.clients = make(map[*redis.Client]struct{})
	}
	s.clients[c] = struct{}{}
	s.mu.Unlock()
	t.Cleanup(func() {
		s.mu.Lock()
		delete(s.clients, c)
		s.mu.Unlock()
		_ = c.Close()
	})
	return c
}

// Stop kills the server (SIGKILL, as in a crash) and waits until the
// process has exited and its port is free. Commands sent while the server
// is stopped fail with an error. Stop on a stopped server does nothing.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	s.stop()
}

// Restart starts the server again on the same address, with an empty data
// set, and waits until it answers, and until every open client from
// Client answers too: a go-redis client that saw many failed dials stops
// dialing and probes the server once a second, and Restart waits that out
// so the test's next command does not fail. A client made some other way
// may need up to a second more. A running server is stopped first.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.stop()
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
	if err := s.waitClients(); err != nil {
		t.Fatal(err)
	}
}

// waitClients waits until every open client from Client answers PING.
func (s *Server) waitClients() error {
	s.mu.Lock()
	clients := make([]*redis.Client, 0, len(s.clients))
	for c := range s.clients {
		clients = append(clients, c)
	}
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	for _, c := range clients {
		for {
			err := c.Ping(ctx).Err()
			if err == nil || errors.Is(err, redis.ErrClosed) {
				break
			}
			if ctx.Err() != nil {
				return fmt.Errorf("redistest: a client of %s does not answer after Restart: %w", c.Options().Addr, err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return nil
}

func (s *Server) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return
	}
	p := s.proc
	s.proc = nil
	_ = p.cmd.Process.Kill() // fails only when the process has already exited
	<-p.exited
	_ = p.log.Close()
}

// checkAlive returns an error carrying the tail of the log when the server
// process is not running, as when a shared server crashed mid-run.
func (s *Server) checkAlive() error {
	if s.running() {
		return nil
	}
	path := filepath.Join(s.dir, logName)
	return fmt.Errorf("redistest: redis-server on %s is not running\n--- tail of %s ---\n%s",
		s.Addr(), path, logTail(path, 0))
}

// running reports whether the server process is alive.
func (s *Server) running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return false
	}
	select {
	case <-s.proc.exited:
		return false
	default:
		return true
	}
}

// start launches redis-server and waits until it answers. The first start
// picks free ports and retries with new ones when a port is taken before
// redis-server binds it; later starts (Restart) keep the address, so they
// retry the same ports for a short while instead.
func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		return errors.New("redistest: server already running")
	}
	fixed := s.port != 0
	var err error
	for attempt := range startAttempts {
		if !fixed {
			if err := s.pickPortsLocked(); err != nil {
				return err
			}
		} else if attempt > 0 {
			time.Sleep(time.Duration(attempt) * 50 * time.Millisecond)
		}
		err = s.launchLocked()
		if err == nil {
			return nil
		}
		if !errors.Is(err, errAddrInUse) {
			break
		}
	}
	if !fixed {
		s.port, s.busPort = 0, 0
	}
	return err
}

// errAddrInUse marks a start that failed because a port was taken.
var errAddrInUse = errors.New("address already in use")

func (s *Server) pickPortsLocked() error {
	n := 1
	if s.cluster {
		n = 2
	}
	ports, err := freePorts(n)
	if err != nil {
		return err
	}
	s.port = ports[0]
	if s.cluster {
		s.busPort = ports[1]
	}
	return nil
}

// freePorts returns n distinct loopback ports that were free a moment ago.
// All listeners stay open until every port is picked, so they differ.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("redistest: pick a free port: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func (s *Server) args() []string {
	args := []string{
		"--port", strconv.Itoa(s.port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--dir", s.dir,
		"--daemonize", "no",
		"--logfile", "", // stdout, which goes to the log file
	}
	if s.cluster {
		args = append(args,
			"--cluster-enabled", "yes",
			"--cluster-config-file", filepath.Join(s.dir, "nodes.conf"),
			"--cluster-port", strconv.Itoa(s.busPort),
			// The start does not wait on it; it only decides when a silent
			// node is marked failed, which takes the whole cluster down
			// (no replicas), so it is generous for a stalled CI machine.
			"--cluster-node-timeout", "15000",
		)
	}
	return args
}

func (s *Server) launchLocked() error {
	logPath := filepath.Join(s.dir, logName)
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("redistest: %w", err)
	}
	logStart, err := logf.Seek(0, io.SeekEnd)
	if err != nil {
		_ = logf.Close()
		return fmt.Errorf("redistest: %w", err)
	}
	if s.cluster {
		// A stale nodes.conf from an earlier run would restore an old
		// identity; a restarted node starts as a fresh one.
		_ = os.Remove(filepath.Join(s.dir, "nodes.conf"))
	}

	cmd := exec.Command(s.bin, s.args()...)
	cmd.Dir = s.dir
	cmd.Stdout = logf
	cmd.Stderr = logf
	if err := childproc.Start(cmd); err != nil {
		_ = logf.Close()
		return fmt.Errorf("redistest: start redis-server: %w", err)
	}
	p := &process{cmd: cmd, log: logf, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.exited)
	}()

	if err := waitReady(s.addrLocked(), p); err != nil {
		_ = cmd.Process.Kill()
		<-p.exited
		_ = logf.Close()
		tail := logTail(logPath, logStart)
		if strings.Contains(tail, "Address already in use") {
			err = fmt.Errorf("%w: %w", err, errAddrInUse)
		}
		return fmt.Errorf("redistest: redis-server on %s: %w\n--- tail of %s ---\n%s",
			s.addrLocked(), err, logPath, tail)
	}
	s.proc = p
	return nil
}

// waitReady polls addr until the redis-server of p answers. It checks the
// process id, so that another server that took the port does not pass.
func waitReady(addr string, p *process) error {
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	// A probe stuck on a port that someone else holds must not outlive
	// the process it is waiting for.
	go func() {
		select {
		case <-p.exited:
			cancel()
		case <-ctx.Done():
		}
	}()
	want := "process_id:" + strconv.Itoa(p.cmd.Process.Pid) + "\r\n"
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	var lastErr error
	for {
		info, err := infoServer(ctx, addr)
		switch {
		case err == nil && strings.Contains(info, want):
			return nil
		case err == nil:
			return fmt.Errorf("another server answers on this port: %w", errAddrInUse)
		}
		lastErr = err
		select {
		case <-p.exited:
			// Wait has returned, so reading ProcessState does not race.
			return fmt.Errorf("exited before it was ready (%v)", p.cmd.ProcessState)
		case <-ctx.Done():
			return fmt.Errorf("not ready after %v: %w", readyTimeout, lastErr)
		case <-tick.C:
		}
	}
}

// infoServer returns the reply to INFO server from addr. It speaks RESP
// itself because a go-redis client backs off between failed dials, which
// would slow every start down, and does not stop a blocked read when ctx
// ends.
func infoServer(ctx context.Context, addr string) (string, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	defer context.AfterFunc(ctx, func() { _ = conn.Close() })()
	if err := conn.SetDeadline(time.Now().Add(2 * time.Second)); err != nil {
		return "", err
	}
	if _, err := io.WriteString(conn, "INFO server\r\n"); err != nil {
		return "", err
	}
	r := bufio.NewReader(conn)
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if strings.HasPrefix(line, "-") { // e.g. -LOADING
		return "", errors.New(line[1:])
	}
	n, err := strconv.Atoi(strings.TrimPrefix(line, "$"))
	if !strings.HasPrefix(line, "$") || err != nil || n < 0 || n > 1<<20 {
		return "", fmt.Errorf("unexpected reply %q to INFO", line)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		return "", err
	}
	return string(buf), nil
}

// logTail returns the last lines written to the log at path since offset.
func logTail(path string, offset int64) string {
	const maxBytes, maxLines = 4096, 20
	f, err := os.Open(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	from := max(offset, fi.Size()-maxBytes, 0)
	b, err := io.ReadAll(io.NewSectionReader(f, from, fi.Size()-from))
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > maxLines {
		lines = lines[len(lines)-maxLines:]
	}
	if len(lines) == 1 && len(lines[0]) == 0 {
		return "(log is empty)"
	}
	return string(bytes.Join(lines, []byte("\n")))
}
