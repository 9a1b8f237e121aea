package blackbox

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/backstop-go/backstop/examples/internal/pgtest"
	"github.com/backstop-go/backstop/internal/redistest"
)

// allVariants are the directories under examples/ that hold a variant.
var allVariants = []string{"stdlib", "chi", "echo", "gin"}

// binaries maps a variant to the executable TestMain built for it.
var binaries = map[string]string{}

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "blackbox-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	for _, v := range variants() {
		bin := filepath.Join(dir, v)
		cmd := exec.Command("go", "build", "-o", bin, "./"+v)
		cmd.Dir = ".."
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "blackbox: building variant %s: %v\n%s", v, err, out)
			return 1
		}
		binaries[v] = bin
	}
	return pgtest.Run(redisRun{m})
}

// redisRun runs the tests through redistest, inside pgtest's Run, so that
// both harnesses stop what they started.
type redisRun struct{ m *testing.M }

func (r redisRun) Run() int { return redistest.Run(r.m) }

func variants() []string {
	env := os.Getenv("BLACKBOX_VARIANTS")
	if env == "" {
		return allVariants
	}
	var vs []string
	for _, v := range strings.Split(env, ",") {
		if v = strings.TrimSpace(v); v != "" {
			vs = append(vs, v)
		}
	}
	return vs
}

// backend is one way of configuring the service's stores.
type backend struct {
	name string
	env  func(t *testing.T) map[string]string
}

var backends = []backend{
	{"memory", func(*testing.T) map[string]string { return nil }},
	{"redis", func(t *testing.T) map[string]string {
		return map[string]string{"REDIS_URL": "redis://" + redistest.NewServer(t).Addr()}
	}},
	{"redis-cluster", func(t *testing.T) map[string]string {
		return map[string]string{"REDIS_CLUSTER_ADDRS": clusterAddrs(t)}
	}},
	{"postgres+redis", func(t *testing.T) map[string]string {
		return map[string]string{
			"DATABASE_URL": pgtest.Database(t),
			"REDIS_URL":    "redis://" + redistest.NewServer(t).Addr(),
		}
	}},
}

// clusterAddrs returns the seed addresses of the shared test cluster.
func clusterAddrs(t *testing.T) string {
	cc := redistest.Cluster(t)
	return strings.Join(cc.Options().Addrs, ",")
}

// forEachVariant runs f as a parallel subtest per variant.
func forEachVariant(t *testing.T, f func(t *testing.T, variant string)) {
	for _, v := range variants() {
		t.Run(v, func(t *testing.T) {
			t.Parallel()
			f(t, v)
		})
	}
}

// signingKey is the service's token key, shared by every instance a test
// starts so that the test can mint tokens the service accepts.
type signingKey struct {
	priv ed25519.PrivateKey
	file string
}

func newSigningKey(t *testing.T) signingKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "signing.pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return signingKey{priv: priv, file: file}
}

// service is one running instance of a variant.
type service struct {
	t      *testing.T
	name   string
	base   string
	cmd    *exec.Cmd
	logs   *logBuffer
	done   chan struct{}
	err    error     // the process's exit error, once done is closed
	exited time.Time // when Wait returned, once done is closed
}

