package main

import (
	"fmt"
	"image/color"
	"math"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// writeChart draws a horizontal bar chart of the rows' median time, one bar
// per -cpu value, into an SVG file.
func writeChart(path string, res *Result) error {
	// The time per op, or for benchmarks reporting metrics as rows the
	// first metric that is a time.
	unit := unitTime
	for _, u := range res.Units {
		if res.Comparison.MetricRows && strings.Contains(u, "sec") {
			unit = u
			break
		}
	}
	var names []string
	var procs []int
	for _, r := range res.Rows {
		if _, ok := r.Stats[unit]; !ok {
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
		return fmt.Errorf("%s: no benchmark with %s", res.Comparison.ID, unit)
	}
	slices.Sort(procs)

	// One scale for the axis: the largest median decides ns, µs or ms.
	minSec, maxSec := 0.0, 0.0
	for _, r := range res.Rows {
		if s, ok := r.Stats[unit]; ok {
			minSec, maxSec = math.Min(minSec, s.Center), math.Max(maxSec, s.Center)
		}
	}
	scale, scaleName := 1e9, "ns"
	switch {
	case maxSec >= 10e-3:
		scale, scaleName = 1e3, "ms"
	case maxSec >= 10e-6:
		scale, scaleName = 1e6, "µs"
	}

	p := plot.New()
	p.Title.Text = res.Comparison.ID + ": " + res.Comparison.Title
	p.X.Label.Text = "median " + unitHeader(unit) + " (" + scaleName + "), shorter is faster"
	p.X.Min = minSec * scale * 1.1 // a difference can be negative
	p.X.Tick.Marker = numberTicks{}
	// The top row of the table is drawn at the top of the chart.
	prefix := commonPrefix(names)
	labels := make([]string, len(names))
	for i, n := range names {
		labels[len(names)-1-i] = strings.TrimPrefix(n, prefix)
	}
	barH := vg.Points(14 / float64(len(procs)))
	// Ours and the others are two series per -cpu value, so that ours
	// stand out; a row's bar in the other series has length 0.
	ourColors := []color.Color{color.RGBA{0x1f, 0x5f, 0xbf, 0xff}, color.RGBA{0x7f, 0xaf, 0xef, 0xff}}
	peerColors := []color.Color{color.RGBA{0x6f, 0x6f, 0x6f, 0xff}, color.RGBA{0xbf, 0xbf, 0xbf, 0xff}}
	for i, pr := range procs {
		for _, ours := range []bool{true, false} {
			vals := make(plotter.Values, len(names))
			present := false
			for j, n := range names {
				if r := res.Row(n, pr); r != nil && r.Ours == ours {
					vals[len(names)-1-j] = r.Stats[unit].Center * scale
					present = true
				}
			}
			if !present {
				continue
			}
			bars, err := plotter.NewBarChart(vals, barH)
			if err != nil {
				return err
			}
			bars.Horizontal = true
			bars.LineStyle.Width = 0
			legend := res.Comparison.Legend
			if legend == [2]string{} {
				legend = [2]string{"backstop", "others"}
			}
			who := legend[1]
			bars.Color = peerColors[i%len(peerColors)]
			if ours {
				who = legend[0]
				bars.Color = ourColors[i%len(ourColors)]
			}
			bars.Offset = barH * vg.Length(float64(len(procs)-1)/2-float64(i))
			label := who
			if len(procs) > 1 {
				label += fmt.Sprintf(", -cpu %d", pr)
			}
			p.Legend.Add(label, bars)
			p.Add(bars)
		}
	}
	// Room on the right for the legend.
	p.X.Max = maxSec * scale * 1.45
	p.Legend.Top = true
	p.NominalY(labels...)
	grid := plotter.NewGrid()
	grid.Horizontal.Color = nil
	p.Add(grid)
	p.BackgroundColor = color.White
	h := vg.Points(float64(90 + 22*len(names)))
	return p.Save(9*vg.Inch, h, path)
}

// commonPrefix returns the first path element with its slash when every
// name starts with it, as the top-level benchmark's name does.
func commonPrefix(names []string) string {
	first, _, ok := strings.Cut(names[0], "/")
	if !ok {
		return ""
	}
	for _, n := range names {
		if !strings.HasPrefix(n, first+"/") {
			return ""
		}
	}
	return first + "/"
}

// numberTicks are plot's default ticks labelled as the tables print
// numbers.
type numberTicks struct{}

// Ticks returns plot.DefaultTicks with their labels reformatted.
func (numberTicks) Ticks(min, max float64) []plot.Tick {
	ticks := plot.DefaultTicks{}.Ticks(min, max)
	for i := range ticks {
		if ticks[i].Label != "" {
			ticks[i].Label = fmtNum(ticks[i].Value)
		}
	}
	return ticks
}
