package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// cannedRatelimit is go test output of three rounds at -cpu 1,2, as the
// report's runner collects it.
const cannedRatelimit = `goos: linux
goarch: amd64
pkg: github.com/backstop-go/backstop/bench
cpu: AMD EPYC
BenchmarkRatelimitMiddleware/backstop         	 5000000	       240.0 ns/op	     112 B/op	       1 allocs/op
BenchmarkRatelimitMiddleware/backstop-2       	 5000000	       140.0 ns/op	     112 B/op	       1 allocs/op
BenchmarkRatelimitMiddleware/httprate         	 1000000	       762.0 ns/op	     184 B/op	      10 allocs/op
BenchmarkRatelimitMiddleware/httprate-2       	 1000000	       480.0 ns/op	     184 B/op	      10 allocs/op
BenchmarkRatelimitMiddleware/sethvargo-httplimit   	 1000000	       700.0 ns/op	     184 B/op	       9 allocs/op
BenchmarkRatelimitMiddleware/sethvargo-httplimit-2 	 1000000	       400.0 ns/op	     184 B/op	       9 allocs/op
PASS
BenchmarkRatelimitMiddleware/backstop         	 5000000	       250.0 ns/op	     112 B/op	       1 allocs/op
BenchmarkRatelimitMiddleware/backstop-2       	 5000000	       150.0 ns/op	     112 B/op	       1 allocs/op
BenchmarkRatelimitMiddleware/httprate         	 1000000	       770.0 ns/op	     184 B/op	      10 allocs/op
BenchmarkRatelimitMiddleware/httprate-2       	 1000000	       490.0 ns/op	     184 B/op	      10 allocs/op
BenchmarkRatelimitMiddleware/sethvargo-httplimit   	 1000000	       710.0 ns/op	     184 B/op	       9 allocs/op
BenchmarkRatelimitMiddleware/sethvargo-httplimit-2 	 1000000	       410.0 ns/op	     184 B/op	       9 allocs/op
PASS
BenchmarkRatelimitMiddleware/backstop         	 5000000	       245.0 ns/op	     112 B/op	       1 allocs/op
BenchmarkRatelimitMiddleware/backstop-2       	 5000000	       145.0 ns/op	     112 B/op	       1 allocs/op
BenchmarkRatelimitMiddleware/httprate         	 1000000	       765.0 ns/op	     184 B/op	      10 allocs/op
BenchmarkRatelimitMiddleware/httprate-2       	 1000000	       485.0 ns/op	     184 B/op	      10 allocs/op
BenchmarkRatelimitMiddleware/sethvargo-httplimit   	 1000000	       705.0 ns/op	     184 B/op	       9 allocs/op
BenchmarkRatelimitMiddleware/sethvargo-httplimit-2 	 1000000	       405.0 ns/op	     184 B/op	       9 allocs/op
PASS
`

// cannedChainRedis has a custom metric, as BenchmarkChainRedis reports it.
const cannedChainRedis = `BenchmarkChainRedis/local/get 	    1000	     70000 ns/op	         1.000 redis-calls/op	     600 B/op	      12 allocs/op
BenchmarkChainRedis/local/post-first 	    1000	    200000 ns/op	         3.000 redis-calls/op	    6000 B/op	      80 allocs/op
BenchmarkChainRedis/local/post-replay 	    1000	    120000 ns/op	         2.000 redis-calls/op	    2700 B/op	      50 allocs/op
PASS
BenchmarkChainRedis/local/get 	    1000	     72000 ns/op	         1.000 redis-calls/op	     600 B/op	      12 allocs/op
BenchmarkChainRedis/local/post-first 	    1000	    210000 ns/op	         3.000 redis-calls/op	    6000 B/op	      80 allocs/op
BenchmarkChainRedis/local/post-replay 	    1000	    125000 ns/op	         2.000 redis-calls/op	    2700 B/op	      50 allocs/op
PASS
`

func comparison(t *testing.T, id string) Comparison {
	t.Helper()
	for _, c := range comparisons() {
		if c.ID == id {
			return c
		}
	}
	t.Fatalf("no comparison %q", id)
	return Comparison{}
}

func analyzed(t *testing.T, id, raw string) *Result {
	t.Helper()
	res := &Result{Comparison: comparison(t, id), Raw: raw}
	res.analyze()
	return res
}

