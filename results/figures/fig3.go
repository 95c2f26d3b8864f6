package figures

import (
	"math"
	"slices"
	"strings"

	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/lrsgd-lab/lrsgd/results"
	"github.com/lrsgd-lab/lrsgd/results/report"
	"github.com/lrsgd-lab/lrsgd/results/report/stats"
)

// optimizerParam is the parameter a study over several optimizers samples
// them with (search/study.OptimizerParam).
const optimizerParam = "optimizer"

// bandNote says what the bands of curve figures are.
const bandNote = "Lines: mean over seeds at each evaluation; bands: ± one standard deviation (none for one run)."

// meanCurve is a configuration's curve averaged over its runs, evaluation
// by evaluation (up to the shortest run).
type meanCurve struct {
	x, mean, lo, hi []float64
	runs            int
}

// curveOf averages value over the runs of c against x (outer steps or
// gradient evaluations); ok is false when no run has a value.
func curveOf(st *report.Study, c *report.Config, x func(results.CurvePoint) float64, value func(results.CurvePoint) (float64, bool)) (meanCurve, bool) {
	var runs [][]results.CurvePoint
	for _, r := range c.Runs {
		var pts []results.CurvePoint
		for _, p := range st.Curves[r.TrialID] {
			if _, ok := value(p); ok {
				pts = append(pts, p)
			}
		}
		if len(pts) > 0 {
			runs = append(runs, pts)
		}
	}
	if len(runs) == 0 {
		return meanCurve{}, false
	}
	n := len(runs[0])
	for _, r := range runs {
		n = min(n, len(r))
	}
	mc := meanCurve{runs: len(runs)}
	for i := range n {
		var xs, vs []float64
		for _, r := range runs {
			v, _ := value(r[i])
			xs = append(xs, x(r[i]))
			vs = append(vs, v)
		}
		s := stats.Summarize(vs)
		sd := s.Std
		if math.IsNaN(sd) {
			sd = 0
		}
		mc.x = append(mc.x, stats.Summarize(xs).Mean)
		mc.mean = append(mc.mean, s.Mean)
		mc.lo, mc.hi = append(mc.lo, s.Mean-sd), append(mc.hi, s.Mean+sd)
	}
	return mc, true
}

// addCurve draws a mean curve with its band and returns the line for the
// legend.
func addCurve(p *panel, mc meanCurve, sty style, xs, ys *span) *plotter.Line {
	xys := make(plotter.XYs, len(mc.x))
	for i := range mc.x {
		xys[i] = plotter.XY{X: mc.x[i], Y: mc.mean[i]}
		xs.add(mc.x[i])
		ys.add(mc.lo[i], mc.hi[i])
	}
	if mc.runs > 1 {
		if b := band(mc.x, mc.lo, mc.hi, sty.color); b != nil {
			p.Add(b)
		}
	}
	l, err := plotter.NewLine(xys)
	if err != nil {
		return nil
	}
	l.Color, l.Dashes, l.Width = sty.color, sty.dashes, vg.Points(1.2)
	p.Add(l)
	return l
}

// fig3 is the paper's Figure 3: test accuracy against iterations (outer
// steps), one panel per batch size, one line per optimizer with its seed
// band. It needs a batch_size parameter; ok is false without one.
func fig3(st *report.Study) (*figure, bool) {
	const param = "batch_size"
	if !slices.Contains(st.ParamNames, param) {
		return nil, false
	}
	axis := newConfigAxis(st.Configs, param)
	batches := axis.cats
	if len(batches) == 0 {
		for _, v := range axis.values {
			if s := formatValue(v); !slices.Contains(batches, s) {
				batches = append(batches, s)
			}
		}
		sortCategories(batches)
	}
	// Up to three panels in a row; four as two by two.
	f := &figure{cols: min(3, max(1, len(batches)))}
	if len(batches) == 4 {
		f.cols = 2
	}
	// A line per optimizer and, where configurations differ in other
	// parameters too (a sweep of lr_factor), per variant: the optimizer
	// sets the colour, the variant the dashes.
	var optimizers, variants []string
	variantOf := map[*report.Config]string{}
	for _, c := range st.Configs {
		if !slices.Contains(optimizers, c.Optimizer) {
			optimizers = append(optimizers, c.Optimizer)
		}
		var parts []string
		for _, k := range sortedKeys(c.Params) {
			if k != param && k != optimizerParam {
				parts = append(parts, k+"="+formatValue(c.Params[k]))
			}
		}
		v := strings.Join(parts, ", ")
		variantOf[c] = v
		if !slices.Contains(variants, v) {
			variants = append(variants, v)
		}
	}
	label := func(c *report.Config) string {
		if len(variants) < 2 {
			return optimizerName(c.Optimizer)
		}
		return optimizerName(c.Optimizer) + ", " + variantOf[c]
	}
	acc := func(p results.CurvePoint) (float64, bool) { return p.TestAcc, finite(p.TestAcc) }
	ys := emptySpan() // one accuracy scale for every panel
	var drawn []*panel
	for _, b := range batches {
		p := newPanel("batch "+b, "iterations (outer steps)", "test accuracy")
		f.panels = append(f.panels, p)
		xs := emptySpan()
		for _, c := range st.Configs {
			if formatValue(c.Params[param]) != b {
				continue
			}
			mc, ok := curveOf(st, c, outerSteps, acc)
			if !ok {
				continue
			}
			i, j := slices.Index(optimizers, c.Optimizer), slices.Index(variants, variantOf[c])
			if l := addCurve(p, mc, seriesStyle(i, j), &xs, &ys); l != nil {
				f.add(label(c), l)
			}
		}
		if !xs.ok() {
			noDataPanel(p)
			continue
		}
		setRange(&p.X, xs, false)
		drawn = append(drawn, p)
	}
	for _, p := range drawn {
		setRange(&p.Y, ys, false)
	}
	f.note("%s", bandNote)
	f.note("An iteration is an outer step: LRSGD-C takes M gradient evaluations in each, SGD one (the paper's axis, not compute-matched).")
	return f, true
}

// optimizerName names an optimizer plugin as the paper does.
func optimizerName(o string) string {
	switch o {
	case "sgd":
		return "SGD"
	case "lrsgd-r":
		return "LRSGD-R"
	case "lrsgd-c":
		return "LRSGD-C"
	case "adam-lr":
		return "Adam-inner (adam-lr)"
	case "":
		return "(unknown optimizer)"
	}
	return o
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

func outerSteps(p results.CurvePoint) float64 { return float64(p.OuterSteps) }

func gradEvals(p results.CurvePoint) float64 { return float64(p.GradEvals) }

func deref(p *float64) float64 {
	if p == nil {
		return math.NaN()
	}
	return *p
}
