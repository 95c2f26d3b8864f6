// Package figures draws a study's paper-style figures with gonum/plot, one
// PNG per figure. Of trials: generalization gap and hitting time against
// the swept parameter, the Pareto front with its sweet spot, learning
// curves of chosen trials, the optimization history, and, when the
// stability probe ran, the parameter divergence of chosen trials over
// gradient evaluations. Of configurations over seeds, with their
// intervals: the paper's Figure 2 (losses, hitting time and gap against
// γ), the fronts of configurations with each one's probability of being
// the knee, the paper's Figure 3 (test accuracy per batch size, SGD
// against LRSGD-C), a compare study's bars, and ε and ‖w − v‖ per
// optimizer.
//
// Every plotted number comes from the store or from a report.Study built
// from it: trials, metrics and curves read with SQL, and the report's
// summaries of configurations.
package figures

import (
	"context"
	"errors"
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/lrsgd-lab/lrsgd/host/metrics"
	"github.com/lrsgd-lab/lrsgd/results"
	"github.com/lrsgd-lab/lrsgd/results/report"
)

// ErrNotInStudy marks a request for a parameter or trial number that the
// study does not have.
var ErrNotInStudy = errors.New("not in the study")

// The figures Write draws, as the suffixes of their file names.
const (
	FigGap        = "gap"        // generalization gap vs the swept parameter
	FigHitting    = "hitting"    // hitting time vs the swept parameter
	FigFront      = "front"      // hitting time vs generalization gap, front and sweet spot
	FigCurves     = "curves"     // train/test loss vs gradient evaluations
	FigHistory    = "history"    // objective value per trial, best so far
	FigDivergence = "divergence" // ‖w − v‖ vs gradient evaluations (stability probe)

	// Figures of configurations over seeds, several panels each with the
	// legend and notes in a band below them.
	FigFig2      = "fig2"      // paper Fig. 2: losses; hitting time and gap against the swept parameter
	FigKnee      = "knee"      // fronts of configurations with their knee probabilities
	FigFig3      = "fig3"      // paper Fig. 3: test accuracy over iterations per batch size
	FigCompare   = "compare"   // a compare study's optimizers as bars with intervals
	FigStability = "stability" // ε and ‖w − v‖ over iterations per configuration (probe)
)

// Options tunes Write.
type Options struct {
	// Param is the swept parameter for the gap and hitting figures; ""
	// means the study's first parameter.
	Param string
	// Trials are the trial numbers (within the study) whose learning
	// curves and divergence are drawn; nil means the sweet spot, the
	// best-accuracy trial and the best trial.
	Trials []int
	// Width and Height of each figure, and of each panel of a figure of
	// several (which adds BandHeight for its legend); zero means 4 × 3
	// inches.
	Width, Height vg.Length
	// DPI of the PNGs; zero means 150.
	DPI int
}

// FileName returns the file of one figure for base FILE.png: FILE-fig.png.
func FileName(base, fig string) string {
	ext := filepath.Ext(base)
	return strings.TrimSuffix(base, ext) + "-" + fig + ext
}

