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
	"github.com/lrsgd-lab/lrsgd/internal/owner"
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
	// AttrAttempt (system) is the attempt a trial is of its parameters: 1
	// for the first run, 2 for its first retry, …
	AttrAttempt = "attempt"
	// AttrRetryOf (system) on a re-queued trial is the number of the first
	// attempt at its parameters.
	AttrRetryOf = "retry_of"
	// AttrResumedFrom (system) on a trial that resumed from a checkpoint is
	// the number of the trial that wrote it.
	AttrResumedFrom = "resumed_from"
	// AttrSeedIndex (system) is which of its configuration's runs a trial
	// is, 0 … seeds−1; its trainer seed is train.seed plus it.
	AttrSeedIndex = "seed_index"
	// AttrConfig (user) names a trial's configuration: its sampled values
	// (and optimizer) as "name=value" pairs sorted by name, the same for
	// all of a configuration's seeds. A parameter named seed (a grid over
	// the trainer's seed) is left out: it is a seeds axis.
	AttrConfig = "config_key"
)

// Fail reasons.
const (
	// ReasonStale: the trial's worker stopped beating for StaleAfter.
	ReasonStale = "stale heartbeat (worker died)"
	// ReasonGone: the trial's worker ran on this machine and its process
	// is gone (killed, crashed, machine preempted before the reboot).
	ReasonGone        = "worker died (its process is gone)"
	ReasonInterrupted = record.ReasonInterrupted
)

// DefaultRetries is how many times a trial that failed through no fault of
// its parameters (its worker died, its plugin crashed, the store was
// unreachable) is run again, when the study does not say (retries: N).
// Interrupted trials (Ctrl-C, SIGTERM) are run again without counting.
const DefaultRetries = 2

// Study user attribute keys written when a study is created.
const (
	StudyAttrMetric       = "objective_metric"
	StudyAttrIntermediate = "intermediate_metric"
	StudyAttrSampler      = "sampler"
	StudyAttrDefinition   = "definition_sha256"
	// StudyAttrHeartbeat and StudyAttrStaleAfter are the heartbeat period
	// and stale-after of the process that created the study: a process that
	// joins it must not take live workers for dead.
	StudyAttrHeartbeat  = "heartbeat"
	StudyAttrStaleAfter = "stale_after"
)

// ErrInterrupted is returned by Tune when its context was cancelled; the
// command exits with status 130.
var ErrInterrupted = errors.New("interrupted")

// ErrIncomplete is returned (wrapped, with the trials it could not judge)
// by a Tune call that was to run the study to its total but ends with
// trials still RUNNING under workers that look alive (on other machines,
// or within StaleAfter) or still queued: rerun it later. tune exits with
// status 3 for it.
var ErrIncomplete = errors.New("study incomplete")

// ErrStudySettings is returned (wrapped) when this process's heartbeat
// timing disagrees with the study's: its stale-after shorter than three of
// the study's heartbeats (it would take live workers for dead), or its
// heartbeat too slow for the study's stale-after.
var ErrStudySettings = errors.New("heartbeat settings disagree with the study's")

// ErrAllFailed is returned (wrapped, with the reasons) by a Tune call whose
// every trial failed; tune exits with status 4 for it.
var ErrAllFailed = errors.New("every trial of this call failed")

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
	HeartbeatOwner(ctx context.Context, trialID int, worker string, o owner.Owner) error
	RunningTrials(ctx context.Context, studyID int) ([]results.Running, error)
	PutCheckpoint(ctx context.Context, trialID int, data []byte) error
	GetCheckpoint(ctx context.Context, trialID int) ([]byte, bool, error)
	DeleteCheckpoint(ctx context.Context, trialID int) error
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
