package resultstest

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/c-bata/goptuna"

	"github.com/lrsgd-lab/lrsgd/host/metrics"
	"github.com/lrsgd-lab/lrsgd/results"
)

// Param is a parameter of a hand-made study: a log-uniform float on
// [Low, High], or a categorical one when Choices is set.
type Param struct {
	Name      string
	Low, High float64
	Choices   []string
}

// Run is one COMPLETE trial of a hand-made study.
type Run struct {
	// Values holds each parameter's value: a float64, or a string for a
	// categorical parameter.
	Values      map[string]any
	UserAttrs   map[string]string // e.g. config_key, phase, optimizer
	SystemAttrs map[string]string // e.g. seed_index
	Plugin      string
	Seed        uint64
	// Curve is the run's evaluations (TrialID is filled in).
	Curve []results.CurvePoint
	// Metrics are its final metrics; Spec fills in test_loss, train_loss,
	// generalization_gap and grad_evals from the curve's last point when
	// they are missing.
	Metrics map[string]float64
}

// Spec is a hand-made study: Create writes it through goptuna's API (each
// run enqueued with its values and run by Optimize, as tune's grid does)
// and the store's Put methods.
type Spec struct {
	Name      string
	Direction goptuna.StudyDirection // zero: maximize
	Attrs     map[string]string      // study user attributes
	Params    []Param
	Runs      []Run
}

// Create writes spec into s and returns the study's ID. Run i becomes
// trial number i; its objective value is its test_accuracy.
func Create(ctx context.Context, s *results.Store, spec Spec) (int, error) {
	dir := spec.Direction
	if dir == "" {
		dir = goptuna.StudyDirectionMaximize
	}
	study, err := goptuna.CreateStudy(spec.Name,
		goptuna.StudyOptionStorage(s.Storage()),
		goptuna.StudyOptionDirection(dir),
		goptuna.StudyOptionLogger(nil),
	)
	if err != nil {
		return 0, fmt.Errorf("create study %s: %w", spec.Name, err)
	}
	for k, v := range spec.Attrs {
		if err := study.SetUserAttr(k, v); err != nil {
			return 0, fmt.Errorf("study %s: attribute %s: %w", spec.Name, k, err)
		}
	}
	for i, r := range spec.Runs {
		fixed, err := internal(spec.Params, r.Values)
		if err != nil {
			return 0, fmt.Errorf("study %s run %d: %w", spec.Name, i, err)
		}
		if err := study.EnqueueTrial(fixed); err != nil {
			return 0, fmt.Errorf("study %s run %d: enqueue: %w", spec.Name, i, err)
		}
	}
	var runErr error
	objective := func(trial goptuna.Trial) (float64, error) {
		n, err := trial.Number()
		if err == nil {
			err = fillRun(ctx, s, trial, spec.Params, spec.Runs[n])
		}
		if err != nil {
			runErr = fmt.Errorf("study %s run %d: %w", spec.Name, n, err)
			return 0, runErr
		}
		return spec.Runs[n].Metrics[metrics.TestAccuracy], nil
	}
	if err := study.Optimize(objective, len(spec.Runs)); err != nil {
		return 0, fmt.Errorf("study %s: optimize: %w", spec.Name, err)
	}
	return study.ID, runErr
}

// internal returns goptuna's internal representation of a run's values.
func internal(params []Param, values map[string]any) (map[string]float64, error) {
	out := map[string]float64{}
	for _, p := range params {
		v, ok := values[p.Name]
		if !ok {
			continue
		}
		switch x := v.(type) {
		case string:
			i := slices.Index(p.Choices, x)
			if i < 0 {
				return nil, fmt.Errorf("parameter %s: %q is not among %v", p.Name, x, p.Choices)
			}
			out[p.Name] = float64(i)
		case float64:
			out[p.Name] = x
		default:
			return nil, fmt.Errorf("parameter %s: value %v (%T), want float64 or string", p.Name, v, v)
		}
	}
	return out, nil
}

