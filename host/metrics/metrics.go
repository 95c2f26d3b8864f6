// Package metrics is the vocabulary of what a training run measures: one
// evaluation point, the result of a run and its status, and the table of
// named metrics computed from them. The trainer produces these values, the
// studies optimise and prune on them, the result store files them under
// these names and the reports read them back: every one of them uses this
// table, so a metric has one name, one direction and one definition.
//
// The package has no dependencies beyond the standard library, so that
// readers of the store (reports, figures) need not link the trainer.
package metrics

import (
	"math"
	"slices"
	"strings"
)

// Status is how a run ended.
type Status string

// Statuses of a Result.
const (
	StatusOK          Status = "ok"          // ran to its end
	StatusDiverged    Status = "diverged"    // a NaN or Inf loss or parameter appeared
	StatusInterrupted Status = "interrupted" // the context was cancelled (Ctrl-C, SIGTERM)
	StatusPruned      Status = "pruned"      // a pruner stopped it early
)

// EvalPoint is one evaluation during training: the full test set and the
// training set without augmentation.
type EvalPoint struct {
	Epoch      float64 `json:"epoch"`       // epochs completed (outer steps / ⌈N/B⌉)
	OuterSteps int64   `json:"outer_steps"` // outer steps completed
	GradEvals  int64   `json:"grad_evals"`  // minibatch gradient evaluations so far
	LR         float64 `json:"lr"`          // learning rate in force
	TrainLoss  float64 `json:"train_loss"`
	TrainAcc   float64 `json:"train_accuracy"`
	TestLoss   float64 `json:"test_loss"`
	TestAcc    float64 `json:"test_accuracy"`
	Wall       float64 `json:"wall_seconds"` // seconds since the run started
}

// Finite reports whether the point's losses and accuracies are all finite.
func (p EvalPoint) Finite() bool {
	for _, v := range []float64{p.TrainLoss, p.TestLoss, p.TrainAcc, p.TestAcc} {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return false
		}
	}
	return true
}

// Result summarises a finished (or stopped) run.
type Result struct {
	Status            Status      `json:"status"`
	DivergedAt        int64       `json:"diverged_at"` // gradient evaluation at which NaN/Inf appeared, or -1
	TestAccuracy      float64     `json:"test_accuracy"`
	TestLoss          float64     `json:"test_loss"`
	TrainLoss         float64     `json:"train_loss"`
	TrainAccuracy     float64     `json:"train_accuracy"`
	GeneralizationGap float64     `json:"generalization_gap"` // test loss − train loss
	BestTestAccuracy  float64     `json:"best_test_accuracy"`
	HittingTimeOuter  int64       `json:"hitting_time_outer"` // first outer step with train loss ≤ threshold, or -1
	HittingTimeGrads  int64       `json:"hitting_time_grads"` // the same in gradient evaluations, or -1
	GradEvals         int64       `json:"grad_evals"`
	OuterSteps        int64       `json:"outer_steps"`
	Epochs            float64     `json:"epochs"`
	StepMsMedian      float64     `json:"step_ms_median"` // median wall ms of forward+backward+update
	WallSeconds       float64     `json:"wall_seconds"`
	Curve             []EvalPoint `json:"curve,omitempty"`
}

// Metrics returns the run's value of every metric of the table that is
// computed from a Result (all but the stability probe's), keyed by name.
func (r Result) Metrics() map[string]float64 {
	m := make(map[string]float64, len(table))
	for _, d := range table {
		if d.Final != nil {
			m[d.Name] = d.Final(r)
		}
	}
	return m
}

