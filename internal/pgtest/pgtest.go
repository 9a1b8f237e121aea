// Package pgtest gives tests a real PostgreSQL server.
//
// The server is the one at DATABASE_URL when that is set. Otherwise it is a
// throwaway server that the first call to [URL] or [Conn] starts for the
// whole test binary (initdb and postgres in a temporary directory, listening
// on a free loopback port, with its Unix socket in that directory, fsync off)
// and that [Main] stops and deletes once the tests have run. PostgreSQL
// refuses to run as root, so when the tests do, the server runs as the
// "postgres" user (or "nobody") instead. A server that answers on the chosen
// port must serve this directory's data, or start tries another port: the
// port may have gone to another test binary's server in between. Directories
// left behind by test binaries that died without stopping their server are
// deleted the next time a server starts.
//
// Without DATABASE_URL and without the initdb and postgres binaries (on
// PATH, in /usr/lib/postgresql/*/bin or /usr/local/pgsql/bin), tests that
// ask for a server are skipped, or fail when the environment variable CI is
// set, so that CI can never skip them silently.
//
// The package needs no database driver: it hands out URLs, and each caller
// connects with its own driver, so the root module never requires one
// (examples/internal/pgtest adds pgx connections and databases on top).
// Use it from TestMain:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
//	func TestX(t *testing.T) {
//		url := pgtest.URL(t)
//		...
//	}
package pgtest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/backstop-go/backstop/internal/childproc"
)

// EnvURL names the environment variable holding the URL of an existing
// server to use instead of starting one.
const EnvURL = "DATABASE_URL"

const (
	startTimeout = 60 * time.Second
	stopTimeout  = 60 * time.Second
	logName      = "postgres.log"
)

var (
	mainCalled bool
	shared     sharedServer
)

// sharedServer is the server the tests of a binary share, started on first
// use.
type sharedServer struct {
	once sync.Once
	srv  *server
	url  string
	err  error
}

// Main runs the tests of m, stops the server they shared, if one was
// started, and exits with the tests' code. Call it from TestMain.
func Main(m *testing.M) {
	os.Exit(Run(m))
}

// Run is Main for a TestMain that has more to do: it runs the tests (m is a
// *testing.M, or anything whose Run wraps one, such as another harness's
// Run), stops the shared server and returns the exit code.
func Run(m interface{ Run() int }) int {
	mainCalled = true
	code := m.Run()
	if shared.srv != nil {
		if err := shared.srv.stop(); err != nil {
			fmt.Fprintln(os.Stderr, "pgtest:", err)
		}
	}
	return code
}

// URL returns the URL of the shared server: DATABASE_URL, or the server
// started for this test binary. It skips t, or fails it when CI is set, when
// there is neither.
func URL(t testing.TB) string {
	t.Helper()
	if u := os.Getenv(EnvURL); u != "" {
		return u
	}
	if !mainCalled {
		t.Fatal("pgtest: call pgtest.Main from TestMain, so the server it starts is stopped")
	}
	return shared.get(t)
}

// get returns the URL of s, starting the server on the first call. Without
// PostgreSQL binaries it skips t, or fails it when CI is set.
func (s *sharedServer) get(t testing.TB) string {
	t.Helper()
	s.once.Do(func() {
		initdb, postgres, err := findBinaries()
		if err != nil {
			s.err = err
			return
		}
		s.srv, s.err = start(initdb, postgres)
		if s.srv != nil {
			s.url = s.srv.url()
		}
	})
	if errors.Is(s.err, errNoBinaries) {
		if os.Getenv("CI") != "" {
			t.Fatalf("pgtest: %v, and CI is set: install PostgreSQL or set %s", s.err, EnvURL)
		}
		t.Skipf("pgtest: %v; install PostgreSQL or set %s", s.err, EnvURL)
	}
	if s.err != nil {
		t.Fatal(s.err)
	}
	return s.url
}

var errNoBinaries = errors.New("no PostgreSQL server binaries (initdb, postgres) found")

