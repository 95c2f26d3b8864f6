// Package record files runs in the result store. A [Trial] records one
// run — from `train --storage` or from a `tune` trial alike — as one
// goptuna trial: its hyperparameters, every evaluation (a curve point, and
// where a study asks for it an intermediate value), its run metadata and
// final metrics, its value and its state. Each fact has one place in the
// store (see docs/results.md); only goptuna's trials.value and intermediate
// values repeat a metric, because goptuna's samplers and pruners read them.
package record

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/c-bata/goptuna"

	"github.com/lrsgd-lab/lrsgd/host/blas"
	"github.com/lrsgd-lab/lrsgd/host/metrics"
	"github.com/lrsgd-lab/lrsgd/host/pipeline"
	"github.com/lrsgd-lab/lrsgd/plugins/loader"
	"github.com/lrsgd-lab/lrsgd/results"
)

// Trial attribute keys (user attributes unless noted).
const (
	// AttrFailReason says why a trial ended FAIL or PRUNED (also a system
	// attribute).
	AttrFailReason = "fail_reason"
)

// ReasonInterrupted is the fail reason of a run stopped by Ctrl-C or
// SIGTERM.
const ReasonInterrupted = "interrupted"

// Timeout bounds the writes that record a run's end. They run even after
// the run's context was cancelled, so that an interrupted run is filed
// whole.
const Timeout = 30 * time.Second

// Store is what a Trial writes to (*results.Store has it).
type Store interface {
	Storage() goptuna.Storage
	AddCurvePoints(ctx context.Context, pts ...results.CurvePoint) error
	PutRunMeta(ctx context.Context, m results.RunMeta) error
	PutMetrics(ctx context.Context, trialID int, metrics map[string]float64) error
	PutHyperparams(ctx context.Context, trialID int, hp map[string]string) error
}

var _ Store = (*results.Store)(nil)

// Env is what run metadata says about the lab and the machine; compute it
// once per process with Environment.
type Env struct {
	Commit, Machine string
}

// Trial records one run as the goptuna trial ID.
type Trial struct {
	Store Store
	ID    int
	// Objective is the metric whose value becomes the trial's value (see
	// metrics.ObjectiveValue).
	Objective string
	// Intermediate, when non-empty, is the metric whose value at every
	// evaluation becomes a goptuna intermediate value (step 1, 2, …).
	Intermediate string
	// Prune, when non-nil, is asked after every intermediate value whether
	// to stop the run (goptuna's Trial.ShouldPrune, which stores the value
	// itself); PrunerName names it in the fail reason.
	Prune      func(step int, value float64) (bool, error)
	PrunerName string
	Env        Env

	step     int
	best     float64
	lastStep int
	lastVal  float64
	prunedAt int
	stepped  bool
}

// Filed is how a trial was filed.
type Filed struct {
	State   goptuna.TrialState
	Value   float64 // NaN when the trial has none
	Reason  string  // why it failed or was pruned
	Metrics map[string]float64
	// Requeue is set for a trial that failed through no fault of its
	// parameters: it was interrupted, its plugin crashed or hung, or the
	// store could not be reached. A study runs it again; Counted says
	// whether the failure counts towards the study's retry limit (an
	// interruption does not).
	Requeue, Counted bool
}

func (t *Trial) init() {
	if !t.stepped {
		t.stepped, t.best, t.lastStep, t.prunedAt = true, math.Inf(-1), -1, -1
	}
}

// Begin records what the run is given before it starts: the optimizer's
// hyperparameters, so that a run that never ends still shows them.
func (t *Trial) Begin(ctx context.Context, spec pipeline.Spec) error {
	t.init()
	if err := t.Store.PutHyperparams(ctx, t.ID, spec.Config.Hyperparams); err != nil {
		return fmt.Errorf("trial %d: %w", t.ID, err)
	}
	return nil
}

