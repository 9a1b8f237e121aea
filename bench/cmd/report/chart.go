package main

import (
	"fmt"
	"image/color"
	"math"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// writeChart draws a horizontal bar chart of the rows' median time, one bar
// per -cpu value, into an SVG file.
func writeChart(path string, res *Result) error {
	var names []string
	var procs []int
	for _, r := range res.Rows {
		if _, ok := r.Stats[unitTime]; !ok {
			continue
		}
		if !slices.Contains(names, r.Name) {
			names = append(names, r.Name)
		}
		if !slices.Contains(procs, r.Procs) {
			procs = append(procs, r.Procs)
		}
	}
	if len(names) == 0 {
		return fmt.Errorf("%s: no timed benchmark", res.Comparison.ID)
	}
	slices.Sort(procs)

	// One scale for the axis: the largest median decides ns, µs or ms.
	maxSec := 0.0
	for _, r := range res.Rows {
		if s, ok := r.Stats[unitTime]; ok {
			maxSec = math.Max(maxSec, s.Center)
		}
	}
	scale, unit := 1e9, "ns"
	switch {
	case maxSec >= 0.1:
		scale, unit = 1e3, "ms"
	case maxSec >= 100e-6:
		scale, unit = 1e6, "µs"
	}

	p := plot.New()
	p.Title.Text = res.Comparison.ID + ": " + res.Comparison.Title
	p.X.Label.Text = "median time/op (" + unit + "), shorter is faster"
	p.X.Min = 0
	// The top row of the table is drawn at the top of the chart.
	labels := make([]string, len(names))
	for i, n := range names {
		labels[len(names)-1-i] = n
	}
	barH := vg.Points(14 / float64(len(procs)))
	for i, pr := range procs {
		vals := make(plotter.Values, len(names))
		for j, n := range names {
			if r := res.Row(n, pr); r != nil {
				vals[len(names)-1-j] = r.Stats[unitTime].Center * scale
			}
		}
		bars, err := plotter.NewBarChart(vals, barH)
		if err != nil {
			return err
		}
		bars.Horizontal = true
		bars.LineStyle.Width = 0
		bars.Color = plotutil.Color(i)
		bars.Offset = barH * vg.Length(float64(len(procs)-1)/2-float64(i))
		if len(procs) > 1 {
			p.Legend.Add(fmt.Sprintf("-cpu %d", pr), bars)
		}
		p.Add(bars)
	}
	p.Legend.Top = true
	p.NominalY(labels...)
	p.Add(plotter.NewGrid())
	p.BackgroundColor = color.White
	h := vg.Points(float64(60 + 22*len(names)))
	return p.Save(9*vg.Inch, h, path)
}
