package search

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/c-bata/goptuna"

	"github.com/lrsgd-lab/lrsgd/host/train"
	"github.com/lrsgd-lab/lrsgd/results"
)

// storeTimeout bounds the writes that record a trial's end, which run
// even after the context was cancelled.
const storeTimeout = 30 * time.Second

// runTrial runs one claimed (RUNNING) trial to its end and records it.
// The returned error is a store failure that should stop the worker; a
// failing trial is recorded as FAIL and is not an error.
func (t *tuner) runTrial(ctx context.Context, id int, worker string) (TrialReport, error) {
	start := time.Now()
	rep := TrialReport{TrialID: id, Number: -1, Params: map[string]string{}}
	if n, err := t.storage.GetTrialNumberFromID(id); err == nil {
		rep.Number = n
	}
	// Heartbeat from now until the trial is recorded.
	beatCtx, stopBeat := context.WithCancel(context.WithoutCancel(ctx))
	var beatWG sync.WaitGroup
	if err := t.store.Heartbeat(ctx, id, worker); err != nil && ctx.Err() == nil {
		stopBeat()
		return rep, fmt.Errorf("trial %d: heartbeat: %w", rep.Number, err)
	}
	beatWG.Add(1)
	go func() {
		defer beatWG.Done()
		tick := time.NewTicker(t.cfg.Heartbeat)
		defer tick.Stop()
		for {
			select {
			case <-beatCtx.Done():
				return
			case <-tick.C:
				_ = t.store.Heartbeat(beatCtx, id, worker) // a missed beat is retried next tick
			}
		}
	}()
	defer func() {
		stopBeat()
		beatWG.Wait()
	}()

	// Bookkeeping writes run even after ctx is cancelled, so that an
	// interrupted trial keeps its curve and is recorded consistently.
	wctx := context.WithoutCancel(ctx)
	endCtx := func() (context.Context, context.CancelFunc) { return context.WithTimeout(wctx, storeTimeout) }

	trial := goptuna.Trial{Study: t.gs, ID: id}
	_ = trial.SetUserAttr(AttrWorker, worker)
	fail := func(reason string, requeue bool) (TrialReport, error) {
		rep.State, rep.Reason, rep.Wall = goptuna.TrialStateFail, reason, time.Since(start)
		if requeue {
			if _, err := t.failAndRequeue(id, reason); err != nil {
				return rep, err
			}
			return rep, nil
		}
		if err := t.setReason(id, reason); err != nil {
			return rep, err
		}
		if err := t.storage.SetTrialState(id, goptuna.TrialStateFail); err != nil && !errors.Is(err, goptuna.ErrTrialCannotBeUpdated) {
			return rep, fmt.Errorf("trial %d: mark FAIL: %w", rep.Number, err)
		}
		return rep, nil
	}

	if err := trial.CallRelativeSampler(); err != nil {
		return fail(fmt.Sprintf("relative sampler: %v", err), false)
	}
	a, err := t.s.Suggest(&trial)
	if err != nil {
		return fail(err.Error(), false)
	}
	rep.Params = a.Params
	_ = trial.SetUserAttr(AttrOptimizer, a.Optimizer)

	spec := TrialSpec{
		Study: t.s.Name, TrialID: id, Number: rep.Number,
		Optimizer: a.Optimizer, Hyperparams: a.Hyperparams,
		Model: t.s.Model, Dataset: t.s.Dataset, Train: a.Train,
		Stability: t.s.Stability, DataDir: t.cfg.DataDir, PluginsDir: t.cfg.PluginsDir,
	}
	var (
		step     int
		best     = math.Inf(-1)
		lastStep = -1
		lastVal  float64
		prunedAt = -1
	)
	report := func(e Eval) error {
		ep := e.EvalPoint
		step++
		if err := t.store.AddCurvePoints(wctx, results.CurvePoint{
			TrialID: id, Epoch: ep.Epoch, OuterSteps: ep.OuterSteps, GradEvals: ep.GradEvals, LR: ep.LR,
			TrainLoss: ep.TrainLoss, TrainAcc: ep.TrainAcc, TestLoss: ep.TestLoss, TestAcc: ep.TestAcc, Wall: ep.Wall,
			ParamDivergence: e.ParamDivergence, EpsilonMean: e.EpsilonMean, EpsilonMax: e.EpsilonMax,
		}); err != nil {
			return fmt.Errorf("store curve point: %w", err)
		}
		v := evalMetric(t.inter, ep, best)
		best = max(best, ep.TestAcc)
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil // the trainer reports the divergence itself
		}
		lastStep, lastVal = step, v
		if t.gs.Pruner == nil {
			if err := t.storage.SetTrialIntermediateValue(id, step, v); err != nil {
				return fmt.Errorf("store intermediate value: %w", err)
			}
			return nil
		}
		err := trial.ShouldPrune(step, v)
		if errors.Is(err, goptuna.ErrTrialPruned) {
			prunedAt = step
			return ErrPruned
		}
		if err != nil {
			return fmt.Errorf("pruner: %w", err)
		}
		return nil
	}

	out, runErr := t.cfg.Runner.Run(ctx, spec, report)
	rep.Wall = time.Since(start)
	meta := out.Meta
	fillMeta(&meta, spec, t.env)
	if meta.Plugin != "" {
		c, cancel := endCtx()
		err := t.store.PutRunMeta(c, meta)
		cancel()
		if err != nil {
			return rep, fmt.Errorf("trial %d: %w", rep.Number, err)
		}
	}
	r := out.Result
	pruned := errors.Is(runErr, ErrPruned) || r.Status == "pruned"
	interrupted := ctx.Err() != nil && !pruned && (runErr != nil || r.Status == "interrupted")
	switch {
	case interrupted:
		return fail(ReasonInterrupted, true)
	case pruned:
		reason := fmt.Sprintf("pruned by the %s pruner at evaluation %d (%s = %.6g)", t.s.Pruner.Kind, prunedAt, t.inter, lastVal)
		return t.finishPruned(id, &rep, reason, lastStep, lastVal, r, out.Metrics)
	case runErr != nil:
		return fail(oneLine(runErr.Error()), false)
	case r.Status == "diverged":
		reason := fmt.Sprintf("diverged (NaN/Inf) at gradient evaluation %d", r.DivergedAt)
		return t.finishPruned(id, &rep, reason, lastStep, lastVal, r, out.Metrics)
	case r.Status != "ok" && r.Status != "":
		return fail(fmt.Sprintf("trainer status %q", r.Status), false)
	}

	// COMPLETE.
	metrics := resultMetrics(r)
	maps.Copy(metrics, out.Metrics)
	rep.Metrics = metrics
	c, cancel := endCtx()
	defer cancel()
	if err := t.store.PutMetrics(c, id, metrics); err != nil {
		return rep, fmt.Errorf("trial %d: %w", rep.Number, err)
	}
	setMetricAttrs(&trial, metrics)
	v := objectiveValue(t.s.Objective.Metric, r)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return fail(fmt.Sprintf("objective %s is %v", t.s.Objective.Metric, v), false)
	}
	rep.Value = v
	if err := t.storage.SetTrialValue(id, v); err != nil {
		return t.lost(rep, err)
	}
	if err := t.storage.SetTrialState(id, goptuna.TrialStateComplete); err != nil {
		return t.lost(rep, err)
	}
	rep.State = goptuna.TrialStateComplete
	return rep, nil
}

