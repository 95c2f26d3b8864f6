package main

import (
	"errors"

	"github.com/lrsgd-lab/lrsgd/cmd/internal/cli"
	"github.com/lrsgd-lab/lrsgd/host/data"
	"github.com/lrsgd-lab/lrsgd/host/train"
)

// flagOf names the flag of a trainer configuration field (train.ConfigError)
// or of a part of the run that the pipeline refused (pipeline.InputError).
var flagOf = map[string]string{
	"train_size": "--train-size", "test_size": "--test-size", "batch_size": "--batch-size", "epochs": "--epochs",
	"budget_grads": "--budget-grads", "eval_batch": "--eval-batch", "eval_every": "--eval-every",
	"hit_threshold": "--hit-threshold", "train_eval_size": "--train-eval-size", "checkpoint": "--checkpoint",
	"model": "--model", "dataset": "--dataset", "schedule.lr": "--lr", "schedule.kind": "--schedule",
	"schedule.milestones": "--milestones", "schedule.every": "--every", "schedule.factor": "--lr-factor",
	"resume": "--resume", "clock": "--clock", "optimizer": "--optimizer", "hyperparameters": "--set", "stability.replace": "--replace",
}

// checkSizes refuses, before anything is allocated, sizes that cannot
// work: a subset larger than the data set, or a data set, input batch or
// evaluation batch larger than the machine's available memory (see
// data.Source.CheckSizes). The error names the flag.
func checkSizes(c train.Config) error {
	evalBatch := c.EvalBatch
	if evalBatch == 0 {
		evalBatch = train.DefaultEvalBatch
	}
	err := c.Data.CheckSizes(c.BatchSize, evalBatch)
	var se *data.SizeError
	if errors.As(err, &se) && flagOf[se.Field] != "" {
		return cli.Bad("%s %s", flagOf[se.Field], se.Problem)
	}
	if err != nil {
		return cli.BadInput{Err: err}
	}
	return nil
}