// Write draws the study's figures into PNG files named after base (see
// FileName) and returns the files written. base must end in ".png".
// Figures without data are drawn with a note in their title, except the
// divergence figure, which is written only when one of its trials has
// divergence points (its trials: opt.Trials, or by default the first trial
// of each plugin among those with a param_divergence metric when several
// plugins ran, else the first eight such trials). The gap and hitting-time
// figures need a parameter and are skipped for a study without any.
func Write(ctx context.Context, s *results.Store, st *report.Study, base string, opt Options) ([]string, error) {
	if !strings.EqualFold(filepath.Ext(base), ".png") {
		return nil, fmt.Errorf("plot file %q: want a name ending in .png (figures go to NAME-%s.png, ...)", base, FigGap)
	}
	if opt.Width == 0 {
		opt.Width = 4 * vg.Inch
	}
	if opt.Height == 0 {
		opt.Height = 3 * vg.Inch
	}
	if opt.DPI == 0 {
		opt.DPI = 150
	}
	param := opt.Param
	if param == "" && len(st.ParamNames) > 0 {
		param = st.ParamNames[0]
	}
	if param != "" && !contains(st.ParamNames, param) {
		return nil, fmt.Errorf("--param %q: %w: study %s has no such parameter (it has: %s)", param, ErrNotInStudy, st.Name, listOr(st.ParamNames))
	}
	chosen, err := chooseTrials(st, opt.Trials)
	if err != nil {
		return nil, err
	}

	var written []string
	save := func(p *plot.Plot, fig string) error {
		name := FileName(base, fig)
		if err := savePNG(p, name, opt); err != nil {
			return fmt.Errorf("figure %s: %w", fig, err)
		}
		written = append(written, name)
		return nil
	}

	if param != "" {
		if err := save(paramFigure(st, param, metrics.GeneralizationGap, "generalization gap (test − train loss)", false), FigGap); err != nil {
			return written, err
		}
		if err := save(paramFigure(st, param, metrics.HittingTimeGrads, "hitting time (gradient evaluations)", true), FigHitting); err != nil {
			return written, err
		}
	}
	if err := save(frontFigure(st), FigFront); err != nil {
		return written, err
	}
	curves := make(map[int][]results.CurvePoint, len(chosen))
	for _, t := range chosen {
		c, err := s.Curve(ctx, t.TrialID)
		if err != nil {
			return written, err
		}
		curves[t.TrialID] = c
	}
	if err := save(curvesFigure(chosen, curves), FigCurves); err != nil {
		return written, err
	}
	if err := save(historyFigure(st), FigHistory); err != nil {
		return written, err
	}
	divChosen := chosen
	if len(opt.Trials) == 0 {
		divChosen = divergenceDefaults(st)
	}
	for _, t := range divChosen {
		if _, ok := curves[t.TrialID]; ok {
			continue
		}
		c, err := s.Curve(ctx, t.TrialID)
		if err != nil {
			return written, err
		}
		curves[t.TrialID] = c
	}
	if p, ok := divergenceFigure(divChosen, curves); ok {
		if err := save(p, FigDivergence); err != nil {
			return written, err
		}
	}
	return writeConfigFigures(st, base, param, opt, written)
}

// writeConfigFigures draws the figures of configurations: Fig. 2 (when
// the study has a parameter), the fronts with knee probabilities, and
// when the study has what they need, Fig. 3, the comparison and the
// stability curves.
func writeConfigFigures(st *report.Study, base, param string, opt Options, written []string) ([]string, error) {
	save := func(f *figure, fig string) error {
		name := FileName(base, fig)
		if err := f.save(name, opt); err != nil {
			return fmt.Errorf("figure %s: %w", fig, err)
		}
		written = append(written, name)
		return nil
	}
	if param != "" {
		if err := save(fig2(st, param), FigFig2); err != nil {
			return written, err
		}
	}
	if err := save(kneeFigure(st, param), FigKnee); err != nil {
		return written, err
	}
	for _, fig := range []struct {
		name string
		draw func(*report.Study) (*figure, bool)
	}{{FigFig3, fig3}, {FigCompare, compareFigure}, {FigStability, stabilityFigure}} {
		if f, ok := fig.draw(st); ok {
			if err := save(f, fig.name); err != nil {
				return written, err
			}
		}
	}
	return written, nil
}

// divergenceDefaults picks the trials whose divergence is drawn when none
// are named: among COMPLETE trials with a param_divergence metric, the
// first of each plugin when there are several plugins (SGD vs LRSGD-R vs
// LRSGD-C), else the first eight.
func divergenceDefaults(st *report.Study) []*report.Trial {
	var with []*report.Trial
	for i := range st.Trials {
		t := &st.Trials[i]
		if _, ok := t.Metrics[metrics.ParamDivergence]; ok && t.State == "COMPLETE" {
			with = append(with, t)
		}
	}
	var perPlugin []*report.Trial
	seen := map[string]bool{}
	for _, t := range with {
		if t.Run != nil && t.Run.Plugin != "" && !seen[t.Run.Plugin] {
			seen[t.Run.Plugin] = true
			perPlugin = append(perPlugin, t)
		}
	}
	if len(perPlugin) > 1 {
		return perPlugin
	}
	return with[:min(len(with), 8)]
}