// findBinaries looks for initdb and postgres side by side in the
// directories binaryDirs lists.
func findBinaries() (initdb, postgres string, err error) {
	for _, d := range binaryDirs() {
		i, p := filepath.Join(d, "initdb"), filepath.Join(d, "postgres")
		if isExecutable(i) && isExecutable(p) {
			return i, p, nil
		}
	}
	return "", "", errNoBinaries
}

// binaryDirs returns where findBinaries looks; tests replace it.
var binaryDirs = defaultBinaryDirs

// defaultBinaryDirs returns the directory of postgres on PATH, then the
// Debian and source-install locations, newest version first.
func defaultBinaryDirs() []string {
	var dirs []string
	if p, err := exec.LookPath("postgres"); err == nil {
		dirs = append(dirs, filepath.Dir(p))
	}
	dirs = append(dirs, "/usr/local/bin")
	debian, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(debian, func(a, b string) int { return versionOf(b) - versionOf(a) })
	dirs = append(dirs, debian...)
	return append(dirs, "/usr/local/pgsql/bin", "/usr/pgsql/bin")
}

func versionOf(dir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return n
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// server is a postgres process in its own directory.
type server struct {
	dir  string
	port int
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
}

func (s *server) url() string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User("postgres"),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)),
		Path:     "/postgres",
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// start runs initdb and postgres in a new temporary directory.
func start(initdb, postgres string) (*server, error) {
	cred, err := unprivileged()
	if err != nil {
		return nil, err
	}
	parent := tempParent(cred)
	removeStale(parent)
	dir, err := os.MkdirTemp(parent, "pgtest-*")
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	// Absolute, so that it compares equal to the server's data_directory
	// even when TMPDIR is relative.
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	s := &server{dir: dir}
	ok := false
	defer func() {
		if !ok {
			_ = os.RemoveAll(dir)
		}
	}()
	if err := os.WriteFile(filepath.Join(dir, ownerName), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	data, sock := filepath.Join(dir, "data"), filepath.Join(dir, "sock")
	for _, d := range []string{data, sock} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return nil, fmt.Errorf("pgtest: %w", err)
		}
	}
	if cred != nil {
		for _, d := range []string{dir, data, sock} {
			if err := os.Chown(d, int(cred.uid), int(cred.gid)); err != nil {
				return nil, fmt.Errorf("pgtest: %w", err)
			}
		}
	}
	logPath := filepath.Join(dir, logName)
	cmd := exec.Command(initdb, "-D", data, "-U", "postgres", "-A", "trust",
		"-E", "UTF8", "--no-locale", "--no-sync")
	configureCmd(cmd, cred)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// Through childproc.Start: initdb has the parent-death signal too, which
	// must not fire because the thread that forked it ended.
	if err := childproc.Start(cmd); err != nil {
		return nil, fmt.Errorf("pgtest: initdb: %w", err)
	}
	if err := cmd.Wait(); err != nil {
		return nil, fmt.Errorf("pgtest: initdb: %w\n%s", err, out.Bytes())
	}
	// A free port may be taken between probing and binding: try a few.
	for attempt := 0; ; attempt++ {
		s.port, err = pickPort()
		if err != nil {
			return nil, err
		}
		err = s.run(postgres, data, sock, logPath, cred)
		if err == nil {
			break
		}
		if attempt == 2 {
			return nil, err
		}
	}
	ok = true
	return s, nil
}

