// Package decoratetest checks that a middleware hands its ErrorHandler a
// problem of the request's own: an ErrorHandler that decorates the problem
// (a member, a header) from many goroutines at once must race with nothing,
// and no request's decoration may reach another's response.
package decoratetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/backstop-go/backstop/problem"
)

// Header is the request header whose value the ErrorHandler of
// ErrorHandler copies into the problem's "requestId" member and into the
// response header of the same name.
const Header = "X-Request-Id"

// ErrorHandler returns an ErrorHandler that decorates the problem it is
// given with the request's Header value and writes it with w.
func ErrorHandler(t *testing.T, w *problem.Writer) func(http.ResponseWriter, *http.Request, error) {
	return func(rw http.ResponseWriter, r *http.Request, err error) {
		var p *problem.Problem
		if !errors.As(err, &p) {
			t.Errorf("ErrorHandler got %v, not a *problem.Problem", err)
			return
		}
		id := r.Header.Get(Header)
		p.With("requestId", id).WithHeader(Header, id)
		w.Write(rw, r, p)
	}
}

// Run sends 8×200 requests to h from 8 goroutines, each built by newRequest
// and given its own Header value, and checks that each is answered with
// status code and carries its own decoration only. Run it under -race.
func Run(t *testing.T, h http.Handler, code int, newRequest func() *http.Request) {
	t.Helper()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				id := fmt.Sprint(g, "-", i)
				r := newRequest()
				r.Header.Set(Header, id)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, r)
				var body map[string]any
				if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || rec.Code != code {
					t.Errorf("%d %s: %v", rec.Code, rec.Body, err)
					return
				}
				if body["requestId"] != id || len(rec.Header().Values(Header)) != 1 || rec.Header().Get(Header) != id {
					t.Errorf("request %s got another request's decoration: %s %v", id, rec.Body, rec.Header())
					return
				}
			}
		})
	}
	wg.Wait()
}
