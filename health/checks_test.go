package health_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/backstop-go/backstop/health"
)

// pingDriver is a database/sql driver whose connections answer Ping with
// the error the test sets.
type pingDriver struct{ err atomic.Pointer[error] }

type pingConn struct{ d *pingDriver }

func (d *pingDriver) Open(string) (driver.Conn, error)             { return pingConn{d}, nil }
func (d *pingDriver) Connect(context.Context) (driver.Conn, error) { return pingConn{d}, nil }
func (d *pingDriver) Driver() driver.Driver                        { return d }
func (c pingConn) Prepare(string) (driver.Stmt, error)             { return nil, errors.New("not supported") }
func (c pingConn) Close() error                                    { return nil }
func (c pingConn) Begin() (driver.Tx, error)                       { return nil, errors.New("not supported") }
func (c pingConn) Ping(ctx context.Context) error {
	if p := c.d.err.Load(); p != nil {
		return *p
	}
	return nil
}

func TestDBPings(t *testing.T) {
	d := &pingDriver{}
	db := sql.OpenDB(d)
	defer db.Close()
	check := health.DB(db)
	if err := check(t.Context()); err != nil {
		t.Errorf("healthy: %v", err)
	}
	down := errors.New("server closed the connection")
	d.err.Store(&down)
	if err := check(t.Context()); !errors.Is(err, down) {
		t.Errorf("failing: %v, want the driver's error", err)
	}
}

func TestHTTPGetPassesOn2xxOnly(t *testing.T) {
	var status atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			t.Errorf("method %s", r.Method)
		}
		w.WriteHeader(int(status.Load()))
		_, _ = w.Write([]byte(strings.Repeat("x", 10000)))
	}))
	defer srv.Close()
	check, err := health.HTTPGet(srv.URL+"/healthz", srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	for code, ok := range map[int]bool{200: true, 204: true, 299: true, 304: false, 404: false, 500: false, 503: false} {
		status.Store(int64(code))
		err := check(t.Context())
		if (err == nil) != ok {
			t.Errorf("status %d: %v", code, err)
		}
		if err != nil && !strings.Contains(err.Error(), "status ") {
			t.Errorf("status %d: error %q does not name the status", code, err)
		}
	}
}

func TestHTTPGetBoundedByCheckTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	check, err := health.HTTPGet(srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	reg := newRegistry(t, health.Options{})
	reg.Register("upstream", check, health.CheckOptions{Timeout: 50 * time.Millisecond})
	start := time.Now()
	rep := reg.Check(t.Context(), health.Ready)
	if rep.Status != health.StatusFail || !errors.Is(rep.Checks[0].Err, health.ErrTimeout) {
		t.Errorf("a hanging upstream: %v %v, want fail with ErrTimeout", rep.Status, rep.Checks[0].Err)
	}
	if elapsed := time.Since(start); elapsed > 10*time.Second {
		t.Errorf("the check took %v despite its 50ms timeout", elapsed)
	}
}

func TestHTTPGetHidesPassword(t *testing.T) {
	check, err := health.HTTPGet("http://user:s3cret@127.0.0.1:1/healthz", nil)
	if err != nil {
		t.Fatal(err)
	}
	err = check(t.Context()) // nothing listens on port 1
	if err == nil || strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("error %q: want a failure naming the host without the password", err)
	}
}

func TestHTTPGetRejectsBadURLs(t *testing.T) {
	for _, u := range []string{"", "localhost:8080/healthz", "/healthz", "ftp://example.com/", "http://", "http://[::1", "https://user:s3cret@/x"} {
		_, err := health.HTTPGet(u, nil)
		if err == nil {
			t.Errorf("%q: accepted", u)
		} else if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%q: error shows the password: %v", u, err)
		}
	}
}

func TestHTTPGetUnparsableURLErrorHidesPassword(t *testing.T) {
	for _, u := range []string{
		"http://user:s3cret@db.internal:port/healthz", // bad port
		"http://user:s3cret@db.internal/%zz",          // bad escape
		"http://user:s3cret@db.internal/\n",           // control character
	} {
		_, err := health.HTTPGet(u, nil)
		if err == nil {
			t.Errorf("%q: accepted", u)
		} else if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%q: error shows the password: %v", u, err)
		}
	}
}
