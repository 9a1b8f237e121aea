package otelx

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/codes"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

const incomingTraceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

func TestSpanNameAttributesAndStatusByResponseClass(t *testing.T) {
	for _, tc := range []struct {
		status     string
		code       int
		spanStatus codes.Code
		errorType  string
	}{
		{"200", 200, codes.Unset, ""},
		{"404", 404, codes.Unset, ""},
		{"500", 500, codes.Error, "500"},
		{"503", 503, codes.Error, "503"},
	} {
		t.Run(tc.status, func(t *testing.T) {
			s := newSDK(t, sdktrace.AlwaysSample())
			h := s.middleware().Handler(statusMux()) // outside the mux
			r := httptest.NewRequest("GET", "http://api.example.com:8080/items/42?status="+tc.status, nil)
			r.Header.Set("User-Agent", "test/1")
			serve(h, r)

			spans := s.ended()
			if len(spans) != 1 {
				t.Fatalf("got %d spans, want 1", len(spans))
			}
			sp := spans[0]
			if sp.Name() != "GET /items/{id}" {
				t.Errorf("name = %q, want %q", sp.Name(), "GET /items/{id}")
			}
			if sp.SpanKind() != trace.SpanKindServer {
				t.Errorf("kind = %v, want server", sp.SpanKind())
			}
			if sp.Status().Code != tc.spanStatus {
				t.Errorf("status = %v, want %v", sp.Status().Code, tc.spanStatus)
			}
			got := attrMap(sp.Attributes())
			want := map[string]any{
				"http.request.method":       "GET",
				"http.route":                "/items/{id}",
				"http.response.status_code": int64(tc.code),
				"http.response.body.size":   int64(2),
				"url.path":                  "/items/42",
				"url.scheme":                "http",
				"server.address":            "api.example.com",
				"server.port":               int64(8080),
				"network.peer.address":      "192.0.2.1",
				"network.peer.port":         int64(1234),
				"client.address":            "192.0.2.1",
				"network.protocol.version":  "1.1",
				"user_agent.original":       "test/1",
			}
			if tc.errorType != "" {
				want["error.type"] = tc.errorType
			}
			for k, v := range want {
				if got[k] != v {
					t.Errorf("attribute %s = %v, want %v", k, got[k], v)
				}
			}
			for k := range got {
				if _, ok := want[k]; !ok {
					t.Errorf("unexpected attribute %s = %v", k, got[k])
				}
			}
		})
	}
}

func TestUnmatchedRequestIsNamedByMethodAlone(t *testing.T) {
	s := newSDK(t, sdktrace.AlwaysSample())
	serve(s.middleware().Handler(statusMux()), httptest.NewRequest("GET", "/nowhere", nil))
	sp := s.ended()[0]
	if sp.Name() != "GET" {
		t.Errorf("name = %q, want GET", sp.Name())
	}
	if _, ok := attrMap(sp.Attributes())["http.route"]; ok {
		t.Error("unmatched request has http.route")
	}
}

func TestMethodsOutsideTheConventionsAreNamedHTTP(t *testing.T) {
	s := newSDK(t, sdktrace.AlwaysSample())
	h := s.middleware().Handler(http.NotFoundHandler())
	serve(h, httptest.NewRequest("PURGE", "/x", nil))
	serve(h, httptest.NewRequest("get", "/x", nil))
	spans := s.ended()
	if got := spans[0].Name(); got != "HTTP" {
		t.Errorf("PURGE span name = %q, want HTTP", got)
	}
	a := attrMap(spans[0].Attributes())
	if a["http.request.method"] != "_OTHER" || a["http.request.method_original"] != "PURGE" {
		t.Errorf("PURGE attributes: method %v, original %v", a["http.request.method"], a["http.request.method_original"])
	}
	if got := spans[1].Name(); got != "GET" {
		t.Errorf("lower-case get span name = %q, want GET", got)
	}
	a = attrMap(spans[1].Attributes())
	if a["http.request.method"] != "GET" || a["http.request.method_original"] != "get" {
		t.Errorf("get attributes: method %v, original %v", a["http.request.method"], a["http.request.method_original"])
	}
	m := s.collect(t)["http.server.request.duration"].Data.(metricdata.Histogram[float64])
	methods := map[any]bool{}
	for _, dp := range m.DataPoints {
		v, _ := dp.Attributes.Value("http.request.method")
		methods[v.AsInterface()] = true
	}
	if !methods["_OTHER"] || !methods["GET"] || len(methods) != 2 {
		t.Errorf("metric methods = %v, want GET and _OTHER", methods)
	}
}

