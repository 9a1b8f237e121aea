package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// rssID is the id of the Argon2id memory section, for -run.
const rssID = "argon2rss"

// RSSRun is one run of bench/cmd/argon2rss.
type RSSRun struct {
	Label   string
	Env     []string // set in the child's environment, as NAME=value
	Args    []string
	PeakKiB int64
	Wall    time.Duration
}

// RSSResult is the Argon2id memory section: peak RSS and wall time of N
// concurrent verifications, bounded and unbounded.
type RSSResult struct {
	N, Limit, MemKiB int
	Runs             []RSSRun // bounded, unbounded, then bounded under a memory limit
	Failed           string
	Targets          []TargetResult
}

// runArgon2RSS builds bench/cmd/argon2rss and runs it bounded and
// unbounded, reading each child's peak RSS from its rusage. A third run,
// bounded under GOMEMLIMIT as authn/password recommends, shows what a
// service can hold; the targets are taken on the first two, at the
// runtime's defaults.
func (r *runner) runArgon2RSS() RSSResult {
	res := RSSResult{N: 50, Limit: 2, MemKiB: 65536}
	extra := []string{}
	if r.cfg.quick {
		// The smallest parameters password accepts (OWASP's floor).
		res.N, res.MemKiB = 8, 19456
		extra = []string{"-t", "2", "-p", "1"}
	}
	bin := filepath.Join(r.tmp, "argon2rss")
	progress("%s: building", rssID)
	if out, err := exec.Command("go", "build", "-o", bin, "./bench/cmd/argon2rss").CombinedOutput(); err != nil {
		res.Failed = fmt.Sprintf("go build ./bench/cmd/argon2rss: %v\n%s", err, out)
		return res
	}
	common := append([]string{"-n", strconv.Itoa(res.N), "-m", strconv.Itoa(res.MemKiB)}, extra...)
	bounded := append(append([]string{}, common...), "-limit", strconv.Itoa(res.Limit))
	// 2 × limit × m: the hashes in progress and as many awaiting
	// collection; the runtime collects as the heap nears it.
	memLimit := fmt.Sprintf("GOMEMLIMIT=%dMiB", 2*res.Limit*res.MemKiB/1024)
	for _, run := range []RSSRun{
		{Label: "authn/password, limit " + strconv.Itoa(res.Limit), Args: bounded},
		{Label: "alexedwards/argon2id, unbounded", Args: append(append([]string{}, common...), "-unbounded")},
		{Label: "authn/password, limit " + strconv.Itoa(res.Limit) + ", " + memLimit, Env: []string{memLimit}, Args: bounded},
	} {
		progress("%s: %sargon2rss %v", rssID, strings.Join(append(run.Env, ""), " "), run.Args)
		cmd := exec.Command(bin, run.Args...)
		cmd.Env = append(os.Environ(), run.Env...)
		cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
		start := time.Now()
		err := cmd.Run()
		run.Wall = time.Since(start)
		if err != nil {
			res.Failed = fmt.Sprintf("argon2rss %v: %v", run.Args, err)
			return res
		}
		run.PeakKiB = maxRSS(cmd.ProcessState)
		res.Runs = append(res.Runs, run)
	}
	res.evaluate()
	return res
}

// evaluate sets the targets of issue 12 on the first two runs.
func (res *RSSResult) evaluate() {
	if len(res.Runs) < 2 {
		return
	}
	b, u := res.Runs[0], res.Runs[1]
	limitMiB := float64(2*res.Limit*res.MemKiB)/1024 + 30
	peak := float64(b.PeakKiB) / 1024
	tr := TargetResult{
		Target:   Target{Source: "issue 12", Text: fmt.Sprintf("peak RSS of %d concurrent verifications ≤ 2 × limit × m + 30 MiB = %.0f MiB", res.N, limitMiB)},
		Measured: fmt.Sprintf("%.0f MiB (unbounded: %.0f MiB)", peak, float64(u.PeakKiB)/1024),
	}
	tr.Verdict = verdict(b.PeakKiB > 0 && peak <= limitMiB)
	ratio := b.Wall.Seconds() / u.Wall.Seconds()
	tt := TargetResult{
		Target:   Target{Source: "issue 12", Text: "total time ≤ 0.5x the unbounded case"},
		Measured: fmt.Sprintf("%s (%s vs %s)", fmtRatio(ratio), b.Wall.Round(100*time.Millisecond), u.Wall.Round(100*time.Millisecond)),
		Verdict:  verdict(ratio <= 0.5),
	}
	res.Targets = []TargetResult{tr, tt}
}

func verdict(ok bool) Verdict {
	if ok {
		return Met
	}
	return Missed
}

func (res *RSSResult) writeMarkdown(w io.Writer) {
	fmt.Fprintf(w, "<a id=%q></a>\n\n## %s: Argon2id memory under %d concurrent verifications\n\n", rssID, rssID, res.N)
	fmt.Fprintf(w, "`bench/cmd/argon2rss` run bounded and unbounded, m=%d KiB, at the runtime's defaults (the targets' runs), "+
		"then bounded under a memory limit as `authn/password` recommends; peak RSS is the child's "+
		"`ru_maxrss` (what `/usr/bin/time -v` prints as Maximum resident set size).\n\n```sh\n", res.MemKiB)
	fmt.Fprintf(w, "go build -o /tmp/argon2rss ./bench/cmd/argon2rss\n")
	for _, r := range res.Runs {
		fmt.Fprintf(w, "%s/usr/bin/time -v /tmp/argon2rss %s\n", strings.Join(append(r.Env, ""), " "), strings.Join(r.Args, " "))
	}
	fmt.Fprintf(w, "```\n\n")
	if res.Failed != "" {
		fmt.Fprintf(w, "**FAILED**:\n\n```\n%s\n```\n\n", res.Failed)
	}
	if len(res.Runs) > 0 {
		fmt.Fprintf(w, "| run | peak RSS | wall time |\n|---|---:|---:|\n")
		for _, r := range res.Runs {
			fmt.Fprintf(w, "| %s | %s KiB (%.0f MiB) | %s |\n", r.Label, fmtNum(float64(r.PeakKiB)), float64(r.PeakKiB)/1024, r.Wall.Round(100*time.Millisecond))
		}
		fmt.Fprintln(w)
	}
	for _, t := range res.Targets {
		fmt.Fprintf(w, "- Target (%s): %s — measured %s: **%s**\n", t.Source, t.Text, t.Measured, t.Verdict)
	}
	fmt.Fprintln(w)
}
