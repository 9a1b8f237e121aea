package client

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestRetryAfterForms(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		value, date string
		want        time.Duration
		ok          bool
	}{
		{value: "120", want: 120 * time.Second, ok: true},
		{value: "0", want: 0, ok: true},
		{value: " 7 ", want: 7 * time.Second, ok: true},
		{value: "99999999999999999999999999", want: maxDelay, ok: true},
		{value: "9223372037", want: maxDelay, ok: true}, // seconds that overflow a Duration
		{value: "Sun, 01 Mar 2026 12:00:30 GMT", want: 30 * time.Second, ok: true},
		{value: "Sunday, 01-Mar-26 12:00:30 GMT", want: 30 * time.Second, ok: true}, // RFC 850
		{value: "Sun Mar  1 12:00:30 2026", want: 30 * time.Second, ok: true},       // asctime
		{value: "Sun, 01 Mar 2026 11:00:00 GMT", want: 0, ok: true},                 // in the past
		{value: "Sun, 01 Mar 2026 12:00:30 GMT", date: "Sun, 01 Mar 2026 12:00:20 GMT", want: 10 * time.Second, ok: true},
		{value: "Sun, 01 Mar 2026 12:00:30 GMT", date: "garbage", want: 30 * time.Second, ok: true},
		{value: ""},
		{value: "-1"},
		{value: "1.5"},
		{value: "12s"},
		{value: "soon"},
		{value: "Sun, 01 Mar 2026 12:00:30"},
	}
	for _, tt := range tests {
		h := http.Header{"Retry-After": {tt.value}}
		if tt.date != "" {
			h.Set("Date", tt.date)
		}
		got, ok := retryAfter(h, now)
		if got != tt.want || ok != tt.ok {
			t.Errorf("Retry-After %q (Date %q) = %v, %v; want %v, %v", tt.value, tt.date, got, ok, tt.want, tt.ok)
		}
	}
	if _, ok := retryAfter(http.Header{}, now); ok {
		t.Error("absent Retry-After reported as present")
	}
}

func TestRateLimitField(t *testing.T) {
	tests := []struct {
		name   string
		lines  []string
		want   quota
		wantOK bool
	}{
		{"one policy with quota", []string{`"default";r=50;t=30`}, quota{}, true},
		{"exhausted", []string{`"default";r=0;t=30`}, quota{true, 30 * time.Second}, true},
		{"largest reset of the exhausted", []string{`"a";r=0;t=3, "b";r=0;t=9, "c";r=1;t=99`}, quota{true, 9 * time.Second}, true},
		{"split over lines", []string{`"a";r=4;t=3`, `"b";r=0;t=2`}, quota{true, 2 * time.Second}, true},
		{"token names and extra parameters", []string{`burst;r=0;t=5;pk=:cHsdsRa894==:;x=?1;y=1.5;z="s";w=tok/en`}, quota{true, 5 * time.Second}, true},
		{"repeated key: the last wins", []string{`"a";r=0;t=9;t=2`}, quota{true, 2 * time.Second}, true},
		{"exhausted without t", []string{`"a";r=0`}, quota{}, true},
		{"item without r ignored", []string{`"a";t=4, "b";r=0;t=1`}, quota{true, time.Second}, true},
		{"r not an integer ignored", []string{`"a";r=0.0;t=4`}, quota{}, true},
		{"negative t ignored", []string{`"a";r=0;t=-4`}, quota{}, true},
		{"inner list and date", []string{`("x" "y");q=1, @1700000000;r=0;t=1`}, quota{true, time.Second}, true},
		{"tabs around commas", []string{"\"a\";r=0;t=1\t,\t\"b\";r=1"}, quota{true, time.Second}, true},
		{"empty", []string{``}, quota{}, true},
		{"trailing comma", []string{`"a";r=0;t=1,`}, quota{}, false},
		{"bad string", []string{`"a;r=0;t=1`}, quota{}, false},
		{"bad escape", []string{`"a\n";r=0;t=1`}, quota{}, false},
		{"uppercase key", []string{`"a";R=0;T=1`}, quota{}, false},
		{"space before parameter", []string{`"a" ;r=0;t=1`}, quota{}, false},
		{"integer too long", []string{`"a";r=0;t=1234567890123456`}, quota{}, false},
		{"draft-07 dictionary is not a List", []string{`limit=10, remaining=0, reset=7`}, quota{}, false},
		{"garbage", []string{`%%%`}, quota{}, false},
	}
	for _, tt := range tests {
		got, ok := rateLimit(http.Header{"Ratelimit": tt.lines})
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("%s: RateLimit %q = %+v, %v; want %+v, %v", tt.name, tt.lines, got, ok, tt.want, tt.wantOK)
		}
	}
	if _, ok := rateLimit(http.Header{}); ok {
		t.Error("absent RateLimit reported as present")
	}
}

