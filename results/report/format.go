package report

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/lrsgd-lab/lrsgd/results"
)

// Formats lists the output formats Write accepts.
func Formats() []string { return []string{"table", "markdown", "csv", "json"} }

// Write writes the report in the given format: "table" (aligned text),
// "markdown", "csv" (one row per trial, every study) or "json".
func Write(w io.Writer, rep *Report, format string) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	case "csv":
		return writeCSV(w, rep)
	case "table":
		return writeText(w, rep, false)
	case "markdown", "md":
		return writeText(w, rep, true)
	default:
		return fmt.Errorf("unknown report format %q (want one of %s)", format, strings.Join(Formats(), ", "))
	}
}

// FormatFloat formats a stored number for tables: integers exactly, other
// values with 4 significant digits, NaN as "NaN".
func FormatFloat(v float64) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case v == math.Trunc(v) && math.Abs(v) < 1e15:
		return strconv.FormatInt(int64(v), 10)
	default:
		return strconv.FormatFloat(v, 'g', 4, 64)
	}
}

// formatParam formats a parameter value for tables.
func formatParam(v any) string {
	switch x := v.(type) {
	case float64:
		return FormatFloat(x)
	case nil:
		return ""
	default:
		return fmt.Sprint(x)
	}
}

// formatMetric formats a trial's metric for tables; hitting times of −1
// read "never".
func formatMetric(t *Trial, name string) string {
	v, ok := t.Metrics[name]
	if !ok {
		return ""
	}
	if strings.HasPrefix(name, "hitting_time") && v < 0 {
		return "never"
	}
	return FormatFloat(float64(v))
}

func formatValue(t *Trial) string {
	if t.Value == nil {
		return ""
	}
	return FormatFloat(float64(*t.Value))
}

// tableWriter writes rows either aligned (text) or as a markdown table.
type tableWriter struct {
	w        io.Writer
	markdown bool
	tw       *tabwriter.Writer
	rows     int
}

func newTable(w io.Writer, markdown bool) *tableWriter {
	t := &tableWriter{w: w, markdown: markdown}
	if !markdown {
		t.tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	}
	return t
}

func (t *tableWriter) row(cells ...string) {
	if t.markdown {
		for i, c := range cells {
			cells[i] = strings.ReplaceAll(c, "|", `\|`)
		}
		fmt.Fprintf(t.w, "| %s |\n", strings.Join(cells, " | "))
		if t.rows == 0 {
			sep := make([]string, len(cells))
			for i := range sep {
				sep[i] = "---"
			}
			fmt.Fprintf(t.w, "|%s|\n", strings.Join(sep, "|"))
		}
	} else {
		fmt.Fprintln(t.tw, strings.Join(cells, "\t"))
	}
	t.rows++
}

func (t *tableWriter) flush() error {
	if t.tw != nil {
		return t.tw.Flush()
	}
	return nil
}

func countsLine(st *Study) string {
	states := make([]string, 0, len(st.Counts))
	total := 0
	for _, s := range []string{"COMPLETE", "PRUNED", "FAIL", "RUNNING", "WAITING"} {
		if n := st.Counts[s]; n > 0 {
			states = append(states, fmt.Sprintf("%d %s", n, s))
			total += n
		}
	}
	return fmt.Sprintf("%d trials: %s", total, strings.Join(states, ", "))
}

func describe(t *Trial, names ...string) string {
	parts := []string{fmt.Sprintf("#%d", t.Number)}
	for _, n := range names {
		if n == "value" {
			parts = append(parts, "value="+formatValue(t))
			continue
		}
		if _, ok := t.Metrics[n]; ok {
			parts = append(parts, n+"="+formatMetric(t, n))
		} else if v, ok := t.Params[n]; ok {
			parts = append(parts, n+"="+formatParam(v))
		}
	}
	return strings.Join(parts, " ")
}