// startService starts the variant's binary with env on a free port and
// waits until it logs the address it listens on.
func startService(t *testing.T, variant string, env map[string]string) *service {
	t.Helper()
	bin, ok := binaries[variant]
	if !ok {
		t.Fatalf("variant %s was not built", variant)
	}
	full := map[string]string{
		"ADDR":           "127.0.0.1:0",
		"COOKIE_SECURE":  "false",
		"RATE_LIMIT":     "100000/1m",
		"SHUTDOWN_DRAIN": "100ms",
	}
	for k, v := range env {
		full[k] = v
	}
	cmd := exec.Command(bin)
	cmd.Env = os.Environ()
	for _, k := range []string{"REDIS_URL", "REDIS_CLUSTER_ADDRS", "DATABASE_URL", "OTEL_EXPORTER_OTLP_ENDPOINT"} {
		cmd.Env = append(cmd.Env, k+"=") // never inherit the test's own backends
	}
	for k, v := range full {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	logs := &logBuffer{listening: make(chan string, 1)}
	cmd.Stdout = logs
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &service{t: t, name: variant, cmd: cmd, logs: logs, done: make(chan struct{})}
	go func() {
		s.err = cmd.Wait()
		s.exited = time.Now()
		close(s.done)
	}()
	t.Cleanup(func() {
		select {
		case <-s.done:
		default:
			_ = cmd.Process.Kill()
			<-s.done
		}
		if t.Failed() {
			t.Logf("%s logs:\n%s", variant, logs.String())
		}
	})
	select {
	case addr := <-logs.listening:
		s.base = "http://" + addr
	case <-s.done:
		t.Fatalf("%s exited before listening (%v):\n%s", variant, s.err, logs.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("%s did not log a listening address within 60 s:\n%s", variant, logs.String())
	}
	return s
}

// signal sends sig to the process.
func (s *service) signal(sig os.Signal) {
	s.t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Fatal(err)
	}
}

// wait waits for the process to exit and returns its exit code.
func (s *service) wait(timeout time.Duration) int {
	s.t.Helper()
	select {
	case <-s.done:
	case <-time.After(timeout):
		s.t.Fatalf("%s did not exit within %v", s.name, timeout)
	}
	if s.err == nil {
		return 0
	}
	if ee, ok := s.err.(*exec.ExitError); ok {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return -int(ws.Signal())
		}
		return ee.ExitCode()
	}
	s.t.Fatal(s.err)
	return -1
}

// logBuffer collects the service's output and notices the line that says
// where it listens.
type logBuffer struct {
	mu        sync.Mutex
	buf       bytes.Buffer
	partial   []byte
	listening chan string
	sent      bool
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		line := l.partial[:i]
		l.partial = l.partial[i+1:]
		if l.sent {
			continue
		}
		var rec struct {
			Msg  string `json:"msg"`
			Addr string `json:"addr"`
		}
		if json.Unmarshal(line, &rec) == nil && rec.Msg == "listening" && rec.Addr != "" {
			l.sent = true
			l.listening <- rec.Addr
		}
	}
	return len(p), nil
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// lines returns the complete lines logged so far.
func (l *logBuffer) lines() []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(l.String()))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

// response is a finished HTTP exchange with its body read.
type response struct {
	*http.Response
	body []byte
}

func (r *response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("%s %s: body is not a JSON object (%v): %s", r.Request.Method, r.Request.URL.Path, err, r.body)
	}
	return m
}

// client is an HTTP client of one service, without cookies unless a test
// adds them.
var client = &http.Client{
	Timeout: 60 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	},
}

// req describes a request; do sends it.
type req struct {
	method string
	path   string
	header map[string]string
	body   string
	token  string
}

func (s *service) do(t *testing.T, r req) *response {
	t.Helper()
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	hr, err := http.NewRequestWithContext(ctx, r.method, s.base+r.path, body)
	if err != nil {
		t.Fatal(err)
	}
	if r.body != "" {
		hr.Header.Set("Content-Type", "application/json")
	}
	if r.token != "" {
		hr.Header.Set("Authorization", "Bearer "+r.token)
	}
	for k, v := range r.header {
		if v == "" {
			hr.Header.Del(k)
			continue
		}
		hr.Header.Set(k, v)
	}
	resp, err := client.Do(hr)
	if err != nil {
		t.Fatalf("%s %s: %v", r.method, r.path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", r.method, r.path, err)
	}
	return &response{Response: resp, body: b}
}

// eventually polls cond until it is true or the deadline passes, and
// returns how long it took. The deadline is generous: it only bounds a
// hung run, the contract's own bounds are checked by the caller.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		if cond() {
			return time.Since(start)
		}
		if time.Since(start) > within {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// within checks a bound of the contract: cond must hold within bound of
// since, the moment the change it waits for was caused. It polls every
// 20 ms and goes on past the bound, for up to a minute, so that a failure
// says how late the service was; the time counted ends when the poll that
// saw cond hold returned. It returns that time.
func within(t *testing.T, since time.Time, bound time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	for {
		if cond() {
			took := time.Since(since)
			if took > bound {
				t.Errorf("%s after %v, want within %v", what, took.Round(time.Millisecond), bound)
			} else {
				t.Logf("%s after %v (bound %v)", what, took.Round(time.Millisecond), bound)
			}
			return took
		}
		if time.Since(since) > bound+time.Minute {
			t.Fatalf("%s: not within %v", what, bound+time.Minute)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
