// Command train trains one model with one optimizer plugin and reports
// the run's metrics.
//
//	train --optimizer sgd --model lenet --dataset cifar10 --epochs 350 --batch-size 128 \
//	      --schedule step --milestones 150,250 --lr 0.1
//	train --optimizer lrsgd-r --set gamma=0.2 --dataset synthetic --epochs 2 --json
//	train --optimizer lrsgd-c --budget-grads 39100 --checkpoint run.ckpt   # Ctrl-C, then
//	train --optimizer lrsgd-c --budget-grads 39100 --checkpoint run.ckpt --resume
//	train --optimizer lrsgd-r --dataset synthetic --stability --replace 4 --json
//
// A progress bar and a final summary go to stderr; with --json the last
// line of stdout is one JSON object with the run's metrics.
//
// --stability runs the stability probe (package host/stability): the run
// on S — the trial itself — and, in lock-step with it, one twin per
// replaced training index (--replace K, default 1; 0 is the control, twins
// on identical data), each with its own plugin process. Its summary goes
// to stderr, the divergence ‖w − v‖ and the empirical ε join the JSON
// line, the metrics and the curve in the store.
//
// Every run goes through package host/pipeline, and --storage files it
// with package search/record, as tune files its trials.
//
// Exit status: 0 the run finished (its status, "ok" or "diverged", is in
// the summary), 1 a failure while running, 2 bad input (flags, values,
// hyperparameters, data), 130 interrupted (Ctrl-C; the checkpoint, if
// any, was written: rerun with --resume).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/spf13/cobra"

	"github.com/lrsgd-lab/lrsgd/cmd/internal/cli"
	"github.com/lrsgd-lab/lrsgd/host/data"
	"github.com/lrsgd-lab/lrsgd/host/models"
	"github.com/lrsgd-lab/lrsgd/host/pipeline"
	"github.com/lrsgd-lab/lrsgd/host/stability"
	"github.com/lrsgd-lab/lrsgd/host/train"
	"github.com/lrsgd-lab/lrsgd/plugins/loader"
	"github.com/lrsgd-lab/lrsgd/results"
)

// options are the command's flags beyond the trainer's configuration.
type options struct {
	cfg        train.Config
	sets       []string
	augment    string
	fastOps    bool
	subsetSeed uint64
	pluginsDir string
	manifest   string
	rpcTimeout time.Duration
	storage    string
	studyName  string
	jsonOut    bool
	curve      string
	noProgress bool
	verbose    bool
	stability  bool
	replace    int
	stabSeed   uint64
}

