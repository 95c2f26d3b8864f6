package study

import (
	"errors"
	"fmt"
	"slices"

	"github.com/lrsgd-lab/lrsgd/host/data"
	"github.com/lrsgd-lab/lrsgd/host/train"
)

// DefaultSubsetSeed seeds a study's data subset when train.subset_seed is 0,
// so that every trial of a study sees the same images whatever its seed.
const DefaultSubsetSeed = 1

// Config is the trainer's configuration of one trial of the study: the
// study's model and data set (read from dataDir, else $LRSGD_DATA, else
// the cache) with the assignment's trainer settings, optimizer and
// hyperparameters. It is the only place a study becomes a train.Config.
func (s *Study) Config(a Assignment, dataDir string) train.Config {
	cfg := a.Train.config(s.Model, s.Dataset)
	cfg.Data.DataDir = dataDir
	cfg.Optimizer, cfg.Hyperparams = a.Optimizer, a.Hyperparams
	return cfg
}

// config maps the trainer fields to a train.Config (no optimizer yet).
func (t Train) config(model, dataset string) train.Config {
	subset := t.SubsetSeed
	if subset == 0 {
		subset = DefaultSubsetSeed
	}
	augment := t.Augment
	return train.Config{
		Model:  model,
		Data:   data.Source{Dataset: dataset, TrainSize: t.TrainSize, TestSize: t.TestSize, Seed: subset},
		Epochs: float64(t.Epochs), BudgetGrads: t.BudgetGrads, BatchSize: t.BatchSize,
		Seed: t.Seed, Schedule: t.Schedule, EvalEvery: t.EvalEvery, Clock: t.Clock,
		HitThreshold: t.HitThreshold, Augment: &augment,
	}
}

// check validates the trainer fields with the trainer's own check
// (train.Config.Validate), so that a study refuses exactly what a run of it
// would, and the sizes with the data sets' (data.Source.CheckSizes: a
// subset larger than its set, a data set or batch larger than the memory
// available). The error names the study's key (train.batch_size, model,
// ...).
func (t Train) check(model, dataset string) error {
	cfg := t.config(model, dataset)
	err := cfg.Validate()
	if err == nil {
		err = cfg.Data.CheckSizes(cfg.BatchSize, train.DefaultEvalBatch)
	}
	var se *data.SizeError
	if errors.As(err, &se) {
		return fmt.Errorf("train.%s %s", se.Field, se.Problem)
	}
	var ce *train.ConfigError
	if !errors.As(err, &ce) {
		return err
	}
	key := "train." + ce.Field
	if ce.Field == "model" || ce.Field == "dataset" {
		key = ce.Field
	}
	return fmt.Errorf("%s %s", key, ce.Problem)
}

// checkTrainerValues validates the trainer settings at every value a
// trainer parameter of the space can take: its bounds, its choices, or its
// fixed value.
func (s *Study) checkTrainerValues(p Param) error {
	var values []string
	switch p.Type {
	case TypeFixed:
		values = []string{p.Value}
	case TypeCategorical:
		values = p.Choices
	default:
		values = []string{p.Format(float64(p.Low)), p.Format(float64(p.High))}
	}
	for _, v := range values {
		t := s.Train
		if err := t.set(p.Name, v); err != nil {
			return err
		}
		if err := t.check(s.Model, s.Dataset); err != nil {
			return fmt.Errorf("%s = %s: %w", p.Name, v, err)
		}
	}
	return nil
}

// appendOnce appends s to list unless it is there already.
func appendOnce(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}