// OnEval records one evaluation: a curve point and, with Intermediate set,
// an intermediate value. It returns pipeline.ErrPruned when Prune says so,
// as pipeline.Hooks.OnEval expects. Writes ignore ctx's cancellation: an
// interrupted run keeps the curve it made.
func (t *Trial) OnEval(ctx context.Context, e pipeline.Eval) error {
	t.init()
	ctx = context.WithoutCancel(ctx)
	p := e.EvalPoint
	pt := results.CurvePoint{TrialID: t.ID, Epoch: p.Epoch, OuterSteps: p.OuterSteps, GradEvals: p.GradEvals, LR: p.LR,
		TrainLoss: p.TrainLoss, TrainAcc: p.TrainAcc, TestLoss: p.TestLoss, TestAcc: p.TestAcc, Wall: p.Wall}
	if q := e.Probe; q != nil {
		d, em, ex := q.ParamDivergence, q.EpsilonMean, q.EpsilonMax
		pt.ParamDivergence, pt.EpsilonMean, pt.EpsilonMax = &d, &em, &ex
	}
	if err := t.Store.AddCurvePoints(ctx, pt); err != nil {
		return fmt.Errorf("store curve point: %w", err)
	}
	t.step++
	t.best = max(t.best, p.TestAcc)
	if t.Intermediate == "" {
		return nil
	}
	m, ok := metrics.ByName(t.Intermediate)
	if !ok || !m.PerEval() {
		return fmt.Errorf("intermediate metric %q has no per-evaluation values", t.Intermediate)
	}
	v := m.AtEval(p, t.best)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil // the trainer reports the divergence itself
	}
	t.lastStep, t.lastVal = t.step, v
	if t.Prune == nil {
		if err := t.Store.Storage().SetTrialIntermediateValue(t.ID, t.step, v); err != nil {
			return fmt.Errorf("store intermediate value: %w", err)
		}
		return nil
	}
	prune, err := t.Prune(t.step, v)
	if err != nil {
		return fmt.Errorf("pruner: %w", err)
	}
	if prune {
		t.prunedAt = t.step
		return pipeline.ErrPruned
	}
	return nil
}

// Finish files the end of the run: its run metadata, then by outcome
//
//   - interrupted (ctx cancelled before the run finished): FAIL, reason
//     "interrupted", Requeue set;
//   - pruned, or diverged (a NaN or Inf appeared): PRUNED with the reason,
//     the metrics it reached, and the last intermediate value as its value
//     (as goptuna does);
//   - failed (runErr): FAIL with the error's first line as the reason;
//   - finished: COMPLETE with its metrics and the objective as its value.
//
// Its writes ignore ctx's cancellation and are bounded by Timeout. The
// error is a store failure; a trial that another process took for dead
// and failed meanwhile is reported as FAIL, not as an error.
func (t *Trial) Finish(ctx context.Context, out pipeline.Outcome, runErr error) (Filed, error) {
	t.init()
	interrupted := ctx.Err() != nil
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), Timeout)
	defer cancel()
	gs := t.Store.Storage()
	if out.Plugin.Description.Name != "" {
		if err := t.Store.PutRunMeta(wctx, t.runMeta(out, interrupted)); err != nil {
			return Filed{}, fmt.Errorf("trial %d: %w", t.ID, err)
		}
	}
	status := out.Status()
	pruned := errors.Is(runErr, pipeline.ErrPruned) || status == metrics.StatusPruned
	switch {
	case interrupted && !pruned && (runErr != nil || status == metrics.StatusInterrupted):
		f := Filed{State: goptuna.TrialStateFail, Value: math.NaN(), Reason: ReasonInterrupted, Requeue: true}
		return t.fail(f)
	case pruned:
		reason := fmt.Sprintf("pruned by the %s pruner at evaluation %d (%s = %.6g)", t.PrunerName, t.prunedAt, t.Intermediate, t.lastVal)
		return t.pruned(wctx, out, reason)
	case runErr != nil:
		f := Filed{State: goptuna.TrialStateFail, Value: math.NaN(), Reason: OneLine(runErr.Error())}
		if noFault(runErr) {
			f.Requeue, f.Counted = true, true
		}
		return t.fail(f)
	case status == metrics.StatusDiverged:
		return t.pruned(wctx, out, fmt.Sprintf("diverged (NaN/Inf) at gradient evaluation %d", out.DivergedAt()))
	case status != metrics.StatusOK:
		return t.fail(Filed{State: goptuna.TrialStateFail, Value: math.NaN(), Reason: fmt.Sprintf("trainer status %q", status)})
	}
	f := Filed{State: goptuna.TrialStateComplete, Metrics: out.Metrics()}
	if err := t.Store.PutMetrics(wctx, t.ID, f.Metrics); err != nil {
		return f, fmt.Errorf("trial %d: %w", t.ID, err)
	}
	f.Value = metrics.ObjectiveValue(t.Objective, out.Result)
	if math.IsNaN(f.Value) || math.IsInf(f.Value, 0) {
		f.State, f.Reason = goptuna.TrialStateFail, fmt.Sprintf("objective %s is %v", t.Objective, f.Value)
		return t.fail(f)
	}
	if err := gs.SetTrialValue(t.ID, f.Value); err != nil {
		return t.lost(f, err)
	}
	if err := gs.SetTrialState(t.ID, goptuna.TrialStateComplete); err != nil {
		return t.lost(f, err)
	}
	return f, nil
}