func TestRouteFuncNamesTheRoute(t *testing.T) {
	s := newSDK(t, sdktrace.AlwaysSample())
	var seen *http.Request
	h := s.middleware(WithRouteFunc(func(r *http.Request) string {
		seen = r
		return "/users/:id"
	})).Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Pattern = "set by the router" // the function sees the handler's request
	}))
	serve(h, httptest.NewRequest("DELETE", "/users/7", nil))
	sp := s.ended()[0]
	if sp.Name() != "DELETE /users/:id" {
		t.Errorf("name = %q", sp.Name())
	}
	if got := attrMap(sp.Attributes())["http.route"]; got != "/users/:id" {
		t.Errorf("http.route = %v", got)
	}
	if seen == nil || seen.Pattern != "set by the router" {
		t.Error("route function did not get the request the handler received")
	}
	dp := s.collect(t)["http.server.request.duration"].Data.(metricdata.Histogram[float64]).DataPoints[0]
	if v, _ := dp.Attributes.Value("http.route"); v.AsString() != "/users/:id" {
		t.Errorf("metric http.route = %q", v.AsString())
	}
}

func TestEmptyRouteFuncFallsBackToPattern(t *testing.T) {
	s := newSDK(t, sdktrace.AlwaysSample())
	h := s.middleware(WithRouteFunc(func(*http.Request) string { return "" })).Handler(statusMux())
	serve(h, httptest.NewRequest("GET", "/items/1", nil))
	if got := s.ended()[0].Name(); got != "GET /items/{id}" {
		t.Errorf("name = %q", got)
	}
}

func TestMiddlewareInsideMuxNamesSpanFromTheStart(t *testing.T) {
	s := newSDK(t, sdktrace.AlwaysSample())
	mw := s.middleware()
	mux := http.NewServeMux()
	var name string
	mux.Handle("POST /orders", mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name = trace.SpanFromContext(r.Context()).(sdktrace.ReadOnlySpan).Name()
	})))
	serve(mux, httptest.NewRequest("POST", "/orders", nil))
	if name != "POST /orders" {
		t.Errorf("span name while the handler runs = %q, want POST /orders", name)
	}
	if got := attrMap(s.ended()[0].Attributes())["http.route"]; got != "/orders" {
		t.Errorf("http.route = %v", got)
	}
}