// Metric names. They are the keys of the trainer's JSON result and the
// names in the store's trial_metrics table.
const (
	TestAccuracy       = "test_accuracy"
	BestTestAccuracy   = "best_test_accuracy"
	TestLoss           = "test_loss"
	TrainLoss          = "train_loss"
	TrainAccuracy      = "train_accuracy"
	GeneralizationGap  = "generalization_gap"
	HittingTimeOuter   = "hitting_time_outer"
	HittingTimeGrads   = "hitting_time_grads"
	GradEvals          = "grad_evals"
	OuterSteps         = "outer_steps"
	Epochs             = "epochs"
	StepMsMedian       = "step_ms_median"
	WallSeconds        = "wall_seconds"
	ParamDivergence    = "param_divergence"
	ParamDivergenceMax = "param_divergence_max"
	EpsilonMean        = "epsilon_mean"
	EpsilonMax         = "epsilon_max"
	StabilityGapSPrime = "stability_gap_s_prime"
	StabilityReplace   = "stability_replace"
	StabilityRuns      = "stability_runs"
)

// Directions of a metric.
const (
	Maximize = "maximize"
	Minimize = "minimize"
)

// Sources of a metric.
const (
	FromTrainer = "trainer"         // computed from the run's Result (and evaluation points)
	FromProbe   = "stability probe" // measured by the stability probe's twin runs
)

// Metric describes one named metric.
type Metric struct {
	Name string
	// Direction is the natural direction: Maximize or Minimize.
	Direction string
	// Source says what computes it: FromTrainer or FromProbe.
	Source string
	// Objective reports whether a study may optimise it.
	Objective bool
	Doc       string
	// Final computes the metric from a run's result; nil for the probe's.
	Final func(Result) float64
	// AtEval computes it at one evaluation point, given the best test
	// accuracy of the evaluations up to and including p; nil when an
	// evaluation has no value of it (it cannot then drive a pruner).
	AtEval func(p EvalPoint, best float64) float64
}

// PerEval reports whether every evaluation gives a value of the metric.
func (m Metric) PerEval() bool { return m.AtEval != nil }

// never is a hitting time that was not reached, as an objective: one more
// than the run's length, so that it ranks behind every reached one.
func never(hit, length int64) float64 {
	if hit < 0 {
		return float64(length + 1)
	}
	return float64(hit)
}

