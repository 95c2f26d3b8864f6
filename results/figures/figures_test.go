package figures

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"

	"github.com/lrsgd-lab/lrsgd/host/metrics"
	"github.com/lrsgd-lab/lrsgd/results"
	"github.com/lrsgd-lab/lrsgd/results/report"
	"github.com/lrsgd-lab/lrsgd/results/resultstest"
)

func TestFileName(t *testing.T) {
	for _, c := range []struct{ base, fig, want string }{
		{"fig.png", "gap", "fig-gap.png"},
		{"out/γ sweep.PNG", "front", "out/γ sweep-front.PNG"},
	} {
		if got := FileName(c.base, c.fig); got != c.want {
			t.Errorf("FileName(%q, %q) = %q, want %q", c.base, c.fig, got, c.want)
		}
	}
}

// TestEmptyStudy draws a study whose only trial failed: every figure says
// "no data" but is still a valid PNG, and no divergence figure is written.
func TestEmptyStudy(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := results.Open(ctx, filepath.Join(dir, "lab.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	studyID, _ := s.Storage().CreateNewStudy("empty")
	s.Storage().CreateNewTrial(studyID)
	rep, err := report.Build(ctx, s, report.Options{Study: "empty"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Write(ctx, s, &rep.Studies[0], filepath.Join(dir, "fig.svg"), Options{}); err == nil || !strings.Contains(err.Error(), ".png") {
		t.Errorf("non-PNG name: err = %v", err)
	}
	files, err := Write(ctx, s, &rep.Studies[0], filepath.Join(dir, "fig.png"), Options{DPI: 50})
	if err != nil {
		t.Fatal(err)
	}
	// No parameter: no gap, hitting or Fig. 2; the knee figure's one
	// panel has the legend's band below it.
	want := []string{"fig-front.png", "fig-curves.png", "fig-history.png", "fig-knee.png"}
	if len(files) != len(want) {
		t.Fatalf("wrote %v, want %v", files, want)
	}
	for i, f := range files {
		if filepath.Base(f) != want[i] {
			t.Errorf("file %d = %s, want %s", i, f, want[i])
		}
		if b, ok := decode(t, f); ok && (b.Dx() != 200 || (b.Dy() != 150 && !strings.HasSuffix(f, "knee.png")) || b.Dy() < 150) {
			t.Errorf("%s is %v, want 200×150 (4×3 in at 50 DPI)", f, b)
		}
	}
}

// decode decodes a PNG file and returns its bounds; ok is false (and the
// test failed) when it cannot.
func decode(t *testing.T, name string) (b image.Rectangle, ok bool) {
	t.Helper()
	r, err := os.Open(name)
	if err != nil {
		t.Error(err)
		return b, false
	}
	defer r.Close()
	img, err := png.Decode(r)
	if err != nil {
		t.Errorf("%s: %v", name, err)
		return b, false
	}
	return img.Bounds(), true
}

// reportOf writes a hand-made study into a new store and reports it.
func reportOf(t *testing.T, spec resultstest.Spec) (*results.Store, *report.Study) {
	t.Helper()
	ctx := context.Background()
	s, err := results.Open(ctx, filepath.Join(t.TempDir(), "lab.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := resultstest.Create(ctx, s, spec); err != nil {
		t.Fatal(err)
	}
	rep, err := report.Build(ctx, s, report.Options{Study: spec.Name})
	if err != nil {
		t.Fatal(err)
	}
	return s, &rep.Studies[0]
}

// TestConfigFigures writes the figures of configurations of three
// hand-made studies and checks which files appear, that each PNG decodes,
// and that its size is a whole number of 4 × 3 inch panels wide and that
// many panels plus the legend's band high.
func TestConfigFigures(t *testing.T) {
	const dpi = 50 // 4 × 3 inches: 200 × 150 pixels
	for _, c := range []struct {
		spec resultstest.Spec
		want map[string]int // figure → panels across
	}{
		{resultstest.SeedSweep(), map[string]int{FigFig2: 2, FigKnee: 2, FigStability: 2}},
		{resultstest.Compare(), map[string]int{FigFig2: 2, FigKnee: 2, FigCompare: 3, FigStability: 2}},
		{resultstest.SmallBatch(), map[string]int{FigFig2: 2, FigKnee: 1, FigFig3: 2}},
	} {
		t.Run(c.spec.Name, func(t *testing.T) {
			s, st := reportOf(t, c.spec)
			dir := t.TempDir()
			files, err := Write(context.Background(), s, st, filepath.Join(dir, "f.png"), Options{DPI: dpi})
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]bool{}
			for _, f := range files {
				got[strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "f-"), ".png")] = true
			}
			for _, fig := range []string{FigFig2, FigKnee, FigFig3, FigCompare, FigStability} {
				cols, want := c.want[fig]
				if got[fig] != want {
					t.Errorf("%s written: %v, want %v (files %v)", fig, got[fig], want, files)
					continue
				}
				if !want {
					continue
				}
				b, ok := decode(t, filepath.Join(dir, "f-"+fig+".png"))
				if ok && (b.Dx() != 200*cols || b.Dy() <= 150 || b.Dy() > 150+75) {
					t.Errorf("%s is %v, want %d wide and 150 plus a band of at most 1.5 in high", fig, b, 200*cols)
				}
			}
		})
	}
}

// TestFig2Axes: Fig. 2 of the γ sweep has a log γ axis labelled at the
// swept values as fractions, and its axes hold every interval.
func TestFig2Axes(t *testing.T) {
	_, st := reportOf(t, resultstest.SeedSweep())
	f := fig2(st, "gamma")
	left, right := f.panels[0], f.panels[1]
	if _, ok := left.X.Scale.(plot.LogScale); !ok || !strings.Contains(left.X.Label.Text, "log") {
		t.Errorf("γ axis: scale %T label %q, want a labelled log scale", left.X.Scale, left.X.Label.Text)
	}
	var labels []string
	for _, tk := range left.X.Tick.Marker.Ticks(left.X.Min, left.X.Max) {
		if tk.Label != "" {
			labels = append(labels, tk.Label)
		}
	}
	if want := []string{"1/20", "1/10", "1/5", "1/3", "1/2"}; !slices.Equal(labels, want) {
		t.Errorf("γ ticks %v, want %v", labels, want)
	}
	inside := func(what string, a plot.Axis, vs ...float64) {
		for _, v := range vs {
			if v <= a.Min || v >= a.Max {
				t.Errorf("%s: %v outside the axis [%v, %v]: clipped", what, v, a.Min, a.Max)
			}
		}
	}
	for _, c := range st.Configs {
		g := c.Params["gamma"].(float64)
		inside("γ", left.X, g)
		for _, m := range []string{metrics.TrainLoss, metrics.TestLoss} {
			if s, ok := c.Stat(m); ok && s.CI95 != nil {
				inside(c.Key+" "+m, left.Y, float64(s.CI95[0]), float64(s.CI95[1]))
			}
		}
		if s, ok := c.Stat(report.GradsAtTarget); ok && c.Converged && s.CI95 != nil {
			inside(c.Key+" grads", right.Y, float64(s.CI95[0]), float64(s.CI95[1]))
		}
		if s, ok := c.Stat(metrics.GeneralizationGap); ok && s.CI95 != nil {
			for _, v := range []float64{float64(s.CI95[0]), float64(s.CI95[1])} {
				if v <= right.right.Min || v >= right.right.Max {
					t.Errorf("%s gap %v outside the right axis [%v, %v]", c.Key, v, right.right.Min, right.right.Max)
				}
			}
		}
	}
	if len(f.legend) == 0 || len(f.notes) < 2 {
		t.Errorf("legend %d entries, notes %v: want both in the band", len(f.legend), f.notes)
	}
}

func TestValueLabel(t *testing.T) {
	for _, c := range []struct {
		v    float64
		want string
	}{{0.5, "1/2"}, {1.0 / 3, "1/3"}, {0.05, "1/20"}, {0.1, "1/10"}, {0.3, "0.3"}, {0.07, "0.07"}, {1, "1"}, {128, "128"}} {
		if got := valueLabel(c.v); got != c.want {
			t.Errorf("valueLabel(%v) = %q, want %q", c.v, got, c.want)
		}
	}
	// More than 8 values: 8 or fewer labelled, the rest minor.
	var vs []float64
	for i := 1; i <= 20; i++ {
		vs = append(vs, float64(i))
	}
	n := 0
	for _, tk := range valueTicks(vs) {
		if tk.Label != "" {
			n++
		}
	}
	if n == 0 || n > 8 {
		t.Errorf("%d of 20 ticks labelled, want 1 to 8", n)
	}
}

// TestFig3Variants: where the small-batch configurations differ in another
// parameter too (a sweep of lr_factor), Fig. 3 draws a line per optimizer
// and value in every panel, each with a legend entry of its own.
func TestFig3Variants(t *testing.T) {
	spec := resultstest.SmallBatch()
	spec.Params = append(spec.Params, resultstest.Param{Name: "lr_factor", Choices: []string{"0.5", "0.9"}})
	var runs []resultstest.Run
	for _, f := range []string{"0.5", "0.9"} {
		for _, r := range spec.Runs {
			r.Values = maps.Clone(r.Values)
			r.Values["lr_factor"] = f
			r.UserAttrs = maps.Clone(r.UserAttrs)
			r.UserAttrs["config_key"] += ",lr_factor=" + f
			runs = append(runs, r)
		}
	}
	spec.Runs = runs
	_, st := reportOf(t, spec)
	f, ok := fig3(st)
	if !ok {
		t.Fatal("no Fig. 3")
	}
	var labels []string
	styles := map[string]string{}
	colours := map[string]color.Color{}
	for _, e := range f.legend {
		labels = append(labels, e.label)
		l, ok := e.thumbs[0].(*plotter.Line)
		if !ok {
			t.Fatalf("%s: legend thumbnail %T, want a line", e.label, e.thumbs[0])
		}
		st := fmt.Sprint(l.Color, l.Dashes)
		for other, s := range styles {
			if s == st {
				t.Errorf("%s and %s are drawn alike (%s)", e.label, other, st)
			}
		}
		styles[e.label] = st
		opt, _, _ := strings.Cut(e.label, ",")
		if c, ok := colours[opt]; ok && c != l.Color {
			t.Errorf("%s: colour %v, want its optimizer's %v", e.label, l.Color, c)
		}
		colours[opt] = l.Color
	}
	want := []string{"SGD, lr_factor=0.5", "LRSGD-C, lr_factor=0.5", "SGD, lr_factor=0.9", "LRSGD-C, lr_factor=0.9"}
	slices.Sort(labels)
	slices.Sort(want)
	if !slices.Equal(labels, want) {
		t.Errorf("legend %q, want %q", labels, want)
	}
}
