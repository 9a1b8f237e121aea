package client_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/backstop-go/backstop/client"
	"github.com/backstop-go/backstop/internal/redistest"
	"github.com/backstop-go/backstop/problem"
)

func TestMain(m *testing.M) { redistest.Main(m) }

// step is one scripted answer of a scriptServer.
type step struct {
	status int
	header map[string]string
	body   string
	cut    bool             // close the connection without answering
	prob   *problem.Problem // answer with this problem (problem.Write)
}

// hit is what a scriptServer saw of one request.
type hit struct {
	method string
	key    []string // the Idempotency-Key values
	body   string
}

// scriptServer answers each request with the next step of its script and
// then with 200 once the script is used up. It records every request.
type scriptServer struct {
	*httptest.Server
	mem   *memServer // nil on the loopback interface
	mu    sync.Mutex
	steps []step
	hits  []hit
	conns int // connections opened
}

// newScriptServer starts a scriptServer on an in-memory network, for a
// test in a synctest bubble: its transport() dials it. It is closed when
// t ends.
func newScriptServer(t *testing.T, steps ...step) *scriptServer {
	t.Helper()
	s := &scriptServer{steps: steps}
	s.mem = newMemServer(t, http.HandlerFunc(s.serve), s.countConns)
	s.Server = s.mem.Server
	return s
}

// newLoopbackScriptServer starts a scriptServer on the loopback
// interface, for the tests of http.DefaultTransport, which cannot run in a
// bubble.
func newLoopbackScriptServer(t *testing.T, steps ...step) *scriptServer {
	t.Helper()
	s := &scriptServer{steps: steps}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	s.Config.ConnState = s.countConns
	s.Start()
	t.Cleanup(s.Close)
	return s
}

func (s *scriptServer) countConns(_ net.Conn, st http.ConnState) {
	if st == http.StateNew {
		s.mu.Lock()
		s.conns++
		s.mu.Unlock()
	}
}

// transport returns a new transport that dials the in-memory server.
func (s *scriptServer) transport() *http.Transport { return s.mem.transport() }

// memServer is an httptest.Server on an in-memory listener whose
// connections are net.Pipes. In a synctest bubble, a goroutine waiting on
// a real socket is not durably blocked, so the bubble's clock would stop;
// one waiting on a pipe is.
type memServer struct {
	*httptest.Server
	l *memListener
}

// newMemServer starts h on an in-memory listener, closed when t ends;
// connState, when not nil, is the server's ConnState hook. Call it inside
// the bubble.
func newMemServer(t *testing.T, h http.Handler, connState func(net.Conn, http.ConnState)) *memServer {
	t.Helper()
	l := &memListener{conns: make(chan net.Conn), done: make(chan struct{})}
	srv := &httptest.Server{Listener: l, Config: &http.Server{Handler: h, ConnState: connState}}
	srv.Start()
	t.Cleanup(srv.Close)
	return &memServer{Server: srv, l: l}
}

// transport returns a new transport whose connections go to s.
func (s *memServer) transport() *http.Transport {
	return &http.Transport{DialContext: s.l.dial, MaxIdleConnsPerHost: 64}
}

type memListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func (l *memListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *memListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *memListener) Addr() net.Addr { return memAddr{} }

func (l *memListener) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	client, server := net.Pipe()
	select {
	case l.conns <- server:
		return client, nil
	case <-l.done:
		client.Close()
		server.Close()
		return nil, &net.OpError{Op: "dial", Net: "mem", Err: syscall.ECONNREFUSED}
	case <-ctx.Done():
		client.Close()
		server.Close()
		return nil, ctx.Err()
	}
}

type memAddr struct{}

func (memAddr) Network() string { return "mem" }
func (memAddr) String() string  { return "api.test" }

func (s *scriptServer) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.hits = append(s.hits, hit{method: r.Method, key: r.Header.Values(client.HeaderKey), body: string(body)})
	st := step{status: http.StatusOK, body: "ok"}
	if len(s.steps) > 0 {
		st, s.steps = s.steps[0], s.steps[1:]
	}
	s.mu.Unlock()
	switch {
	case st.cut:
		cut(w)
	case st.prob != nil:
		problem.Write(w, r, st.prob)
	default:
		for k, v := range st.header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(st.status)
		_, _ = io.WriteString(w, st.body)
	}
}

func (s *scriptServer) requests() []hit {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]hit(nil), s.hits...)
}

func (s *scriptServer) newConns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}

// cut closes the client's connection without writing a response.
func cut(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(err)
	}
	_ = conn.Close()
}

// quick are Options without a budget, so only the retry rules decide.
// The waits are the defaults: the tests that retry run in a synctest
// bubble, whose clock skips them.
func quick(o client.Options) client.Options {
	if o.Budget.Ratio == 0 {
		o.Budget.Ratio = -1
	}
	return o
}

// do sends a request through c and returns the response with its body
// read, or the error.
func do(t *testing.T, c *http.Client, method, url, body string) (*http.Response, string, error) {
	t.Helper()
	return doCtx(t, context.Background(), c, method, url, body)
}

func doCtx(t *testing.T, ctx context.Context, c *http.Client, method, url, body string) (*http.Response, string, error) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the body: %v", err)
	}
	return resp, string(b), nil
}

// rtFunc is an in-memory http.RoundTripper, for tests in a synctest
// bubble, where real connections do not belong.
type rtFunc func(*http.Request) (*http.Response, error)

func (f rtFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// response builds a response as a transport would return it.
func response(req *http.Request, status int, header map[string]string, body string) *http.Response {
	h := make(http.Header, len(header))
	for k, v := range header {
		h.Set(k, v)
	}
	return &http.Response{
		StatusCode: status, Status: http.StatusText(status), Header: h,
		Body: io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body)),
		Request: req, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
	}
}
