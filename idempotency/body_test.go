package idempotency_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"github.com/backstop-go/backstop/idempotency"
)

func TestBodyRestored(t *testing.T) {
	big := strings.Repeat("0123456789", 1000)
	var got string
	h := newMW(t, newMemory(t, nil), idempotency.Options{}).Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = string(b)
	}))
	r := req{body: big}.build()
	r.ContentLength = -1 // unknown length: read until EOF
	h.ServeHTTP(httptest.NewRecorder(), r)
	if got != big {
		t.Fatalf("handler read %d bytes, want %d", len(got), len(big))
	}
	// A body cut by an outer http.MaxBytesReader is a 413 too.
	h2 := newMW(t, newMemory(t, nil), idempotency.Options{}).Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { t.Error("handler ran") }))
	rec := httptest.NewRecorder()
	r = req{body: big}.build()
	r.ContentLength = -1
	r.Body = http.MaxBytesReader(rec, r.Body, 10)
	h2.ServeHTTP(rec, r)
	assertProblem(t, rec, idempotency.ErrBodyTooLarge)
}

// The body buffer grows with the bytes that arrive, not with the declared
// Content-Length: a header alone must not make the server reserve up to
// MaxBodyBytes per request.
func TestBodyBufferFollowsArrivedBytes(t *testing.T) {
	const declared = 64 << 20
	h := newMW(t, newMemory(t, nil), idempotency.Options{MaxBodyBytes: declared}).Handler(&counter{})
	r := req{}.build()
	r.Body = failingBody{}
	r.ContentLength = declared
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	rec := serve2(h, r)
	runtime.ReadMemStats(&after)
	assertProblem(t, rec, idempotency.ErrBodyUnreadable)
	if got := after.TotalAlloc - before.TotalAlloc; got > 8<<20 {
		t.Fatalf("reading a body that sent nothing allocated %d bytes for a declared %d", got, declared)
	}
	// A large body of known length still arrives whole.
	big := bytes.Repeat([]byte("0123456789abcdef"), 20000) // 320,000 bytes
	var got []byte
	h = newMW(t, newMemory(t, nil), idempotency.Options{}).Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ = io.ReadAll(r.Body)
	}))
	r = req{body: string(big)}.build()
	if r.ContentLength != int64(len(big)) {
		t.Fatalf("ContentLength = %d", r.ContentLength)
	}
	serve2(h, r)
	if !bytes.Equal(got, big) {
		t.Fatalf("handler read %d bytes, want %d", len(got), len(big))
	}
}

// TestBodyReadAfterHandlerReturnedIsEmpty: a handler that keeps the
// request body and reads it after returning (which net/http forbids) gets
// io.EOF, never the bytes of a later request, whose buffer may be the same.
func TestBodyReadAfterHandlerReturnedIsEmpty(t *testing.T) {
	var kept []io.Reader
	var got []string
	h := newMW(t, newMemory(t, nil), idempotency.Options{}).Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(kept) == 0 {
			kept = append(kept, r.Body) // read nothing now
		} else {
			b, _ := io.ReadAll(r.Body)
			got = append(got, string(b))
		}
		w.WriteHeader(http.StatusCreated)
	}))
	first := strings.Repeat("first-secret ", 40)
	serve(h, req{body: first, keys: []string{"key-first-0123456789"}})
	for i := range 3 {
		body := strings.Repeat(fmt.Sprintf("later-%d ", i), 60)
		serve(h, req{body: body, keys: []string{fmt.Sprintf("key-later-%d-0123456789", i)}})
		if got[i] != body {
			t.Fatalf("request %d: handler read %q, want its own body", i, got[i])
		}
		if n, err := kept[0].Read(make([]byte, 64)); n != 0 || err != io.EOF {
			t.Fatalf("after request %d: the kept body read %d bytes, %v; want 0, io.EOF", i, n, err)
		}
	}
}

// TestBodyReadConcurrentlyAfterReturnIsSafe: a handler that hands the body
// to a goroutine which goes on reading after the handler returned (as an
// http.Transport may for a proxied body) neither races with the body's
// reuse (under -race) nor sees another request's bytes.
func TestBodyReadConcurrentlyAfterReturnIsSafe(t *testing.T) {
	done := make(chan string)
	first := true
	h := newMW(t, newMemory(t, nil), idempotency.Options{}).Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if first {
			first = false
			body := r.Body
			go func() {
				var got []byte
				buf := make([]byte, 7)
				for range 20000 {
					n, _ := body.Read(buf)
					got = append(got, buf[:n]...)
				}
				done <- string(got)
			}()
		} else {
			_, _ = io.Copy(io.Discard, r.Body)
		}
		w.WriteHeader(http.StatusCreated)
	}))
	own := strings.Repeat("own ", 100)
	serve(h, req{body: own, keys: []string{"key-reader-0123456789"}})
	for i := range 50 {
		serve(h, req{body: strings.Repeat("other ", 70), keys: []string{fmt.Sprintf("key-other-%d-0123456789", i)}})
	}
	if got := <-done; !strings.HasPrefix(own, got) {
		t.Fatalf("the kept body read %q, which is not a prefix of its own body", got)
	}
}
