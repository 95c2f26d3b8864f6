package search

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/c-bata/goptuna"

	"github.com/lrsgd-lab/lrsgd/host/pipeline"
	"github.com/lrsgd-lab/lrsgd/host/stability"
	"github.com/lrsgd-lab/lrsgd/plugins/loader"
	"github.com/lrsgd-lab/lrsgd/search/record"
)

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

	trial := goptuna.Trial{Study: t.gs, ID: id}
	_ = trial.SetUserAttr(AttrWorker, worker)
	rec := &record.Trial{Store: t.store, ID: id, Objective: t.s.Objective.Metric, Intermediate: t.inter,
		PrunerName: t.s.Pruner.Kind, Env: t.env}
	if t.gs.Pruner != nil {
		rec.Prune = func(step int, v float64) (bool, error) {
			err := trial.ShouldPrune(step, v)
			if errors.Is(err, goptuna.ErrTrialPruned) {
				return true, nil
			}
			return false, err
		}
	}
	finish := func(out pipeline.Outcome, runErr error) (TrialReport, error) {
		f, err := rec.Finish(ctx, out, runErr)
		rep.State, rep.Reason, rep.Value, rep.Metrics, rep.Wall = f.State, f.Reason, f.Value, f.Metrics, time.Since(start)
		if err != nil {
			return rep, fmt.Errorf("trial %d: %w", rep.Number, err)
		}
		if f.Requeue {
			if _, err := t.requeue(id); err != nil {
				return rep, err
			}
		}
		return rep, nil
	}

	if err := trial.CallRelativeSampler(); err != nil {
		return finish(pipeline.Outcome{}, fmt.Errorf("relative sampler: %w", err))
	}
	a, err := t.s.Suggest(&trial)
	if err != nil {
		return finish(pipeline.Outcome{}, err)
	}
	rep.Params = a.Params
	_ = trial.SetUserAttr(AttrOptimizer, a.Optimizer)

	spec := pipeline.Spec{Config: t.s.Config(a, t.cfg.DataDir), Loader: loader.Options{Dir: t.cfg.PluginsDir}}
	if t.s.Stability != nil {
		spec.Stability = &stability.Config{Replace: t.s.Stability.Replace, Seed: spec.Config.Seed}
	}
	if err := rec.Begin(ctx, spec); err != nil {
		return rep, err
	}
	out, runErr := t.cfg.Runner.Run(ctx, spec, pipeline.Hooks{OnEval: func(e pipeline.Eval) error { return rec.OnEval(ctx, e) }})
	return finish(out, runErr)
}
