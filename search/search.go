// Package search runs studies: goptuna samples each trial's
// hyperparameters from a [study.Study], a [Runner] trains the model with
// the optimizer plugin, and every evaluation, metric and piece of run
// metadata goes into the result store.
//
// [Tune] runs or resumes a study with any number of workers in this
// process; any number of processes may share one store. Workers claim
// queued trials atomically (see package grid), beat a heartbeat while a
// trial runs, and recover trials whose worker died (FAIL with reason
// "stale heartbeat (worker died)", parameters re-queued). Cancelling the
// context stops the running trials at their next step; they end FAIL with
// reason "interrupted" and their parameters are re-queued, so that a rerun
// resumes where this one stopped.
package search

import (
	"context"
	"errors"
	"time"

	"github.com/c-bata/goptuna"

	"github.com/lrsgd-lab/lrsgd/host/train"
	"github.com/lrsgd-lab/lrsgd/results"
	"github.com/lrsgd-lab/lrsgd/search/study"
)

// DefaultWorkers is the number of trials one tune process runs at once
// when --workers is not given. Whether two trials side by side (one core
// each) or one trial on both cores is faster is measured by the trainer
// speed work; until then one.
const DefaultWorkers = 1

// Default heartbeat timing: a running trial beats every DefaultHeartbeat;
// a RUNNING trial whose last beat is older than DefaultStaleAfter is
// taken for dead.
const (
	DefaultHeartbeat  = 5 * time.Second
	DefaultStaleAfter = 60 * time.Second
)

// Trial attribute keys (user attributes unless noted).
const (
	// AttrFailReason says why a trial ended FAIL or PRUNED (also a system
	// attribute).
	AttrFailReason = "fail_reason"
	// AttrWorker names the worker (host:pid/index) that ran the trial.
	AttrWorker = "worker"
	// AttrOptimizer is the trial's optimizer plugin.
	AttrOptimizer = "optimizer"
	// AttrRequeuedFrom (system) on a re-queued trial is the number of the
	// trial whose parameters it repeats.
	AttrRequeuedFrom = "requeued_from"
	// AttrRequeuedAs (system) on a failed trial is the number of the trial
	// that repeats it; such a trial does not count towards the study's total.
	AttrRequeuedAs = "requeued_as"
)

// Fail reasons.
const (
	ReasonStale       = "stale heartbeat (worker died)"
	ReasonInterrupted = "interrupted"
)

// Study user attribute keys written when a study is created.
const (
	StudyAttrMetric       = "objective_metric"
	StudyAttrIntermediate = "intermediate_metric"
	StudyAttrSampler      = "sampler"
	StudyAttrDefinition   = "definition_sha256"
)

// ErrInterrupted is returned by Tune when its context was cancelled; the
// command exits with status 130.
var ErrInterrupted = errors.New("interrupted")

// ErrPruned is what a Runner's report function returns when the pruner
// stops the trial; the Runner stops the training and returns it (possibly
// wrapped) or a Result with Status "pruned".
var ErrPruned = errors.New("trial pruned")

// TrialSpec is everything a Runner needs to train one trial.
type TrialSpec struct {
	Study   string
	TrialID int // goptuna's trial ID (the store's key)
	Number  int // trial number within the study
	// Optimizer is the plugin name and Hyperparams its hyperparameters.
	Optimizer   string
	Hyperparams map[string]string
	Model       string
	Dataset     string
	Train       study.Train
	// Stability asks for the stability probe (issue 6); nil = none.
	Stability *study.Stability
	// DataDir and PluginsDir come from --data-dir and --plugins-dir.
	DataDir    string
	PluginsDir string
}

// Outcome is a finished run: the trainer's result and what the runner
// knows about the plugin and the data (search fills in TrialID, Model,
// Seed, Commit, Machine and GoVersion where empty).
type Outcome struct {
	Result train.Result
	Meta   results.RunMeta
	// Metrics are extra metrics stored with the trial's own (the stability
	// probe's param_divergence, epsilon_mean, epsilon_max, ...).
	Metrics map[string]float64
}