// noFault reports whether a run's error says nothing about its
// parameters: the store could not be reached, or the plugin process died
// or stopped answering.
func noFault(err error) bool {
	return results.Transient(err) || errors.Is(err, loader.ErrPluginStopped)
}

// pruned files a pruned or diverged run.
func (t *Trial) pruned(ctx context.Context, out pipeline.Outcome, reason string) (Filed, error) {
	f := Filed{State: goptuna.TrialStatePruned, Reason: reason, Value: math.NaN()}
	if err := t.setReason(reason); err != nil {
		return f, err
	}
	if out.Result.GradEvals > 0 {
		f.Metrics = out.Metrics()
		if err := t.Store.PutMetrics(ctx, t.ID, f.Metrics); err != nil {
			return f, fmt.Errorf("trial %d: %w", t.ID, err)
		}
	}
	gs := t.Store.Storage()
	if t.lastStep >= 0 {
		f.Value = t.lastVal
		if err := gs.SetTrialValue(t.ID, t.lastVal); err != nil {
			return t.lost(f, err)
		}
	}
	if err := gs.SetTrialState(t.ID, goptuna.TrialStatePruned); err != nil {
		return t.lost(f, err)
	}
	return f, nil
}

// fail files f (a FAIL) with its reason.
func (t *Trial) fail(f Filed) (Filed, error) {
	if err := t.setReason(f.Reason); err != nil {
		return f, err
	}
	err := t.Store.Storage().SetTrialState(t.ID, goptuna.TrialStateFail)
	if err != nil && !errors.Is(err, goptuna.ErrTrialCannotBeUpdated) {
		return f, fmt.Errorf("trial %d: mark FAIL: %w", t.ID, err)
	}
	return f, nil
}

// lost handles a trial that could not be finished because it is no longer
// RUNNING: another process took it for dead (its heartbeat was late) and
// failed it. The metrics stay in the store; the trial stays FAIL.
func (t *Trial) lost(f Filed, err error) (Filed, error) {
	if errors.Is(err, goptuna.ErrTrialCannotBeUpdated) {
		f.State = goptuna.TrialStateFail
		f.Reason = "finished after another worker had marked it failed (late heartbeat); its parameters were re-queued"
		return f, nil
	}
	return f, fmt.Errorf("trial %d: record result: %w", t.ID, err)
}

// setReason stores why the trial failed or was pruned (see SetReason).
func (t *Trial) setReason(reason string) error { return SetReason(t.Store.Storage(), t.ID, reason) }

