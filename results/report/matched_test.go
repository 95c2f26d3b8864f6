package report

import (
	"bytes"
	"context"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/lrsgd-lab/lrsgd/host/metrics"
	"github.com/lrsgd-lab/lrsgd/results"
	"github.com/lrsgd-lab/lrsgd/results/pareto"
	"github.com/lrsgd-lab/lrsgd/results/report/stats"
	"github.com/lrsgd-lab/lrsgd/results/resultstest"
)

// Textbook quantiles t(0.975, ν).
const (
	t975df2 = 4.302652729911275
	t975df4 = 2.7764451051977987
)

// buildSpec writes a hand-made study into a new store and reports it.
func buildSpec(t *testing.T, spec resultstest.Spec, opt Options) *Study {
	t.Helper()
	ctx := context.Background()
	s := newStore(t)
	if _, err := resultstest.Create(ctx, s, spec); err != nil {
		t.Fatal(err)
	}
	opt.Study = spec.Name
	rep, err := Build(ctx, s, opt)
	if err != nil {
		t.Fatal(err)
	}
	return &rep.Studies[0]
}

func configByKey(t *testing.T, st *Study, key string) *Config {
	t.Helper()
	for _, c := range st.Configs {
		if c.Key == key {
			return c
		}
	}
	t.Fatalf("no configuration %q among %v", key, keys(st.Configs))
	return nil
}

func keys(cs []*Config) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Key
	}
	return out
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*max(1, math.Abs(b)) }

// checkStat compares a Stat with the textbook summary of xs, with the t
// quantile q for n − 1 degrees of freedom (0 when n < 2).
func checkStat(t *testing.T, what string, s Stat, xs []float64, q float64) {
	t.Helper()
	n := float64(len(xs))
	var m, ss float64
	for _, x := range xs {
		m += x / n
	}
	for _, x := range xs {
		ss += (x - m) * (x - m)
	}
	if s.N != len(xs) || !near(float64(s.Mean), m) {
		t.Errorf("%s: n %d mean %v, want %d and %v", what, s.N, s.Mean, len(xs), m)
	}
	if len(xs) < 2 {
		if s.CI95 != nil || !math.IsNaN(float64(s.Std)) || s.Note != NoIntervalNote {
			t.Errorf("%s: one run: std %v ci95 %v note %q, want none and the note", what, s.Std, s.CI95, s.Note)
		}
		return
	}
	sd := math.Sqrt(ss / (n - 1))
	h := q * sd / math.Sqrt(n)
	if !near(float64(s.Std), sd) || s.CI95 == nil || !near(float64(s.CI95[0]), m-h) || !near(float64(s.CI95[1]), m+h) {
		t.Errorf("%s: std %v ci95 %v, want %v and [%v, %v]", what, s.Std, s.CI95, sd, m-h, m+h)
	}
}

