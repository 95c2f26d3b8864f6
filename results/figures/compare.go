package figures

import (
	"fmt"

	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/lrsgd-lab/lrsgd/host/metrics"
	"github.com/lrsgd-lab/lrsgd/results/report"
)

// compareFigure draws a study's comparison as bars: per metric a panel,
// per optimizer a bar at the mean of its compared runs (a compare study's
// final runs, or all runs of a study with a baseline) with its 95%
// interval, labelled with its difference to the baseline (Welch) and a *
// when that interval excludes 0. ok is false for a study without a
// comparison or without compared runs.
func compareFigure(st *report.Study) (*figure, bool) {
	c := st.Comparison
	if c == nil || len(c.Optimizers) == 0 {
		return nil, false
	}
	f := &figure{cols: 3}
	names := make([]string, len(c.Optimizers))
	for i, o := range c.Optimizers {
		names[i] = optimizerName(o.Optimizer)
	}
	for _, m := range []struct{ metric, title string }{
		{metrics.TestAccuracy, "test accuracy"},
		{metrics.GeneralizationGap, "generalization gap (end of run)"},
		{report.GradsAtTarget, "gradient evaluations to target"},
	} {
		p := newPanel(m.title, "", m.title)
		f.panels = append(f.panels, p)
		ys := span{0, 0} // bars start at 0
		var labels []string
		var tops plotter.XYs
		for i, o := range c.Optimizers {
			r, ok := o.Metrics[m.metric]
			if !ok || r.N == 0 {
				continue
			}
			mean := float64(r.Mean)
			e := interval(r.Stat)
			ys.add(mean-e.Low, mean+e.High)
			bar, err := plotter.NewBarChart(plotter.Values{mean}, vg.Points(22))
			if err != nil {
				continue
			}
			bar.XMin = float64(i)
			bar.Color = colour(i)
			bar.LineStyle.Width = 0
			p.Add(bar)
			if eb, err := plotter.NewYErrorBars(errPoints{plotter.XYs{{X: float64(i), Y: mean}}, plotter.YErrors{e}}); err == nil {
				eb.CapWidth = vg.Points(6)
				p.Add(eb)
			}
			label := fmt.Sprintf("%s (n=%d)", report.FormatFloat(mean), r.N)
			if o.Optimizer == c.Baseline {
				label += "\nbaseline"
			} else if d := r.DiffVsBaseline; d != nil && d.CI95 != nil {
				label += fmt.Sprintf("\nΔ %+.3g\n[%.3g, %.3g]", float64(d.Mean), float64(d.CI95[0]), float64(d.CI95[1]))
				if r.ExcludesZero != nil && *r.ExcludesZero {
					label += " *"
				}
			}
			labels = append(labels, label)
			tops = append(tops, plotter.XY{X: float64(i), Y: mean + e.High})
		}
		if len(tops) == 0 {
			noDataPanel(p)
			continue
		}
		if lb, err := plotter.NewLabels(plotter.XYLabels{XYs: tops, Labels: labels}); err == nil {
			for i := range lb.TextStyle {
				lb.TextStyle[i].Font.Size = vg.Points(6)
				lb.TextStyle[i].XAlign = -0.5 // centred on the bar
			}
			lb.Offset = vg.Point{Y: vg.Points(4)}
			p.Add(lb)
		}
		categoryAxis(&p.X, names)
		lo, hi := ys.padded()
		p.Y.Min, p.Y.Max = min(0, lo), hi+0.3*(hi-min(0, lo)) // room for the labels
	}
	runs := "runs"
	if c.Phase != "" {
		runs = c.Phase + " runs"
	}
	f.note("Bars: mean over each optimizer's %s; error bars: 95%% Student t interval (n − 1 df).", runs)
	f.note("Δ: difference to the baseline %s with its 95%% interval by Welch's t (Welch–Satterthwaite df); * the interval excludes 0.", optimizerName(c.Baseline))
	if c.Note != "" {
		f.note("%s", c.Note)
	}
	return f, true
}
