// Command report runs every peer comparison of Backstop's benchmarks and
// writes a Markdown report with one SVG bar chart per comparison.
//
// Run it from the repository root:
//
//	go run ./bench/cmd/report                  # every comparison, 6 rounds
//	go run ./bench/cmd/report -quick           # a fast smoke run
//	go run ./bench/cmd/report -run 'ratelimit' # comparisons whose id matches
//
// Each comparison's test binary is built once with `go test -c` and then run
// with -test.count 1 as many times as -count says, round-robin across the
// comparison's processes, so that a change in the machine's load hits ours
// and the peers alike. Comparisons run one at a time, never in parallel.
//
// The raw output of every comparison is kept beside the report
// (<id>.txt, readable by benchstat); golang.org/x/perf/benchfmt parses it and
// golang.org/x/perf/benchmath gives the medians and their 95% confidence
// intervals, as benchstat reports them. Charts are drawn with
// gonum.org/v1/plot.
//
// Flags:
//
//	-count N       rounds per comparison (default 6; 2 with -quick)
//	-out dir       output directory (default bench/report)
//	-run regexp    run only the comparisons whose id matches
//	-quick         few short rounds and no heavy processes: a smoke run
//	-benchtime d   -test.benchtime for every comparison, overriding theirs
//	-list          print the comparisons and exit
//
// The command exits with status 1 when a benchmark fails (a build error, a
// failing or panicking benchmark); a missed target is reported, not fatal.
// Progress goes to standard error.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

// config is what the flags select.
type config struct {
	count     int
	out       string
	run       *regexp.Regexp
	quick     bool
	benchtime string
	command   string
}

func run(args []string) int {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	count := fs.Int("count", 6, "rounds per comparison (2 with -quick unless set)")
	out := fs.String("out", filepath.Join("bench", "report"), "output directory")
	runRE := fs.String("run", "", "run only the comparisons whose id matches this regexp")
	quick := fs.Bool("quick", false, "smoke run: 2 rounds, -benchtime 10x, heavy processes skipped")
	benchtime := fs.String("benchtime", "", "-test.benchtime for every comparison, overriding theirs")
	list := fs.Bool("list", false, "print the comparisons and exit")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	comps := comparisons()
	if *list {
		for _, c := range comps {
			fmt.Printf("%-20s %s\n", c.ID, c.Title)
		}
		return 0
	}
	cfg := config{count: *count, out: *out, quick: *quick, benchtime: *benchtime,
		command: strings.Join(append([]string{"go run ./bench/cmd/report"}, args...), " ")}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if cfg.quick && !set["count"] {
		cfg.count = 2
	}
	if cfg.quick && cfg.benchtime == "" {
		cfg.benchtime = "10x"
	}
	if cfg.count < 1 {
		fmt.Fprintln(os.Stderr, "report: -count must be at least 1")
		return 2
	}
	if *runRE != "" {
		re, err := regexp.Compile(*runRE)
		if err != nil {
			fmt.Fprintln(os.Stderr, "report: -run:", err)
			return 2
		}
		cfg.run = re
	}
	if _, err := os.Stat("go.work"); err != nil {
		fmt.Fprintln(os.Stderr, "report: run me from the repository root (where go.work is)")
		return 2
	}
	if err := os.MkdirAll(cfg.out, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		return 1
	}

	start := time.Now()
	rep := &Report{Env: environment(cfg, start)}
	r := newRunner(cfg)
	defer r.close()
	failed := false
	for _, c := range comps {
		if cfg.run != nil && !cfg.run.MatchString(c.ID) {
			continue
		}
		res := r.runComparison(c)
		if res.Failed != "" {
			failed = true
		}
		if err := writeRaw(cfg.out, res); err != nil {
			fmt.Fprintln(os.Stderr, "report:", err)
		}
		if res.Status == statusNotRun {
			// No stale figures from an earlier run beside the report.
			_ = os.Remove(filepath.Join(cfg.out, c.ID+".txt"))
			_ = os.Remove(filepath.Join(cfg.out, c.ID+".svg"))
		}
		if res.Status == statusRun {
			if err := writeChart(filepath.Join(cfg.out, res.Comparison.ID+".svg"), res); err != nil {
				fmt.Fprintln(os.Stderr, "report: chart:", err)
			} else {
				res.Chart = res.Comparison.ID + ".svg"
			}
		}
		rep.Results = append(rep.Results, res)
		// A report of what has run so far, in case the run is stopped.
		if err := rep.write(cfg.out, start); err != nil {
			fmt.Fprintln(os.Stderr, "report:", err)
		}
	}
	if cfg.run == nil || cfg.run.MatchString(rssID) {
		rss := r.runArgon2RSS()
		if rss.Failed != "" {
			failed = true
		}
		rep.RSS = &rss
	}
	if err := rep.write(cfg.out, start); err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "report: wrote %s in %s\n", filepath.Join(cfg.out, "REPORT.md"), rep.Env.Duration)
	if failed {
		fmt.Fprintln(os.Stderr, "report: some benchmarks failed (see the report)")
		return 1
	}
	return 0
}

// write writes REPORT.md into dir.
func (rep *Report) write(dir string, start time.Time) error {
	rep.Env.Duration = time.Since(start).Round(time.Second)
	f, err := os.Create(filepath.Join(dir, "REPORT.md"))
	if err != nil {
		return err
	}
	rep.WriteMarkdown(f)
	return f.Close()
}