func main() { cli.Main(newRoot) }

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	var o options
	c := &o.cfg
	root := &cobra.Command{
		Use:   "train --optimizer NAME [flags]",
		Short: "Train one model with one optimizer plugin",
		Long: `train trains a model (LeNet, an MLP, VGG16-BN or ResNet18) on CIFAR-10,
Fashion-MNIST or a generated set with an optimizer plugin, evaluating on the
test set and on the training set, and reports test accuracy, losses, the
generalization gap, the hitting time of the train-loss threshold and both step
counts (outer steps and gradient evaluations).`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			spec, err := o.spec(cmd)
			if err != nil {
				return err
			}
			return o.run(cmd.Context(), spec, stdout, stderr)
		},
	}
	f := root.Flags()
	f.StringVar(&c.Optimizer, "optimizer", "", "optimizer plugin name, e.g. sgd, lrsgd-r, lrsgd-c, adam-lr (required)")
	f.StringArrayVar(&o.sets, "set", nil, "optimizer hyperparameter key=value (repeatable)")
	f.StringVar(&c.Model, "model", "lenet", "model: "+strings.Join(models.Names(), ", "))
	f.StringVar(&c.Data.Dataset, "dataset", data.CIFAR10, "data set: "+strings.Join(data.Names(), ", "))
	f.StringVar(&c.Data.DataDir, "data-dir", "", "folder holding the data set files (else $LRSGD_DATA, then the cache)")
	f.IntVar(&c.Data.TrainSize, "train-size", 0, "use a stratified subset of this many training images (0 = all)")
	f.IntVar(&c.Data.TestSize, "test-size", 0, "use a stratified subset of this many test images (0 = all)")
	f.BoolVar(&c.Data.NoDownload, "no-download", false, "never download CIFAR-10")
	f.Float64Var(&c.Epochs, "epochs", 1, "epochs of ⌈N/B⌉ outer steps (0 = no limit; then --budget-grads)")
	f.IntVar(&c.BatchSize, "batch-size", 128, "minibatch size")
	f.Int64Var(&c.BudgetGrads, "budget-grads", 0, "stop after this many gradient evaluations (0 = no limit)")
	f.Float64Var(&c.Schedule.LR, "lr", 0.1, "initial learning rate α")
	f.StringVar(&c.Schedule.Kind, "schedule", train.ScheduleConstant, "learning-rate schedule: constant, step (×factor at --milestones epochs) or every (×factor every --every outer steps)")
	f.Float64SliceVar(&c.Schedule.Milestones, "milestones", nil, "epochs at which the step schedule decays, e.g. 150,250")
	f.Int64Var(&c.Schedule.Every, "every", 0, "outer steps between decays of the every schedule")
	f.Float64Var(&c.Schedule.Factor, "lr-factor", 0.1, "decay factor of the step and every schedules (0 = 0.1)")
	f.Uint64Var(&c.Seed, "seed", 1, "seed of the initialisation, the optimizer, the data stream and (unless --subset-seed) the subsets")
	f.Uint64Var(&o.subsetSeed, "subset-seed", 0, "seed of the data subsets and generated images only (0 = --seed)")
	f.Uint64Var(&c.StreamSeed, "stream-seed", 0, "seed of the minibatch stream only (0 = derived from --seed)")
	f.Uint64Var(&c.StreamSeed, "data-seed", 0, "old name of --stream-seed")
	f.MarkDeprecated("data-seed", "use --stream-seed (the seed of the minibatch stream)")
	f.Float64Var(&c.EvalEvery, "eval-every", 1, "evaluation interval in epochs (0 = 1)")
	f.StringVar(&c.Clock, "clock", train.ClockEpochs, "what an epoch counts in --epochs, --eval-every and --milestones: epochs (⌈N/B⌉ outer steps) or grads (⌈N/B⌉ gradient evaluations: SGD's compute for every optimizer)")
	f.IntVar(&c.EvalBatch, "eval-batch", train.DefaultEvalBatch, "evaluation batch size")
	f.IntVar(&c.TrainEvalSize, "train-eval-size", 0, "evaluate the train loss on the first N training images (0 = all)")
	f.Float64Var(&c.HitThreshold, "hit-threshold", train.DefaultHitThreshold, "train loss that defines the hitting time (0 = 0.65)")
	f.StringVar(&o.augment, "augment", "auto", "crop+flip augmentation: auto (on for CIFAR-10), on or off")
	f.BoolVar(&o.fastOps, "fast-ops", true, "use host/ops' operators for every model (false: Gorgonia's own and the lab's stock batch norm)")
	f.StringVar(&o.pluginsDir, "plugins-dir", "", "plugin folder (else $LRSGD_PLUGINS, else ./bin/plugins)")
	f.StringVar(&o.manifest, "manifest", "", "sha256 manifest pinning the plugins (else $LRSGD_PLUGIN_MANIFEST)")
	f.DurationVar(&o.rpcTimeout, "rpc-timeout", 0, "deadline of each plugin call (0 = the loader's default)")
	f.StringVar(&o.storage, "storage", "", "result store DSN (a SQLite file or postgres://…): the run becomes a trial of --study")
	f.StringVar(&o.studyName, "study", "train", "study that --storage files the run under")
	f.BoolVar(&o.jsonOut, "json", false, "print the metrics as one JSON object on the last line of stdout")
	f.StringVar(&o.curve, "curve", "", "write the evaluation curve to this file (.csv, else JSON)")
	f.StringVar(&c.Checkpoint, "checkpoint", "", "checkpoint file, written after every evaluation, at the end and on Ctrl-C")
	f.BoolVar(&c.Resume, "resume", false, "continue from --checkpoint")
	f.BoolVar(&o.stability, "stability", false, "run the stability probe: twins on S and on S with one sample replaced (K + 1 runs)")
	f.IntVar(&o.replace, "replace", 1, "with --stability: K, the number of replaced training indices (0 = control: twins on identical data)")
	f.Uint64Var(&o.stabSeed, "stability-seed", 0, "with --stability: seed that chooses the replaced indices and their replacements (default --seed)")
	f.BoolVar(&o.noProgress, "no-progress", false, "no progress bar")
	f.BoolVar(&o.verbose, "verbose", false, "show the plugins' log lines")
	f.SortFlags = false
	return root
}

