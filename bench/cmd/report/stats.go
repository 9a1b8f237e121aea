package main

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/perf/benchfmt"
	"golang.org/x/perf/benchmath"
)

// The units of benchfmt's tidied results.
const (
	unitTime   = "sec/op"
	unitBytes  = "B/op"
	unitAllocs = "allocs/op"
)

// Status says whether a comparison produced results.
type Status string

// The statuses of a comparison.
const (
	statusRun    Status = "run"
	statusNotRun Status = "not run"
	statusFailed Status = "FAILED"
)

// Key names one benchmark row: the benchmark's name without its
// "Benchmark" prefix and GOMAXPROCS suffix, and its GOMAXPROCS.
type Key struct {
	Name  string
	Procs int
}

// String returns the name as go test prints it, with -N for N > 1.
func (k Key) String() string {
	if k.Procs > 1 {
		return k.Name + "-" + strconv.Itoa(k.Procs)
	}
	return k.Name
}

// Stat is the summary of one unit of one benchmark over the rounds.
type Stat struct {
	benchmath.Summary
	N        int
	Min, Max float64
	Values   []float64 // every round's value, sorted
}

// Row is one benchmark of a comparison, summarized.
type Row struct {
	Key
	Stats map[string]Stat // by tidied unit
	Ours  bool
	// Ref is the row the ratio column compares with; nil when none.
	Ref *Row
}

// Ratio returns this row's median time over its reference's, or 0.
func (r *Row) Ratio() float64 {
	if r.Ref == nil {
		return 0
	}
	a, ok1 := r.Stats[unitTime]
	b, ok2 := r.Ref.Stats[unitTime]
	if !ok1 || !ok2 || b.Center == 0 {
		return 0
	}
	return a.Center / b.Center
}

// Result is what one comparison produced.
type Result struct {
	Comparison Comparison
	Status     Status
	Commands   []string // what ran, as go test commands
	Skipped    []string // processes -quick skipped
	Raw        string   // benchmark output of every round
	Failed     string   // why it failed, if it did
	SkipNotes  []string // benchmarks that skipped themselves, with their reason
	Elapsed    time.Duration
	Rows       []*Row
	Units      []string // custom units found, in order of appearance
	Targets    []TargetResult
	Chart      string // file name of the chart, if drawn
}

// Row returns the row for name at procs, or nil.
func (res *Result) Row(name string, procs int) *Row {
	for _, r := range res.Rows {
		if r.Name == name && r.Procs == procs {
			return r
		}
	}
	return nil
}

// Value returns the median of unit for name at procs.
func (res *Result) Value(name string, procs int, unit string) (float64, bool) {
	r := res.Row(name, procs)
	if r == nil {
		return 0, false
	}
	s, ok := r.Stats[unit]
	return s.Center, ok
}

var skipLine = regexp.MustCompile(`(?m)^\s*--- SKIP: (\S+)(?:\n\s+(.*))?`)

// analyze parses res.Raw into rows, links references and evaluates the
// targets.
func (res *Result) analyze() {
	c := res.Comparison
	var strip *regexp.Regexp
	if c.Strip != "" {
		strip = regexp.MustCompile(c.Strip)
	}
	var ours *regexp.Regexp
	if c.Ours != "" {
		ours = regexp.MustCompile(c.Ours)
	}
	values := map[Key]map[string][]float64{}
	var order []Key
	add := func(k Key, unit string, v float64) {
		if values[k] == nil {
			values[k] = map[string][]float64{}
			order = append(order, k)
		}
		values[k][unit] = append(values[k][unit], v)
		if unit != unitTime && unit != unitBytes && unit != unitAllocs && !slices.Contains(res.Units, unit) {
			res.Units = append(res.Units, unit)
		}
	}
	rd := benchfmt.NewReader(strings.NewReader(res.Raw), c.ID)
	for rd.Scan() {
		r, ok := rd.Result().(*benchfmt.Result)
		if !ok {
			continue
		}
		k := parseName(r.Name)
		if strip != nil {
			k.Name = strip.ReplaceAllString(k.Name, "")
		}
		for _, v := range r.Values {
			if !c.MetricRows {
				add(k, v.Unit, v.Value)
				continue
			}
			// One row per custom metric, named for the metric less its
			// last word, which becomes the unit: "ratelimit-echo-adds-ns"
			// is the row ".../ratelimit-echo-adds" in column "ns". The
			// standard units of a benchmark that ignores b.N mean nothing.
			if v.Unit == unitTime || v.Unit == unitBytes || v.Unit == unitAllocs {
				continue
			}
			name, unit := v.Unit, "value"
			if i := strings.LastIndexByte(v.Unit, '-'); i > 0 {
				name, unit = v.Unit[:i], v.Unit[i+1:]
			}
			add(Key{k.Name + "/" + name, k.Procs}, unit, v.Value)
		}
	}
	for _, m := range skipLine.FindAllStringSubmatch(res.Raw, -1) {
		note := m[1]
		if m[2] != "" {
			note += ": " + strings.TrimSpace(m[2])
		}
		if !slices.Contains(res.SkipNotes, note) {
			res.SkipNotes = append(res.SkipNotes, note)
		}
	}
	for _, k := range order {
		row := &Row{Key: k, Stats: map[string]Stat{}, Ours: ours != nil && ours.MatchString(k.Name)}
		for unit, vs := range values[k] {
			sample := benchmath.NewSample(vs, &benchmath.DefaultThresholds)
			row.Stats[unit] = Stat{benchmath.AssumeNothing.Summary(sample, 0.95), len(vs),
				sample.Values[0], sample.Values[len(sample.Values)-1], sample.Values}
		}
		res.Rows = append(res.Rows, row)
	}
	for _, row := range res.Rows {
		if name, ok := c.reference(row.Name); ok && name != row.Name {
			row.Ref = res.Row(name, row.Procs)
		}
	}
	switch {
	case res.Failed != "":
		res.Status = statusFailed
	case len(res.Rows) == 0:
		res.Status = statusNotRun
	default:
		res.Status = statusRun
	}
	res.Targets = nil
	for _, t := range c.Targets {
		res.Targets = append(res.Targets, t.evaluate(res))
	}
}

// parseName splits a benchmark's name into a Key. go test appends
// -GOMAXPROCS when GOMAXPROCS is not 1.
func parseName(n benchfmt.Name) Key {
	base, parts := n.Parts()
	name := strings.TrimPrefix(string(base), "Benchmark")
	procs := 1
	for _, p := range parts {
		if p[0] == '-' {
			if v, err := strconv.Atoi(string(p[1:])); err == nil {
				procs = v
				continue
			}
		}
		name += string(p)
	}
	return Key{name, procs}
}