// chooseTrials resolves trial numbers, or picks the defaults.
func chooseTrials(st *report.Study, numbers []int) ([]*report.Trial, error) {
	var out []*report.Trial
	seen := map[int]bool{}
	add := func(t *report.Trial) {
		if t != nil && !seen[t.TrialID] {
			seen[t.TrialID] = true
			out = append(out, t)
		}
	}
	if len(numbers) > 0 {
		for _, n := range numbers {
			t, ok := st.TrialByNumber(n)
			if !ok {
				return nil, fmt.Errorf("--trials: %w: study %s has no trial number %d (numbers run 0..%d)", ErrNotInStudy, st.Name, n, len(st.Trials)-1)
			}
			add(t)
		}
		return out, nil
	}
	add(st.SweetSpot)
	add(st.BestAccuracy)
	add(st.Best)
	return out, nil
}

func savePNG(p *plot.Plot, name string, opt Options) error {
	c := vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(opt.Width, opt.Height), vgimg.UseDPI(opt.DPI))}
	p.Draw(draw.New(c))
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	if _, err := c.WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", name, err)
	}
	return f.Close()
}

func newPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = x
	p.Y.Label.Text = y
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	p.Legend.TextStyle.Font.Size = vg.Points(7)
	return p
}

// headroom raises the top of a linear Y axis so that the legend, drawn in
// the top right corner, sits above the data rather than on it.
func headroom(p *plot.Plot, entries int) {
	if _, log := p.Y.Scale.(plot.LogScale); log || p.Y.Max <= p.Y.Min {
		return
	}
	p.Y.Max += (0.04 + 0.07*float64(entries)) * (p.Y.Max - p.Y.Min)
}

// noData marks an empty figure.
func noData(p *plot.Plot) *plot.Plot {
	p.Title.Text += " (no data)"
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 0, 1, 0, 1
	return p
}

// paramAxis maps parameter values to axis coordinates; categorical values
// go to 0, 1, ... in sorted order.
type paramAxis struct {
	categorical map[string]float64
	labels      []string
}

func newParamAxis(st *report.Study, param string) *paramAxis {
	a := &paramAxis{categorical: map[string]float64{}}
	var cats []string
	for _, t := range st.Trials {
		if s, ok := t.Params[param].(string); ok && !contains(cats, s) {
			cats = append(cats, s)
		}
	}
	sort.Strings(cats)
	for i, c := range cats {
		a.categorical[c] = float64(i)
	}
	a.labels = cats
	return a
}

func (a *paramAxis) value(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case int:
		return float64(x), true
	case string:
		f, ok := a.categorical[x]
		return f, ok
	}
	return 0, false
}

// paramFigure plots one metric of the COMPLETE trials against a parameter,
// with a line through the mean at each parameter value.
func paramFigure(st *report.Study, param, metric, ylabel string, hitting bool) *plot.Plot {
	p := newPlot(fmt.Sprintf("%s: %s vs %s", st.Name, shortMetric(metric), param), param, ylabel)
	axis := newParamAxis(st, param)
	var pts plotter.XYs
	never := 0
	for _, t := range st.Trials {
		if t.State != "COMPLETE" {
			continue
		}
		x, okx := axis.value(t.Params[param])
		y, oky := t.Metric(metric)
		if !okx || !oky {
			continue
		}
		if hitting && y < 0 {
			never++
			continue
		}
		pts = append(pts, plotter.XY{X: x, Y: y})
	}
	if never > 0 {
		p.Title.Text += fmt.Sprintf(" (%d never reached)", never)
	}
	if len(pts) == 0 {
		return noData(p)
	}
	sc, _ := plotter.NewScatter(pts)
	sc.GlyphStyle.Color = plotutil.Color(0)
	sc.GlyphStyle.Shape = draw.CircleGlyph{}
	p.Add(sc)
	p.Legend.Add("trial", sc)
	entries := 1
	// A line through the mean at each value, when values repeat (a grid
	// swept over several seeds); for continuous samples it would only
	// zigzag through the points.
	if means := meanByX(pts); len(means) > 1 && len(means) < len(pts) {
		l, _ := plotter.NewLine(means)
		l.Color = plotutil.Color(1)
		p.Add(l)
		p.Legend.Add("mean", l)
		entries++
	}
	headroom(p, entries)
	if len(axis.labels) > 0 {
		categoryAxis(&p.X, axis.labels)
	} else if useLog(pts) {
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	}
	return p
}