func TestMetricsRecordedWithBoundedAttributes(t *testing.T) {
	s := newSDK(t, sdktrace.NeverSample()) // metrics do not depend on sampling
	h := s.middleware().Handler(statusMux())
	for _, target := range []string{"/items/1", "/items/2", "/items/3?status=500"} {
		r := httptest.NewRequest("GET", "http://evil.example:6666"+target, nil)
		serve(h, r)
	}
	if n := len(s.ended()); n != 0 {
		t.Fatalf("NeverSample ended %d spans", n)
	}
	ms := s.collect(t)
	d, ok := ms["http.server.request.duration"]
	if !ok {
		t.Fatalf("no http.server.request.duration; got %v", keys(ms))
	}
	if d.Unit != "s" {
		t.Errorf("duration unit = %q", d.Unit)
	}
	hist := d.Data.(metricdata.Histogram[float64])
	if len(hist.DataPoints) != 2 {
		t.Fatalf("got %d duration series, want 2 (200 and 500)", len(hist.DataPoints))
	}
	for _, dp := range hist.DataPoints {
		got := map[string]any{}
		for _, kv := range dp.Attributes.ToSlice() {
			got[string(kv.Key)] = kv.Value.AsInterface()
		}
		want := map[string]any{
			"http.request.method":      "GET",
			"url.scheme":               "http",
			"network.protocol.name":    "http",
			"network.protocol.version": "1.1",
			"http.route":               "/items/{id}",
		}
		switch got["http.response.status_code"] {
		case int64(200):
			if dp.Count != 2 {
				t.Errorf("200 series count = %d, want 2", dp.Count)
			}
		case int64(500):
			want["error.type"] = "500"
			if dp.Count != 1 {
				t.Errorf("500 series count = %d, want 1", dp.Count)
			}
		default:
			t.Errorf("unexpected status %v", got["http.response.status_code"])
		}
		want["http.response.status_code"] = got["http.response.status_code"]
		if len(got) != len(want) {
			t.Errorf("metric attributes = %v, want %v (no server.address/port)", got, want)
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("metric attribute %s = %v, want %v", k, got[k], v)
			}
		}
	}
	resp := ms["http.server.response.body.size"].Data.(metricdata.Histogram[int64])
	var sum int64
	for _, dp := range resp.DataPoints {
		sum += dp.Sum
	}
	if sum != 6 {
		t.Errorf("response body bytes = %d, want 6", sum)
	}
	if _, ok := ms["http.server.request.body.size"]; !ok {
		t.Error("no http.server.request.body.size")
	}
}

func keys[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

func TestRequestBodyBytesAreCounted(t *testing.T) {
	s := newSDK(t, sdktrace.AlwaysSample())
	h := s.middleware().Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
	}))
	serve(h, httptest.NewRequest("POST", "/upload", strings.NewReader("0123456789")))
	if got := attrMap(s.ended()[0].Attributes())["http.request.body.size"]; got != int64(10) {
		t.Errorf("http.request.body.size = %v, want 10", got)
	}
	dp := s.collect(t)["http.server.request.body.size"].Data.(metricdata.Histogram[int64]).DataPoints[0]
	if dp.Sum != 10 {
		t.Errorf("request body size metric sum = %d, want 10", dp.Sum)
	}
}

func TestProbesAreNotObserved(t *testing.T) {
	s := newSDK(t, sdktrace.AlwaysSample())
	var sawSpan bool
	h := s.middleware().Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sawSpan = trace.SpanFromContext(r.Context()).SpanContext().IsValid()
	}))
	for _, p := range []string{"/livez", "/readyz", "/readyz/redis", "/healthz", "/startupz", "/metrics"} {
		r := httptest.NewRequest("GET", p, nil)
		r.Header.Set("Traceparent", incomingTraceparent)
		serve(h, r)
		if sawSpan {
			t.Errorf("%s: the handler got a span context", p)
		}
	}
	if n := len(s.ended()); n != 0 {
		t.Errorf("probes made %d spans", n)
	}
	if ms := s.collect(t); len(ms) != 0 {
		t.Errorf("probes recorded metrics: %v", keys(ms))
	}
	serve(h, httptest.NewRequest("GET", "/readyzz", nil))
	serve(h, httptest.NewRequest("GET", "/api/healthz", nil))
	if n := len(s.ended()); n != 2 {
		t.Errorf("paths that only look like probes made %d spans, want 2", n)
	}
}

func TestWithFilterReplacesDefault(t *testing.T) {
	s := newSDK(t, sdktrace.AlwaysSample())
	h := s.middleware(WithFilter(func(r *http.Request) bool { return r.URL.Path != "/skip" })).Handler(http.NotFoundHandler())
	serve(h, httptest.NewRequest("GET", "/skip", nil))
	serve(h, httptest.NewRequest("GET", "/livez", nil))
	if n := len(s.ended()); n != 1 {
		t.Fatalf("got %d spans, want 1 (/livez, which the replaced default excluded)", n)
	}
}