// Eval is one evaluation of a trial: the trainer's point and, with the
// stability probe, the twins' comparison at that point.
type Eval struct {
	train.EvalPoint
	ParamDivergence, EpsilonMean, EpsilonMax *float64
}

// Runner trains one trial. report must be called after every evaluation;
// when it returns an error (ErrPruned, or a store failure) the run stops
// and Run returns that error. Run stops at the next step when ctx is
// cancelled.
type Runner interface {
	Run(ctx context.Context, spec TrialSpec, report func(Eval) error) (Outcome, error)
}

// Store is what Tune needs of the result store (*results.Store has it).
type Store interface {
	Storage() goptuna.Storage
	AddCurvePoints(ctx context.Context, pts ...results.CurvePoint) error
	PutRunMeta(ctx context.Context, m results.RunMeta) error
	PutMetrics(ctx context.Context, trialID int, metrics map[string]float64) error
	Heartbeat(ctx context.Context, trialID int, worker string) error
	StaleTrials(ctx context.Context, studyID int, olderThan time.Duration) ([]int, error)
}

var _ Store = (*results.Store)(nil)

// objectiveValue maps a finished run to the study's scalar. A hitting time
// that was never reached counts as one more than the run's length.
func objectiveValue(metric string, r train.Result) float64 {
	switch metric {
	case "hitting_time_outer":
		if r.HittingTimeOuter < 0 {
			return float64(r.OuterSteps + 1)
		}
		return float64(r.HittingTimeOuter)
	case "hitting_time_grads":
		if r.HittingTimeGrads < 0 {
			return float64(r.GradEvals + 1)
		}
		return float64(r.HittingTimeGrads)
	}
	return resultMetrics(r)[metric]
}

// resultMetrics are the metrics stored per trial (results.Metric* names).
func resultMetrics(r train.Result) map[string]float64 {
	return map[string]float64{
		results.MetricTestAccuracy:      r.TestAccuracy,
		results.MetricTestLoss:          r.TestLoss,
		results.MetricTrainLoss:         r.TrainLoss,
		results.MetricTrainAccuracy:     r.TrainAccuracy,
		results.MetricGeneralizationGap: r.GeneralizationGap,
		results.MetricBestTestAccuracy:  r.BestTestAccuracy,
		results.MetricHittingTimeOuter:  float64(r.HittingTimeOuter),
		results.MetricHittingTimeGrads:  float64(r.HittingTimeGrads),
		results.MetricGradEvals:         float64(r.GradEvals),
		results.MetricOuterSteps:        float64(r.OuterSteps),
		results.MetricEpochs:            r.Epochs,
		results.MetricStepMsMedian:      r.StepMsMedian,
		results.MetricWallSeconds:       r.WallSeconds,
	}
}

// evalMetric is the per-evaluation value of a metric.
func evalMetric(metric string, ep train.EvalPoint, best float64) float64 {
	switch metric {
	case "test_accuracy":
		return ep.TestAcc
	case "best_test_accuracy":
		return max(best, ep.TestAcc)
	case "test_loss":
		return ep.TestLoss
	case "train_loss":
		return ep.TrainLoss
	case "train_accuracy":
		return ep.TrainAcc
	case "generalization_gap":
		return ep.TestLoss - ep.TrainLoss
	}
	return ep.TestAcc
}

// intermediateMetric is the metric whose per-evaluation values become the
// trial's goptuna intermediate values: the pruner's, else the objective's
// when it has per-evaluation values, else test accuracy.
func intermediateMetric(s *study.Study) string {
	if s.Pruner.Kind != study.PrunerNone && s.Pruner.Metric != "" {
		return s.Pruner.Metric
	}
	if m, ok := study.MetricByName(s.Objective.Metric); ok && m.PerEval {
		return m.Name
	}
	return "test_accuracy"
}
