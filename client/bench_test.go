package client_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/backstop-go/backstop/client"
)

// BenchmarkRoundTrip measures the Transport alone on a request that
// succeeds at once, against the inner transport called directly. Peers are
// compared in the bench module.
func BenchmarkRoundTrip(b *testing.B) {
	ok := &http.Response{StatusCode: 200, Header: http.Header{}, Body: http.NoBody}
	inner := rtFunc(func(*http.Request) (*http.Response, error) { return ok, nil })
	tr := client.New(inner, client.Options{})
	for _, method := range []string{"GET", "POST"} {
		req, _ := http.NewRequest(method, "http://api.test/orders", strings.NewReader("{}"))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer token")
		b.Run(method+"/bare", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _ = inner.RoundTrip(req)
			}
		})
		b.Run(method+"/backstop", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _ = tr.RoundTrip(req)
			}
		})
	}
}