func fillRun(ctx context.Context, s *results.Store, trial goptuna.Trial, params []Param, r Run) error {
	for _, p := range params {
		if _, ok := r.Values[p.Name]; !ok {
			continue
		}
		var err error
		if p.Choices != nil {
			_, err = trial.SuggestCategorical(p.Name, p.Choices)
		} else {
			_, err = trial.SuggestLogFloat(p.Name, p.Low, p.High)
		}
		if err != nil {
			return fmt.Errorf("suggest %s: %w", p.Name, err)
		}
	}
	for k, v := range r.UserAttrs {
		if err := trial.SetUserAttr(k, v); err != nil {
			return err
		}
	}
	for k, v := range r.SystemAttrs {
		if err := s.Storage().SetTrialSystemAttr(trial.ID, k, v); err != nil {
			return err
		}
	}
	if err := s.PutRunMeta(ctx, results.RunMeta{TrialID: trial.ID, Plugin: r.Plugin, PluginVersion: "0.1.0",
		Dataset: "synthetic", Model: "lenet", Seed: r.Seed, Commit: "abc123", Machine: "test"}); err != nil {
		return err
	}
	pts := slices.Clone(r.Curve)
	for i := range pts {
		pts[i].TrialID = trial.ID
	}
	if err := s.AddCurvePoints(ctx, pts...); err != nil {
		return err
	}
	m := map[string]float64{}
	if len(pts) > 0 {
		last := pts[len(pts)-1]
		m[metrics.TrainLoss], m[metrics.TestLoss] = last.TrainLoss, last.TestLoss
		m[metrics.GeneralizationGap] = last.TestLoss - last.TrainLoss
		m[metrics.GradEvals] = float64(last.GradEvals)
	}
	for k, v := range r.Metrics {
		m[k] = v
	}
	return s.PutMetrics(ctx, trial.ID, m)
}

// Curve returns evaluations every 100 gradient evaluations (10 outer
// steps, 1 second) with the given train losses, the test loss gap above
// each, and, when eps > 0, the probe's ε (eps at every point) and ‖w − v‖
// (growing as div·k at the k-th point).
func Curve(train []float64, gap, acc, eps, div float64) []results.CurvePoint {
	out := make([]results.CurvePoint, len(train))
	for i, l := range train {
		k := float64(i + 1)
		out[i] = results.CurvePoint{Epoch: k, OuterSteps: int64(10 * (i + 1)), GradEvals: int64(100 * (i + 1)), LR: 0.1,
			TrainLoss: l, TestLoss: l + gap, TrainAcc: acc, TestAcc: acc * k / float64(len(train)), Wall: k}
		if eps > 0 {
			e, d := eps, div*k
			out[i].EpsilonMean, out[i].EpsilonMax, out[i].ParamDivergence = &e, &e, &d
		}
	}
	return out
}

// firstBelow is the gradient evaluations of the first point of c whose
// train loss is at most l, −1 if none.
func firstBelow(c []results.CurvePoint, l float64) float64 {
	for _, p := range c {
		if p.TrainLoss <= l {
			return float64(p.GradEvals)
		}
	}
	return -1
}

// SeedSweepName is the name of the study of SeedSweep.
const SeedSweepName = "seed-sweep"

// SeedSweepTarget is SeedSweep's target attribute.
const SeedSweepTarget = 1.0

// SeedSweepConfig is one configuration of SeedSweep.
type SeedSweepConfig struct {
	Gamma    float64
	Train    [][]float64 // each run's train losses at 100, 200, 300, 400 gradient evaluations
	Gap      []float64   // each run's test − train loss (the same at every point)
	Accuracy []float64   // each run's test_accuracy
	Epsilon  []float64   // each run's ε (the same at every point)
}

