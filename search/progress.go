package search

import (
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/c-bata/goptuna"
	"github.com/schollz/progressbar/v3"
)

// progress prints one line per finished trial on out and keeps an overall
// bar with an ETA on bar (stderr). Both may be nil.
type progress struct {
	mu   sync.Mutex
	out  io.Writer
	bar  *progressbar.ProgressBar
	done int
	max  int
}

func newProgress(barW, out io.Writer, planned int, name string) *progress {
	p := &progress{out: out, max: planned}
	if barW != nil && planned > 0 {
		p.bar = progressbar.NewOptions(planned,
			progressbar.OptionSetWriter(barW),
			progressbar.OptionSetDescription("study "+name),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionSetElapsedTime(true),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(200*time.Millisecond),
			progressbar.OptionSetRenderBlankState(true),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(barW) }),
		)
	}
	return p
}

func (p *progress) line(format string, args ...any) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		_ = p.bar.Clear()
	}
	if p.out != nil {
		fmt.Fprintf(p.out, format+"\n", args...)
	}
	if p.bar != nil {
		_ = p.bar.RenderBlank()
	}
}

func (p *progress) trialDone(r TrialReport) {
	p.line("%s", FormatTrialLine(r))
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done++
	if p.bar != nil {
		if p.done > p.max {
			p.max = p.done
			p.bar.ChangeMax(p.max)
		}
		_ = p.bar.Add(1)
	}
}

func (p *progress) finish() {
	if p == nil || p.bar == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done < p.max {
		_ = p.bar.Clear()
		return
	}
}

// FormatTrialLine renders one finished trial, e.g.
// "trial 3 COMPLETE value=0.4120 gamma=0.2 test_acc=0.412 gap=0.05 hit=312 grads 41.2s".
func FormatTrialLine(r TrialReport) string {
	var b strings.Builder
	fmt.Fprintf(&b, "trial %d %s", r.Number, stateName(r.State))
	if r.State == goptuna.TrialStateComplete || (r.State == goptuna.TrialStatePruned && !math.IsNaN(r.Value)) {
		fmt.Fprintf(&b, " value=%.4g", r.Value)
	}
	for _, k := range slices.Sorted(maps.Keys(r.Params)) {
		fmt.Fprintf(&b, " %s=%s", k, r.Params[k])
	}
	if m := r.Metrics; m != nil {
		fmt.Fprintf(&b, " test_acc=%.4f gap=%.4f", m["test_accuracy"], m["generalization_gap"])
		if h := m["hitting_time_grads"]; h >= 0 {
			fmt.Fprintf(&b, " hit=%d grads", int64(h))
		} else {
			b.WriteString(" hit=never")
		}
	}
	fmt.Fprintf(&b, " %.1fs", r.Wall.Seconds())
	if r.Reason != "" {
		fmt.Fprintf(&b, " (%s)", r.Reason)
	}
	return b.String()
}

// WriteSummary writes the end-of-call table: the trials this call ran,
// the study's state counts and its best trial.
func WriteSummary(w io.Writer, s Summary, metric string) {
	fmt.Fprintf(w, "\nstudy %s (id %d): %d trial(s) ran in this call", s.Study, s.StudyID, len(s.Trials))
	if len(s.Recovered) > 0 {
		fmt.Fprintf(w, ", recovered %d stale trial(s) %v", len(s.Recovered), s.Recovered)
	}
	fmt.Fprintln(w)
	if len(s.Trials) > 0 {
		trials := slices.Clone(s.Trials)
		slices.SortFunc(trials, func(a, b TrialReport) int { return a.Number - b.Number })
		keys := map[string]bool{}
		for _, r := range trials {
			for k := range r.Params {
				keys[k] = true
			}
		}
		pk := slices.Sorted(maps.Keys(keys))
		tw := newTable(append(append([]string{"trial", "state", metric}, pk...), "test_acc", "gap", "hit_grads", "wall_s", "note")...)
		for _, r := range trials {
			row := []string{fmt.Sprint(r.Number), stateName(r.State), fmtVal(r)}
			for _, k := range pk {
				row = append(row, r.Params[k])
			}
			if m := r.Metrics; m != nil {
				row = append(row, fmt.Sprintf("%.4f", m["test_accuracy"]), fmt.Sprintf("%.4f", m["generalization_gap"]), fmtHit(m["hitting_time_grads"]))
			} else {
				row = append(row, "-", "-", "-")
			}
			row = append(row, fmt.Sprintf("%.1f", r.Wall.Seconds()), r.Reason)
			tw.add(row...)
		}
		tw.write(w)
	}
	states := slices.Sorted(maps.Keys(s.Counts))
	var parts []string
	for _, k := range states {
		parts = append(parts, fmt.Sprintf("%s %d", k, s.Counts[k]))
	}
	fmt.Fprintf(w, "study trials: %s\n", strings.Join(parts, ", "))
	if s.Best.Number >= 0 {
		fmt.Fprintf(w, "best: trial %d, %s = %.6g", s.Best.Number, metric, s.Best.Value)
		for _, k := range slices.Sorted(maps.Keys(s.Best.Params)) {
			fmt.Fprintf(w, " %s=%v", k, s.Best.Params[k])
		}
		fmt.Fprintln(w)
	}
}

func fmtVal(r TrialReport) string {
	if r.State == goptuna.TrialStateFail || math.IsNaN(r.Value) {
		return "-"
	}
	return fmt.Sprintf("%.6g", r.Value)
}

func fmtHit(h float64) string {
	if h < 0 {
		return "never"
	}
	return fmt.Sprint(int64(h))
}

// table is a minimal aligned text table.
type table struct {
	rows [][]string
}

func newTable(header ...string) *table { return &table{rows: [][]string{header}} }

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) write(w io.Writer) {
	width := make([]int, len(t.rows[0]))
	for _, r := range t.rows {
		for i, c := range r {
			if i < len(width) {
				width[i] = max(width[i], len([]rune(c)))
			}
		}
	}
	for _, r := range t.rows {
		var b strings.Builder
		for i, c := range r {
			if i > 0 {
				b.WriteString("  ")
			}
			if i == len(r)-1 {
				b.WriteString(c)
			} else {
				b.WriteString(c + strings.Repeat(" ", width[i]-len([]rune(c))))
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
}