// FuzzRetryAfter checks that any Retry-After and Date values parse
// without panicking into a wait that is never negative, and that
// delay-seconds always parse.
func FuzzRetryAfter(f *testing.F) {
	f.Add("120", "")
	f.Add("Sun, 06 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 1994 08:49:00 GMT")
	f.Add("Sunday, 06-Nov-94 08:49:37 GMT", "")
	f.Add("Sun Nov  6 08:49:37 1994", "x")
	f.Add("99999999999999999999999999999", "")
	now := time.Date(1994, 11, 6, 8, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, value, date string) {
		h := http.Header{"Retry-After": {value}}
		if date != "" {
			h["Date"] = []string{date}
		}
		d, ok := retryAfter(h, now)
		if d < 0 || (!ok && d != 0) {
			t.Fatalf("Retry-After %q = %v, %v", value, d, ok)
		}
		if v := strings.TrimSpace(value); v != "" && strings.Trim(v, "0123456789") == "" && !ok {
			t.Fatalf("delay-seconds %q not parsed", value)
		}
	})
}

// FuzzRateLimit checks that any RateLimit field parses without panicking,
// that a valid field stays valid, with the same meaning, when another
// valid member follows it, and that a following exhausted member is
// reported.
func FuzzRateLimit(f *testing.F) {
	f.Add(`"default";r=50;t=30`)
	f.Add(`"burst";r=0;t=1, "hourly";r=987;t=3600`)
	f.Add(`burst;r=0;t=5;pk=:cHsdsRa894==:;x=?1;y=1.5;z="s\"q"`)
	f.Add(`("x" "y");q=1, @1700000000;r=0;t=1`)
	f.Add(`"a";r=0;t=999999999999999`)
	f.Fuzz(func(t *testing.T, field string) {
		q, ok := rateLimit(http.Header{"Ratelimit": {field}})
		if q.reset < 0 || (!ok && q != (quota{})) || (!q.exhausted && q.reset != 0) {
			t.Fatalf("RateLimit %q = %+v, %v", field, q, ok)
		}
		if !ok || strings.Trim(field, " \t") == "" {
			return
		}
		q2, ok2 := rateLimit(http.Header{"Ratelimit": {field, `"more";r=7;t=1`}})
		if !ok2 || q2 != q {
			t.Fatalf("RateLimit %q = %+v; with a member more = %+v, %v", field, q, q2, ok2)
		}
		q3, ok3 := rateLimit(http.Header{"Ratelimit": {field + `, "out";r=0;t=86400`}})
		if !ok3 || !q3.exhausted || q3.reset != max(q.reset, 86400*time.Second) {
			t.Fatalf("RateLimit %q = %+v; with an exhausted member = %+v, %v", field, q, q3, ok3)
		}
	})
}

// TestRateLimitParametersAfterOthers checks that r and t are read
// wherever they stand among an item's parameters.
func TestRateLimitParametersAfterOthers(t *testing.T) {
	h := http.Header{"Ratelimit": {`"hourly";pk=:cHsdsRa894==:;a=1;b=2;c=3;r=0;t=7`}}
	q, ok := rateLimit(h)
	if want := (quota{true, 7 * time.Second}); !ok || q != want {
		t.Fatalf("rateLimit = %+v, %v; want %+v, true", q, ok, want)
	}
}