func TestCannedOutputBecomesRowsWithMediansAndReferences(t *testing.T) {
	res := analyzed(t, "ratelimit-middleware", cannedRatelimit)
	if res.Status != statusRun {
		t.Fatalf("status %q, want %q", res.Status, statusRun)
	}
	if len(res.Rows) != 6 {
		t.Fatalf("%d rows, want 6 (3 benchmarks × 2 cpu)", len(res.Rows))
	}
	for _, tc := range []struct {
		name   string
		procs  int
		unit   string
		median float64
	}{
		{"RatelimitMiddleware/backstop", 1, unitTime, 245e-9},
		{"RatelimitMiddleware/backstop", 2, unitTime, 145e-9},
		{"RatelimitMiddleware/httprate", 2, unitAllocs, 10},
		{"RatelimitMiddleware/sethvargo-httplimit", 1, unitBytes, 184},
	} {
		got, ok := res.Value(tc.name, tc.procs, tc.unit)
		if !ok || !near(got, tc.median) {
			t.Errorf("%s -cpu %d %s = %v, %v; want %v", tc.name, tc.procs, tc.unit, got, ok, tc.median)
		}
	}
	r := res.Row("RatelimitMiddleware/backstop", 1)
	if !r.Ours || r.Ref == nil || r.Ref.Name != "RatelimitMiddleware/httprate" {
		t.Fatalf("backstop row: ours %v, ref %v", r.Ours, r.Ref)
	}
	if got := r.Ratio(); !near(got, 245.0/765) {
		t.Errorf("ratio %v, want %v", got, 245.0/765)
	}
	if s := r.Stats[unitTime]; s.N != 3 || s.Lo > s.Center || s.Hi < s.Center {
		t.Errorf("summary %+v: want 3 values and an interval around the median", s)
	}
}

func TestTargetsAreMetMissedOrNotMeasured(t *testing.T) {
	res := analyzed(t, "ratelimit-middleware", cannedRatelimit)
	want := []Verdict{
		Missed, // -cpu 1: 705/245 = 2.9x against the fastest peer, sethvargo
		Missed, // -cpu 2: 405/145 = 2.8x
		Met,    // 1 alloc vs 10
	}
	if len(res.Targets) != len(want) {
		t.Fatalf("%d targets, want %d", len(res.Targets), len(want))
	}
	for i, tr := range res.Targets {
		if tr.Verdict != want[i] {
			t.Errorf("%s: %s (%s), want %s", tr.Text, tr.Verdict, tr.Measured, want[i])
		}
	}
	if m := res.Targets[0].Measured; !strings.Contains(m, "2.88x faster than sethvargo-httplimit") {
		t.Errorf("measured %q: want the ratio against the fastest peer", m)
	}

	// A target whose benchmark is missing is not measured, not missed.
	missing := target("test", "x", atMost(unitTime, "RatelimitMiddleware/nothing", 1, 1)).evaluate(res)
	if missing.Verdict != NotMeasured {
		t.Errorf("missing benchmark: %s, want %s", missing.Verdict, NotMeasured)
	}
}

func TestNoMatchingBenchmarkIsNotRun(t *testing.T) {
	res := analyzed(t, "chain", "PASS\n")
	if res.Status != statusNotRun {
		t.Fatalf("status %q, want %q", res.Status, statusNotRun)
	}
	for _, tr := range res.Targets {
		if tr.Verdict != NotMeasured {
			t.Errorf("%s: %s, want %s", tr.Text, tr.Verdict, NotMeasured)
		}
	}
}

func TestCustomMetricsAppearInTablesAndTargets(t *testing.T) {
	res := analyzed(t, "chain-redis", cannedChainRedis)
	if len(res.Units) != 1 || res.Units[0] != "redis-calls/op" {
		t.Fatalf("custom units %q, want [redis-calls/op]", res.Units)
	}
	if len(res.Targets) != 1 || res.Targets[0].Verdict != Met {
		t.Fatalf("targets %+v: want one met", res.Targets)
	}
	var md bytes.Buffer
	writeSection(&md, res)
	for _, want := range []string{"| redis-calls/op |", "`ChainRedis/local/post-first`", "| 3 |", "**MET**"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("section lacks %q:\n%s", want, md.String())
		}
	}
}

func TestChartIsAnSVGFile(t *testing.T) {
	res := analyzed(t, "ratelimit-middleware", cannedRatelimit)
	path := filepath.Join(t.TempDir(), "chart.svg")
	if err := writeChart(path, res); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte("<svg")) || !bytes.Contains(b, []byte("</svg>")) {
		t.Fatalf("%s is not an SVG document (%d bytes)", path, len(b))
	}
}

func TestReportHasHeaderAndSummary(t *testing.T) {
	rep := &Report{
		Env:     Env{CPU: "Test CPU", Cores: 2, GoVer: "go1.26", OS: "linux/amd64", Commit: "abc", Count: 3, Command: "go run ./bench/cmd/report -count 3"},
		Results: []*Result{analyzed(t, "ratelimit-middleware", cannedRatelimit), analyzed(t, "chain", "")},
	}
	var md bytes.Buffer
	rep.WriteMarkdown(&md)
	for _, want := range []string{
		"| machine | Test CPU, 2 cores |", "| Go | go1.26 |", "`go run ./bench/cmd/report -count 3`",
		"## Targets", "| [ratelimit-middleware](#ratelimit-middleware) |", "**MISSED**", "**NOT MEASURED**",
		"**Not run**", "| **`RatelimitMiddleware/backstop`** | 2 | 145 ns ± ",
	} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("report lacks %q", want)
		}
	}
}

