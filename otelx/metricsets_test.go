package otelx

import (
	"strconv"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

func TestMetricSetsBeyondTheCacheBoundAreStillRight(t *testing.T) {
	var c metricSets
	for i := range maxMetricSets + 10 {
		k := metricKey{method: "GET", route: "/r/" + strconv.Itoa(i), status: 200, proto: "HTTP/1.1"}
		opts := c.get(k)
		if len(opts) != 1 {
			t.Fatalf("%d options", len(opts))
		}
		set := metric.NewRecordConfig(opts).Attributes()
		if v, _ := set.Value(attribute.Key("http.route")); v.AsString() != k.route {
			t.Fatalf("route %q for key %q", v.AsString(), k.route)
		}
	}
	if n := len(*c.m.Load()); n != maxMetricSets {
		t.Errorf("cache holds %d sets, want the bound %d", n, maxMetricSets)
	}
}

// BenchmarkMetricAttributes compares the cache with building the
// attribute set for every request, which is what it replaces.
func BenchmarkMetricAttributes(b *testing.B) {
	k := metricKey{method: "GET", route: "/api/items/{id}", status: 200, proto: "HTTP/1.1"}
	b.Run("plain", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			var sink []metric.RecordOption
			for pb.Next() {
				sink = []metric.RecordOption{metric.WithAttributeSet(k.set())}
			}
			_ = sink
		})
	})
	b.Run("cached", func(b *testing.B) {
		var c metricSets
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			var sink []metric.RecordOption
			for pb.Next() {
				sink = c.get(k)
			}
			_ = sink
		})
	})
}