// run starts postgres on s.port and waits until it accepts connections.
func (s *server) run(postgres, data, sock, logPath string, cred *runAs) error {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	defer logf.Close()
	cmd := exec.Command(postgres, "-D", data, "-k", sock, "-p", strconv.Itoa(s.port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=100", "-c", "shared_buffers=16MB")
	cmd.Stdout, cmd.Stderr = logf, logf
	configureCmd(cmd, cred)
	if err := childproc.Start(cmd); err != nil {
		return fmt.Errorf("pgtest: start postgres: %w", err)
	}
	s.cmd, s.done = cmd, make(chan struct{})
	go func() { _ = cmd.Wait(); close(s.done) }()

	deadline := time.NewTimer(startTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		// Our postmaster says "ready" in its postmaster.pid once it has
		// bound its port and accepts connections. A postgres that cannot
		// bind the port (another test binary's server took it between
		// probing and binding) exits instead, so a server answering on the
		// port is never mistaken for ours, and no driver is needed to tell.
		if ready(data, s.port) {
			return nil
		}
		select {
		case <-s.done:
			return fmt.Errorf("pgtest: postgres exited: %v\n%s", cmd.ProcessState, logTail(logPath))
		case <-deadline.C:
			_ = s.kill()
			return fmt.Errorf("pgtest: postgres not ready after %v\n%s", startTimeout, logTail(logPath))
		case <-tick.C:
		}
	}
}

// ready reports whether the postmaster of the data directory data has
// written to its lock file that it listens on port and accepts
// connections. The file's lines (PostgreSQL 10 and later): pid, data
// directory, start time, port, socket directory, listen address, shared
// memory key, status.
func ready(data string, port int) bool {
	b, err := os.ReadFile(filepath.Join(data, "postmaster.pid"))
	if err != nil {
		return false
	}
	lines := strings.Split(string(b), "\n")
	return len(lines) >= 8 && strings.TrimSpace(lines[3]) == strconv.Itoa(port) &&
		strings.TrimSpace(lines[7]) == "ready"
}

// stop shuts postgres down (fast mode: SIGINT), kills it if that takes too
// long, and removes its directory.
func (s *server) stop() error {
	defer os.RemoveAll(s.dir)
	// SIGINT is PostgreSQL's fast shutdown. Where signals do not exist
	// (Windows) this fails and the timeout kills the process.
	_ = s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.done:
		return nil
	case <-time.After(stopTimeout):
		return s.kill()
	}
}

func (s *server) kill() error {
	_ = s.cmd.Process.Kill()
	<-s.done
	return errors.New("pgtest: postgres did not stop in time and was killed")
}

// runAs is the user PostgreSQL runs as when the tests run as root.
type runAs struct{ uid, gid uint32 }

// unprivileged returns the user to run PostgreSQL as when the tests run as
// root, which PostgreSQL refuses, or nil.
func unprivileged() (*runAs, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 != nil || err2 != nil || uid == 0 {
			continue
		}
		return &runAs{uid: uint32(uid), gid: uint32(gid)}, nil
	}
	return nil, errors.New("pgtest: running as root, and neither a postgres nor a nobody user exists to run PostgreSQL as")
}

// tempParent returns where to create the server's directory: the usual
// temporary directory, unless the server runs as another user who could not
// reach it (a TMPDIR under /root), then /tmp.
func tempParent(cred *runAs) string {
	dir := os.TempDir()
	if cred == nil {
		return dir
	}
	for d := dir; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			return "/tmp"
		}
		if d == filepath.Dir(d) {
			return dir
		}
	}
}

// pickPort chooses the port of a new server; tests replace it.
var pickPort = freePort

// ownerName is the file in a server's directory that holds the process id
// of the test binary that made it.
const ownerName = "owner.pid"

// removeStale deletes the server directories in parent left behind by test
// binaries that died without stopping their server (a panic, a -timeout,
// Ctrl-C): those whose owner.pid names a process that no longer exists. Their
// postgres is gone too, killed by the parent-death signal on Linux, or
// shutting itself down when it finds its data directory gone elsewhere.
// Directories without an owner file are left alone: they may be being set
// up right now.
func removeStale(parent string) {
	dirs, _ := filepath.Glob(filepath.Join(parent, "pgtest-*"))
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, ownerName))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 || pid == os.Getpid() || processAlive(pid) {
			continue
		}
		_ = os.RemoveAll(d)
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgtest: find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// logTail returns the last lines of the server log, for error messages.
func logTail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 30 {
		lines = lines[len(lines)-30:]
	}
	return "--- tail of " + path + " ---\n" + strings.Join(lines, "\n")
}
