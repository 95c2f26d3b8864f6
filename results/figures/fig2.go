package figures

import (
	"fmt"
	"strings"

	"github.com/lrsgd-lab/lrsgd/host/metrics"
	"github.com/lrsgd-lab/lrsgd/results/report"
)

// intervalNote says what the error bars are.
const intervalNote = "Error bars: 95% Student t interval of the mean over seeds (n − 1 degrees of freedom); a point without a bar is one run."

// fig2 is the paper's Figure 2 over the study's configurations: left, the
// end-of-run train and test loss against the swept parameter; right, the
// gradient evaluations until the train loss first reaches the target
// (left axis) and the end-of-run generalization gap (right axis).
func fig2(st *report.Study, param string) *figure {
	f := &figure{cols: 2}
	name := paramLabel(param)
	left := newPanel("train and test loss (end of run)", name, "loss")
	right := newPanel("hitting time and generalization gap", name, "gradient evaluations to target")
	f.panels = []*panel{left, right}
	axis := newConfigAxis(st.Configs, param)
	labels, groups := seriesOf(st.Configs, param)
	prefix := func(i int) string {
		if len(labels) == 1 || labels[i] == "" {
			return ""
		}
		return labels[i] + ": "
	}
	converged := func(c *report.Config) bool { return c.Converged }

	var lossY, hitY, gapY span = emptySpan(), emptySpan(), emptySpan()
	type series struct{ train, test, hit, gap []statPoint }
	all := make([]series, len(groups))
	for i, g := range groups {
		s := &all[i]
		s.train = statPoints(g, metrics.TrainLoss, axis.x, nil)
		s.test = statPoints(g, metrics.TestLoss, axis.x, nil)
		s.hit = statPoints(g, report.GradsAtTarget, axis.x, converged)
		s.gap = statPoints(g, metrics.GeneralizationGap, axis.x, nil)
		for _, pts := range [][]statPoint{s.train, s.test} {
			_, ys := spanOf(pts)
			lossY.add(ys.lo, ys.hi)
		}
		_, ys := spanOf(s.hit)
		hitY.add(ys.lo, ys.hi)
		_, ys = spanOf(s.gap)
		gapY.add(ys.lo, ys.hi)
	}
	axis.apply(left.Plot)
	axis.apply(right.Plot)
	if !lossY.ok() {
		noDataPanel(left)
	} else {
		setRange(&left.Y, lossY, false)
	}
	if !hitY.ok() && !gapY.ok() {
		noDataPanel(right)
	} else {
		if !hitY.ok() {
			hitY = span{0, 1}
		}
		setRange(&right.Y, hitY, false)
		if gapY.ok() {
			lo, hi := gapY.padded()
			right.right = &rightAxis{Label: "generalization gap (test − train loss, end of run)", Min: lo, Max: hi}
		}
	}
	for i := range groups {
		s := all[i]
		if t := addStat(left.Plot, s.train, metricStyle(i, 1, len(groups)), nil); t != nil {
			f.add(prefix(i)+"train loss", t...)
		}
		if t := addStat(left.Plot, s.test, metricStyle(i, 0, len(groups)), nil); t != nil {
			f.add(prefix(i)+"test loss", t...)
		}
		if t := addStat(right.Plot, s.hit, metricStyle(i, 2, len(groups)), nil); t != nil {
			f.add(prefix(i)+"gradient evaluations to target (left axis)", t...)
		}
		if right.right != nil {
			r := right.right
			if t := addStat(right.Plot, s.gap, metricStyle(i, 3, len(groups)), func(v float64) float64 { return r.to(right.Plot, v) }); t != nil {
				f.add(prefix(i)+"generalization gap (right axis)", t...)
			}
		}
	}
	// Adding plotters widens the ranges to their data: put the padded
	// ones back.
	axis.apply(left.Plot)
	axis.apply(right.Plot)
	if lossY.ok() {
		setRange(&left.Y, lossY, false)
	}
	if hitY.ok() {
		setRange(&right.Y, hitY, false)
	}
	f.note("%s", intervalNote)
	f.note("%s", targetNote(st))
	var off []string
	for _, c := range st.Configs {
		if !c.Converged {
			off = append(off, configName(c, param))
		}
	}
	if len(off) > 0 {
		f.note("Never reached the target in some run (no hitting time drawn): %s.", strings.Join(off, ", "))
	}
	return f
}

// targetNote says at which train loss the runs were compared.
func targetNote(st *report.Study) string {
	t := st.Target
	if t == nil {
		return ""
	}
	s := fmt.Sprintf("Target: train loss ≤ %s (%s", report.FormatFloat(float64(t.Value)), t.How)
	if t.SetBy != "" {
		s += ", set by " + t.SetBy
	}
	return s + "); the hitting time is read from each run's curve at the first evaluation that reaches it."
}

// configName names a configuration by its swept value when it has one.
func configName(c *report.Config, param string) string {
	if v, ok := c.Params[param]; ok && len(c.Params) == 1 {
		return paramLabel(param) + " = " + formatValue(v)
	}
	return c.Label()
}