// SeedSweepConfigs returns the configurations of SeedSweep, by γ.
// Expected results, by hand, at the target 1.0 (the study's):
//
//   - γ = 1/2 barely trains (lowest train losses 2.0, 2.1, 1.9): it never
//     reaches 1.0, is not converged and is kept off the front.
//   - grads_at_target: γ = 1/5: 300, 300, 400; 1/10: 200, 200, 300; 1/20:
//     100, 200, 100; 1/3 (one run): 400. gap_at_target: the Gap values.
//   - Seed means (X, Y): 1/5 (333.3, 0.12), 1/10 (233.3, 0.25), 1/20
//     (133.3, 0.55), 1/3 (400, 0.30). 1/3 is dominated by 1/5 in every
//     resample (1/5's X never exceeds 400, its Y stays below 0.15); the
//     front is 1/20, 1/10, 1/5; normalised x = 0, 0.5, 1 and y = 1,
//     0.302, 0: the knee is 1/10.
//   - test_accuracy of 1/10: 0.70, 0.72, 0.74: mean 0.72, std 0.02,
//     ci95 0.72 ± t(0.975, 2)·0.02/√3.
//
// With --target auto the target is 2.1, the lowest train loss of γ = 1/2's
// second run: every run reaches it, the others at the first evaluation.
func SeedSweepConfigs() []SeedSweepConfig {
	return []SeedSweepConfig{
		{0.5, [][]float64{{2.3, 2.2, 2.1, 2.0}, {2.3, 2.25, 2.2, 2.1}, {2.3, 2.2, 2.0, 1.9}},
			[]float64{0.01, 0.02, 0.03}, []float64{0.30, 0.31, 0.29}, []float64{0.001, 0.002, 0.003}},
		{0.2, [][]float64{{1.5, 1.2, 0.9, 0.8}, {1.5, 1.1, 1.0, 0.7}, {1.6, 1.3, 1.1, 0.95}},
			[]float64{0.10, 0.12, 0.14}, []float64{0.44, 0.45, 0.46}, []float64{0.010, 0.012, 0.014}},
		{0.1, [][]float64{{1.4, 0.9, 0.6, 0.5}, {1.3, 1.0, 0.7, 0.5}, {1.4, 1.1, 0.8, 0.6}},
			[]float64{0.20, 0.25, 0.30}, []float64{0.70, 0.72, 0.74}, []float64{0.020, 0.025, 0.030}},
		{0.05, [][]float64{{0.9, 0.5, 0.3, 0.2}, {1.2, 0.8, 0.4, 0.3}, {1.0, 0.6, 0.3, 0.2}},
			[]float64{0.50, 0.55, 0.60}, []float64{0.60, 0.62, 0.61}, []float64{0.050, 0.055, 0.060}},
		{1.0 / 3, [][]float64{{1.6, 1.3, 1.1, 1.0}}, []float64{0.30}, []float64{0.50}, []float64{0.030}},
	}
}

// SeedSweep is a γ sweep run over seeds as tune's seeds axis records it:
// the runs of a configuration share config_key, carry seed_index and the
// trainer seeds 1, 2, 3; its target attribute is SeedSweepTarget. Runs are
// ordered seed first (all configurations' seed 0, then seed 1, …), as
// interleaved workers would leave them.
func SeedSweep() Spec {
	spec := Spec{Name: SeedSweepName, Attrs: map[string]string{"target": strconv.FormatFloat(SeedSweepTarget, 'g', -1, 64)},
		Params: []Param{{Name: "gamma", Low: 0.05, High: 0.5}}}
	configs := SeedSweepConfigs()
	for k := range 3 {
		for _, c := range configs {
			if k >= len(c.Train) {
				continue
			}
			curve := Curve(c.Train[k], c.Gap[k], c.Accuracy[k], c.Epsilon[k], 10*c.Epsilon[k])
			spec.Runs = append(spec.Runs, Run{
				Values:      map[string]any{"gamma": c.Gamma},
				UserAttrs:   map[string]string{"config_key": "gamma=" + strconv.FormatFloat(c.Gamma, 'g', -1, 64), "optimizer": "lrsgd-r"},
				SystemAttrs: map[string]string{"seed_index": strconv.Itoa(k)},
				Plugin:      "lrsgd-r", Seed: uint64(1 + k), Curve: curve,
				Metrics: map[string]float64{metrics.TestAccuracy: c.Accuracy[k],
					metrics.HittingTimeGrads: firstBelow(curve, SeedSweepTarget),
					metrics.EpsilonMean:      c.Epsilon[k], metrics.ParamDivergence: 40 * c.Epsilon[k]},
			})
		}
	}
	return spec
}

// CompareName is the name of the study of Compare.
const CompareName = "compare-fixture"

