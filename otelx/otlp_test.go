package otelx

import (
	"compress/gzip"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"go.opentelemetry.io/contrib/bridges/otelslog"
	collogs "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	colmetrics "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// otlpReceiver is an OTLP/HTTP collector in the test: it decodes the
// protobuf payloads posted to /v1/traces, /v1/metrics and /v1/logs.
type otlpReceiver struct {
	*httptest.Server
	mu      sync.Mutex
	traces  []*coltrace.ExportTraceServiceRequest
	metrics []*colmetrics.ExportMetricsServiceRequest
	logs    []*collogs.ExportLogsServiceRequest
}

func newOTLPReceiver(t *testing.T) *otlpReceiver {
	rcv := &otlpReceiver{}
	mux := http.NewServeMux()
	handle := func(path string, req, resp proto.Message) {
		mux.HandleFunc("POST "+path, func(w http.ResponseWriter, r *http.Request) {
			var body io.Reader = r.Body
			if r.Header.Get("Content-Encoding") == "gzip" {
				zr, err := gzip.NewReader(r.Body)
				if err != nil {
					http.Error(w, err.Error(), http.StatusBadRequest)
					return
				}
				body = zr
			}
			b, err := io.ReadAll(body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			rcv.mu.Lock()
			defer rcv.mu.Unlock()
			m := proto.Clone(req)
			proto.Reset(m)
			if err := proto.Unmarshal(b, m); err != nil {
				t.Errorf("%s: undecodable payload: %v", path, err)
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			switch m := m.(type) {
			case *coltrace.ExportTraceServiceRequest:
				rcv.traces = append(rcv.traces, m)
			case *colmetrics.ExportMetricsServiceRequest:
				rcv.metrics = append(rcv.metrics, m)
			case *collogs.ExportLogsServiceRequest:
				rcv.logs = append(rcv.logs, m)
			}
			out, _ := proto.Marshal(resp)
			w.Header().Set("Content-Type", "application/x-protobuf")
			_, _ = w.Write(out)
		})
	}
	handle("/v1/traces", &coltrace.ExportTraceServiceRequest{}, &coltrace.ExportTraceServiceResponse{})
	handle("/v1/metrics", &colmetrics.ExportMetricsServiceRequest{}, &colmetrics.ExportMetricsServiceResponse{})
	handle("/v1/logs", &collogs.ExportLogsServiceRequest{}, &collogs.ExportLogsServiceResponse{})
	rcv.Server = httptest.NewServer(mux)
	t.Cleanup(rcv.Close)
	return rcv
}

// spans returns every span received, with its resource.
func (rcv *otlpReceiver) spans() (spans []*tracepb.Span, resources []*resourcepb.Resource) {
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	for _, req := range rcv.traces {
		for _, rs := range req.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					spans = append(spans, s)
					resources = append(resources, rs.Resource)
				}
			}
		}
	}
	return spans, resources
}

func (rcv *otlpReceiver) metricNames() map[string]bool {
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	names := map[string]bool{}
	for _, req := range rcv.metrics {
		for _, rm := range req.ResourceMetrics {
			for _, sm := range rm.ScopeMetrics {
				for _, m := range sm.Metrics {
					names[m.Name] = true
				}
			}
		}
	}
	return names
}

func (rcv *otlpReceiver) logRecords() []*logspb.LogRecord {
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	var out []*logspb.LogRecord
	for _, req := range rcv.logs {
		for _, rl := range req.ResourceLogs {
			for _, sl := range rl.ScopeLogs {
				out = append(out, sl.LogRecords...)
			}
		}
	}
	return out
}

func stringAttr(kvs []*commonpb.KeyValue, key string) string {
	for _, kv := range kvs {
		if kv.Key == key {
			return kv.Value.GetStringValue()
		}
	}
	return ""
}

func TestSetupExportsEverySignalToTheOTLPEndpoint(t *testing.T) {
	clearOTelEnv(t)
	rcv := newOTLPReceiver(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rcv.URL)
	t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=test")
	ctx := context.Background()
	tel, err := Setup(ctx, WithoutGlobal(), WithServiceName("orders"), WithServiceVersion("1.2.3"))
	if err != nil {
		t.Fatal(err)
	}
	mw := NewMiddleware(WithTracerProvider(tel.TracerProvider()), WithMeterProvider(tel.MeterProvider()),
		WithPropagators(tel.Propagator()))
	// The fan-out of the package example: stdout JSON with ids, and the
	// OTel log bridge.
	bridge := otelslog.NewHandler("orders", otelslog.WithLoggerProvider(tel.LoggerProvider()))
	logger := slog.New(slog.NewMultiHandler(NewLogHandler(slog.DiscardHandler), bridge))
	mux := http.NewServeMux()
	mux.HandleFunc("GET /orders/{id}", func(w http.ResponseWriter, r *http.Request) {
		logger.InfoContext(r.Context(), "order read")
	})
	serve(mw.Handler(mux), httptest.NewRequest("GET", "/orders/9", nil))
	if err := tel.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}

	spans, resources := rcv.spans()
	if len(spans) != 1 {
		t.Fatalf("receiver got %d spans, want 1", len(spans))
	}
	if spans[0].Name != "GET /orders/{id}" || spans[0].Kind != tracepb.Span_SPAN_KIND_SERVER {
		t.Errorf("span %q kind %v", spans[0].Name, spans[0].Kind)
	}
	res := resources[0].Attributes
	for k, want := range map[string]string{
		"service.name":                "orders",
		"service.version":             "1.2.3",
		"deployment.environment.name": "test",
		"telemetry.sdk.language":      "go",
	} {
		if got := stringAttr(res, k); got != want {
			t.Errorf("resource %s = %q, want %q", k, got, want)
		}
	}
	for _, k := range []string{"service.instance.id", "host.name", "process.runtime.version"} {
		if stringAttr(res, k) == "" {
			t.Errorf("resource has no %s", k)
		}
	}
	for _, kv := range res {
		if kv.Key == "process.command_args" || kv.Key == "process.command_line" {
			t.Errorf("resource records the command line (%s)", kv.Key)
		}
	}
	if names := rcv.metricNames(); !names["http.server.request.duration"] {
		t.Errorf("receiver got metrics %v, want http.server.request.duration", names)
	}
	logs := rcv.logRecords()
	if len(logs) != 1 {
		t.Fatalf("receiver got %d log records, want 1", len(logs))
	}
	if string(logs[0].TraceId) != string(spans[0].TraceId) {
		t.Errorf("log record trace id %x, want the span's %x", logs[0].TraceId, spans[0].TraceId)
	}
}

