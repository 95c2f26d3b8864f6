package figures

import (
	"fmt"
	"slices"

	"github.com/lrsgd-lab/lrsgd/results"
	"github.com/lrsgd-lab/lrsgd/results/report"
)

// stabilityFigure draws the stability probe's ε and ‖w − v‖ against
// gradient evaluations — the probe's studies run their optimizers at an
// equal gradient budget, so on this axis they end together — for each
// configuration whose runs carry them (a compare study's final runs when it
// has them), with seed bands; ok is false when no curve has them.
func stabilityFigure(st *report.Study) (*figure, bool) {
	eps := func(p results.CurvePoint) (float64, bool) {
		return deref(p.EpsilonMean), p.EpsilonMean != nil && finite(*p.EpsilonMean)
	}
	div := func(p results.CurvePoint) (float64, bool) {
		return deref(p.ParamDivergence), p.ParamDivergence != nil && finite(*p.ParamDivergence)
	}
	var configs []*report.Config
	finals := slices.ContainsFunc(st.Configs, func(c *report.Config) bool { return c.Phase == report.PhaseFinal })
	for _, c := range st.Configs {
		if finals && c.Phase != report.PhaseFinal {
			continue
		}
		if _, ok := curveOf(st, c, gradEvals, div); ok {
			configs = append(configs, c)
		}
	}
	if len(configs) == 0 {
		return nil, false
	}
	const most = 8
	f := &figure{cols: 2}
	if len(configs) > most {
		f.note("The first %d of %d configurations with probe curves.", most, len(configs))
		configs = configs[:most]
	}
	for _, m := range []struct {
		title, y string
		value    func(results.CurvePoint) (float64, bool)
	}{
		{"ε: mean |f(w; x) − f(v; x)| over the test set", "ε", eps},
		{"parameter divergence ‖w − v‖", "‖w − v‖", div},
	} {
		p := newPanel(m.title, "gradient evaluations", m.y)
		f.panels = append(f.panels, p)
		xs, ys := emptySpan(), emptySpan()
		for i, c := range configs {
			mc, ok := curveOf(st, c, gradEvals, m.value)
			if !ok {
				continue
			}
			if l := addCurve(p, mc, seriesStyle(i, i), &xs, &ys); l != nil {
				f.add(seriesName(c, configs), l)
			}
		}
		if !xs.ok() {
			noDataPanel(p)
			continue
		}
		setRange(&p.X, xs, false)
		setRange(&p.Y, ys, false)
	}
	f.note("%s", bandNote)
	f.note("w: the run on S; v: its twin on S with K samples replaced (the study's stability.replace), the same seeds: the probe's measurement of uniform stability.")
	return f, true
}

// seriesName names a configuration in a legend: its optimizer as the
// paper writes it when that is unique among the series, else its key.
func seriesName(c *report.Config, all []*report.Config) string {
	if c.Optimizer != "" && !slices.ContainsFunc(all, func(o *report.Config) bool { return o != c && o.Optimizer == c.Optimizer }) {
		return fmt.Sprintf("%s (%d seeds)", optimizerName(c.Optimizer), c.Seeds)
	}
	return fmt.Sprintf("%s (%d seeds)", c.Label(), c.Seeds)
}
