package main

import (
	"fmt"
	"math"
	"regexp"
	"strings"

	"golang.org/x/perf/benchmath"
)

// Comparison is one peer comparison: which benchmarks to run, which rows are
// ours, what each row's ratio is taken against, and the targets the issues
// set for it.
type Comparison struct {
	// ID names the comparison in -run, in file names and anchors.
	ID string
	// Title heads its section.
	Title string
	// Procs are the test-binary invocations of one round.
	Procs []Process
	// Strip is a regexp removed from every benchmark name, such as a
	// round number.
	Strip string
	// Ours matches the names of our rows, shown in bold.
	Ours string
	// Legend names our rows and the others in the chart; empty is
	// {"backstop", "others"}.
	Legend [2]string
	// Ref maps a row's name to its reference's: the first pair whose
	// pattern matches rewrites the name with regexp.ReplaceAllString.
	Ref [][2]string
	// Targets are the stated targets, evaluated on the medians.
	Targets []Target
	// MetricRows turns each custom metric of a benchmark into a row of
	// its own, for benchmarks that report their figures as metrics and
	// ignore b.N, such as BenchmarkAdapterOverhead.
	MetricRows bool
	// Note is printed under the section's title.
	Note string
}

// reference returns the name of the row that name's ratio is taken against.
func (c Comparison) reference(name string) (string, bool) {
	for _, p := range c.Ref {
		re := regexp.MustCompile(p[0])
		if re.MatchString(name) {
			return re.ReplaceAllString(name, p[1]), true
		}
	}
	return "", false
}

// Verdict is the outcome of a target.
type Verdict string

// The verdicts of a target.
const (
	Met         Verdict = "MET"
	Missed      Verdict = "MISSED"
	NotMeasured Verdict = "NOT MEASURED"
)

// check measures a target on a comparison's results. It returns the
// measured figure in words, whether the target is met, and an error when a
// benchmark it needs did not run.
type check func(res *Result) (measured string, met bool, err error)

// Target is one target stated in an issue or the README.
type Target struct {
	// Source says where the target is stated, such as "issue 12".
	Source string
	// Text states the target.
	Text  string
	check check
}

// TargetResult is a target with its measured figure and verdict.
type TargetResult struct {
	Target
	Measured string
	Verdict  Verdict
}

func (t Target) evaluate(res *Result) TargetResult {
	tr := TargetResult{Target: t, Verdict: NotMeasured, Measured: "–"}
	if res.Status == statusNotRun {
		tr.Measured = "benchmark not run"
		return tr
	}
	m, ok, err := t.check(res)
	switch {
	case err != nil:
		tr.Measured = err.Error()
	case ok:
		tr.Measured, tr.Verdict = m, Met
	default:
		tr.Measured, tr.Verdict = m, Missed
	}
	return tr
}

func target(source, text string, c check) Target { return Target{Source: source, Text: text, check: c} }

// value returns the median of unit for name at procs, or an error naming
// the missing benchmark.
func value(res *Result, name string, procs int, unit string) (float64, error) {
	v, ok := res.Value(name, procs, unit)
	if !ok {
		return 0, fmt.Errorf("no %s for %s", unit, Key{name, procs})
	}
	return v, nil
}

// ratioAtMost checks median(a)/median(b) ≤ most in unit.
func ratioAtMost(unit, a, b string, procs int, most float64) check {
	return func(res *Result) (string, bool, error) {
		va, err := value(res, a, procs, unit)
		if err != nil {
			return "", false, err
		}
		vb, err := value(res, b, procs, unit)
		if err != nil {
			return "", false, err
		}
		r := va / vb
		return fmt.Sprintf("%s (%s vs %s%s)", fmtRatio(r), fmtQty(unit, va), fmtQty(unit, vb),
			noise(res, unit, a, 1/most, b, procs)), r <= most, nil
	}
}

// noise returns "; within noise (p=…)" when the rounds of a, scaled by
// scale, and those of b do not differ significantly in unit (benchstat's
// Mann-Whitney U test at its α of 0.05), and "" otherwise: a verdict taken
// at that bound could then go either way on another run. Only times are
// tested; counts such as allocs/op do not vary between rounds.
func noise(res *Result, unit, a string, scale float64, b string, procs int) string {
	if unit != unitTime {
		return ""
	}
	ra, rb := res.Row(a, procs), res.Row(b, procs)
	if ra == nil || rb == nil {
		return ""
	}
	va, vb := ra.Stats[unit].Values, rb.Stats[unit].Values
	if len(va) == 0 || len(vb) == 0 {
		return ""
	}
	scaled := make([]float64, len(va))
	for i, v := range va {
		scaled[i] = v * scale
	}
	c := benchmath.AssumeNothing.Compare(
		benchmath.NewSample(scaled, &benchmath.DefaultThresholds),
		benchmath.NewSample(vb, &benchmath.DefaultThresholds))
	if c.P <= c.Alpha {
		return ""
	}
	return fmt.Sprintf("; within noise (p=%.2f)", c.P)
}