// TestSeedSweep checks the configurations of resultstest.SeedSweep at the
// study's target against the hand computation in its documentation.
func TestSeedSweep(t *testing.T) {
	st := buildSpec(t, resultstest.SeedSweep(), Options{})
	if got, want := keys(st.Configs), []string{"gamma=0.5", "gamma=0.2", "gamma=0.1", "gamma=0.05", "gamma=0.3333333333333333"}; !slices.Equal(got, want) {
		t.Fatalf("configurations %v, want %v", got, want)
	}
	if st.Target == nil || st.Target.How != TargetStudy || st.Target.Value != resultstest.SeedSweepTarget {
		t.Errorf("target %+v, want %v from the study", st.Target, resultstest.SeedSweepTarget)
	}
	byGamma := map[float64]resultstest.SeedSweepConfig{}
	for _, c := range resultstest.SeedSweepConfigs() {
		byGamma[c.Gamma] = c
	}
	for _, c := range st.Configs {
		sc := byGamma[c.Params["gamma"].(float64)]
		q := map[int]float64{1: 0, 3: t975df2}[len(sc.Accuracy)]
		if c.Seeds != len(sc.Accuracy) || len(c.Runs) != c.Seeds {
			t.Errorf("%s: %d seeds, %d runs; want %d", c.Key, c.Seeds, len(c.Runs), len(sc.Accuracy))
		}
		checkStat(t, c.Key+" test_accuracy", c.Stats[metrics.TestAccuracy], sc.Accuracy, q)
		if c.Key == "gamma=0.5" {
			if c.Converged {
				t.Errorf("%s converged, want not: it never reaches %v", c.Key, resultstest.SeedSweepTarget)
			}
			if s, ok := c.Stat(GradsAtTarget); ok {
				t.Errorf("%s: grads_at_target %+v, want none", c.Key, s)
			}
			continue
		}
		if !c.Converged {
			t.Errorf("%s not converged", c.Key)
		}
		checkStat(t, c.Key+" gap_at_target", c.Stats[GapAtTarget], sc.Gap, q)
		checkStat(t, c.Key+" epsilon_at_target", c.Stats[EpsilonAtTarget], sc.Epsilon, q)
	}
	checkStat(t, "gamma=0.2 grads_at_target", configByKey(t, st, "gamma=0.2").Stats[GradsAtTarget], []float64{300, 300, 400}, t975df2)
	checkStat(t, "gamma=0.1 grads_at_target", configByKey(t, st, "gamma=0.1").Stats[GradsAtTarget], []float64{200, 200, 300}, t975df2)
	checkStat(t, "gamma=0.05 wall_at_target", configByKey(t, st, "gamma=0.05").Stats[WallAtTarget], []float64{1, 2, 1}, t975df2)
	if h := configByKey(t, st, "gamma=0.5").Stats[metrics.HittingTimeGrads]; h.N != 0 || h.Never != 3 {
		t.Errorf("gamma=0.5 hitting time %+v, want n 0 and 3 never", h)
	}

	f := st.ConfigFronts["gap"]
	if f == nil || !slices.Equal(f.Configs, []string{"gamma=0.05", "gamma=0.1", "gamma=0.2"}) ||
		f.Knee == nil || *f.Knee != "gamma=0.1" || !slices.Equal(f.NotConverged, []string{"gamma=0.5"}) || f.Candidates != 4 {
		t.Fatalf("gap front %+v, want 1/20, 1/10, 1/5 with knee 1/10 and 1/2 not converged", f)
	}
	if !f.Bootstrap.Exact || f.Bootstrap.Resamples != 10*10*10*1 {
		t.Errorf("bootstrap %+v, want the 1000 distinct resamples enumerated", f.Bootstrap)
	}
	if c := configByKey(t, st, "gamma=0.5"); c.Fronts != nil {
		t.Errorf("the never-converged configuration has front shares %+v", c.Fronts)
	}
	if s := configByKey(t, st, "gamma=0.3333333333333333").Fronts["gap"]; s == nil || s.PFront != 0 || s.PKnee != 0 {
		t.Errorf("the dominated one-run configuration: %+v, want 0 and 0", s)
	}
	// The exact knee probability by brute force: every ordered triple of
	// draws from each three-run configuration, all equally likely.
	want := bruteForceKnee(t, st, GapAtTarget)
	for _, c := range st.Configs {
		if s := c.Fronts["gap"]; s != nil && !near(float64(s.PKnee), want[c.Key]) {
			t.Errorf("%s: p_knee %v, want %v by enumeration", c.Key, s.PKnee, want[c.Key])
		}
	}
	ss := st.SweetSpotConfig
	if want["gamma=0.1"] < DefaultMinProbability || ss == nil || ss.Key != "gamma=0.1" || !near(float64(ss.Probability), want["gamma=0.1"]) {
		t.Fatalf("sweet spot %+v, want gamma=0.1 with probability %v", ss, want["gamma=0.1"])
	}
	checkStat(t, "sweet spot x", ss.X, []float64{200, 200, 300}, t975df2)
	checkStat(t, "sweet spot y", ss.Y, []float64{0.20, 0.25, 0.30}, t975df2)
	if !strings.HasPrefix(st.SweetSpotVerdict, "sweet spot gamma=0.1") {
		t.Errorf("verdict %q", st.SweetSpotVerdict)
	}
	if e := st.ConfigFronts["epsilon"]; e == nil || e.Y != EpsilonAtTarget || e.Knee == nil {
		t.Errorf("epsilon front %+v", e)
	}

	// Too strict a minimum probability: no clear sweet spot.
	strict := buildSpec(t, resultstest.SeedSweep(), Options{MinProbability: 0.999})
	if want["gamma=0.1"] >= 0.999 || strict.SweetSpotConfig != nil || !strings.HasPrefix(strict.SweetSpotVerdict, "no clear sweet spot") {
		t.Errorf("min probability 0.999 (p_knee %v): sweet spot %+v, verdict %q", want["gamma=0.1"], strict.SweetSpotConfig, strict.SweetSpotVerdict)
	}
	var b bytes.Buffer
	rep := &Report{Store: "x", Studies: []Study{*strict}}
	if err := Write(&b, rep, "table"); err != nil || !strings.Contains(b.String(), "no clear sweet spot") {
		t.Errorf("table output lacks the verdict (%v):\n%s", err, b.String())
	}
}

