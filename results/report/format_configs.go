package report

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/lrsgd-lab/lrsgd/host/metrics"
)

// FormatStat formats a summary for tables: "mean [lo, hi]", "mean (n=1)"
// without an interval, "" without values; a hitting time's never-reached
// runs are counted after it.
func FormatStat(s Stat) string {
	var out string
	switch {
	case s.N == 0:
	case s.CI95 == nil:
		out = fmt.Sprintf("%s (n=%d)", FormatFloat(float64(s.Mean)), s.N)
	default:
		out = fmt.Sprintf("%s [%s, %s]", FormatFloat(float64(s.Mean)), FormatFloat(float64(s.CI95[0])), FormatFloat(float64(s.CI95[1])))
	}
	if s.Never > 0 {
		out = strings.TrimSpace(out + fmt.Sprintf(" (%d never)", s.Never))
	}
	return out
}

// configColumns are the metrics of the configurations table, in order.
var configColumns = []string{
	metrics.TestAccuracy, LateGain, metrics.GeneralizationGap, metrics.HittingTimeGrads,
	GradsAtTarget, WallAtTarget, GapAtTarget, EpsilonAtTarget,
}

// writeConfigs writes the configurations table, the target and the sweet
// spots of the fronts of configurations.
func writeConfigs(w io.Writer, st *Study, md bool, line func(string, ...any)) error {
	if len(st.Configs) == 0 {
		line("Configurations: none (no COMPLETE trial)")
		return nil
	}
	title := "Configurations at matched fit (COMPLETE trials grouped by config_key; mean [95% t interval over seeds], (n=1): one run, no interval)"
	if md {
		fmt.Fprintf(w, "### %s\n\n", title)
	} else {
		fmt.Fprintln(w, title)
	}
	if tg := st.Target; tg != nil {
		desc := "none (no run has a curve)"
		if !math.IsNaN(float64(tg.Value)) {
			desc = "train loss ≤ " + FormatFloat(float64(tg.Value))
		}
		switch tg.How {
		case TargetAuto:
			desc += fmt.Sprintf(" (auto, set by %s)", tg.SetBy)
		case TargetStudy:
			desc += " (the study's target attribute)"
		case TargetFlag:
			desc += " (--target)"
		}
		if tg.Note != "" {
			desc += "; " + tg.Note
		}
		fmt.Fprintf(w, "Target: %s\n\n", desc)
	}
	var cols []string
	for _, m := range configColumns {
		if slices.ContainsFunc(st.Configs, func(c *Config) bool { _, ok := c.Stat(m); return ok }) {
			cols = append(cols, m)
		}
	}
	fronts := slices.DeleteFunc([]string{"gap", "epsilon"}, func(k string) bool { return st.ConfigFronts[k] == nil })
	tab := newTable(w, md)
	header := append([]string{"config", "seeds", "converged"}, cols...)
	for _, k := range fronts {
		header = append(header, "P(front "+k+")", "P(knee "+k+")")
	}
	tab.row(header...)
	for _, c := range st.Configs {
		cells := []string{c.Label(), strconv.Itoa(c.Seeds), yesNo(c.Converged)}
		for _, m := range cols {
			cells = append(cells, FormatStat(c.Stats[m]))
		}
		for _, k := range fronts {
			if s := c.Fronts[k]; s != nil {
				mark := ""
				if s.Knee {
					mark = " knee"
				} else if s.OnFront {
					mark = " *"
				}
				cells = append(cells, percent(float64(s.PFront))+mark, percent(float64(s.PKnee)))
			} else {
				cells = append(cells, "", "")
			}
		}
		tab.row(cells...)
	}
	if err := tab.flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	for _, k := range fronts {
		f := st.ConfigFronts[k]
		head := fmt.Sprintf("Sweet spot of configurations (%s vs %s)", f.X, f.Y)
		if f.SweetSpot == nil {
			line("%s: %s", head, f.Verdict)
		} else {
			s := f.SweetSpot
			line("%s: %s; %s %s, %s %s", head, f.Verdict, f.X, FormatStat(s.X), f.Y, FormatStat(s.Y))
		}
		if len(f.Configs) > 0 {
			line("Front of configurations (%s vs %s, seed means): %s", f.X, f.Y, strings.Join(f.Configs, "; "))
		}
		if len(f.NotConverged) > 0 {
			line("Not converged (some run never reached the target; kept off the front): %s", strings.Join(f.NotConverged, "; "))
		}
	}
	line("Sweet spot rule (configurations): %s.", st.ConfigSweetSpotRule)
	return nil
}

// writeComparison writes the comparison table of a compare study or of a
// study with a baseline.
func writeComparison(w io.Writer, c *Comparison, md bool, line func(string, ...any)) error {
	title := fmt.Sprintf("Comparison of the %sruns against %s (%s)", phaseWord(c.Phase), c.Baseline, c.Test)
	if md {
		fmt.Fprintf(w, "### %s\n\n", title)
	} else {
		fmt.Fprintln(w, title)
	}
	if c.Note != "" {
		line("%s", c.Note)
	}
	if len(c.Optimizers) == 0 {
		return nil
	}
	tab := newTable(w, md)
	header := []string{"optimizer", "runs"}
	for _, m := range c.Metrics {
		header = append(header, m, "diff vs "+c.Baseline)
	}
	tab.row(header...)
	for _, o := range c.Optimizers {
		cells := []string{o.Optimizer, strconv.Itoa(len(o.Trials))}
		for _, m := range c.Metrics {
			r := o.Metrics[m]
			cells = append(cells, FormatStat(r.Stat), formatDiff(r))
		}
		tab.row(cells...)
	}
	if err := tab.flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	return nil
}

// formatDiff formats a difference to the baseline: "+0.1 [0.05, 0.15] *"
// where * marks an interval that excludes 0.
func formatDiff(c Compared) string {
	d := c.DiffVsBaseline
	if d == nil || d.CI95 == nil {
		return ""
	}
	s := fmt.Sprintf("%+.4g [%s, %s]", float64(d.Mean), FormatFloat(float64(d.CI95[0])), FormatFloat(float64(d.CI95[1])))
	if c.ExcludesZero != nil && *c.ExcludesZero {
		s += " *"
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
