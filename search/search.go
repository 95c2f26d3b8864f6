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

	"github.com/lrsgd-lab/lrsgd/host/pipeline"
	"github.com/lrsgd-lab/lrsgd/results"
	"github.com/lrsgd-lab/lrsgd/search/record"
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
	AttrFailReason = record.AttrFailReason
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
	ReasonInterrupted = record.ReasonInterrupted
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

// ErrPruned is what a Runner's OnEval hook returns when the pruner stops
// the trial (pipeline.ErrPruned).
var ErrPruned = pipeline.ErrPruned

// Runner trains one trial: pipeline.Run, or a fake in tests. It must call
// hooks.OnEval after every evaluation and stop the run when it returns an
// error (ErrPruned, or a store failure), and stop at the next step when
// ctx is cancelled.
type Runner interface {
	Run(ctx context.Context, spec pipeline.Spec, hooks pipeline.Hooks) (pipeline.Outcome, error)
}

// Store is what Tune needs of the result store (*results.Store has it).
type Store interface {
	record.Store
	Heartbeat(ctx context.Context, trialID int, worker string) error
	StaleTrials(ctx context.Context, studyID int, olderThan time.Duration) ([]int, error)
}

var _ Store = (*results.Store)(nil)

// intermediateMetric is the metric whose per-evaluation values become the
// trial's goptuna intermediate values: the pruner's, else the objective's
// when it has per-evaluation values, else test accuracy.
func intermediateMetric(s *study.Study) string {
	if s.Pruner.Kind != study.PrunerNone && s.Pruner.Metric != "" {
		return s.Pruner.Metric
	}
	if m, ok := study.MetricByName(s.Objective.Metric); ok && m.PerEval() {
		return m.Name
	}
	return "test_accuracy"
}