// bruteForceKnee enumerates every ordered choice of runs (n draws with
// replacement from n runs, independently per configuration) and returns
// each configuration's probability of being the knee of the front of
// means of (grads_at_target, y).
func bruteForceKnee(t *testing.T, st *Study, y string) map[string]float64 {
	t.Helper()
	type cand struct {
		key  string
		runs []pareto.Point
	}
	var cs []cand
	for _, c := range st.Configs {
		if !c.Converged {
			continue
		}
		var rs []pareto.Point
		for _, r := range c.Runs {
			rs = append(rs, pareto.Point{X: float64(r.AtTarget[GradsAtTarget]), Y: float64(r.AtTarget[y])})
		}
		cs = append(cs, cand{c.Key, rs})
	}
	// Every configuration's ordered draws.
	draws := make([][]pareto.Point, len(cs))
	for i, c := range cs {
		n := len(c.runs)
		total := 1
		for range n {
			total *= n
		}
		for code := range total {
			var x, yy float64
			for k, m := 0, code; k < n; k, m = k+1, m/n {
				x += c.runs[m%n].X
				yy += c.runs[m%n].Y
			}
			draws[i] = append(draws[i], pareto.Point{ID: i, X: x / float64(n), Y: yy / float64(n)})
		}
	}
	out := map[string]float64{}
	pts := make([]pareto.Point, len(cs))
	var rec func(i int, w float64)
	rec = func(i int, w float64) {
		if i == len(cs) {
			if k, ok := pareto.Knee(pareto.Front(pts)); ok {
				out[cs[k.ID].key] += w
			}
			return
		}
		for _, d := range draws[i] {
			pts[i] = d
			rec(i+1, w/float64(len(draws[i])))
		}
	}
	rec(0, 1)
	return out
}

// TestTargets: auto is the largest lowest train loss over every run; a
// flag overrides the study's attribute; a configuration with one run that
// never gets there is kept off the front.
func TestTargets(t *testing.T) {
	auto := buildSpec(t, resultstest.SeedSweep(), Options{Target: "auto"})
	// Runs are numbered seed first: γ = 1/2's second run (lowest train
	// loss 2.1, the largest) is trial #5.
	if tg := auto.Target; tg.How != TargetAuto || !near(float64(tg.Value), 2.1) || tg.SetBy != "gamma=0.5 (trial #5)" || tg.Definition != AutoTargetDefinition {
		t.Errorf("auto target %+v, want 2.1 set by gamma=0.5 (trial #5)", tg)
	}
	for _, c := range auto.Configs {
		if !c.Converged {
			t.Errorf("auto target: %s not converged; every run reaches it by definition", c.Key)
		}
	}
	checkStat(t, "auto: gamma=0.5 grads_at_target", configByKey(t, auto, "gamma=0.5").Stats[GradsAtTarget], []float64{300, 400, 300}, t975df2)

	// At 0.5 only γ = 1/20 has every run there (γ = 1/10's third run stops
	// at 0.6): it is the front and the knee in every resample.
	flag := buildSpec(t, resultstest.SeedSweep(), Options{Target: "0.5"})
	f := flag.ConfigFronts["gap"]
	if flag.Target.How != TargetFlag || flag.Target.Value != 0.5 || !slices.Equal(f.Configs, []string{"gamma=0.05"}) ||
		len(f.NotConverged) != 4 || flag.SweetSpotConfig == nil || flag.SweetSpotConfig.Probability != 1 {
		t.Errorf("target 0.5: %+v, front %+v, sweet spot %+v; want gamma=0.05 alone with probability 1", flag.Target, f, flag.SweetSpotConfig)
	}
	for _, bad := range []string{"x", "-1", "NaN", "Inf"} {
		if _, err := Build(context.Background(), newStore(t), Options{Target: bad}); err == nil {
			t.Errorf("target %q accepted", bad)
		}
	}
	// A study attribute that is no number: auto, with a note.
	spec := resultstest.SeedSweep()
	spec.Attrs["target"] = "low"
	if st := buildSpec(t, spec, Options{}); st.Target.How != TargetAuto || !strings.Contains(st.Target.Note, `"low"`) {
		t.Errorf("target attribute low: %+v, want auto with a note", st.Target)
	}
}

