package otelx

import (
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// metricKey is what the metric attributes of a request depend on.
type metricKey struct {
	method string // canonical, or _OTHER
	route  string
	status int
	https  bool
	proto  string // r.Proto
}

// maxMetricSets bounds the cache; requests beyond it build their
// attribute set each time.
const maxMetricSets = 1024

// metricSets caches the record options (an attribute set) of each
// metricKey. Requests read a map that is never modified once published,
// so lookups take no lock; a new key copies the map. Building a set costs
// 3 allocations and a sort and a hash per request, and the keys are few
// (methods x routes x statuses), so after warm-up every lookup hits.
type metricSets struct {
	m  atomic.Pointer[map[metricKey][]metric.RecordOption]
	mu sync.Mutex
}

func (c *metricSets) get(k metricKey) []metric.RecordOption {
	if m := c.m.Load(); m != nil {
		if o, ok := (*m)[k]; ok {
			return o
		}
	}
	o := []metric.RecordOption{metric.WithAttributeSet(k.set())}
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.m.Load()
	n := 0
	if old != nil {
		n = len(*old)
	}
	if n >= maxMetricSets {
		return o
	}
	m := make(map[metricKey][]metric.RecordOption, n+1)
	if old != nil {
		for k, v := range *old {
			m[k] = v
		}
	}
	m[k] = o
	c.m.Store(&m)
	return o
}

// set builds the attributes otelhttp records (less server.address and
// server.port), plus error.type for 5xx.
func (k metricKey) set() attribute.Set {
	var buf [8]attribute.KeyValue
	attrs := append(buf[:0],
		semconv.HTTPRequestMethodKey.String(k.method),
		semconv.URLScheme(scheme(k.https)))
	name, version := netProtocol(k.proto)
	if name != "" {
		attrs = append(attrs, semconv.NetworkProtocolName(name))
	}
	if version != "" {
		attrs = append(attrs, semconv.NetworkProtocolVersion(version))
	}
	if k.status > 0 {
		attrs = append(attrs, semconv.HTTPResponseStatusCode(k.status))
	}
	if k.route != "" {
		attrs = append(attrs, semconv.HTTPRoute(k.route))
	}
	if et := statusErrorType(k.status); et != "" {
		attrs = append(attrs, semconv.ErrorTypeKey.String(et))
	}
	return attribute.NewSet(attrs...)
}
