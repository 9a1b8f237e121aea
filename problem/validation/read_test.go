package validation_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/backstop-go/backstop/problem/validation"
)

// A client that announces a large body and sends a few bytes of it must not
// make the server reserve the announced size: 64 such connections, left
// idle until the read times out, hold a few KiB each, not MaxBytes each:
// with the default MaxBytes (1 MiB) and with 8 MiB.
func TestIdleConnectionsHoldLittleMemory(t *testing.T) {
	t.Run("default", func(t *testing.T) { idleConnections(t, 0, 1<<20) })
	t.Run("8MiB", func(t *testing.T) { idleConnections(t, 8<<20, 8<<20) })
}

func idleConnections(t *testing.T, maxBytes, announced int64) {
	const (
		conns         = 64
		maxPerConn    = 64 << 10
		partialBodyOf = `{"email":"a@example.com","items":[{"sku":"A1","quantity":1},{"sku":"B2","quantity"`
	)
	v, err := validation.New(validation.Options{MaxBytes: maxBytes})
	if err != nil {
		t.Fatal(err)
	}
	var waiting sync.WaitGroup // handlers blocked reading the rest of the body
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = &secondReadSignal{ReadCloser: r.Body, done: waiting.Done}
		_ = v.Decode(r, new(order))
	}))
	defer srv.Close()

	// Warm up the server's pools with one complete request.
	resp, err := http.Post(srv.URL, "application/json", strings.NewReader(validOrder))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	before := liveHeap()
	waiting.Add(conns)
	clients := make([]net.Conn, 0, conns)
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	for range conns {
		c, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
		_, err = fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
			announced, partialBodyOf)
		if err != nil {
			t.Fatal(err)
		}
	}
	waiting.Wait()
	held := int64(liveHeap()) - int64(before)
	t.Logf("%d idle connections hold %d KiB, %d bytes each", conns, held>>10, held/conns)
	if held > conns*maxPerConn {
		t.Errorf("%d idle connections hold %d KiB, more than %d KiB each", conns, held>>10, maxPerConn>>10)
	}
}

// secondReadSignal calls done when the handler reads a second time: the
// first read took the partial body, so the handler is now waiting for more.
type secondReadSignal struct {
	io.ReadCloser
	reads int
	done  func()
}

func (r *secondReadSignal) Read(p []byte) (int, error) {
	if r.reads++; r.reads == 2 {
		r.done()
	}
	return r.ReadCloser.Read(p)
}

// liveHeap returns the bytes of live heap objects after a collection.
func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