func TestComparisonsAreWellFormed(t *testing.T) {
	ids := map[string]bool{}
	for _, c := range comparisons() {
		if c.ID == "" || ids[c.ID] || len(c.Procs) == 0 {
			t.Errorf("comparison %q: empty or duplicate id, or no process", c.ID)
		}
		ids[c.ID] = true
		for _, p := range c.Procs {
			if _, err := os.Stat(filepath.Join("..", "..", "..", p.Pkg)); err != nil {
				t.Errorf("%s: package %s: %v", c.ID, p.Pkg, err)
			}
		}
	}
}

func TestFmtNum(t *testing.T) {
	for _, tc := range []struct {
		v    float64
		want string
	}{
		{0, "0"}, {0.5, "0.5"}, {1, "1"}, {3.14159, "3.14"}, {66.5, "66.5"}, {245, "245"},
		{1234.4, "1,234"}, {1234567, "1,234,567"}, {-2500, "-2,500"},
	} {
		if got := fmtNum(tc.v); got != tc.want {
			t.Errorf("fmtNum(%v) = %q, want %q", tc.v, got, tc.want)
		}
	}
	if got := fmtDuration(12_345e-9); got != "12.3 µs" {
		t.Errorf("fmtDuration(12.345µs) = %q", got)
	}
}

func near(a, b float64) bool { return a-b < 1e-9*b+1e-15 && b-a < 1e-9*b+1e-15 }

func TestMetricRowsSplitCustomMetricsIntoRows(t *testing.T) {
	raw := "BenchmarkAdapterOverhead \t 1\t 9000000000 ns/op\t 310.0 ratelimit-servemux-ns\t 80.00 ratelimit-echo-adds-ns\t 120.0 ratelimit-gin-adds-ns\t 0 B/op\t 0 allocs/op\nPASS\n"
	res := analyzed(t, "adapters-cpu", raw+raw)
	if len(res.Rows) != 3 {
		t.Fatalf("%d rows, want 3, one per metric", len(res.Rows))
	}
	// benchfmt tidies the metric's ns into sec, as it does ns/op.
	if v, ok := res.Value("AdapterOverhead/ratelimit-echo-adds", 1, "sec"); !ok || !near(v, 80e-9) {
		t.Errorf("echo adds %v, %v; want 80 ns", v, ok)
	}
	got := map[string]Verdict{}
	for _, tr := range res.Targets {
		got[tr.Text] = tr.Verdict
	}
	if v := got["ratelimit through echoadapter adds ≤ 100 ns over ServeMux (CPU time)"]; v != Met {
		t.Errorf("echo: %s, want %s", v, Met)
	}
	if v := got["ratelimit through ginadapter adds ≤ 100 ns over ServeMux (CPU time)"]; v != Missed {
		t.Errorf("gin: %s, want %s", v, Missed)
	}
	if err := writeChart(filepath.Join(t.TempDir(), "chart.svg"), res); err != nil {
		t.Errorf("chart of metric rows: %v", err)
	}
	var md bytes.Buffer
	writeTable(&md, res)
	if strings.Contains(md.String(), "time/op") || !strings.Contains(md.String(), "| time |") || !strings.Contains(md.String(), "| 80 ns |") {
		t.Errorf("table should have only the metric's column:\n%s", md.String())
	}
}

func TestSpreadOfANegativeMedianIsInTheUnit(t *testing.T) {
	s := Stat{N: 6, Min: -80e-9, Max: -20e-9}
	s.Center, s.Lo, s.Hi = -50e-9, -80e-9, -20e-9
	if got := spread(unitTime, s); got != "30 ns" {
		t.Errorf("spread = %q, want 30 ns", got)
	}
	s.Center, s.Lo, s.Hi = 100e-9, 90e-9, 120e-9
	if got := spread(unitTime, s); got != "20%" {
		t.Errorf("spread = %q, want 20%%", got)
	}
}

// rounds returns go test output of len(ns) rounds of each benchmark at
// -cpu 1, round i giving benchmark name ns[name][i] ns/op.
func rounds(ns map[string][]float64, order ...string) string {
	var b strings.Builder
	for i := range ns[order[0]] {
		for _, name := range order {
			fmt.Fprintf(&b, "Benchmark%s \t 1000000\t %.1f ns/op\t 0 B/op\t 0 allocs/op\n", name, ns[name][i])
		}
		b.WriteString("PASS\n")
	}
	return b.String()
}

