package figures

import (
	"fmt"
	"image/color"
	"slices"
	"sort"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/lrsgd-lab/lrsgd/results/report"
)

// statPoint is one configuration's seed mean of a metric and its 95%
// interval (lo = hi = mean without one).
type statPoint struct {
	x, mean, lo, hi float64
	interval        bool
}

// statPoints returns the seed means of metric over configs at x(c),
// sorted by x; keep filters the configurations.
func statPoints(configs []*report.Config, metric string, x func(*report.Config) (float64, bool), keep func(*report.Config) bool) []statPoint {
	var out []statPoint
	for _, c := range configs {
		xv, ok := x(c)
		if !ok || (keep != nil && !keep(c)) {
			continue
		}
		s, ok := c.Stat(metric)
		if !ok {
			continue
		}
		sp := statPoint{x: xv, mean: float64(s.Mean), lo: float64(s.Mean), hi: float64(s.Mean)}
		if s.CI95 != nil {
			sp.lo, sp.hi, sp.interval = float64(s.CI95[0]), float64(s.CI95[1]), true
		}
		out = append(out, sp)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].x < out[j].x })
	return out
}

// spanOf is the span of the points' x values and of their intervals.
func spanOf(pts []statPoint) (xs, ys span) {
	xs, ys = emptySpan(), emptySpan()
	for _, p := range pts {
		xs.add(p.x)
		ys.add(p.mean, p.lo, p.hi)
	}
	return xs, ys
}

// style is how one series is drawn.
type style struct {
	color  color.Color
	dashes []vg.Length
	shape  draw.GlyphDrawer
}

// seriesStyle returns the style of series i, metric j within a panel:
// the series' colour, the metric's dashes and marker.
func seriesStyle(i, j int) style {
	shapes := []draw.GlyphDrawer{draw.CircleGlyph{}, draw.TriangleGlyph{}, draw.SquareGlyph{}, draw.RingGlyph{}}
	return style{color: colour(i), dashes: dashes(j), shape: shapes[j%len(shapes)]}
}

// metricStyle is seriesStyle where a figure has n series: with one, each
// metric gets a colour of its own too.
func metricStyle(i, j, n int) style {
	s := seriesStyle(i, j)
	if n == 1 {
		s.color = colour(j)
	}
	return s
}

// addStat draws points as a line through the means, markers, and error
// bars for their intervals; tf maps values onto the panel's Y axis (a
// right axis), nil for none. It returns the legend's thumbnails.
func addStat(p *plot.Plot, pts []statPoint, sty style, tf func(float64) float64) []plot.Thumbnailer {
	if len(pts) == 0 {
		return nil
	}
	if tf == nil {
		tf = func(v float64) float64 { return v }
	}
	xys := make(plotter.XYs, len(pts))
	errs := make(plotter.YErrors, len(pts))
	for i, s := range pts {
		m := tf(s.mean)
		xys[i] = plotter.XY{X: s.x, Y: m}
		errs[i].Low, errs[i].High = m-tf(s.lo), tf(s.hi)-m
	}
	l, sc, err := plotter.NewLinePoints(xys)
	if err != nil {
		return nil
	}
	l.Color, l.Dashes, l.Width = sty.color, sty.dashes, vg.Points(1)
	sc.GlyphStyle.Color, sc.GlyphStyle.Shape, sc.GlyphStyle.Radius = sty.color, sty.shape, vg.Points(2.5)
	p.Add(l, sc)
	if eb, err := plotter.NewYErrorBars(errPoints{xys, errs}); err == nil {
		eb.Color, eb.CapWidth = sty.color, vg.Points(4)
		p.Add(eb)
	}
	return []plot.Thumbnailer{l, sc}
}

// configAxis places configurations along a swept parameter: numbers as
// themselves, categories at 0, 1, … in sorted order.
type configAxis struct {
	param  string
	cats   []string
	values []float64
}

func newConfigAxis(configs []*report.Config, param string) *configAxis {
	a := &configAxis{param: param}
	for _, c := range configs {
		switch v := c.Params[param].(type) {
		case string:
			if !slices.Contains(a.cats, v) {
				a.cats = append(a.cats, v)
			}
		case float64:
			a.values = append(a.values, v)
		case int:
			a.values = append(a.values, float64(v))
		}
	}
	sortCategories(a.cats)
	return a
}

// sortCategories sorts numerically when every category is a number (batch
// sizes "8", "32"), else as text.
func sortCategories(cats []string) {
	sort.SliceStable(cats, func(i, j int) bool {
		a, aok := number(cats[i])
		b, bok := number(cats[j])
		if aok && bok {
			return a < b
		}
		return cats[i] < cats[j]
	})
}

func (a *configAxis) x(c *report.Config) (float64, bool) {
	switch v := c.Params[a.param].(type) {
	case string:
		i := slices.Index(a.cats, v)
		return float64(i), i >= 0
	case float64:
		return v, true
	case int:
		return float64(v), true
	}
	return 0, false
}

// log tells whether the axis is drawn on a log scale: positive numbers
// spanning a factor of 4 or more (γ from 1/20 to 1/2).
func (a *configAxis) log() bool {
	if len(a.cats) > 0 || len(a.values) == 0 {
		return false
	}
	lo, hi := slices.Min(a.values), slices.Max(a.values)
	return lo > 0 && hi/lo >= 4
}

// apply sets the axis of p: its label, scale, ticks at the swept values
// and a padded range.
func (a *configAxis) apply(p *plot.Plot) {
	name := paramLabel(a.param)
	if len(a.cats) > 0 {
		categoryAxis(&p.X, a.cats)
		p.X.Label.Text = name
		return
	}
	s := emptySpan()
	s.add(a.values...)
	p.X.Tick.Marker = valueTicks(a.values)
	if a.log() {
		p.X.Scale = plot.LogScale{}
		p.X.Label.Text = name + " (log scale)"
	} else {
		p.X.Label.Text = name
	}
	setRange(&p.X, s, a.log())
}

// paramLabel names a parameter on an axis: γ for gamma, λ for lambda, as
// the paper writes them.
func paramLabel(name string) string {
	switch name {
	case "gamma":
		return "γ"
	case "lambda_coef":
		return "λ·α (lambda_coef)"
	}
	return name
}

// seriesOf groups configurations into series: those that share every
// parameter but the swept one (and their phase), labelled by those
// parameters.
func seriesOf(configs []*report.Config, param string) (labels []string, groups [][]*report.Config) {
	for _, c := range configs {
		var parts []string
		for _, k := range sortedKeys(c.Params) {
			if k != param {
				parts = append(parts, k+"="+formatValue(c.Params[k]))
			}
		}
		if c.Phase != "" {
			parts = append([]string{c.Phase}, parts...)
		}
		label := strings.Join(parts, ", ")
		i := slices.Index(labels, label)
		if i < 0 {
			labels, groups = append(labels, label), append(groups, nil)
			i = len(labels) - 1
		}
		groups[i] = append(groups[i], c)
	}
	return labels, groups
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func formatValue(v any) string {
	if f, ok := v.(float64); ok {
		return valueLabel(f)
	}
	return fmt.Sprint(v)
}

func number(s string) (float64, bool) {
	f, err := strconv.ParseFloat(s, 64)
	return f, err == nil
}