func TestIncomingTraceContextIsTheParent(t *testing.T) {
	s := newSDK(t, sdktrace.AlwaysSample())
	var member string
	h := s.middleware().Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		member = baggage.FromContext(r.Context()).Member("tenant").Value()
	}))
	r := httptest.NewRequest("GET", "/x", nil)
	r.Header.Set("Traceparent", incomingTraceparent)
	r.Header.Set("Baggage", "tenant=acme")
	serve(h, r)
	sp := s.ended()[0]
	if got := sp.SpanContext().TraceID().String(); got != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("trace id = %s, want the caller's", got)
	}
	if got := sp.Parent().SpanID().String(); got != "00f067aa0ba902b7" {
		t.Errorf("parent = %s, want the caller's span", got)
	}
	if member != "acme" {
		t.Errorf("baggage member tenant = %q, want acme", member)
	}
}

func TestPublicEndpointStartsNewTraceLinkedToCaller(t *testing.T) {
	s := newSDK(t, sdktrace.ParentBased(sdktrace.NeverSample())) // the caller's sampled flag would force sampling
	s2 := newSDK(t, sdktrace.AlwaysSample())
	for name, sd := range map[string]*sdk{"parent-based": s, "always": s2} {
		t.Run(name, func(t *testing.T) {
			var member string
			var inHandler trace.SpanContext
			h := sd.middleware(WithPublicEndpointFn(func(*http.Request) bool { return true })).Handler(
				http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					member = baggage.FromContext(r.Context()).Member("tenant").Value()
					inHandler = trace.SpanContextFromContext(r.Context())
				}))
			r := httptest.NewRequest("GET", "/x", nil)
			r.Header.Set("Traceparent", incomingTraceparent)
			r.Header.Set("Baggage", "tenant=acme")
			serve(h, r)
			if member != "" {
				t.Errorf("untrusted baggage reached the handler: tenant=%q", member)
			}
			if inHandler.TraceID().String() == "4bf92f3577b34da6a3ce929d0e0e4736" {
				t.Error("the handler runs in the caller's trace")
			}
			spans := sd.ended()
			if name == "parent-based" {
				if len(spans) != 0 {
					t.Error("a caller's sampled flag forced sampling")
				}
				return
			}
			sp := spans[0]
			if sp.Parent().IsValid() {
				t.Errorf("span has parent %v, want a root", sp.Parent())
			}
			if len(sp.Links()) != 1 || sp.Links()[0].SpanContext.SpanID().String() != "00f067aa0ba902b7" {
				t.Errorf("links = %v, want one to the caller's span", sp.Links())
			}
		})
	}
}

func TestPublicEndpointKeepsInProcessParent(t *testing.T) {
	s := newSDK(t, sdktrace.AlwaysSample())
	ctx, outer := s.tp.Tracer("test").Start(context.Background(), "outer")
	h := s.middleware(WithPublicEndpointFn(func(*http.Request) bool { return true })).Handler(http.NotFoundHandler())
	r := httptest.NewRequestWithContext(ctx, "GET", "/x", nil)
	r.Header.Set("Traceparent", incomingTraceparent)
	serve(h, r)
	outer.End()
	sp := s.ended()[0]
	if sp.Parent().SpanID() != outer.SpanContext().SpanID() {
		t.Errorf("parent = %v, want the in-process span", sp.Parent().SpanID())
	}
}

func TestTraceIDHeaderIsTheSpansTraceID(t *testing.T) {
	s := newSDK(t, sdktrace.AlwaysSample())
	h := s.middleware(WithTraceIDHeader("trace-id")).Handler(statusMux())
	w := serve(h, httptest.NewRequest("GET", "/items/1", nil))
	want := s.ended()[0].SpanContext().TraceID().String()
	if got := w.Header().Get("Trace-Id"); got != want {
		t.Errorf("Trace-Id = %q, want %q", got, want)
	}
}