func TestRatioTargetsSayWhenTheyAreWithinNoise(t *testing.T) {
	const ours, peer = "RatelimitDecision/backstop-sliding", "RatelimitDecision/sethvargo-memorystore"
	for _, tc := range []struct {
		name       string
		ours, peer []float64
		met        bool
		noise      bool
	}{
		// Every round of ours below every round of the peer: p = 0.002.
		{"clearly faster", []float64{60, 61, 62, 63, 64, 65}, []float64{70, 71, 72, 73, 74, 75}, true, false},
		{"clearly slower", []float64{70, 71, 72, 73, 74, 75}, []float64{60, 61, 62, 63, 64, 65}, false, false},
		// Interleaved rounds: a median ratio on either side of 1 says nothing.
		{"a tie, met", []float64{60, 62, 64, 66, 68, 70}, []float64{61, 63, 65, 67, 69, 71}, true, true},
		{"a tie, missed", []float64{61, 63, 65, 67, 69, 71}, []float64{60, 62, 64, 66, 68, 70}, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := analyzed(t, "ratelimit-decision", rounds(map[string][]float64{ours: tc.ours, peer: tc.peer}, ours, peer))
			tr := target("test", "x", ratioAtMost(unitTime, ours, peer, 1, 1)).evaluate(res)
			if (tr.Verdict == Met) != tc.met {
				t.Errorf("verdict %s (%s), want met=%v", tr.Verdict, tr.Measured, tc.met)
			}
			if got := strings.Contains(tr.Measured, "within noise (p="); got != tc.noise {
				t.Errorf("measured %q: within noise %v, want %v", tr.Measured, got, tc.noise)
			}
		})
	}

	// A factor is tested as a bound: ours × 3 against the peer.
	const mw, httplimit = "RatelimitMiddleware/backstop", "RatelimitMiddleware/sethvargo-httplimit"
	for _, tc := range []struct {
		peer  []float64
		noise bool
	}{
		{[]float64{700, 710, 720, 730, 740, 750}, false}, // 3.5x and more
		{[]float64{595, 605, 615, 625, 635, 645}, true},  // about 3x
	} {
		raw := rounds(map[string][]float64{mw: {200, 202, 204, 206, 208, 210}, httplimit: tc.peer}, mw, httplimit)
		tr := target("test", "x", fasterThanFastest(mw, []string{httplimit}, 1, 3)).evaluate(analyzed(t, "ratelimit-middleware", raw))
		if got := strings.Contains(tr.Measured, "within noise"); got != tc.noise {
			t.Errorf("peer %v: measured %q, within noise %v, want %v", tc.peer, tr.Measured, got, tc.noise)
		}
	}
}

func TestArgon2RSSTargetsTakeTheRunsAtTheDefaults(t *testing.T) {
	res := RSSResult{N: 50, Limit: 2, MemKiB: 65536, Runs: []RSSRun{
		{Label: "authn/password, limit 2", Args: []string{"-n", "50", "-limit", "2"}, PeakKiB: 330 << 10, Wall: 4 * time.Second},
		{Label: "alexedwards/argon2id, unbounded", Args: []string{"-n", "50", "-unbounded"}, PeakKiB: 3200 << 10, Wall: 14 * time.Second},
		{Label: "authn/password, limit 2, GOMEMLIMIT=256MiB", Env: []string{"GOMEMLIMIT=256MiB"},
			Args: []string{"-n", "50", "-limit", "2"}, PeakKiB: 264 << 10, Wall: 5 * time.Second},
	}}
	res.evaluate()
	if len(res.Targets) != 2 {
		t.Fatalf("%d targets, want 2", len(res.Targets))
	}
	// 330 MiB at the defaults misses 286 MiB, whatever the limited run says.
	if tr := res.Targets[0]; tr.Verdict != Missed || !strings.HasPrefix(tr.Measured, "330 MiB") {
		t.Errorf("peak target: %s (%s), want MISSED on 330 MiB", tr.Verdict, tr.Measured)
	}
	if tr := res.Targets[1]; tr.Verdict != Met {
		t.Errorf("time target: %s (%s), want MET (4s vs 14s)", tr.Verdict, tr.Measured)
	}
	var b bytes.Buffer
	res.writeMarkdown(&b)
	for _, want := range []string{
		"\nGOMEMLIMIT=256MiB /usr/bin/time -v /tmp/argon2rss -n 50 -limit 2\n",
		"\n/usr/bin/time -v /tmp/argon2rss -n 50 -unbounded\n",
		"| authn/password, limit 2, GOMEMLIMIT=256MiB | 270,336 KiB (264 MiB) |",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("markdown lacks %q:\n%s", want, b.String())
		}
	}
}