// TestOldStoreConfigs: trials without config_key (stores older than the
// seeds axis) are each a configuration of their own, named by their
// parameters.
func TestOldStoreConfigs(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	if _, err := resultstest.Fill(ctx, s); err != nil {
		t.Fatal(err)
	}
	rep, err := Build(ctx, s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	st := &rep.Studies[0]
	var want []string
	for i := range st.Trials {
		if tr := &st.Trials[i]; tr.State == "COMPLETE" {
			want = append(want, paramsKey(tr.Params))
		}
	}
	if got := keys(st.Configs); len(got) != 5 || !slices.Equal(got, want) {
		t.Errorf("configurations %v, want one per COMPLETE trial: %v", got, want)
	}
	for _, c := range st.Configs {
		if c.Seeds != 1 || !strings.Contains(c.Key, "gamma=") || !strings.Contains(c.Key, "optimizer=") {
			t.Errorf("configuration %+v", c)
		}
	}
	// Two such trials with the same parameters stay apart.
	run := resultstest.Run{Values: map[string]any{"gamma": 0.1}, Curve: resultstest.Curve([]float64{1, 0.5}, 0.1, 0.5, 0, 0)}
	twins := buildSpec(t, resultstest.Spec{Name: "old", Params: []resultstest.Param{{Name: "gamma", Low: 0.05, High: 0.5}},
		Runs: []resultstest.Run{run, run}}, Options{})
	if got := keys(twins.Configs); !slices.Equal(got, []string{"gamma=0.1", "gamma=0.1 (trial #1)"}) {
		t.Errorf("twin trials without config_key: configurations %v, want two", got)
	}
}

// TestCompare checks the comparison of resultstest.Compare against Welch's
// interval computed by hand.
func TestCompare(t *testing.T) {
	st := buildSpec(t, resultstest.Compare(), Options{})
	c := st.Comparison
	if c == nil || c.Baseline != "sgd" || len(c.Optimizers) != 3 || c.Optimizers[0].Optimizer != "sgd" {
		t.Fatalf("comparison %+v, want sgd first of three", c)
	}
	h := t975df4 * math.Sqrt(0.0008/3)
	for _, o := range c.Optimizers {
		checkStat(t, o.Optimizer, o.Stat, resultstest.CompareFinal()[o.Optimizer], t975df2)
		if len(o.Trials) != 3 {
			t.Errorf("%s: final trials %v, want 3", o.Optimizer, o.Trials)
		}
		d := o.DiffVsBaseline
		if o.Optimizer == "sgd" {
			if d != nil || o.ExcludesZero != nil {
				t.Errorf("baseline against itself: %+v", o.Compared)
			}
			continue
		}
		want := map[string]float64{"lrsgd-r": 0.10, "lrsgd-c": 0.04}[o.Optimizer]
		if d == nil || !near(float64(d.Mean), want) || !near(float64(d.DF), 4) || d.CI95 == nil ||
			!near(float64(d.CI95[0]), want-h) || !near(float64(d.CI95[1]), want+h) || o.ExcludesZero == nil ||
			*o.ExcludesZero != (want-h > 0) {
			t.Errorf("%s: diff %+v excludes zero %v, want %v ± %v with df 4", o.Optimizer, d, o.ExcludesZero, want, h)
		}
		if m, ok := o.Metrics[GradsAtTarget]; !ok || m.N != 3 || m.Mean != 300 {
			t.Errorf("%s grads_at_target %+v, want 3 runs at 300", o.Optimizer, m)
		}
	}
	// The final runs are configurations of their own, apart from the
	// tuning trial they repeat.
	if c := configByKey(t, st, "final:lr=0.1,optimizer=sgd"); c.Seeds != 3 {
		t.Errorf("final sgd configuration has %d runs, want 3", c.Seeds)
	}
	if c := configByKey(t, st, "tune:lr=0.1,optimizer=sgd"); c.Seeds != 1 {
		t.Errorf("tuning sgd configuration has %d runs, want 1", c.Seeds)
	}
	// Not a compare study: no comparison.
	if st := buildSpec(t, resultstest.SeedSweep(), Options{}); st.Comparison != nil {
		t.Errorf("a sweep has a comparison: %+v", st.Comparison)
	}
}

// TestSeedGridIsSeeds: trials of a grid over the trainer's seed (a
// parameter named seed) are one configuration's runs, whether their
// config_key holds the seed (stores written before it was left out) or
// not, and the configuration's parameters leave it out.
func TestSeedGridIsSeeds(t *testing.T) {
	params := []resultstest.Param{{Name: "seed", Low: 1, High: 10}, {Name: "gamma", Low: 0.05, High: 0.5}}
	var runs []resultstest.Run
	acc := []float64{0.6, 0.7, 0.8}
	for i, key := range []string{"gamma=0.1,seed=1", "gamma=0.1,seed=2", "gamma=0.1"} {
		c := resultstest.Curve([]float64{1, 0.5}, 0.1, 0.5, 0, 0)
		runs = append(runs, resultstest.Run{Values: map[string]any{"seed": float64(i + 1), "gamma": 0.1},
			UserAttrs: map[string]string{"config_key": key}, Curve: c,
			Metrics: map[string]float64{"test_accuracy": acc[i]}})
	}
	st := buildSpec(t, resultstest.Spec{Name: "seeds", Params: params, Runs: runs}, Options{})
	c := configByKey(t, st, "gamma=0.1")
	if len(st.Configs) != 1 || c.Seeds != 3 {
		t.Fatalf("configurations %v with %d runs, want one of 3", keys(st.Configs), c.Seeds)
	}
	if _, ok := c.Params["seed"]; ok {
		t.Errorf("configuration parameters %v hold the seed", c.Params)
	}
	checkStat(t, "test_accuracy", c.Stats["test_accuracy"], acc, t975df2)
}

// TestBaselineOfSearch: a study that is not a compare study gets a
// comparison of all its COMPLETE runs when a baseline is named, and none
// otherwise.
func TestBaselineOfSearch(t *testing.T) {
	acc := map[string][]float64{"sgd": {0.60, 0.62, 0.64}, "lrsgd-r": {0.66, 0.67, 0.71}}
	var runs []resultstest.Run
	for _, o := range []string{"sgd", "lrsgd-r"} {
		for k, a := range acc[o] {
			runs = append(runs, resultstest.Run{Values: map[string]any{"seed": float64(k + 1)},
				UserAttrs: map[string]string{"config_key": "optimizer=" + o, "optimizer": o},
				Curve:     resultstest.Curve([]float64{1, 0.5}, 0.1, 0.5, 0, 0),
				Metrics:   map[string]float64{"test_accuracy": a}})
		}
	}
	spec := resultstest.Spec{Name: "table", Params: []resultstest.Param{{Name: "seed", Low: 1, High: 10}}, Runs: runs}
	if st := buildSpec(t, spec, Options{}); st.Comparison != nil {
		t.Errorf("no baseline: comparison %+v, want none", st.Comparison)
	}
	st := buildSpec(t, spec, Options{Baseline: "sgd"})
	c := st.Comparison
	if c == nil || c.Phase != "" || len(c.Optimizers) != 2 || c.Optimizers[0].Optimizer != "sgd" {
		t.Fatalf("comparison %+v, want sgd then lrsgd-r over all runs", c)
	}
	if !slices.Equal(c.Metrics, comparedMetrics) {
		t.Errorf("compared metrics %v without the probe, want %v", c.Metrics, comparedMetrics)
	}
	d := c.Optimizers[1].DiffVsBaseline
	// By hand: means 0.68 and 0.62, s² = 0.0014/2 = 0.0007 and
	// 0.0008/2 = 0.0004, se = √(0.0007/3 + 0.0004/3).
	se := math.Sqrt(0.0007/3 + 0.0004/3)
	if d == nil || !near(float64(d.Mean), 0.06) || !near(float64(d.CI95[1]-d.CI95[0]), 2*se*stats.TQuantile(float64(d.DF))) {
		t.Errorf("difference %+v, want 0.06 ± t·%.5f", d, se)
	}
}

// TestLateGain checks a run's late gain against hand computations: the
// last evaluation's test accuracy minus that of the last evaluation at or
// before 90% of the run's gradients.
func TestLateGain(t *testing.T) {
	pt := func(grads int64, acc float64) results.CurvePoint {
		return results.CurvePoint{GradEvals: grads, TestAcc: acc, TrainLoss: 1}
	}
	tests := []struct {
		name   string
		points []results.CurvePoint
		want   float64
		ok     bool
	}{
		{"evaluation at 90%", []results.CurvePoint{pt(100, 0.5), pt(800, 0.6), pt(900, 0.64), pt(950, 0.65), pt(1000, 0.655)}, 0.655 - 0.64, true},
		{"last before 90%", []results.CurvePoint{pt(100, 0.5), pt(850, 0.62), pt(950, 0.65), pt(1000, 0.66)}, 0.66 - 0.62, true},
		{"accuracy fell", []results.CurvePoint{pt(500, 0.7), pt(1000, 0.68)}, -0.02, true},
		{"NaN skipped", []results.CurvePoint{pt(500, 0.6), pt(900, math.NaN()), pt(1000, 0.61)}, 0.01, true},
		{"one evaluation", []results.CurvePoint{pt(1000, 0.6)}, 0, false},
		{"all in the last tenth", []results.CurvePoint{pt(950, 0.6), pt(1000, 0.61)}, 0, false},
		{"none", nil, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := newRunCurve(tc.points).lateGain(LateWindow)
			if ok != tc.ok || (ok && !near(got, tc.want)) {
				t.Errorf("lateGain = %v, %v; want %v, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

// TestLateGainInConfigs: each run's late gain is in the report and the
// configuration summarises them.
func TestLateGainInConfigs(t *testing.T) {
	st := buildSpec(t, resultstest.SeedSweep(), Options{})
	summarised := 0
	for _, c := range st.Configs {
		var xs []float64
		for _, r := range c.Runs {
			rc := newRunCurve(st.Curves[r.TrialID])
			g, ok := rc.lateGain(LateWindow)
			if !ok {
				if !math.IsNaN(float64(r.LateGain)) {
					t.Errorf("%s trial %d: late gain %v, want null (curve too short)", c.Key, r.TrialID, r.LateGain)
				}
				continue
			}
			if float64(r.LateGain) != g {
				t.Errorf("%s trial %d: late gain %v, want %v", c.Key, r.TrialID, r.LateGain, g)
			}
			xs = append(xs, g)
		}
		if len(xs) == 0 {
			continue
		}
		q := map[int]float64{1: 0, 3: t975df2}[len(xs)]
		checkStat(t, c.Key+" late_gain", c.Stats[LateGain], xs, q)
		summarised++
	}
	if summarised == 0 {
		t.Error("no configuration has a late gain: the fixture's curves are too short to test it")
	}
}