func writeText(w io.Writer, rep *Report, md bool) error {
	h := func(level int, s string) {
		if md {
			fmt.Fprintf(w, "%s %s\n\n", strings.Repeat("#", level), s)
		} else {
			fmt.Fprintf(w, "%s\n%s\n", s, strings.Repeat("=-"[level-1:level], len([]rune(s))))
		}
	}
	line := func(format string, a ...any) {
		if md {
			fmt.Fprintf(w, "- "+format+"\n", a...)
		} else {
			fmt.Fprintf(w, format+"\n", a...)
		}
	}
	if len(rep.Studies) == 0 {
		fmt.Fprintf(w, "The store %s holds no studies.\n", rep.Store)
		return nil
	}
	h(1, "Studies in "+rep.Store)
	tab := newTable(w, md)
	tab.row("study", "direction", "trials", "best value", "best test_accuracy")
	for i := range rep.Studies {
		st := &rep.Studies[i]
		best, acc := "", ""
		if st.Best != nil {
			best = describe(st.Best, "value")
		}
		if st.BestAccuracy != nil {
			acc = describe(st.BestAccuracy, "test_accuracy")
		}
		tab.row(results.Printable(st.Name), st.Direction, countsLine(st), best, acc)
	}
	if err := tab.flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	for i := range rep.Studies {
		st := &rep.Studies[i]
		h(2, fmt.Sprintf("Study %s (%s, %s)", results.Printable(st.Name), st.Direction, countsLine(st)))
		metrics := st.MetricNames()
		onFront := map[int]string{}
		for _, t := range st.Pareto {
			onFront[t.TrialID] = "*"
		}
		if st.SweetSpot != nil {
			onFront[st.SweetSpot.TrialID] = "knee"
		}
		tab := newTable(w, md)
		header := append([]string{"number", "state", "value"}, st.ParamNames...)
		header = append(header, metrics...)
		tab.row(append(header, "front")...)
		for j := range st.Trials {
			t := &st.Trials[j]
			cells := []string{strconv.Itoa(t.Number), t.State, formatValue(t)}
			for _, p := range st.ParamNames {
				cells = append(cells, formatParam(t.Params[p]))
			}
			for _, m := range metrics {
				cells = append(cells, formatMetric(t, m))
			}
			tab.row(append(cells, onFront[t.TrialID])...)
		}
		if err := tab.flush(); err != nil {
			return err
		}
		fmt.Fprintln(w)
		if st.Best != nil {
			line("Best trial (objective): %s", describe(st.Best, append([]string{"value"}, st.ParamNames...)...))
		} else {
			line("Best trial (objective): none (no COMPLETE trial)")
		}
		if st.BestAccuracy != nil {
			line("Best test accuracy: %s", describe(st.BestAccuracy, append([]string{"test_accuracy"}, st.ParamNames...)...))
		}
		for _, key := range []string{"gap", "epsilon"} {
			f, ok := st.Fronts[key]
			if !ok {
				continue
			}
			if f.Candidates == 0 {
				line("Pareto front (%s vs %s): no COMPLETE trial has both metrics", f.X, f.Y)
				continue
			}
			nums := make([]string, len(f.Trials))
			for k, t := range f.Trials {
				nums[k] = fmt.Sprintf("#%d", t.Number)
			}
			line("Pareto front (%s vs %s, both minimised; %d of %d trials): %s", f.X, f.Y, len(f.Trials), f.Candidates, strings.Join(nums, " "))
			if f.SweetSpot != nil {
				line("Sweet spot (%s vs %s): %s", f.X, f.Y, describe(f.SweetSpot, append([]string{f.X, f.Y, "test_accuracy"}, st.ParamNames...)...))
			} else {
				line("Sweet spot (%s vs %s): none (no trial on the front reached the threshold)", f.X, f.Y)
			}
		}
		line("Sweet spot rule: %s.", st.SweetSpotRule)
		fmt.Fprintln(w)
		if err := writeConfigs(w, st, md, line); err != nil {
			return err
		}
		fmt.Fprintln(w)
		if st.Comparison != nil {
			if err := writeComparison(w, st.Comparison, md, line); err != nil {
				return err
			}
		}
	}
	return nil
}

func writeCSV(w io.Writer, rep *Report) error {
	paramSet, metricSet := map[string]bool{}, map[string]bool{}
	var params, metrics []string
	for i := range rep.Studies {
		for _, p := range rep.Studies[i].ParamNames {
			if !paramSet[p] {
				paramSet[p] = true
				params = append(params, p)
			}
		}
		for _, m := range rep.Studies[i].MetricNames() {
			if !metricSet[m] {
				metricSet[m] = true
				metrics = append(metrics, m)
			}
		}
	}
	sort.Strings(metrics)
	cw := csv.NewWriter(w)
	header := []string{"study", "trial_id", "number", "state", "value"}
	for _, p := range params {
		header = append(header, "param_"+p)
	}
	header = append(header, metrics...)
	header = append(header, "pareto", "sweet_spot", "pareto_epsilon", "sweet_spot_epsilon", "config", "reached_target")
	header = append(header, targetMetrics...)
	if err := cw.Write(header); err != nil {
		return err
	}
	full := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	for i := range rep.Studies {
		st := &rep.Studies[i]
		flags := func(key string, id int) (on, knee string) {
			f, ok := st.Fronts[key]
			if !ok {
				return "", ""
			}
			on, knee = "false", "false"
			for _, t := range f.Trials {
				if t.TrialID == id {
					on = "true"
				}
			}
			if f.SweetSpot != nil && f.SweetSpot.TrialID == id {
				knee = "true"
			}
			return on, knee
		}
		for j := range st.Trials {
			t := &st.Trials[j]
			value := ""
			if t.Value != nil {
				value = full(float64(*t.Value))
			}
			row := []string{results.Printable(st.Name), strconv.Itoa(t.TrialID), strconv.Itoa(t.Number), t.State, value}
			for _, p := range params {
				v, ok := t.Params[p]
				switch {
				case !ok:
					row = append(row, "")
				case isFloat(v):
					row = append(row, full(v.(float64)))
				default:
					row = append(row, fmt.Sprint(v))
				}
			}
			for _, m := range metrics {
				if v, ok := t.Metrics[m]; ok {
					row = append(row, full(float64(v)))
				} else {
					row = append(row, "")
				}
			}
			p, k := flags("gap", t.TrialID)
			pe, ke := flags("epsilon", t.TrialID)
			row = append(row, p, k, pe, ke)
			if r, c := runOf(st, t.TrialID); r != nil {
				row = append(row, c.Key, strconv.FormatBool(r.Reached))
				for _, m := range targetMetrics {
					if v, ok := r.AtTarget[m]; ok {
						row = append(row, full(float64(v)))
					} else {
						row = append(row, "")
					}
				}
			} else {
				row = append(row, make([]string, 2+len(targetMetrics))...)
			}
			if err := cw.Write(row); err != nil {
				return err
			}
		}
	}
	cw.Flush()
	return cw.Error()
}

func isFloat(v any) bool { _, ok := v.(float64); return ok }

// runOf finds a trial among the study's configurations: its run and its
// configuration, nil for a trial that is not COMPLETE.
func runOf(st *Study, trialID int) (*ConfigRun, *Config) {
	for _, c := range st.Configs {
		for i := range c.Runs {
			if c.Runs[i].TrialID == trialID {
				return &c.Runs[i], c
			}
		}
	}
	return nil, nil
}
