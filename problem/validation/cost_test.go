package validation_test

import (
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"github.com/backstop-go/backstop/problem/validation"
)

// An invalid body must cost about what a valid one of the same size costs:
// a client must not be able to multiply the server's work by sending a
// wrong type at the end of a large body. Allocations are counted (time is
// measured by BenchmarkDecodeLargeArray).
func TestInvalidBodyCostsAboutAsMuchAsValid(t *testing.T) {
	var v validation.Validator
	array := func(last string) string {
		var b strings.Builder
		b.WriteByte('[')
		for b.Len() < 64<<10 {
			b.WriteString("12345,")
		}
		b.WriteString(last + "]")
		return b.String()
	}
	objects := func(last string) string {
		var b strings.Builder
		b.WriteByte('[')
		for b.Len() < 64<<10 {
			b.WriteString(`{"sku":"A1","quantity":1},`)
		}
		b.WriteString(`{"sku":"A1","quantity":` + last + `}]`)
		return b.String()
	}
	tests := []struct {
		name         string
		valid, wrong string
		dst          func() any
	}{
		{"wrong type at the end of an array", array("1"), array(`"x"`), func() any { return new([]int) }},
		{"out of range at the end of an array", array("1"), array("1e400"), func() any { return new([]int) }},
		{"wrong type in the last object", objects("1"), objects(`"1"`), func() any { return new([]lineItem) }},
		{"unknown member in the last object", objects("1"), objects(`1,"x":1`), func() any { return new([]lineItem) }},
		{"syntax error at the end", array("1"), array("1}"), func() any { return new([]int) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			validAllocs, validBytes := decodeCost(t, &v, tt.valid, tt.dst, false)
			wrongAllocs, wrongBytes := decodeCost(t, &v, tt.wrong, tt.dst, true)
			t.Logf("valid: %d allocs, %d bytes; invalid: %d allocs, %d bytes", validAllocs, validBytes, wrongAllocs, wrongBytes)
			// A few allocations build the problem itself.
			if wrongAllocs > 2*validAllocs+30 || wrongBytes > 2*validBytes+4096 {
				t.Errorf("invalid body: %d allocs, %d bytes; valid: %d allocs, %d bytes", wrongAllocs, wrongBytes, validAllocs, validBytes)
			}
		})
	}
}

// decodeCost returns the allocations and bytes allocated by one Decode.
func decodeCost(t *testing.T, v *validation.Validator, body string, dst func() any, wantErr bool) (allocs, bytes uint64) {
	t.Helper()
	const runs = 3
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range runs {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		if err := v.Decode(r, dst()); (err != nil) != wantErr {
			t.Fatalf("Decode = %v", err)
		}
	}
	runtime.ReadMemStats(&after)
	return (after.Mallocs - before.Mallocs) / runs, (after.TotalAlloc - before.TotalAlloc) / runs
}