// fasterThanFastest checks that every peer's median time is at least
// factor times ours; it reports the fastest peer.
func fasterThanFastest(ours string, peers []string, procs int, factor float64) check {
	return func(res *Result) (string, bool, error) {
		vo, err := value(res, ours, procs, unitTime)
		if err != nil {
			return "", false, err
		}
		best, bestName := math.Inf(1), ""
		for _, p := range peers {
			if v, ok := res.Value(p, procs, unitTime); ok && v < best {
				best, bestName = v, p
			}
		}
		if bestName == "" {
			return "", false, fmt.Errorf("no peer ran")
		}
		r := best / vo
		return fmt.Sprintf("%s faster than %s (%s vs %s%s)", fmtRatio(r), lastElem(bestName),
			fmtQty(unitTime, vo), fmtQty(unitTime, best), noise(res, unitTime, ours, factor, bestName, procs)), r >= factor, nil
	}
}

// atMost checks median(name) ≤ most in unit.
func atMost(unit, name string, procs int, most float64) check {
	return func(res *Result) (string, bool, error) {
		v, err := value(res, name, procs, unit)
		if err != nil {
			return "", false, err
		}
		return fmtQty(unit, v), v <= most+slack(unit), nil
	}
}

// overAtMost checks median(name) − median(base) ≤ most in unit.
func overAtMost(unit, name, base string, procs int, most float64) check {
	return func(res *Result) (string, bool, error) {
		v, err := value(res, name, procs, unit)
		if err != nil {
			return "", false, err
		}
		vb, err := value(res, base, procs, unit)
		if err != nil {
			return "", false, err
		}
		return fmt.Sprintf("%s over (%s vs %s)", fmtSigned(unit, v-vb), fmtQty(unit, v), fmtQty(unit, vb)), v-vb <= most+slack(unit), nil
	}
}

// slack is the tolerance of a count reported as a custom metric, such as
// pg-trips/op: it is averaged over b.N and includes one-off trips, such as
// opening the pool's connection, which add a little to the per-op count.
func slack(unit string) float64 {
	if strings.Contains(unit, "sec") || unit == unitBytes || unit == unitAllocs {
		return 0
	}
	return 0.05
}

// moreCPUsFaster checks that name's median time is lower at -cpu 2 than at
// -cpu 1.
func moreCPUsFaster(name string) check {
	return func(res *Result) (string, bool, error) {
		v1, err := value(res, name, 1, unitTime)
		if err != nil {
			return "", false, err
		}
		v2, err := value(res, name, 2, unitTime)
		if err != nil {
			return "", false, err
		}
		return fmt.Sprintf("%s at -cpu 1, %s at -cpu 2", fmtQty(unitTime, v1), fmtQty(unitTime, v2)), v2 < v1, nil
	}
}

// both checks every one of cs; the measured figures are joined.
func both(cs ...check) check {
	return func(res *Result) (string, bool, error) {
		var ms []string
		met := true
		for _, c := range cs {
			m, ok, err := c(res)
			if err != nil {
				return "", false, err
			}
			ms = append(ms, m)
			met = met && ok
		}
		return strings.Join(ms, "; "), met, nil
	}
}

// forEach applies mk to every distinct value of the first group of re in
// the names of the comparison's rows at procs and checks them all: one
// target over sub-benchmarks whose set is not known in advance, such as
// the algorithms of BenchmarkChain.
func forEach(re string, procs int, mk func(group string) check) check {
	rx := regexp.MustCompile(re)
	return func(res *Result) (string, bool, error) {
		var cs []check
		var labels []string
		for _, r := range res.Rows {
			m := rx.FindStringSubmatch(r.Name)
			if m == nil || r.Procs != procs {
				continue
			}
			labels = append(labels, m[1])
			cs = append(cs, mk(m[1]))
		}
		if len(cs) == 0 {
			return "", false, fmt.Errorf("no benchmark matches %s", re)
		}
		var ms []string
		met := true
		for i, c := range cs {
			m, ok, err := c(res)
			if err != nil {
				return "", false, err
			}
			ms = append(ms, labels[i]+": "+m)
			met = met && ok
		}
		return strings.Join(ms, "; "), met, nil
	}
}

func lastElem(name string) string { return name[strings.LastIndexByte(name, '/')+1:] }