func TestTraceIDHeaderAbsentWithoutTraceContext(t *testing.T) {
	h := NewMiddleware(WithTracerProvider(tracenoop.NewTracerProvider()), WithMeterProvider(metricnoop.NewMeterProvider()),
		WithPropagators(w3c), WithTraceIDHeader("Trace-Id")).Handler(http.NotFoundHandler())
	w := serve(h, httptest.NewRequest("GET", "/x", nil))
	if _, ok := w.Header()["Trace-Id"]; ok {
		t.Errorf("Trace-Id written without a trace: %q", w.Header().Get("Trace-Id"))
	}
	r := httptest.NewRequest("GET", "/x", nil)
	r.Header.Set("Traceparent", incomingTraceparent)
	w = serve(h, r)
	if got := w.Header().Get("Trace-Id"); got != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("Trace-Id = %q, want the caller's trace id when no SDK is installed", got)
	}
}

func TestWithoutSDKHandlerGetsCallersContextAndTheWriterUnwrapped(t *testing.T) {
	h := NewMiddleware(WithTracerProvider(tracenoop.NewTracerProvider()), WithMeterProvider(metricnoop.NewMeterProvider()),
		WithPropagators(w3c))
	w := httptest.NewRecorder()
	var got trace.SpanContext
	var gotW http.ResponseWriter
	r := httptest.NewRequest("GET", "/x", nil)
	r.Header.Set("Traceparent", incomingTraceparent)
	h.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = trace.SpanContextFromContext(r.Context())
		gotW = w
	})).ServeHTTP(w, r)
	if got.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("handler's trace id = %s, want the caller's", got.TraceID())
	}
	if gotW != http.ResponseWriter(w) {
		t.Errorf("handler got %T, want the server's writer unwrapped", gotW)
	}
}

func TestResponseWriterKeepsFlushHijackAndDeadlines(t *testing.T) {
	s := newSDK(t, sdktrace.AlwaysSample())
	mux := http.NewServeMux()
	mux.HandleFunc("GET /stream", func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		if err := rc.SetWriteDeadline(time.Now().Add(time.Minute)); err != nil {
			t.Errorf("SetWriteDeadline through the wrapper: %v", err)
		}
		_, _ = w.Write([]byte("a"))
		if err := rc.Flush(); err != nil {
			t.Errorf("Flush: %v", err)
		}
		w.(http.Flusher).Flush()
	})
	hijack := func(hijack func() (net.Conn, *bufio.ReadWriter, error)) {
		c, brw, err := hijack()
		if err != nil {
			t.Errorf("Hijack: %v", err)
			return
		}
		defer c.Close()
		_, _ = brw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi")
		_ = brw.Flush()
	}
	mux.HandleFunc("GET /hijack", func(w http.ResponseWriter, r *http.Request) {
		hijack(w.(http.Hijacker).Hijack)
	})
	mux.HandleFunc("GET /hijack-rc", func(w http.ResponseWriter, r *http.Request) {
		hijack(http.NewResponseController(w).Hijack)
	})
	srv := httptest.NewServer(s.middleware().Handler(mux))
	defer srv.Close()
	for _, p := range []string{"/stream", "/hijack", "/hijack-rc"} {
		resp, err := http.Get(srv.URL + p)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s: status %d", p, resp.StatusCode)
		}
	}
}

func TestReadFromIsCountedAndPassedThrough(t *testing.T) {
	s := newSDK(t, sdktrace.AlwaysSample())
	h := s.middleware().Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := w.(io.ReaderFrom).ReadFrom(strings.NewReader("hello world"))
		if n != 11 || err != nil {
			t.Errorf("ReadFrom = %d, %v", n, err)
		}
	}))
	w := serve(h, httptest.NewRequest("GET", "/f", nil))
	if w.Body.String() != "hello world" {
		t.Errorf("body = %q", w.Body.String())
	}
	if got := attrMap(s.ended()[0].Attributes())["http.response.body.size"]; got != int64(11) {
		t.Errorf("http.response.body.size = %v, want 11", got)
	}
}

// unflushableWriter is a ResponseWriter that cannot flush, as behind
// http.TimeoutHandler or a middleware whose writer has no Flush.
type unflushableWriter struct{ w *httptest.ResponseRecorder }

