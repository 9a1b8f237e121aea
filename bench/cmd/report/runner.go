package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// Process is one test-binary invocation of a comparison: the package whose
// tests hold the benchmarks and the flags and environment to run them with.
type Process struct {
	// Pkg is the package directory relative to the repository root, such
	// as "./bench" or "./pagination".
	Pkg string
	// Bench is the -test.bench regexp.
	Bench string
	// CPU is the -test.cpu list; empty leaves GOMAXPROCS alone.
	CPU string
	// Benchtime is the -test.benchtime; empty is go test's default (1s).
	Benchtime string
	// Env holds extra NAME=value variables.
	Env []string
	// Heavy processes are skipped by -quick.
	Heavy bool
}

// flags returns the test binary's arguments for one round.
func (p Process) flags(benchtime string) []string {
	args := []string{"-test.run", "^$", "-test.bench", p.Bench, "-test.benchmem", "-test.count", "1"}
	if p.CPU != "" {
		args = append(args, "-test.cpu", p.CPU)
	}
	if benchtime == "" {
		benchtime = p.Benchtime
	}
	if benchtime != "" {
		args = append(args, "-test.benchtime", benchtime)
	}
	return args
}

// Command returns the go test command equivalent to N rounds of p, for the
// report.
func (p Process) Command(count int, benchtime string) string {
	var b strings.Builder
	for _, e := range p.Env {
		b.WriteString(e + " ")
	}
	fmt.Fprintf(&b, "go test %s -run '^$' -bench '%s' -benchmem -count %d", p.Pkg, p.Bench, count)
	if p.CPU != "" {
		b.WriteString(" -cpu " + p.CPU)
	}
	if benchtime == "" {
		benchtime = p.Benchtime
	}
	if benchtime != "" {
		b.WriteString(" -benchtime " + benchtime)
	}
	return b.String()
}

// runner builds test binaries once per package and runs them.
type runner struct {
	cfg  config
	tmp  string
	bins map[string]string // package → binary, or "" after a failed build
	errs map[string]string // package → build error
}

func newRunner(cfg config) *runner {
	tmp, err := os.MkdirTemp("", "backstop-report-")
	if err != nil {
		tmp = os.TempDir()
	}
	return &runner{cfg: cfg, tmp: tmp, bins: map[string]string{}, errs: map[string]string{}}
}

func (r *runner) close() { _ = os.RemoveAll(r.tmp) }

// binary returns the test binary of pkg, building it on first use.
func (r *runner) binary(pkg string) (string, error) {
	if bin, ok := r.bins[pkg]; ok {
		if bin == "" {
			return "", fmt.Errorf("%s", r.errs[pkg])
		}
		return bin, nil
	}
	bin := filepath.Join(r.tmp, strings.NewReplacer("/", "_", ".", "_").Replace(pkg)+".test")
	progress("building %s", pkg)
	out, err := exec.Command("go", "test", "-c", "-o", bin, pkg).CombinedOutput()
	if err != nil {
		r.bins[pkg] = ""
		r.errs[pkg] = fmt.Sprintf("go test -c %s: %v\n%s", pkg, err, out)
		return "", fmt.Errorf("%s", r.errs[pkg])
	}
	r.bins[pkg] = bin
	return bin, nil
}

// failLine matches the lines go test prints for a failed benchmark.
var failLine = regexp.MustCompile(`(?m)^(--- FAIL|FAIL|panic:)`)

// runComparison runs c for the configured rounds, round-robin across its
// processes, and summarizes the results.
func (r *runner) runComparison(c Comparison) *Result {
	res := &Result{Comparison: c}
	var procs []Process
	for _, p := range c.Procs {
		if r.cfg.quick && p.Heavy {
			res.Skipped = append(res.Skipped, p.Command(r.cfg.count, r.cfg.benchtime))
			continue
		}
		procs = append(procs, p)
		res.Commands = append(res.Commands, p.Command(r.cfg.count, r.cfg.benchtime))
	}
	bins := make([]string, len(procs))
	for i, p := range procs {
		bin, err := r.binary(p.Pkg)
		if err != nil {
			res.Failed = err.Error()
			res.Status = statusFailed
			progress("%s: build failed", c.ID)
			return res
		}
		bins[i] = bin
	}
	start := time.Now()
	var raw bytes.Buffer
rounds:
	for round := range r.cfg.count {
		for i, p := range procs {
			progress("%s: round %d/%d, %s", c.ID, round+1, r.cfg.count, p.Bench)
			cmd := exec.Command(bins[i], p.flags(r.cfg.benchtime)...)
			cmd.Dir = p.Pkg
			cmd.Env = append(os.Environ(), p.Env...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			raw.Write(stdout.Bytes())
			if err != nil || failLine.Match(stdout.Bytes()) {
				res.Failed = fmt.Sprintf("%s (round %d): %v\n%s%s", p.Command(1, r.cfg.benchtime), round+1, err,
					tail(stdout.String(), 40), tail(stderr.String(), 20))
				progress("%s: FAILED", c.ID)
				break rounds
			}
		}
	}
	res.Raw = raw.String()
	res.Elapsed = time.Since(start).Round(time.Second)
	res.analyze()
	progress("%s: %s in %s", c.ID, res.Status, res.Elapsed)
	return res
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.SplitAfter(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "")
}

// writeRaw keeps a comparison's raw benchmark output, for benchstat.
func writeRaw(dir string, res *Result) error {
	if res.Raw == "" || res.Status == statusNotRun {
		return nil
	}
	return os.WriteFile(filepath.Join(dir, res.Comparison.ID+".txt"), []byte(res.Raw), 0o644)
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s report: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}