// categoryAxis puts categories at 0, 1, … on an axis, one tick each,
// with half a step of room on either side.
func categoryAxis(a *plot.Axis, labels []string) {
	ticks := make(plot.ConstantTicks, len(labels))
	for i, l := range labels {
		ticks[i] = plot.Tick{Value: float64(i), Label: l}
	}
	a.Tick.Marker = ticks
	a.Min, a.Max = -0.5, float64(len(labels))-0.5
}

// useLog tells whether a positive x range spans a decade or more.
func useLog(pts plotter.XYs) bool {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, p := range pts {
		lo, hi = min(lo, p.X), max(hi, p.X)
	}
	return lo > 0 && hi/lo >= 10
}

func meanByX(pts plotter.XYs) plotter.XYs {
	sum, n := map[float64]float64{}, map[float64]int{}
	for _, p := range pts {
		sum[p.X] += p.Y
		n[p.X]++
	}
	out := make(plotter.XYs, 0, len(sum))
	for x, s := range sum {
		out = append(out, plotter.XY{X: x, Y: s / float64(n[x])})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].X < out[j].X })
	return out
}

// frontFigure plots every candidate trial in (hitting time, gap) space,
// the Pareto front as a line, and marks the sweet spot and the best-accuracy
// trial.
func frontFigure(st *report.Study) *plot.Plot {
	f := st.Fronts["gap"]
	p := newPlot(st.Name+": stability vs speed", "hitting time (gradient evaluations)", "generalization gap")
	var all, front plotter.XYs
	for _, t := range st.Trials {
		if t.State != "COMPLETE" {
			continue
		}
		x, okx := t.Metric(metrics.HittingTimeGrads)
		y, oky := t.Metric(metrics.GeneralizationGap)
		if okx && oky && x >= 0 {
			all = append(all, plotter.XY{X: x, Y: y})
		}
	}
	if f != nil {
		for _, t := range f.Trials {
			x, _ := t.Metric(f.X)
			y, _ := t.Metric(f.Y)
			if x >= 0 {
				front = append(front, plotter.XY{X: x, Y: y})
			}
		}
	}
	if len(all) == 0 {
		return noData(p)
	}
	sc, _ := plotter.NewScatter(all)
	sc.GlyphStyle.Color = color.Gray{Y: 140}
	p.Add(sc)
	p.Legend.Add("trials", sc)
	entries := 1
	if len(front) > 0 {
		entries++
		l, s, _ := plotter.NewLinePoints(front)
		l.Color = plotutil.Color(0)
		s.GlyphStyle.Color = plotutil.Color(0)
		s.GlyphStyle.Shape = draw.CircleGlyph{}
		p.Add(l, s)
		p.Legend.Add("Pareto front", l, s)
	}
	mark := func(t *report.Trial, label string, i int, shape draw.GlyphDrawer) {
		if t == nil {
			return
		}
		x, okx := t.Metric(metrics.HittingTimeGrads)
		y, oky := t.Metric(metrics.GeneralizationGap)
		if !okx || !oky || x < 0 {
			return
		}
		s, _ := plotter.NewScatter(plotter.XYs{{X: x, Y: y}})
		s.GlyphStyle.Color = plotutil.Color(i)
		s.GlyphStyle.Shape = shape
		s.GlyphStyle.Radius = vg.Points(5)
		p.Add(s)
		p.Legend.Add(fmt.Sprintf("%s #%d", label, t.Number), s)
		entries++
	}
	if f != nil {
		mark(f.SweetSpot, "sweet spot", 1, draw.PyramidGlyph{})
	}
	mark(st.BestAccuracy, "best accuracy", 2, draw.SquareGlyph{})
	headroom(p, entries)
	return p
}

// trialLabel names a trial in legends: its number, plugin and parameters.
func trialLabel(t *report.Trial) string {
	parts := []string{fmt.Sprintf("#%d", t.Number)}
	if t.Run != nil && t.Run.Plugin != "" {
		parts = append(parts, t.Run.Plugin)
	}
	names := make([]string, 0, len(t.Params))
	for k := range t.Params {
		names = append(names, k)
	}
	sort.Strings(names)
	for i, k := range names {
		if i == 1 {
			break
		}
		v := t.Params[k]
		if f, ok := v.(float64); ok {
			parts = append(parts, fmt.Sprintf("%s=%s", k, report.FormatFloat(f)))
		} else {
			parts = append(parts, fmt.Sprintf("%s=%v", k, v))
		}
	}
	return strings.Join(parts, " ")
}

