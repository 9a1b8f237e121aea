package otelx_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/backstop-go/backstop/authn"
	"github.com/backstop-go/backstop/client"
	"github.com/backstop-go/backstop/health"
	"github.com/backstop-go/backstop/idempotency"
	"github.com/backstop-go/backstop/otelx"
	"github.com/backstop-go/backstop/ratelimit"
)

// The tables below mirror otelx/CONVENTIONS.md ("Where telemetry comes
// from" for the scopes, "The names in use" for the rest): that document is
// the contract, and a name changed in a package without it, or in it
// without the package, fails TestConventions. Keep them in step with it.

const module = "github.com/backstop-go/backstop/"

// conventionScopes are the instrumentation scopes: the packages' import
// paths, without a version.
var conventionScopes = map[string]string{
	"otelx":       module + "otelx",
	"ratelimit":   module + "ratelimit",
	"idempotency": module + "idempotency",
	"authn":       module + "authn",
	"health":      module + "health",
	"client":      module + "client",
}

// anyValue in an attribute's value list: a value from the program's
// configuration or the request, not a closed set.
const anyValue = "*"

// conventionMetric is a row of the metrics table. attrs maps each
// attribute key the row lists to its documented values (anyValue: not a
// closed set).
type conventionMetric struct {
	pkg, kind, unit string
	attrs           map[string][]string
}

var httpServerAttrs = map[string][]string{
	"http.request.method":       {anyValue},
	"url.scheme":                {"http", "https"},
	"network.protocol.name":     {"http"},
	"network.protocol.version":  {anyValue},
	"http.response.status_code": {anyValue},
	"http.route":                {anyValue},
	"error.type":                {anyValue},
}

var conventionMetrics = map[string]conventionMetric{
	"http.server.request.duration":   {"otelx", "histogram", "s", httpServerAttrs},
	"http.server.request.body.size":  {"otelx", "histogram", "By", httpServerAttrs},
	"http.server.response.body.size": {"otelx", "histogram", "By", httpServerAttrs},
	"backstop.ratelimit.requests": {"ratelimit", "counter", "{request}", map[string][]string{
		"backstop.ratelimit.result":         {"allowed", "denied", "error"},
		"backstop.ratelimit.policy":         {anyValue},
		"backstop.ratelimit.dry_run":        {"true", "false"},
		"backstop.ratelimit.failure_policy": {"open", "closed", "local"},
		// A negative cost: the package's README and doc list it.
		"error.type": {"invalid_cost"},
	}},
	"backstop.idempotency.requests": {"idempotency", "counter", "{request}", map[string][]string{
		"backstop.idempotency.result": {"executed", "takeover", "replayed", "in_flight", "mismatch",
			"not_replayable", "over_budget", "rejected", "store_error", "fail_open"},
	}},
	"backstop.health.check.duration": {"health", "histogram", "s", map[string][]string{
		"backstop.health.check":  {anyValue},
		"backstop.health.result": {"pass", "fail", "timeout"},
	}},
	"backstop.health.check.status": {"health", "gauge", "1", map[string][]string{
		"backstop.health.check": {anyValue},
	}},
	"backstop.authn.requests": {"authn", "counter", "{request}", map[string][]string{
		"backstop.authn.result": {"authenticated", "anonymous", "missing", "invalid", "forbidden", "unavailable"},
	}},
	// Reserved: the client records no metric today, so this row must not
	// show up (the test fails when it does: update the document then).
	"backstop.client.retries": {"client (reserved)", "counter", "{retry}", nil},
}

// conventionSpanAttrs and conventionSpanEvents are the table of span
// attributes and events of the middlewares, which annotate otelx's server
// span. Attributes map to their documented values, events to their
// attributes' keys.
var (
	conventionSpanAttrs = map[string][]string{
		"backstop.ratelimit.result":       {"allowed", "denied", "error"},
		"backstop.idempotency.result":     conventionMetrics["backstop.idempotency.requests"].attrs["backstop.idempotency.result"],
		"backstop.idempotency.fence":      {anyValue},
		"backstop.idempotency.unrecorded": {"true"},
		"backstop.authn.result":           conventionMetrics["backstop.authn.requests"].attrs["backstop.authn.result"],
		"backstop.authn.reason":           {anyValue},
	}
	conventionSpanEvents = map[string][]string{
		"backstop.ratelimit.denied": {"backstop.ratelimit.policy", "backstop.ratelimit.retry_after_ms", "backstop.ratelimit.dry_run"},
		"backstop.ratelimit.error":  {"backstop.ratelimit.failure_policy"},
	}
)

