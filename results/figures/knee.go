package figures

import (
	"fmt"
	"image/color"
	"math"
	"slices"
	"strings"

	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/lrsgd-lab/lrsgd/results/report"
)

// kneeFigure draws each front of configurations: every converged
// configuration at its seed means of speed and stability at the target,
// with 95% intervals in both directions, its marker's area growing with
// its probability of being the knee over the bootstrap, labelled with that
// probability; the front of seed means as a line and the sweet spot (if
// any) ringed.
func kneeFigure(st *report.Study, param string) *figure {
	f := &figure{cols: 2}
	var gray color.Color = color.Gray{Y: 150}
	for _, name := range []string{"gap", "epsilon"} {
		cf := st.ConfigFronts[name]
		if cf == nil {
			continue
		}
		p := newPanel(fmt.Sprintf("front of configurations (%s)", name), axisName(cf.X), axisName(cf.Y))
		f.panels = append(f.panels, p)
		var members []*report.Config
		for _, c := range st.Configs {
			if c.Fronts[name] != nil {
				members = append(members, c)
			}
		}
		if len(members) == 0 {
			noDataPanel(p)
			continue
		}
		xs, ys := emptySpan(), emptySpan()
		var front plotter.XYs
		labels := newPointLabels(vg.Points(6.5))
		for _, c := range members {
			share := c.Fronts[name]
			x, _ := c.Stat(cf.X)
			y, _ := c.Stat(cf.Y)
			pt := plotter.XY{X: float64(x.Mean), Y: float64(y.Mean)}
			xe, ye := interval(x), interval(y)
			xs.add(pt.X-xe.Low, pt.X+xe.High)
			ys.add(pt.Y-ye.Low, pt.Y+ye.High)
			col := gray
			what := "off the front of seed means"
			if share.OnFront {
				col, what = colour(0), "on the front of seed means"
				front = append(front, pt)
			}
			pts := xyErrPoints{plotter.XYs{pt}, plotter.XErrors{xe}, plotter.YErrors{ye}}
			if eb, err := plotter.NewXErrorBars(pts); err == nil {
				eb.Color, eb.CapWidth = col, vg.Points(3)
				p.Add(eb)
			}
			if eb, err := plotter.NewYErrorBars(pts); err == nil {
				eb.Color, eb.CapWidth = col, vg.Points(3)
				p.Add(eb)
			}
			sc, err := plotter.NewScatter(plotter.XYs{pt})
			if err != nil {
				continue
			}
			radius := vg.Points(2 + 6*math.Sqrt(float64(share.PKnee)))
			sc.GlyphStyle = draw.GlyphStyle{Color: col, Shape: draw.CircleGlyph{}, Radius: radius}
			p.Add(sc)
			f.add(what, legendGlyph(col, draw.CircleGlyph{}))
			if cf.SweetSpot != nil && cf.SweetSpot.Key == c.Key {
				ring, err := plotter.NewScatter(plotter.XYs{pt})
				if err == nil {
					radius += vg.Points(3)
					ring.GlyphStyle = draw.GlyphStyle{Color: colour(1), Shape: draw.RingGlyph{}, Radius: radius}
					p.Add(ring)
					f.add("sweet spot (the knee in ≥ "+pct(float64(cf.Bootstrap.MinProbability))+" of resamples)",
						legendGlyph(colour(1), draw.RingGlyph{}))
				}
			}
			labels.add(pt, fmt.Sprintf("%s: %s", shortName(c, param, members), pct(float64(share.PKnee))), radius)
		}
		p.Add(labels)
		if len(front) > 1 {
			slices.SortFunc(front, func(a, b plotter.XY) int { return cmpFloat(a.X, b.X) })
			if l, err := plotter.NewLine(front); err == nil {
				l.Color, l.Dashes = colour(0), dashes(1)
				p.Add(l)
				f.add("Pareto front of seed means", l)
			}
		}
		setRange(&p.X, xs, false)
		setRange(&p.Y, ys, false)
		f.note("%s (%s): %s.", name, cf.Y, cf.Verdict)
		if len(cf.NotConverged) > 0 {
			f.note("%s: not converged, kept off the front: %s.", name, strings.Join(cf.NotConverged, "; "))
		}
	}
	if len(f.panels) == 0 {
		p := newPanel("front of configurations", axisName(report.GradsAtTarget), axisName(report.GapAtTarget))
		noDataPanel(p)
		f.panels = append(f.panels, p)
	}
	f.note("Label and marker area: the share of bootstrap resamples over seeds in which the configuration is the knee. %s", intervalNote)
	f.note("%s", targetNote(st))
	return f
}

// interval returns a Stat's 95% interval as distances from its mean (0
// without one).
func interval(s report.Stat) struct{ Low, High float64 } {
	if s.CI95 == nil {
		return struct{ Low, High float64 }{}
	}
	return struct{ Low, High float64 }{float64(s.Mean - s.CI95[0]), float64(s.CI95[1] - s.Mean)}
}

// shortName names a configuration in a label: its swept value, else its
// optimizer when that is unique among others, else its key.
func shortName(c *report.Config, param string, others []*report.Config) string {
	if v, ok := c.Params[param]; ok {
		return formatValue(v)
	}
	if c.Optimizer != "" && !slices.ContainsFunc(others, func(o *report.Config) bool { return o != c && o.Optimizer == c.Optimizer }) {
		return c.Optimizer
	}
	return c.Label()
}

// axisNames label the axes of the fronts of configurations.
var axisNames = map[string]string{
	report.GradsAtTarget:   "gradient evaluations to target (seed mean)",
	report.GapAtTarget:     "generalization gap at target (seed mean)",
	report.EpsilonAtTarget: "ε at target (seed mean)",
}

// axisName labels an axis with a metric.
func axisName(metric string) string {
	if n, ok := axisNames[metric]; ok {
		return n
	}
	return metric
}

// pct formats a share as a whole percentage, 0% and 100% only when exact.
func pct(p float64) string {
	switch v := math.Round(100 * p); {
	case v == 0 && p > 0:
		return "<1%"
	case v == 100 && p < 1:
		return ">99%"
	default:
		return fmt.Sprintf("%.0f%%", v)
	}
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