// SetReason stores why trial id failed or was pruned, cut to 2,000 bytes,
// as its user and its system attribute AttrFailReason.
func SetReason(gs goptuna.Storage, id int, reason string) error {
	reason = Truncate(reason, 2000)
	if err := gs.SetTrialUserAttr(id, AttrFailReason, reason); err != nil {
		return fmt.Errorf("trial %d: store fail reason: %w", id, err)
	}
	if err := gs.SetTrialSystemAttr(id, AttrFailReason, reason); err != nil {
		return fmt.Errorf("trial %d: store fail reason: %w", id, err)
	}
	return nil
}

// runMeta is the trial's run metadata: what ran, on what data, where, and
// the trainer's status (ok, diverged, pruned, interrupted).
func (t *Trial) runMeta(out pipeline.Outcome, interrupted bool) results.RunMeta {
	cfg := out.Spec.Config
	status := string(out.Status())
	if status == "" && interrupted {
		status = string(metrics.StatusInterrupted) // stopped before the run had a result
	}
	extra := map[string]string{
		"plugin_path": out.Plugin.Path,
		"batch_size":  strconv.Itoa(cfg.BatchSize),
		"fast_ops":    strconv.FormatBool(out.FastOps),
	}
	if status != "" {
		extra["status"] = status
	}
	if out.ResumedAt > 0 {
		extra["resumed_at_grad_evals"] = strconv.FormatInt(out.ResumedAt, 10)
	}
	if out.Data.Train != "" {
		extra["train_set"], extra["test_set"] = out.Data.Train, out.Data.Test
	}
	if st := out.Spec.Stability; st != nil {
		extra["stability_replace"] = strconv.Itoa(st.Replace)
		extra["stability_seed"] = strconv.FormatUint(st.Seed, 10)
		if p := out.Probe; p != nil {
			extra["stability"] = fmt.Sprintf("K=%d runs=%d status=%s", p.Replace, p.Runs, p.Status)
		}
	}
	return results.RunMeta{
		TrialID: t.ID, Plugin: out.Plugin.Description.Name, PluginVersion: out.Plugin.Description.Version,
		PluginSHA256: out.Plugin.SHA256, Dataset: cfg.Data.Dataset, DatasetSHA256: out.Data.SHA256,
		Model: cfg.Model, Seed: cfg.Seed, Commit: t.Env.Commit, Machine: t.Env.Machine,
		GoVersion: goVersion(), BLAS: blas.Impl(), Extra: extra,
	}
}

// Truncate cuts s to at most n bytes.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// OneLine is the first line of s, with " …" when there were more.
func OneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + " …"
	}
	return s
}

// NewTrial creates a RUNNING trial of the named study in the store,
// creating the study first when it is not there (to maximise objective,
// recorded as the study's objective_metric). `train --storage` files its
// run this way.
func NewTrial(st Store, study, objective string) (int, error) {
	gs := st.Storage()
	studyID, err := gs.GetStudyIDFromName(study)
	if err != nil {
		if studyID, err = gs.CreateNewStudy(study); err != nil {
			if studyID, err = gs.GetStudyIDFromName(study); err != nil { // created meanwhile?
				return 0, fmt.Errorf("create study %s: %w", study, err)
			}
		} else {
			dir := goptuna.StudyDirectionMaximize
			if m, ok := metrics.ByName(objective); ok && m.Direction == metrics.Minimize {
				dir = goptuna.StudyDirectionMinimize
			}
			if err := gs.SetStudyDirection(studyID, dir); err != nil {
				return 0, fmt.Errorf("study %s: set direction: %w", study, err)
			}
			if err := gs.SetStudyUserAttr(studyID, "objective_metric", objective); err != nil {
				return 0, fmt.Errorf("study %s: set objective: %w", study, err)
			}
		}
	}
	id, err := gs.CreateNewTrial(studyID)
	if err != nil {
		return 0, fmt.Errorf("study %s: new trial: %w", study, err)
	}
	return id, nil
}
