package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"text/tabwriter"
	"time"
)

// results holds one backend's measurements; a phase that failed leaves its
// fields zero and records why in errs.
type results struct {
	backend   string
	oneSender float64 // messages/s
	// oneSenderCPU is the CPU time per message of the 1-sender phase;
	// zero when it could not be read.
	oneSenderCPU cpuTimes
	manySenders  float64 // messages/s
	wake         []time.Duration
	initial      []time.Duration
	rssKiB       int64
	errs         []string
}

// row is one line of the report: how to read the value off results, and
// the target it must meet (limit 0 means informational only).
type row struct {
	name   string
	unit   string
	higher bool // true when bigger is better
	limit  float64
	value  func(r *results) (float64, bool)
}

func rows(p params) []row {
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	return []row{
		{fmt.Sprintf("messages/s, 1 sender (n=%d)", p.n1), "msg/s", true, 1500,
			func(r *results) (float64, bool) { return r.oneSender, r.oneSender > 0 }},
		{"  CPU per message, 1 sender: server", "us", false, 0,
			func(r *results) (float64, bool) { return us(r.oneSenderCPU.server), r.oneSenderCPU.server > 0 }},
		{"  CPU per message, 1 sender: bench client", "us", false, 0,
			func(r *results) (float64, bool) { return us(r.oneSenderCPU.client), r.oneSenderCPU.client > 0 }},
		{fmt.Sprintf("messages/s, %d senders (n=%d)", p.senders, p.n8), "msg/s", true, 2500,
			func(r *results) (float64, bool) { return r.manySenders, r.manySenders > 0 }},
		{fmt.Sprintf("/sync wake-up p50 (%d samples)", p.wake), "ms", false, 0,
			func(r *results) (float64, bool) { return ms(percentile(r.wake, 50)), len(r.wake) > 0 }},
		{fmt.Sprintf("/sync wake-up p99 (%d samples)", p.wake), "ms", false, 10,
			func(r *results) (float64, bool) { return ms(percentile(r.wake, 99)), len(r.wake) > 0 }},
		{fmt.Sprintf("initial /sync, %d rooms x %d msgs (median of %d)", p.rooms, p.roomMsgs, p.syncs), "ms", false, 15,
			func(r *results) (float64, bool) { return ms(percentile(r.initial, 50)), len(r.initial) > 0 }},
		{fmt.Sprintf("idle RSS after %s", p.idle), "MiB", false, 30,
			func(r *results) (float64, bool) { return float64(r.rssKiB) / 1024, r.rssKiB > 0 }},
	}
}

// percentile returns the nearest-rank p-th percentile of ds (0 when empty).
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// report prints the table and returns how many targets were missed.
func report(w io.Writer, p params, all []*results) int {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprint(tw, "metric\ttarget")
	for _, r := range all {
		fmt.Fprintf(tw, "\t%s", r.backend)
	}
	fmt.Fprintln(tw)
	misses := 0
	for _, rw := range rows(p) {
		fmt.Fprintf(tw, "%s\t%s", rw.name, rw.targetText())
		for _, r := range all {
			v, ok := rw.value(r)
			verdict := rw.verdict(v, ok)
			if verdict == "MISS" {
				misses++
			}
			if !ok {
				fmt.Fprintf(tw, "\t-   %s", verdict)
				continue
			}
			fmt.Fprintf(tw, "\t%s %s %s", formatValue(v), rw.unit, verdict)
		}
		fmt.Fprintln(tw)
	}
	_ = tw.Flush()
	for _, r := range all {
		for _, e := range r.errs {
			fmt.Fprintf(w, "%s: %s\n", r.backend, e)
		}
	}
	return misses
}

func (rw row) targetText() string {
	switch {
	case rw.limit == 0:
		return "-"
	case rw.higher:
		return fmt.Sprintf(">= %s %s", formatValue(rw.limit), rw.unit)
	default:
		return fmt.Sprintf("<= %s %s", formatValue(rw.limit), rw.unit)
	}
}

// verdict is PASS or MISS against the target, "" for informational rows;
// a value that could not be measured is a MISS.
func (rw row) verdict(v float64, ok bool) string {
	switch {
	case rw.limit == 0:
		return ""
	case !ok:
		return "MISS"
	case rw.higher && v >= rw.limit, !rw.higher && v <= rw.limit:
		return "PASS"
	}
	return "MISS"
}

func formatValue(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}
