package problem_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/backstop-go/backstop/problem"
)

type plainWriter struct{ http.ResponseWriter } // hides Flusher and Hijacker

// ResponseController.Flush must report ErrNotSupported through Recover's
// and HandlerFunc's writers when the real writer cannot flush, as the docs
// say, and not a nil error.
func TestWrappedFlushNotSupported(t *testing.T) {
	check := func(t *testing.T, w http.ResponseWriter) {
		if err := http.NewResponseController(w).Flush(); !errors.Is(err, http.ErrNotSupported) {
			t.Errorf("Flush = %v, want ErrNotSupported", err)
		}
		if _, _, err := http.NewResponseController(w).Hijack(); !errors.Is(err, http.ErrNotSupported) {
			t.Errorf("Hijack = %v, want ErrNotSupported", err)
		}
	}
	t.Run("Recover", func(t *testing.T) {
		ran := false
		rec := httptest.NewRecorder()
		problem.Recover(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			ran = true
			check(t, w)
			panic("after a failed flush the response has not started")
		})).ServeHTTP(plainWriter{rec}, httptest.NewRequest("GET", "/", nil))
		if !ran || rec.Code != 500 || rec.Header().Get("Content-Type") != problem.ContentTypeJSON {
			t.Errorf("got %d %s", rec.Code, rec.Body)
		}
	})
	t.Run("HandlerFunc", func(t *testing.T) {
		rec := httptest.NewRecorder()
		problem.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) error {
			check(t, w)
			return problem.New(409, "")
		}).ServeHTTP(plainWriter{rec}, httptest.NewRequest("GET", "/", nil))
		if rec.Code != 409 {
			t.Errorf("got %d %s", rec.Code, rec.Body)
		}
	})
}

// An error returned after the handler started the response must not append
// a problem to it (a second WriteHeader, two documents in one body): the
// response is aborted and the error logged.
func TestHandlerFuncErrorAfterResponseStarted(t *testing.T) {
	for _, start := range []struct {
		name string
		do   func(http.ResponseWriter)
	}{
		{"WriteHeader", func(w http.ResponseWriter) { w.WriteHeader(200) }},
		{"Write", func(w http.ResponseWriter) { _, _ = w.Write([]byte(`{"rows":[`)) }},
		{"Flush", func(w http.ResponseWriter) { w.(http.Flusher).Flush() }},
	} {
		t.Run(start.name, func(t *testing.T) {
			wr, logs := logBuffer(t, problem.Options{})
			h := wr.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) error {
				start.do(w)
				return errors.New("rows: connection reset")
			})
			rec := httptest.NewRecorder()
			func() {
				defer func() {
					if v := recover(); v != http.ErrAbortHandler {
						t.Errorf("recovered %v, want ErrAbortHandler", v)
					}
				}()
				h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
			}()
			if rec.Code != 200 || strings.Contains(rec.Body.String(), "about:blank") {
				t.Errorf("problem appended: %d %q", rec.Code, rec.Body)
			}
			if !strings.Contains(logs.String(), "rows: connection reset") {
				t.Errorf("error not logged: %s", logs)
			}
		})
	}
}
