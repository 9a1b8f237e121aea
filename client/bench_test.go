package client_test

import (
	"net/http"
	"strings"
	"testing"

	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/backstop-go/backstop/client"
)

// BenchmarkRoundTrip measures the Transport alone on a request that
// succeeds at once, against the inner transport called directly. Peers are
// compared in the bench module. cpu-ns/op is the process's CPU time per
// request, steadier than ns/op on a shared machine.
func BenchmarkRoundTrip(b *testing.B) {
	ok := &http.Response{StatusCode: 200, Header: http.Header{}, Body: http.NoBody}
	inner := rtFunc(func(*http.Request) (*http.Response, error) { return ok, nil })
	tr := client.New(inner, client.Options{})
	noopTr := client.New(inner, client.Options{TracerProvider: tracenoop.NewTracerProvider()})
	for _, method := range []string{"GET", "POST"} {
		req, _ := http.NewRequest(method, "http://api.test/orders", strings.NewReader("{}"))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer token")
		for name, rt := range map[string]http.RoundTripper{"bare": inner, "backstop": tr, "backstop-noop": noopTr} {
			b.Run(method+"/"+name, func(b *testing.B) {
				b.ReportAllocs()
				cpu, n := cpuTime(), 0
				for b.Loop() {
					n++
					_, _ = rt.RoundTrip(req)
				}
				b.ReportMetric(float64(cpuTime()-cpu)/float64(n), "cpu-ns/op")
			})
		}
	}
}