// table lists every metric, objectives first in the order they are offered.
var table = []Metric{
	{Name: TestAccuracy, Direction: Maximize, Source: FromTrainer, Objective: true, Doc: "final test accuracy",
		Final: func(r Result) float64 { return r.TestAccuracy }, AtEval: func(p EvalPoint, _ float64) float64 { return p.TestAcc }},
	{Name: BestTestAccuracy, Direction: Maximize, Source: FromTrainer, Objective: true, Doc: "best test accuracy over the evaluations",
		Final: func(r Result) float64 { return r.BestTestAccuracy }, AtEval: func(_ EvalPoint, best float64) float64 { return best }},
	{Name: TestLoss, Direction: Minimize, Source: FromTrainer, Objective: true, Doc: "final test loss",
		Final: func(r Result) float64 { return r.TestLoss }, AtEval: func(p EvalPoint, _ float64) float64 { return p.TestLoss }},
	{Name: TrainLoss, Direction: Minimize, Source: FromTrainer, Objective: true, Doc: "final train loss (no augmentation)",
		Final: func(r Result) float64 { return r.TrainLoss }, AtEval: func(p EvalPoint, _ float64) float64 { return p.TrainLoss }},
	{Name: TrainAccuracy, Direction: Maximize, Source: FromTrainer, Objective: true, Doc: "final train accuracy",
		Final: func(r Result) float64 { return r.TrainAccuracy }, AtEval: func(p EvalPoint, _ float64) float64 { return p.TrainAcc }},
	{Name: GeneralizationGap, Direction: Minimize, Source: FromTrainer, Objective: true, Doc: "test loss − train loss at the end",
		Final: func(r Result) float64 { return r.GeneralizationGap }, AtEval: func(p EvalPoint, _ float64) float64 { return p.TestLoss - p.TrainLoss }},
	{Name: HittingTimeOuter, Direction: Minimize, Source: FromTrainer, Objective: true,
		Doc:   "first outer step with train loss ≤ hit_threshold (−1 = never; as an objective: outer steps run + 1)",
		Final: func(r Result) float64 { return float64(r.HittingTimeOuter) }},
	{Name: HittingTimeGrads, Direction: Minimize, Source: FromTrainer, Objective: true,
		Doc:   "the same in gradient evaluations (−1 = never; as an objective: gradient evaluations run + 1)",
		Final: func(r Result) float64 { return float64(r.HittingTimeGrads) }},
	{Name: WallSeconds, Direction: Minimize, Source: FromTrainer, Objective: true, Doc: "wall time of the run",
		Final: func(r Result) float64 { return r.WallSeconds }},
	{Name: GradEvals, Direction: Minimize, Source: FromTrainer, Doc: "minibatch gradient evaluations made",
		Final: func(r Result) float64 { return float64(r.GradEvals) }},
	{Name: OuterSteps, Direction: Minimize, Source: FromTrainer, Doc: "outer steps made",
		Final: func(r Result) float64 { return float64(r.OuterSteps) }},
	{Name: Epochs, Direction: Minimize, Source: FromTrainer, Doc: "epochs of ⌈N/B⌉ outer steps made",
		Final: func(r Result) float64 { return r.Epochs }},
	{Name: StepMsMedian, Direction: Minimize, Source: FromTrainer, Doc: "median wall milliseconds of one step (forward, backward, update)",
		Final: func(r Result) float64 { return r.StepMsMedian }},
	{Name: ParamDivergence, Direction: Minimize, Source: FromProbe, Doc: "final ‖w − v‖ of the twins, mean over the twins"},
	{Name: ParamDivergenceMax, Direction: Minimize, Source: FromProbe, Doc: "final ‖w − v‖, maximum over the twins"},
	{Name: EpsilonMean, Direction: Minimize, Source: FromProbe, Doc: "final mean over test points of |f(w;x) − f(v;x)|, mean over the twins"},
	{Name: EpsilonMax, Direction: Minimize, Source: FromProbe, Doc: "final maximum over test points and twins of |f(w;x) − f(v;x)|"},
	{Name: StabilityGapSPrime, Direction: Minimize, Source: FromProbe, Doc: "final generalization gap of the S′ runs, mean over the twins"},
	{Name: StabilityReplace, Direction: Minimize, Source: FromProbe, Doc: "K, the number of replaced training samples"},
	{Name: StabilityRuns, Direction: Minimize, Source: FromProbe, Doc: "training runs the probe made (K + 1, or 2 for the control)"},
}

// All returns every metric of the table.
func All() []Metric { return slices.Clone(table) }

// Objectives returns the metrics a study may optimise.
func Objectives() []Metric {
	var out []Metric
	for _, m := range table {
		if m.Objective {
			out = append(out, m)
		}
	}
	return out
}

// ObjectiveNames lists the names of Objectives, comma-separated, for
// messages.
func ObjectiveNames() string {
	var names []string
	for _, m := range Objectives() {
		names = append(names, m.Name)
	}
	return strings.Join(names, ", ")
}

// ByName returns the metric of that name.
func ByName(name string) (Metric, bool) {
	i := slices.IndexFunc(table, func(m Metric) bool { return m.Name == name })
	if i < 0 {
		return Metric{}, false
	}
	return table[i], true
}

// ObjectiveValue is the scalar a study optimising the metric name gets
// from a finished run: the metric's value, except that a hitting time
// that was never reached counts as one more than the run's length. An
// unknown name, or a metric not computed from a Result, gives NaN.
func ObjectiveValue(name string, r Result) float64 {
	switch name {
	case HittingTimeOuter:
		return never(r.HittingTimeOuter, r.OuterSteps)
	case HittingTimeGrads:
		return never(r.HittingTimeGrads, r.GradEvals)
	}
	m, ok := ByName(name)
	if !ok || m.Final == nil {
		return math.NaN()
	}
	return m.Final(r)
}
