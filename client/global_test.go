package client_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	"go.opentelemetry.io/otel"

	"github.com/backstop-go/backstop/client"
)

// globalProviderSet records that TestGlobalTracerProvider installed a
// global TracerProvider, which cannot be undone.
var globalProviderSet bool

// TestGlobalTracerProvider checks the default tracer: while no SDK is
// installed a request that succeeds at once costs no allocation (no no-op
// span is started); once one is installed, even after the Transport was
// made, every request gets its span. A POST costs the three allocations
// of its copy with a key. It is the only test that sets the
// global provider.
func TestGlobalTracerProvider(t *testing.T) {
	if globalProviderSet {
		t.Skip("the global TracerProvider was set by an earlier run (-count)")
	}
	globalProviderSet = true
	ok := &http.Response{StatusCode: 200, Header: http.Header{}, Body: http.NoBody}
	inner := rtFunc(func(*http.Request) (*http.Response, error) { return ok, nil })
	tr := client.New(inner, client.Options{})
	req, _ := http.NewRequest("GET", "http://api.test/", nil)
	if !raceEnabled {
		allocs := testing.AllocsPerRun(100, func() {
			if _, err := tr.RoundTrip(req); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Fatalf("%v allocations per GET without an SDK, want 0", allocs)
		}
		post, _ := http.NewRequest("POST", "http://api.test/", http.NoBody)
		post.Header.Set("Content-Type", "application/json")
		allocs = testing.AllocsPerRun(100, func() {
			if _, err := tr.RoundTrip(post); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 3 { // the request's copy with its key, and the header's copy (a map: two)
			t.Fatalf("%v allocations per POST without an SDK, want 3", allocs)
		}
		// A replayable body, as http.NewRequest makes of a *bytes.Reader
		// (GetBody set), as the benchmarks send: GetBody is not called
		// for a first attempt, so it costs nothing more.
		replayable, _ := http.NewRequest("POST", "http://api.test/", bytes.NewReader([]byte(`{"item":"tea"}`)))
		replayable.Header.Set("Content-Type", "application/json")
		if replayable.GetBody == nil {
			t.Fatal("http.NewRequest set no GetBody for a *bytes.Reader")
		}
		allocs = testing.AllocsPerRun(100, func() {
			if _, err := tr.RoundTrip(replayable); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 3 {
			t.Fatalf("%v allocations per POST with a replayable body without an SDK, want 3", allocs)
		}
	}

	rec := &recorder{}
	otel.SetTracerProvider(rec)
	if _, err := tr.RoundTrip(req); err != nil {
		t.Fatal(err)
	}
	post, _ := http.NewRequest("POST", "http://api.test/", strings.NewReader("x"))
	if _, err := client.New(inner, client.Options{}).RoundTrip(post); err != nil {
		t.Fatal(err)
	}
	if len(rec.spans) != 2 || rec.spans[0].name != "backstop.client GET" || rec.spans[1].name != "backstop.client POST" {
		t.Fatalf("%d spans after installing a provider, want 2", len(rec.spans))
	}
}