// TestConventions drives a request through the middleware of every
// package that records telemetry, on SDK providers passed through their
// options, and checks the scopes, metric names, units, attribute keys and
// values, span names and span annotations against the tables above.
func TestConventions(t *testing.T) {
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() {
		_ = tp.Shutdown(context.Background())
		_ = mp.Shutdown(context.Background())
	})
	// The server span every middleware below annotates.
	server := otelx.NewMiddleware(otelx.WithTracerProvider(tp), otelx.WithMeterProvider(mp))
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })
	serve := func(pattern string, h http.Handler, r *http.Request) *httptest.ResponseRecorder {
		t.Helper()
		mux := http.NewServeMux()
		mux.Handle(pattern, h)
		w := httptest.NewRecorder()
		server.Handler(mux).ServeHTTP(w, r)
		return w
	}

	// ratelimit: allowed, then denied, then a failing limiter.
	lim, err := ratelimit.NewSlidingWindow([]ratelimit.Policy{ratelimit.PerMinute("per_minute", 1)}, ratelimit.MemoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	key := func(*http.Request) string { return "k" }
	rl := ratelimit.New(lim, key, ratelimit.Options{MeterProvider: mp})
	for _, want := range []int{200, 429} {
		if w := serve("GET /limited", rl.Handler(ok), httptest.NewRequest("GET", "/limited", nil)); w.Code != want {
			t.Fatalf("ratelimit: status %d, want %d", w.Code, want)
		}
	}
	broken := ratelimit.New(failingLimiter{lim.Policies()}, key, ratelimit.Options{
		MeterProvider: mp, Logger: slog.New(slog.DiscardHandler)})
	if w := serve("GET /broken", broken.Handler(ok), httptest.NewRequest("GET", "/broken", nil)); w.Code != 200 {
		t.Fatalf("ratelimit, failing limiter: status %d, want 200 (FailOpen)", w.Code)
	}

	// idempotency: executed, then replayed.
	idem := idempotency.New(idempotency.NewMemoryStore(idempotency.MemoryOptions{}),
		func(*http.Request) (string, error) { return "tenant", nil },
		idempotency.Options{MeterProvider: mp})
	for range 2 {
		r := httptest.NewRequest("POST", "/orders", strings.NewReader(`{}`))
		r.Header.Set("Idempotency-Key", `"5b3c9a4e-1f0e-4d7b-9a55-0c1f6e2d8a10"`)
		if w := serve("POST /orders", idem.Handler(ok), r); w.Code != 200 {
			t.Fatalf("idempotency: status %d, want 200: %s", w.Code, w.Body)
		}
	}

	// authn: an HS256 token, then a bad one.
	hs := authn.Key{ID: "hs", Algorithm: "HS256", Key: []byte("0123456789abcdef0123456789abcdef")}
	signer, err := authn.NewSigner("https://id.example.com/", hs, authn.SignerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := authn.NewVerifier(authn.VerifierConfig{
		Issuer:     "https://id.example.com/",
		Audience:   []string{"api"},
		Algorithms: []string{"HS256"},
		Keys:       []authn.Key{signer.PublicKey()},
	})
	if err != nil {
		t.Fatal(err)
	}
	auth, err := authn.New(verifier, authn.Options{MeterProvider: mp})
	if err != nil {
		t.Fatal(err)
	}
	token, err := signer.Sign(authn.Claims{Subject: "alice", Audience: []string{"api"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		token string
		want  int
	}{{token, 200}, {"not-a-token", 401}} {
		r := httptest.NewRequest("GET", "/me", nil)
		r.Header.Set("Authorization", "Bearer "+c.token)
		if w := serve("GET /me", auth.Handler(ok), r); w.Code != c.want {
			t.Fatalf("authn: status %d, want %d", w.Code, c.want)
		}
	}

	// health: one passing readiness check.
	reg := health.New(health.Options{MeterProvider: mp, Logger: slog.New(slog.DiscardHandler)})
	t.Cleanup(reg.Close)
	reg.Register("db", func(context.Context) error { return nil }, health.CheckOptions{})
	w := httptest.NewRecorder()
	reg.Handler(health.Ready).ServeHTTP(w, httptest.NewRequest("GET", "/readyz", nil))
	if w.Code != 200 {
		t.Fatalf("health: status %d, want 200", w.Code)
	}

	// client: a GET answered 503, resent and answered 200.
	var calls atomic.Int32
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(upstream.Close)
	hc := &http.Client{Transport: client.New(upstream.Client().Transport, client.Options{
		TracerProvider: tp, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond,
	})}
	resp, err := hc.Get(upstream.URL + "/items")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != 200 || calls.Load() != 2 {
		t.Fatalf("client: status %d after %d calls, want 200 after 2", resp.StatusCode, calls.Load())
	}

	t.Run("metrics", func(t *testing.T) { checkMetrics(t, reader) })
	t.Run("spans", func(t *testing.T) { checkSpans(t, spans.Ended()) })
}

func checkMetrics(t *testing.T, reader *sdkmetric.ManualReader) {
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			seen[m.Name] = true
			row, ok := conventionMetrics[m.Name]
			if !ok {
				t.Errorf("metric %q (scope %q) is not in CONVENTIONS.md", m.Name, sm.Scope.Name)
				continue
			}
			if want := conventionScopes[row.pkg]; sm.Scope.Name != want || sm.Scope.Version != "" {
				t.Errorf("metric %q: scope %q version %q, want %q without a version", m.Name, sm.Scope.Name, sm.Scope.Version, want)
			}
			if m.Unit != row.unit {
				t.Errorf("metric %q: unit %q, want %q", m.Name, m.Unit, row.unit)
			}
			kind, sets := pointSets(m.Data)
			if kind != row.kind {
				t.Errorf("metric %q: a %s, want a %s", m.Name, kind, row.kind)
			}
			if len(sets) == 0 {
				t.Errorf("metric %q: no data point", m.Name)
			}
			keys := map[string]bool{}
			for _, set := range sets {
				checkAttrs(t, "metric "+m.Name, set.ToSlice(), row.attrs)
				for _, kv := range set.ToSlice() {
					keys[string(kv.Key)] = true
				}
			}
			// Every documented key shows up on some point, but error.type,
			// which the requests above never cause.
			for k := range row.attrs {
				if !keys[k] && k != "error.type" {
					t.Errorf("metric %q: no point has the attribute %q", m.Name, k)
				}
			}
		}
	}
	for name, row := range conventionMetrics {
		reserved := strings.HasSuffix(row.pkg, "(reserved)")
		if seen[name] == reserved {
			t.Errorf("metric %q recorded: %t; CONVENTIONS.md lists it for %s", name, seen[name], row.pkg)
		}
	}
}

// pointSets returns the instrument kind of data and the attribute sets of
// its points.
func pointSets(data metricdata.Aggregation) (string, []attribute.Set) {
	var sets []attribute.Set
	switch d := data.(type) {
	case metricdata.Sum[int64]:
		for _, p := range d.DataPoints {
			sets = append(sets, p.Attributes)
		}
		if d.IsMonotonic {
			return "counter", sets
		}
		return "updowncounter", sets
	case metricdata.Histogram[float64]:
		for _, p := range d.DataPoints {
			sets = append(sets, p.Attributes)
		}
		return "histogram", sets
	case metricdata.Histogram[int64]:
		for _, p := range d.DataPoints {
			sets = append(sets, p.Attributes)
		}
		return "histogram", sets
	case metricdata.Gauge[int64]:
		for _, p := range d.DataPoints {
			sets = append(sets, p.Attributes)
		}
		return "gauge", sets
	case metricdata.Gauge[float64]:
		for _, p := range d.DataPoints {
			sets = append(sets, p.Attributes)
		}
		return "gauge", sets
	}
	return "unknown aggregation", nil
}

// checkAttrs reports every attribute of kvs whose key is not in allowed or
// whose value is not among its documented values.
func checkAttrs(t *testing.T, where string, kvs []attribute.KeyValue, allowed map[string][]string) {
	t.Helper()
	for _, kv := range kvs {
		values, ok := allowed[string(kv.Key)]
		if !ok {
			t.Errorf("%s: attribute %q is not in CONVENTIONS.md", where, kv.Key)
			continue
		}
		if v := kv.Value.String(); !slices.Contains(values, anyValue) && !slices.Contains(values, v) {
			t.Errorf("%s: %s=%q, not one of the documented values %q", where, kv.Key, v, values)
		}
	}
}

func checkSpans(t *testing.T, ended []sdktrace.ReadOnlySpan) {
	var server, clients []sdktrace.ReadOnlySpan
	for _, s := range ended {
		switch s.InstrumentationScope().Name {
		case conventionScopes["otelx"]:
			server = append(server, s)
		case conventionScopes["client"]:
			clients = append(clients, s)
		default:
			t.Errorf("span %q: scope %q, neither otelx's nor client's", s.Name(), s.InstrumentationScope().Name)
		}
		if v := s.InstrumentationScope().Version; v != "" {
			t.Errorf("span %q: scope version %q, want none", s.Name(), v)
		}
	}

	// The middlewares annotate otelx's server span with the documented
	// names only, and each decision shows up.
	results := map[string]bool{}
	for _, s := range server {
		if s.SpanKind() != trace.SpanKindServer {
			t.Errorf("span %q: kind %v, want server", s.Name(), s.SpanKind())
		}
		var backstop []attribute.KeyValue
		for _, kv := range s.Attributes() {
			if strings.HasPrefix(string(kv.Key), "backstop.") {
				backstop = append(backstop, kv)
				if strings.HasSuffix(string(kv.Key), ".result") {
					results[string(kv.Key)+"="+kv.Value.String()] = true
				}
			}
		}
		checkAttrs(t, "span "+s.Name(), backstop, conventionSpanAttrs)
		for _, ev := range s.Events() {
			keys, ok := conventionSpanEvents[ev.Name]
			if !ok {
				t.Errorf("span %q: event %q is not in CONVENTIONS.md", s.Name(), ev.Name)
				continue
			}
			results["event "+ev.Name] = true
			var got []string
			for _, kv := range ev.Attributes {
				got = append(got, string(kv.Key))
			}
			slices.Sort(got)
			want := slices.Sorted(slices.Values(keys))
			if !slices.Equal(got, want) {
				t.Errorf("span %q: event %q has attributes %q, want %q", s.Name(), ev.Name, got, want)
			}
		}
	}
	for _, want := range []string{
		"backstop.ratelimit.result=allowed",
		"backstop.ratelimit.result=denied",
		"backstop.ratelimit.result=error",
		"event backstop.ratelimit.denied",
		"event backstop.ratelimit.error",
		"backstop.idempotency.result=executed",
		"backstop.idempotency.result=replayed",
		"backstop.authn.result=authenticated",
		"backstop.authn.result=invalid",
	} {
		if !results[want] {
			t.Errorf("no server span has %s", want)
		}
	}
	for _, s := range server {
		attrs := attrMap(s.Attributes())
		if attrs["backstop.authn.result"] == "invalid" && attrs["backstop.authn.reason"] == nil {
			t.Errorf("span %q: backstop.authn.result=invalid without backstop.authn.reason", s.Name())
		}
		if attrs["backstop.idempotency.result"] == "executed" && attrs["backstop.idempotency.fence"] == nil {
			t.Errorf("span %q: backstop.idempotency.result=executed without backstop.idempotency.fence", s.Name())
		}
	}

	// The client's span of the logical request, with the resend count and
	// one event per attempt.
	if len(clients) != 1 {
		t.Fatalf("%d client spans, want 1", len(clients))
	}
	c := clients[0]
	if c.Name() != "backstop.client GET" || c.SpanKind() != trace.SpanKindInternal {
		t.Errorf("client span %q of kind %v, want %q of kind internal", c.Name(), c.SpanKind(), "backstop.client GET")
	}
	if got := attrMap(c.Attributes())["http.request.resend_count"]; got != int64(1) {
		t.Errorf("client span: http.request.resend_count = %v, want 1", got)
	}
	attempts := 0
	for _, ev := range c.Events() {
		if ev.Name == "attempt" {
			attempts++
		}
	}
	if attempts != 2 {
		t.Errorf("client span: %d attempt events, want 2", attempts)
	}
}

func attrMap(kvs []attribute.KeyValue) map[string]any {
	m := make(map[string]any, len(kvs))
	for _, kv := range kvs {
		m[string(kv.Key)] = kv.Value.AsInterface()
	}
	return m
}

// failingLimiter fails every decision, as a limiter whose store is down.
type failingLimiter struct{ policies []ratelimit.Policy }

func (l failingLimiter) Policies() []ratelimit.Policy { return l.policies }

func (l failingLimiter) AllowN(context.Context, string, int64) (ratelimit.Decision, error) {
	return ratelimit.Decision{}, errors.New("down")
}