func curvesFigure(chosen []*report.Trial, curves map[int][]results.CurvePoint) *plot.Plot {
	p := newPlot("learning curves", "gradient evaluations", "loss")
	drawn := 0
	for i, t := range chosen {
		var train, test plotter.XYs
		for _, c := range curves[t.TrialID] {
			if !math.IsNaN(c.TrainLoss) && !math.IsInf(c.TrainLoss, 0) {
				train = append(train, plotter.XY{X: float64(c.GradEvals), Y: c.TrainLoss})
			}
			if !math.IsNaN(c.TestLoss) && !math.IsInf(c.TestLoss, 0) {
				test = append(test, plotter.XY{X: float64(c.GradEvals), Y: c.TestLoss})
			}
		}
		if len(train) > 0 {
			l, _ := plotter.NewLine(train)
			l.Color = plotutil.Color(i)
			l.Dashes = plotutil.Dashes(1)
			p.Add(l)
			p.Legend.Add(trialLabel(t)+" train", l)
			drawn++
		}
		if len(test) > 0 {
			l, _ := plotter.NewLine(test)
			l.Color = plotutil.Color(i)
			p.Add(l)
			p.Legend.Add(trialLabel(t)+" test", l)
			drawn++
		}
	}
	if drawn == 0 {
		return noData(p)
	}
	headroom(p, drawn)
	return p
}

func historyFigure(st *report.Study) *plot.Plot {
	p := newPlot(st.Name+": optimization history", "trial number", "objective value")
	var vals, best plotter.XYs
	maximize := st.Direction == "MAXIMIZE"
	have := false
	var cur float64
	for _, t := range st.Trials {
		if t.State != "COMPLETE" || t.Value == nil {
			continue
		}
		v := float64(*t.Value)
		if math.IsNaN(v) || math.IsInf(v, 0) {
			continue
		}
		vals = append(vals, plotter.XY{X: float64(t.Number), Y: v})
		if !have || (maximize && v > cur) || (!maximize && v < cur) {
			cur, have = v, true
		}
		best = append(best, plotter.XY{X: float64(t.Number), Y: cur})
	}
	if len(vals) == 0 {
		return noData(p)
	}
	sc, _ := plotter.NewScatter(vals)
	sc.GlyphStyle.Color = plotutil.Color(0)
	sc.GlyphStyle.Shape = draw.CircleGlyph{}
	l, _ := plotter.NewLine(best)
	l.Color = plotutil.Color(1)
	p.Add(sc, l)
	p.Legend.Add("objective value", sc)
	p.Legend.Add("best so far", l)
	headroom(p, 2)
	return p
}

func divergenceFigure(chosen []*report.Trial, curves map[int][]results.CurvePoint) (*plot.Plot, bool) {
	p := newPlot("parameter divergence ‖w − v‖", "gradient evaluations", "‖w − v‖")
	drawn := 0
	for i, t := range chosen {
		var pts plotter.XYs
		for _, c := range curves[t.TrialID] {
			if c.ParamDivergence != nil && !math.IsNaN(*c.ParamDivergence) && !math.IsInf(*c.ParamDivergence, 0) {
				pts = append(pts, plotter.XY{X: float64(c.GradEvals), Y: *c.ParamDivergence})
			}
		}
		if len(pts) == 0 {
			continue
		}
		l, _ := plotter.NewLine(pts)
		l.Color = plotutil.Color(i)
		l.Dashes = plotutil.Dashes(i)
		p.Add(l)
		p.Legend.Add(trialLabel(t), l)
		drawn++
	}
	headroom(p, drawn)
	return p, drawn > 0
}

func shortMetric(m string) string {
	switch m {
	case metrics.GeneralizationGap:
		return "gap"
	case metrics.HittingTimeGrads:
		return "hitting time"
	}
	return m
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func listOr(list []string) string {
	if len(list) == 0 {
		return "none"
	}
	return strings.Join(list, ", ")
}