// spec checks the flags that the trainer's own check does not cover and
// builds the run's Spec.
func (o *options) spec(cmd *cobra.Command) (pipeline.Spec, error) {
	c := o.cfg
	changed := cmd.Flags().Changed
	switch {
	case c.Optimizer == "":
		return pipeline.Spec{}, cli.Bad("--optimizer: required (a plugin name, e.g. sgd, lrsgd-r, lrsgd-c, adam-lr)")
	case changed("replace") && !o.stability:
		return pipeline.Spec{}, cli.Bad("--replace needs --stability")
	case changed("stability-seed") && !o.stability:
		return pipeline.Spec{}, cli.Bad("--stability-seed needs --stability")
	case o.stability && c.Resume:
		return pipeline.Spec{}, cli.Bad("--stability cannot be used with --resume: the probe's runs are not checkpointed")
	case o.stability && c.Checkpoint != "":
		return pipeline.Spec{}, cli.Bad("--stability cannot be used with --checkpoint: the probe's K + 1 runs cannot share one checkpoint")
	case c.Schedule.Kind == train.ScheduleStep && len(c.Schedule.Milestones) == 0:
		return pipeline.Spec{}, cli.Bad("--schedule step needs --milestones, e.g. --milestones 150,250")
	case c.Schedule.Kind == train.ScheduleEvery && c.Schedule.Every <= 0:
		return pipeline.Spec{}, cli.Bad("--schedule every needs --every K (outer steps between decays), got %d", c.Schedule.Every)
	}
	switch c.Schedule.Kind { // flags that do not apply to the schedule are not part of it
	case train.ScheduleConstant:
		c.Schedule.Milestones, c.Schedule.Every, c.Schedule.Factor = nil, 0, 0
	case train.ScheduleStep:
		c.Schedule.Every = 0
	case train.ScheduleEvery:
		c.Schedule.Milestones = nil
	}
	switch o.augment {
	case "auto":
	case "on", "off":
		v := o.augment == "on"
		c.Augment = &v
	default:
		return pipeline.Spec{}, cli.Bad("--augment %q: want auto, on or off", o.augment)
	}
	c.Data.Seed = o.subsetSeed
	if c.Data.Seed == 0 {
		c.Data.Seed = c.Seed
	}
	c.StockOps = !o.fastOps
	c.Hyperparams = map[string]string{}
	for _, s := range o.sets {
		k, v, ok := strings.Cut(s, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return pipeline.Spec{}, cli.Bad("--set %q: want key=value", s)
		}
		if _, dup := c.Hyperparams[k]; dup {
			return pipeline.Spec{}, cli.Bad("--set %s given twice", k)
		}
		c.Hyperparams[k] = strings.TrimSpace(v)
	}
	if err := c.Validate(); err != nil {
		var ce *train.ConfigError
		if errors.As(err, &ce) && flagOf[ce.Field] != "" {
			return pipeline.Spec{}, cli.Bad("%s %s", flagOf[ce.Field], ce.Problem)
		}
		return pipeline.Spec{}, cli.BadInput{Err: err}
	}
	if err := checkSizes(c); err != nil {
		return pipeline.Spec{}, err
	}
	if o.storage != "" {
		if err := results.CheckDSN(o.storage); err != nil {
			return pipeline.Spec{}, cli.BadInput{Err: fmt.Errorf("--storage: %w", err)}
		}
	}
	level := hclog.Warn
	if o.verbose {
		level = hclog.Debug
	}
	spec := pipeline.Spec{Config: c, Loader: loader.Options{Dir: loader.ResolveDir(o.pluginsDir),
		Manifest: loader.ResolveManifest(o.manifest), RPCTimeout: o.rpcTimeout,
		Logger: hclog.New(&hclog.LoggerOptions{Name: "train", Level: level, Output: cmd.ErrOrStderr()})}}
	if o.stability {
		seed := c.Seed
		if changed("stability-seed") {
			seed = o.stabSeed
		}
		spec.Stability = &stability.Config{Replace: o.replace, Seed: seed}
	}
	return spec, nil
}

// run runs the spec, files it with --storage, and prints what it measured.
func (o *options) run(ctx context.Context, spec pipeline.Spec, stdout, stderr io.Writer) error {
	var hooks pipeline.Hooks
	if !o.noProgress {
		hooks.Progress = stderr
		spec.Config.Data.Progress = stderr
	}
	if spec.Stability != nil {
		hooks.OnProbePoint = func(p stability.Point) { probeLine(stderr, p) }
		hooks.OnStart = func(pipeline.Outcome) { probeBanner(stderr, spec) }
	}
	var fl *filer
	if o.storage != "" {
		fl = &filer{dsn: o.storage, study: o.studyName, spec: spec, log: stderr}
		defer fl.close()
		hooks.OnEval = func(e pipeline.Eval) error { return fl.eval(ctx, e) }
	}
	out, runErr := pipeline.Run(ctx, spec, hooks)
	var ie *pipeline.InputError
	switch {
	case errors.As(runErr, &ie) && flagOf[ie.Input] != "":
		return cli.Bad("%s %v", flagOf[ie.Input], ie.Err)
	case errors.Is(runErr, pipeline.ErrBadInput):
		return cli.BadInput{Err: runErr}
	}
	trialID := 0
	if fl != nil {
		id, err := fl.finish(ctx, out, runErr)
		if err != nil {
			return errors.Join(runErr, err)
		}
		trialID = id
	}
	if runErr != nil {
		if ctx.Err() != nil && spec.Stability != nil {
			return fmt.Errorf("%w: the stability probe stopped; no result is final", cli.ErrInterrupted)
		} else if ctx.Err() != nil {
			return fmt.Errorf("%w: the run stopped (%v); no result is final", cli.ErrInterrupted, runErr)
		}
		return runErr
	}
	if o.curve != "" {
		if err := writeCurve(o.curve, out.Evals); err != nil {
			return err
		}
	}
	summary(stderr, out)
	if o.jsonOut {
		b, err := jsonLine(out, trialID)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s\n", b)
	}
	if out.Status() == train.StatusInterrupted {
		msg := "the run stopped before its end"
		if spec.Config.Checkpoint != "" {
			msg = fmt.Sprintf("checkpoint in %s; rerun with --resume to continue", spec.Config.Checkpoint)
		}
		return fmt.Errorf("%w: %s", cli.ErrInterrupted, msg)
	}
	return nil
}
