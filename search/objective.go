package search

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/c-bata/goptuna"

	"github.com/lrsgd-lab/lrsgd/host/pipeline"
	"github.com/lrsgd-lab/lrsgd/host/stability"
	"github.com/lrsgd-lab/lrsgd/host/train"
	"github.com/lrsgd-lab/lrsgd/plugins/loader"
	"github.com/lrsgd-lab/lrsgd/search/grid"
	"github.com/lrsgd-lab/lrsgd/search/record"
	"github.com/lrsgd-lab/lrsgd/search/study"
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
	if err := t.store.HeartbeatOwner(ctx, id, worker, t.owner); err != nil && ctx.Err() == nil {
		stopBeat()
		// Give the trial back if the store lets us; else the next call on
		// this machine recovers it (its owner, this process, will be gone).
		_, _, _ = t.failAndRequeue(id, "store unavailable when the trial started", false)
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
				_ = t.store.HeartbeatOwner(beatCtx, id, worker, t.owner) // a missed beat is retried next tick
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
		if !f.Requeue {
			t.ckpt.drop(ctx, id)
			return rep, nil
		}
		if err := t.ckpt.saved(context.WithoutCancel(ctx), id); err != nil {
			t.logf("trial %d: %v", rep.Number, err)
		}
		requeued, err := t.requeue(id, f.Counted)
		if err != nil {
			return rep, err
		}
		if !requeued {
			rep.Reason += fmt.Sprintf("; not re-queued: its parameters failed %d times", t.retries+1)
		}
		return rep, nil
	}

	ft, err := t.storage.GetTrial(id)
	if err != nil {
		return finish(pipeline.Outcome{}, fmt.Errorf("read trial: %w", err))
	}
	phase, tunedFrom, err := t.phase(ft)
	if err != nil {
		return finish(pipeline.Outcome{}, err)
	}
	if phase != "" {
		_ = trial.SetUserAttr(AttrPhase, phase)
	}
	if tunedFrom >= 0 {
		_ = trial.SetUserAttr(AttrTunedFrom, strconv.Itoa(tunedFrom))
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
	_ = trial.SetUserAttr(AttrConfig, configKey(a.Params))
	seedIndex, err := t.seedIndex(id)
	if err != nil {
		return finish(pipeline.Outcome{}, err)
	}
	a.Train.Seed += uint64(seedIndex)
	if phase == PhaseFinal {
		a.Train.Seed += study.FinalSeedOffset
	}

	spec := pipeline.Spec{Config: t.s.Config(a, t.cfg.DataDir), Loader: loader.Options{Dir: t.cfg.PluginsDir}}
	if t.s.Stability != nil {
		spec.Stability = &stability.Config{Replace: t.s.Stability.Replace, Seed: spec.Config.Seed}
	}
	spec.Config.Checkpoint = t.ckpt.path(id)
	if spec.Config.Resume, err = t.resumable(ctx, ft); err != nil {
		return finish(pipeline.Outcome{}, err)
	}
	if err := rec.Begin(ctx, spec); err != nil {
		return rep, err
	}
	hooks := pipeline.Hooks{OnEval: func(e pipeline.Eval) error {
		if err := rec.OnEval(ctx, e); err != nil {
			return err
		}
		return t.ckpt.saved(ctx, id)
	}}
	out, runErr := t.cfg.Runner.Run(ctx, spec, hooks)
	if spec.Config.Resume && errors.Is(runErr, train.ErrCheckpoint) && ctx.Err() == nil {
		// The checkpoint belongs to another run (the study was resumed
		// with other settings): start afresh.
		t.logf("trial %d: %v; starting from the beginning", rep.Number, record.OneLine(runErr.Error()))
		spec.Config.Resume = false
		t.ckpt.drop(ctx, id)
		out, runErr = t.cfg.Runner.Run(ctx, spec, hooks)
	}
	return finish(out, runErr)
}

// phase is a compare study's phase of trial ft ("" otherwise); a final
// run is first given the values of its optimizer's best tuning trial,
// whose number it returns (else −1).
func (t *tuner) phase(ft goptuna.FrozenTrial) (string, int, error) {
	if t.s.Kind != study.KindCompare {
		return "", -1, nil
	}
	phase := ft.SystemAttrs[AttrPhase]
	if phase != PhaseFinal {
		return phase, -1, nil
	}
	n, err := t.prepareFinal(ft)
	return phase, n, err
}

// seedIndex is which of its configuration's runs trial id is. A new
// configuration (no index yet) is run 0: with seeds > 1, it queues its
// siblings 1 … seeds−1 with its values first, then takes index 0.
func (t *tuner) seedIndex(id int) (int, error) {
	ft, err := t.storage.GetTrial(id)
	if err != nil {
		return 0, fmt.Errorf("read trial: %w", err)
	}
	if v, ok := ft.SystemAttrs[AttrSeedIndex]; ok {
		k, err := strconv.Atoi(v)
		if err != nil || k < 0 {
			return 0, fmt.Errorf("trial %d: seed index %q", ft.Number, v)
		}
		return k, nil
	}
	fixed := map[string]float64{}
	if raw, ok := ft.SystemAttrs[grid.AttrFixedParams]; ok {
		_ = json.Unmarshal([]byte(raw), &fixed)
	}
	maps.Copy(fixed, ft.InternalParams)
	// Under t.mu, so that this process's claims, which count the study's
	// runs, see the siblings and the index together (a count read between
	// them would see a configuration of one run and start a new one).
	// Processes sharing the store can still, rarely, start one
	// configuration too many.
	t.mu.Lock()
	defer t.mu.Unlock()
	for k := 1; k < t.s.SeedCount(); k++ {
		attrs := map[string]string{AttrSeedIndex: strconv.Itoa(k)}
		if p, ok := ft.SystemAttrs[grid.AttrPoint]; ok {
			attrs[grid.AttrPoint] = p
		}
		if err := grid.EnqueuePoint(t.gs, fixed, attrs); err != nil {
			return 0, fmt.Errorf("queue seed %d of trial %d: %w", k, ft.Number, err)
		}
	}
	if err := t.storage.SetTrialSystemAttr(id, AttrSeedIndex, "0"); err != nil {
		return 0, fmt.Errorf("trial %d: seed index: %w", ft.Number, err)
	}
	return 0, nil
}

// configKey names a configuration by its sampled values, less the seed.
func configKey(params map[string]string) string {
	parts := make([]string, 0, len(params))
	for _, k := range slices.Sorted(maps.Keys(params)) {
		if k == "seed" { // a grid or space over the trainer's seed is a seeds axis
			continue
		}
		parts = append(parts, k+"="+params[k])
	}
	return strings.Join(parts, ",")
}

// resumable takes over the checkpoint of the trial this one repeats, if
// that trial left one, and reports whether the run resumes from it.
func (t *tuner) resumable(ctx context.Context, ft goptuna.FrozenTrial) (bool, error) {
	id := ft.ID
	from, err := strconv.Atoi(ft.SystemAttrs[attrCheckpointOf])
	if err != nil {
		return false, nil // a first attempt
	}
	ok, err := t.ckpt.adopt(ctx, id, from)
	if err != nil || !ok {
		return false, err
	}
	if n, err := t.storage.GetTrialNumberFromID(from); err == nil {
		_ = t.storage.SetTrialSystemAttr(id, AttrResumedFrom, strconv.Itoa(n))
	}
	return true, nil
}
