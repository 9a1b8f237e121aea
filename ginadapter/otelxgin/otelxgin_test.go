package otelxgin_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/backstop-go/backstop/ginadapter"
	"github.com/backstop-go/backstop/ginadapter/otelxgin"
	"github.com/backstop-go/backstop/health"
	"github.com/backstop-go/backstop/otelx"
	"github.com/backstop-go/backstop/problem"
)

var outOfCredit = problem.Type{URI: "https://example.com/probs/out-of-credit", Title: "You do not have enough credit.", Status: http.StatusPaymentRequired}

type telemetry struct {
	spans  *tracetest.SpanRecorder
	reader *sdkmetric.ManualReader
	mw     *otelx.Middleware
}

func newTelemetry(t *testing.T) *telemetry {
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() {
		_ = tp.Shutdown(context.Background())
		_ = mp.Shutdown(context.Background())
	})
	return &telemetry{spans: spans, reader: reader, mw: otelx.NewMiddleware(
		otelx.WithTracerProvider(tp), otelx.WithMeterProvider(mp), otelx.WithPropagators(propagation.TraceContext{}))}
}

func init() { gin.SetMode(gin.ReleaseMode) }

// newGin serves the routes of the tests behind otelxgin and gin.Recovery,
// with ginadapter.Problems between them unless plain.
func newGin(tel *telemetry, plain bool) *gin.Engine {
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.Use(otelxgin.Middleware(tel.mw))
	if !plain {
		r.Use(ginadapter.Problems(problem.NewWriter(problem.Options{Logger: slog.New(slog.DiscardHandler)})))
	}
	r.Use(gin.RecoveryWithWriter(io.Discard))
	r.GET("/orders/:id", func(c *gin.Context) {
		c.JSON(http.StatusOK, gin.H{"id": c.Param("id")})
	})
	r.POST("/orders", func(c *gin.Context) {
		c.JSON(http.StatusConflict, gin.H{"error": "The order exists."})
	})
	r.GET("/credit", func(c *gin.Context) { _ = c.Error(outOfCredit.New("Your balance is 30.")) })
	r.GET("/fail", func(c *gin.Context) {
		_ = c.AbortWithError(http.StatusInternalServerError, errors.New("database down"))
	})
	r.GET("/no-content", func(c *gin.Context) { c.Status(http.StatusNoContent) })
	r.GET("/panic", func(c *gin.Context) { panic("boom") })
	r.GET("/files/*path", func(c *gin.Context) { c.String(http.StatusOK, c.Param("path")) })
	reg := health.New(health.Options{Logger: slog.New(slog.DiscardHandler)})
	reg.Register("db", func(context.Context) error { return nil }, health.CheckOptions{})
	r.GET("/readyz/:name", ginadapter.Handler(reg.Handler(health.Ready)))
	return r
}