// CompareFinal returns each optimizer's test accuracy over its three final
// runs. By hand (Welch, equal n = 3 and equal s² = 0.0004, so df = 4):
// lrsgd-r − sgd = 0.10 ± t(0.975, 4)·√(0.0008/3), which excludes 0;
// lrsgd-c − sgd = 0.04 ± the same half-width (0.0453), which does not.
func CompareFinal() map[string][]float64 {
	return map[string][]float64{
		"sgd":     {0.70, 0.72, 0.74},
		"lrsgd-r": {0.80, 0.82, 0.84},
		"lrsgd-c": {0.74, 0.76, 0.78},
	}
}

// Compare is a compare study (kind compare, baseline sgd, target 1.0) as
// the tuner records it: two tuning trials per optimizer (phase tune), then
// three final runs of each optimizer's best tuning configuration with
// fresh seeds (phase final, seed_index 0..2). Every run carries the
// stability probe's ε and ‖w − v‖ on its curve (SGD's the largest), for
// the stability figure.
func Compare() Spec {
	optimizers := []string{"sgd", "lrsgd-r", "lrsgd-c"}
	spec := Spec{Name: CompareName,
		Attrs:  map[string]string{"kind": "compare", "baseline": "sgd", "target": "1.0"},
		Params: []Param{{Name: "optimizer", Choices: optimizers}, {Name: "lr", Low: 0.001, High: 1}}}
	eps := map[string]float64{"sgd": 0.04, "lrsgd-r": 0.015, "lrsgd-c": 0.02}
	add := func(o string, lr float64, phase string, k int, acc float64) {
		key := "lr=" + strconv.FormatFloat(lr, 'g', -1, 64) + ",optimizer=" + o
		train := []float64{1.6, 1.2, 0.9 + 0.02*float64(k), 0.7}
		curve := Curve(train, 0.1+0.05*float64(k), acc, eps[o]*(1+0.1*float64(k)), 3*eps[o]*(1+0.1*float64(k)))
		spec.Runs = append(spec.Runs, Run{
			Values:      map[string]any{"optimizer": o, "lr": lr},
			UserAttrs:   map[string]string{"config_key": key, "phase": phase, "optimizer": o},
			SystemAttrs: map[string]string{"seed_index": strconv.Itoa(k), "phase": phase},
			Plugin:      o, Seed: uint64(1 + k + 1000*boolInt(phase == "final")), Curve: curve,
			Metrics: map[string]float64{metrics.TestAccuracy: acc, metrics.HittingTimeGrads: firstBelow(curve, 1.0)},
		})
	}
	for _, o := range optimizers {
		add(o, 0.01, "tune", 0, 0.5)
		add(o, 0.1, "tune", 0, 0.6)
	}
	for _, o := range optimizers {
		for k, acc := range CompareFinal()[o] {
			add(o, 0.1, "final", k, acc)
		}
	}
	return spec
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// SmallBatchName is the name of the study of SmallBatch.
const SmallBatchName = "small-batch-fixture"

// SmallBatch is the paper's Figure 3 in miniature: SGD against LRSGD-C at
// batch sizes 8 and 32, two seeds each, test accuracy rising over four
// evaluations (LRSGD-C's faster, to 0.7 against SGD's 0.6).
func SmallBatch() Spec {
	spec := Spec{Name: SmallBatchName,
		Params: []Param{{Name: "batch_size", Choices: []string{"8", "32"}}, {Name: "optimizer", Choices: []string{"sgd", "lrsgd-c"}}}}
	for _, b := range []string{"8", "32"} {
		for _, o := range []string{"sgd", "lrsgd-c"} {
			top := 0.6
			if o == "lrsgd-c" {
				top = 0.7
			}
			for k := range 2 {
				acc := top - 0.02*float64(k)
				curve := Curve([]float64{2.0, 1.6, 1.3, 1.1}, 0.1, acc, 0, 0)
				for i := range curve {
					curve[i].TestAcc = acc * (1 - math.Exp(-float64(i+1)))
				}
				spec.Runs = append(spec.Runs, Run{
					Values:      map[string]any{"batch_size": b, "optimizer": o},
					UserAttrs:   map[string]string{"config_key": "batch_size=" + b + ",optimizer=" + o, "optimizer": o},
					SystemAttrs: map[string]string{"seed_index": strconv.Itoa(k)},
					Plugin:      o, Seed: uint64(1 + k), Curve: curve,
					Metrics: map[string]float64{metrics.TestAccuracy: curve[len(curve)-1].TestAcc},
				})
			}
		}
	}
	return spec
}