func (u unflushableWriter) Header() http.Header         { return u.w.Header() }
func (u unflushableWriter) Write(b []byte) (int, error) { return u.w.Write(b) }
func (u unflushableWriter) WriteHeader(code int)        { u.w.WriteHeader(code) }

func TestFailedFlushDoesNotDecideTheStatus(t *testing.T) {
	s := newSDK(t, sdktrace.AlwaysSample())
	h := s.middleware().Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := http.NewResponseController(w).Flush(); err != nil {
			http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		}
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(unflushableWriter{rec}, httptest.NewRequest("GET", "/events", nil))
	if rec.Code != 500 {
		t.Fatalf("client got %d, want 500", rec.Code)
	}
	span := s.ended()[0]
	if got := attrMap(span.Attributes())["http.response.status_code"]; got != int64(500) {
		t.Errorf("http.response.status_code = %v, the client got 500", got)
	}
	if span.Status().Code != codes.Error {
		t.Errorf("span status = %v, want Error for the 500 the client got", span.Status())
	}
}

func TestInformationalStatusIsNotTheResponseStatus(t *testing.T) {
	s := newSDK(t, sdktrace.AlwaysSample())
	h := s.middleware().Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusEarlyHints)
		w.WriteHeader(http.StatusAccepted)
	}))
	serve(h, httptest.NewRequest("GET", "/x", nil))
	if got := attrMap(s.ended()[0].Attributes())["http.response.status_code"]; got != int64(202) {
		t.Errorf("status = %v, want 202", got)
	}
}

func TestMultipartFormIsHandedBackForCleanup(t *testing.T) {
	s := newSDK(t, sdktrace.AlwaysSample())
	h := s.middleware().Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseMultipartForm(1); err != nil {
			t.Error(err)
		}
	}))
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile("f", "f.txt")
	_, _ = fw.Write(bytes.Repeat([]byte("x"), 100))
	_ = mw.Close()
	r := httptest.NewRequest("POST", "/upload", &body)
	r.Header.Set("Content-Type", mw.FormDataContentType())
	serve(h, r)
	if r.MultipartForm == nil {
		t.Fatal("the server's request has no MultipartForm: its temporary files would leak")
	}
	_ = r.MultipartForm.RemoveAll()
}

func TestHandlerPanicsOnMisuse(t *testing.T) {
	for name, f := range map[string]func(){
		"zero Middleware": func() { new(Middleware).Handler(http.NotFoundHandler()) },
		"nil next":        func() { NewMiddleware().Handler(nil) },
		"nil filter":      func() { WithFilter(nil) },
		"bad header":      func() { WithTraceIDHeader("Trace Id") },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if v := recover(); v == nil || !strings.HasPrefix(v.(string), "otelx: ") {
					t.Errorf("recovered %v, want an otelx panic", v)
				}
			}()
			f()
		})
	}
}

func TestPanickingHandlerEndsSpanAsError(t *testing.T) {
	for name, tc := range map[string]struct {
		write      bool
		wantStatus any
	}{
		"before writing": {false, nil},
		"after writing":  {true, int64(200)},
	} {
		t.Run(name, func(t *testing.T) {
			s := newSDK(t, sdktrace.AlwaysSample())
			h := s.middleware().Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.write {
					w.WriteHeader(http.StatusOK)
				}
				panic(http.ErrAbortHandler)
			}))
			func() {
				defer func() { _ = recover() }()
				serve(h, httptest.NewRequest("GET", "/x", nil))
			}()
			spans := s.ended()
			if len(spans) != 1 {
				t.Fatalf("%d spans ended", len(spans))
			}
			if st := spans[0].Status(); st.Code != codes.Error || st.Description != "handler panicked" {
				t.Errorf("status %v", st)
			}
			a := attrMap(spans[0].Attributes())
			if a["http.response.status_code"] != tc.wantStatus || a["url.path"] != "/x" {
				t.Errorf("status code %v (want %v), url.path %v", a["http.response.status_code"], tc.wantStatus, a["url.path"])
			}
		})
	}
}