// finishPruned records a pruned or diverged trial: PRUNED, the last
// intermediate value as its value (as goptuna does), the reason, and the
// metrics the run reached.
func (t *tuner) finishPruned(id int, rep *TrialReport, reason string, lastStep int, lastVal float64, r train.Result, extra map[string]float64) (TrialReport, error) {
	rep.State, rep.Reason = goptuna.TrialStatePruned, reason
	if err := t.setReason(id, reason); err != nil {
		return *rep, err
	}
	if r.GradEvals > 0 {
		m := resultMetrics(r)
		maps.Copy(m, extra)
		rep.Metrics = m
		c, cancel := context.WithTimeout(context.Background(), storeTimeout)
		_ = t.store.PutMetrics(c, id, m)
		cancel()
	}
	if lastStep >= 0 {
		rep.Value = lastVal
		if err := t.storage.SetTrialValue(id, lastVal); err != nil {
			return t.lost(*rep, err)
		}
	} else {
		rep.Value = math.NaN()
	}
	if err := t.storage.SetTrialState(id, goptuna.TrialStatePruned); err != nil {
		return t.lost(*rep, err)
	}
	return *rep, nil
}

// lost handles a trial that could not be finished because it is no longer
// RUNNING: another process took it for dead (its heartbeat was late) and
// re-queued it. The result stays in the metrics table; the trial stays FAIL.
func (t *tuner) lost(rep TrialReport, err error) (TrialReport, error) {
	if errors.Is(err, goptuna.ErrTrialCannotBeUpdated) {
		rep.State = goptuna.TrialStateFail
		rep.Reason = "finished after another worker had marked it failed (late heartbeat); its parameters were re-queued"
		return rep, nil
	}
	return rep, fmt.Errorf("trial %d: record result: %w", rep.Number, err)
}

func setMetricAttrs(trial *goptuna.Trial, m map[string]float64) {
	for k, v := range m {
		_ = trial.SetUserAttr(k, strconv.FormatFloat(v, 'g', -1, 64))
	}
}

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + " …"
	}
	return s
}
