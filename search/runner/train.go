package runner

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"

	"github.com/lrsgd-lab/lrsgd/host/data"
	"github.com/lrsgd-lab/lrsgd/host/stability"
	"github.com/lrsgd-lab/lrsgd/host/train"
	"github.com/lrsgd-lab/lrsgd/plugins/loader"
	"github.com/lrsgd-lab/lrsgd/plugins/optimizer"
	"github.com/lrsgd-lab/lrsgd/search"
	"github.com/lrsgd-lab/lrsgd/search/study"
)

// dataCache keeps the data sets loaded by earlier trials of the process:
// every trial of a study reads the same subset, and CIFAR-10 takes a
// while to read and validate. Sets are read-only once loaded.
type dataCache struct {
	mu      sync.Mutex
	entries map[data.Source]*dataEntry
}

type dataEntry struct {
	once        sync.Once
	train, test *data.Set
	err         error
}

func (c *dataCache) load(ctx context.Context, src data.Source) (*data.Set, *data.Set, error) {
	key := src
	key.Progress = nil // not part of what is loaded
	c.mu.Lock()
	if c.entries == nil {
		c.entries = map[data.Source]*dataEntry{}
	}
	e, ok := c.entries[key]
	if !ok {
		e = &dataEntry{}
		c.entries[key] = e
	}
	c.mu.Unlock()
	e.once.Do(func() { e.train, e.test, e.err = data.Load(ctx, src) })
	if e.err != nil {
		c.mu.Lock()
		delete(c.entries, key) // let a later trial retry (e.g. after a cancelled load)
		c.mu.Unlock()
	}
	return e.train, e.test, e.err
}

// source is the data set a trial trains on.
func source(spec search.TrialSpec) data.Source {
	seed := spec.Train.DataSeed
	if seed == 0 {
		seed = 1
	}
	return data.Source{Dataset: spec.Dataset, DataDir: spec.DataDir, TrainSize: spec.Train.TrainSize,
		TestSize: spec.Train.TestSize, Seed: seed}
}

// Preload loads (and caches) the data set the study's trials train on, so
// that a missing or corrupt data set is reported before the study starts
// rather than as a failed trial each. A CIFAR-10 that is nowhere on disk is
// downloaded into the cache (MD5-checked, progress on Options.Progress).
func (r *Runner) Preload(ctx context.Context, s *study.Study, dataDir string) error {
	src := source(search.TrialSpec{Dataset: s.Dataset, DataDir: dataDir, Train: s.Train})
	src.Progress = r.opts.DataProgress
	_, _, err := r.data.load(ctx, src)
	return err
}

// trainConfig maps a trial to the trainer's configuration.
func trainConfig(spec search.TrialSpec, trainSet, testSet *data.Set) train.Config {
	augment := spec.Train.Augment
	return train.Config{
		Model: spec.Model, Data: source(spec), Train: trainSet, Test: testSet,
		Optimizer: spec.Optimizer, Hyperparams: spec.Hyperparams,
		Epochs: float64(spec.Train.Epochs), BudgetGrads: spec.Train.BudgetGrads, BatchSize: spec.Train.BatchSize,
		Seed: spec.Train.Seed, Schedule: spec.Train.Schedule, EvalEvery: spec.Train.EvalEvery,
		HitThreshold: spec.Train.HitThreshold, Augment: &augment,
	}
}

// trainTrial loads the data (cached), runs the trainer and returns its
// result and the data checksum.
func (r *Runner) trainTrial(ctx context.Context, spec search.TrialSpec, opt optimizer.Optimizer, report func(search.Eval) error) (train.Result, map[string]string, error) {
	meta := map[string]string{}
	trainSet, testSet, err := r.data.load(ctx, source(spec))
	if err != nil {
		return train.Result{}, meta, fmt.Errorf("load %s: %w", spec.Dataset, err)
	}
	h := sha256.Sum256([]byte(trainSet.Checksum + " " + testSet.Checksum))
	meta["dataset_sha256"] = hex.EncodeToString(h[:])
	meta["train_set"] = fmt.Sprintf("%s: %d images, sha256 %s", trainSet.Name, trainSet.N, trainSet.Checksum)
	meta["test_set"] = fmt.Sprintf("%s: %d images, sha256 %s", testSet.Name, testSet.N, testSet.Checksum)
	hooks := train.Hooks{Progress: r.opts.Progress, OnEval: func(p train.EvalPoint) error {
		err := report(search.Eval{EvalPoint: p})
		if errors.Is(err, search.ErrPruned) {
			return train.ErrPruned
		}
		return err
	}}
	res, err := train.Run(ctx, trainConfig(spec, trainSet, testSet), opt, hooks)
	return res, meta, err
}

// probe runs the trial under the stability probe (twin runs on S and S′,
// package host/stability): the S run is the trial itself, and every
// evaluation is reported with the twins' divergence and ε at that point,
// after the probe (its runs advance in lock step and cannot be pruned).
func (r *Runner) probe(ctx context.Context, spec search.TrialSpec, lopts loader.Options, report func(search.Eval) error) (train.Result, map[string]string, map[string]float64, error) {
	meta := map[string]string{}
	trainSet, testSet, err := r.data.load(ctx, source(spec))
	if err != nil {
		return train.Result{}, meta, nil, fmt.Errorf("load %s: %w", spec.Dataset, err)
	}
	h := sha256.Sum256([]byte(trainSet.Checksum + " " + testSet.Checksum))
	meta["dataset_sha256"] = hex.EncodeToString(h[:])
	open := func(ctx context.Context) (optimizer.Optimizer, error) { return loader.Open(ctx, spec.Optimizer, lopts) }
	pcfg := stability.Config{Replace: spec.Stability.Replace, Seed: spec.Train.Seed}
	pres, err := stability.Probe(ctx, trainConfig(spec, trainSet, testSet), pcfg, open, stability.Hooks{})
	if err != nil {
		return train.Result{}, meta, nil, fmt.Errorf("stability probe: %w", err)
	}
	meta["stability"] = fmt.Sprintf("K=%d runs=%d status=%s", pres.Replace, pres.Runs, pres.Status)
	if pres.Reference == nil {
		return train.Result{}, meta, nil, errors.New("stability probe: no result of the S run")
	}
	res := *pres.Reference
	if pres.Status == train.StatusDiverged && res.Status != train.StatusDiverged {
		res.Status, res.DivergedAt = train.StatusDiverged, pres.DivergedAt
	}
	at := map[int64]stability.Point{}
	for _, p := range pres.Curve {
		at[p.GradEvals] = p
	}
	for _, ep := range res.Curve {
		e := search.Eval{EvalPoint: ep}
		if p, ok := at[ep.GradEvals]; ok {
			d, em, ex := p.ParamDivergence, p.EpsilonMean, p.EpsilonMax
			e.ParamDivergence, e.EpsilonMean, e.EpsilonMax = &d, &em, &ex
		}
		if err := report(e); err != nil {
			return res, meta, pres.Metrics(), err
		}
	}
	return res, meta, pres.Metrics(), nil
}