func TestSignalSetToNoneIsNotExported(t *testing.T) {
	clearOTelEnv(t)
	rcv := newOTLPReceiver(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rcv.URL)
	t.Setenv("OTEL_TRACES_EXPORTER", "none")
	tel, err := Setup(context.Background(), WithoutGlobal())
	if err != nil {
		t.Fatal(err)
	}
	_, span := tel.TracerProvider().Tracer("t").Start(context.Background(), "s")
	if span.IsRecording() {
		t.Error("traces set to none, but the span records")
	}
	span.End()
	h, _ := tel.MeterProvider().Meter("t").Int64Counter("c")
	h.Add(context.Background(), 1)
	if err := tel.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if spans, _ := rcv.spans(); len(spans) != 0 {
		t.Errorf("receiver got %d spans", len(spans))
	}
	if !rcv.metricNames()["c"] {
		t.Error("metrics were not exported")
	}
}

func TestSignalEndpointAloneExportsThatSignal(t *testing.T) {
	clearOTelEnv(t)
	rcv := newOTLPReceiver(t)
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", rcv.URL+"/v1/traces")
	tel, err := Setup(context.Background(), WithoutGlobal())
	if err != nil {
		t.Fatal(err)
	}
	_, span := tel.TracerProvider().Tracer("t").Start(context.Background(), "s")
	span.End()
	c, _ := tel.MeterProvider().Meter("t").Int64Counter("c")
	c.Add(context.Background(), 1)
	if err := tel.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if spans, _ := rcv.spans(); len(spans) != 1 {
		t.Errorf("receiver got %d spans, want 1", len(spans))
	}
	if n := len(rcv.metricNames()); n != 0 {
		t.Errorf("receiver got %d metrics without a metrics endpoint", n)
	}
}

func TestSDKDisabledExportsNothing(t *testing.T) {
	clearOTelEnv(t)
	rcv := newOTLPReceiver(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rcv.URL)
	t.Setenv("OTEL_SDK_DISABLED", "TRUE")
	exp := &spanRecorder{}
	tel, err := Setup(context.Background(), WithoutGlobal(), WithSpanExporter(exp))
	if err != nil {
		t.Fatal(err)
	}
	mw := NewMiddleware(WithTracerProvider(tel.TracerProvider()), WithMeterProvider(tel.MeterProvider()),
		WithPropagators(tel.Propagator()))
	serve(mw.Handler(statusMux()), httptest.NewRequest("GET", "/items/1", nil))
	if err := tel.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if spans, _ := rcv.spans(); len(spans) != 0 || len(rcv.metricNames()) != 0 || exp.count() != 0 {
		t.Errorf("disabled SDK exported %d spans, %d metrics, %d spans to the option's exporter",
			len(spans), len(rcv.metricNames()), exp.count())
	}
}

// A client chooses the bytes of the path, the User-Agent and
// X-Forwarded-For; OTLP carries attribute values as protobuf strings,
// which must be UTF-8, and the exporter drops a whole batch it cannot
// marshal. One such request must not take the other spans with it.
func TestNonUTF8RequestDoesNotLoseTheBatch(t *testing.T) {
	clearOTelEnv(t)
	rcv := newOTLPReceiver(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rcv.URL)
	tel, err := Setup(context.Background(), WithoutGlobal())
	if err != nil {
		t.Fatal(err)
	}
	mw := NewMiddleware(WithTracerProvider(tel.TracerProvider()), WithMeterProvider(tel.MeterProvider()),
		WithPropagators(tel.Propagator()))
	h := mw.Handler(statusMux())
	serve(h, httptest.NewRequest("GET", "/items/1", nil))
	r := httptest.NewRequest("GET", "/items/%ff", nil)
	r.Header.Set("User-Agent", "bot\xff")
	r.Header.Set("X-Forwarded-For", "\xfe, 10.0.0.1")
	serve(h, r)
	if err := tel.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	spans, _ := rcv.spans()
	if len(spans) != 2 {
		t.Fatalf("receiver got %d spans, want 2", len(spans))
	}
	a := spans[1].Attributes
	if got := stringAttr(a, "url.path"); got != "/items/\uFFFD" {
		t.Errorf("url.path = %q", got)
	}
	if got := stringAttr(a, "user_agent.original"); got != "bot\uFFFD" {
		t.Errorf("user_agent.original = %q", got)
	}
	if got := stringAttr(a, "client.address"); got != "\uFFFD" {
		t.Errorf("client.address = %q", got)
	}
}
