package bench

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/backstop-go/backstop/problem"
)

// discardWriter is a ResponseWriter that keeps nothing, so the benchmarks
// measure the writer under test rather than a recorder's buffer.
type discardWriter struct {
	h    http.Header
	code int
	n    int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(code int)        { w.code = code }
func (w *discardWriter) Write(b []byte) (int, error) { w.n += len(b); return len(b), nil }

// plainProblem is the same document as a plain struct, encoded the way
// most handlers write JSON errors by hand.
type plainProblem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
}

var notFound = problem.Type{URI: "https://example.com/probs/order-not-found", Title: "Order not found", Status: http.StatusNotFound}

// BenchmarkProblemWrite compares problem.Write with encoding a plain struct
// through encoding/json. Both write the same four members and a
// Content-Type; Write also negotiates, sets three more headers and checks
// for a span. cpu-ns/op is the process's CPU time per op (see reportCPU).
func BenchmarkProblemWrite(b *testing.B) {
	req := httptest.NewRequest("GET", "/orders/42", nil)
	req.Header.Set("Accept", "application/json")
	b.Run("encoding-json-struct", func(b *testing.B) {
		w := &discardWriter{h: http.Header{}}
		b.ReportAllocs()
		defer reportCPU(b, processCPU())
		for b.Loop() {
			v := plainProblem{Type: notFound.URI, Title: notFound.Title, Status: notFound.Status, Detail: "There is no order 42."}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(v.Status)
			_ = json.NewEncoder(w).Encode(v)
		}
	})
	b.Run("problem.Write", func(b *testing.B) {
		w := &discardWriter{h: http.Header{}}
		b.ReportAllocs()
		defer reportCPU(b, processCPU())
		for b.Loop() {
			problem.Write(w, req, notFound.New("There is no order 42."))
		}
	})
	b.Run("problem.Write+extension", func(b *testing.B) {
		w := &discardWriter{h: http.Header{}}
		b.ReportAllocs()
		defer reportCPU(b, processCPU())
		for b.Loop() {
			problem.Write(w, req, notFound.New("There is no order 42.").With("order", 42))
		}
	})
}