// Each request's span is named by echo's route template and carries it as
// http.route, with the status the client got, also for errors the handler
// pushed to c.Errors, statuses set without a body, and gin's own 404 and
// 405, whose body gin writes after the chain.
func TestSpanNameRouteAndStatus(t *testing.T) {
	for _, plain := range []bool{false, true} {
		for _, tc := range []struct {
			method, path string
			name, route  string
			status       int
			spanStatus   codes.Code
		}{
			{"GET", "/orders/42", "GET /orders/:id", "/orders/:id", 200, codes.Unset},
			{"POST", "/orders", "POST /orders", "/orders", 409, codes.Unset},
			{"GET", "/credit", "GET /credit", "/credit", 402, codes.Unset},
			{"GET", "/fail", "GET /fail", "/fail", 500, codes.Error},
			{"GET", "/no-content", "GET /no-content", "/no-content", 204, codes.Unset},
			{"GET", "/panic", "GET /panic", "/panic", 500, codes.Error},
			{"GET", "/files/a/b", "GET /files/*path", "/files/*path", 200, codes.Unset},
			{"DELETE", "/orders/42", "DELETE", "", 405, codes.Unset},
			{"GET", "/nowhere", "GET", "", 404, codes.Unset},
		} {
			if plain && tc.path == "/credit" {
				continue // without Problems, gin sends a 200 with no body
			}
			name := tc.method + " " + tc.path
			if plain {
				name += " (without Problems)"
			}
			t.Run(name, func(t *testing.T) {
				tel := newTelemetry(t)
				srv := httptest.NewServer(newGin(tel, plain))
				defer srv.Close()
				req, _ := http.NewRequest(tc.method, srv.URL+tc.path, nil)
				res, err := srv.Client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
				if res.StatusCode != tc.status {
					t.Fatalf("client got %d, want %d", res.StatusCode, tc.status)
				}
				spans := tel.spans.Ended()
				if len(spans) != 1 {
					t.Fatalf("%d spans, want 1", len(spans))
				}
				sp := spans[0]
				if sp.Name() != tc.name {
					t.Errorf("span name %q, want %q", sp.Name(), tc.name)
				}
				attrs := attrMap(sp.Attributes())
				if got, _ := attrs["http.route"].(string); got != tc.route {
					t.Errorf("http.route %q, want %q", got, tc.route)
				}
				if got := attrs["http.response.status_code"]; got != int64(tc.status) {
					t.Errorf("http.response.status_code %v, want %d", got, tc.status)
				}
				if sp.Status().Code != tc.spanStatus {
					t.Errorf("span status %v, want %v", sp.Status().Code, tc.spanStatus)
				}
				if got := metricStatus(t, tel); got != int64(tc.status) {
					t.Errorf("duration metric's status %d, want %d", got, tc.status)
				}
			})
		}
	}
}

// Health probes are left out by otelx's default filter; the probe still
// answers by the name in the path.
func TestHealthPathsHaveNoSpans(t *testing.T) {
	tel := newTelemetry(t)
	e := newGin(tel, false)
	for path, want := range map[string]int{"/readyz/db": 200, "/readyz/dns": 404} {
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != want {
			t.Errorf("%s: %d, want %d", path, rec.Code, want)
		}
	}
	if n := len(tel.spans.Ended()); n != 0 {
		t.Errorf("%d spans for health probes, want 0", n)
	}
}

// A problem rendered for an error in c.Errors carries the trace id of the
// request's span.
func TestProblemCarriesTheSpansTraceID(t *testing.T) {
	tel := newTelemetry(t)
	rec := httptest.NewRecorder()
	newGin(tel, false).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/credit", nil))
	var body struct {
		TraceID string `json:"traceId"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	spans := tel.spans.Ended()
	if len(spans) != 1 {
		t.Fatalf("%d spans, want 1", len(spans))
	}
	if want := spans[0].SpanContext().TraceID().String(); body.TraceID != want {
		t.Errorf("traceId %q, want the span's %q", body.TraceID, want)
	}
}

func TestMiddlewarePanicsOnBadMiddleware(t *testing.T) {
	for name, m := range map[string]*otelx.Middleware{"nil": nil, "zero": new(otelx.Middleware)} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			otelxgin.Middleware(m)
		})
	}
}

func attrMap(kvs []attribute.KeyValue) map[string]any {
	m := make(map[string]any, len(kvs))
	for _, kv := range kvs {
		m[string(kv.Key)] = kv.Value.AsInterface()
	}
	return m
}

// metricStatus returns the status code of the one data point of the
// request duration histogram.
func metricStatus(t *testing.T, tel *telemetry) int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := tel.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != "http.server.request.duration" {
				continue
			}
			h := m.Data.(metricdata.Histogram[float64])
			if len(h.DataPoints) != 1 {
				t.Fatalf("%d data points, want 1", len(h.DataPoints))
			}
			v, _ := h.DataPoints[0].Attributes.Value("http.response.status_code")
			return v.AsInt64()
		}
	}
	t.Fatal("no http.server.request.duration")
	return 0
}
