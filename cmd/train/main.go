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
// Exit status: 0 the run finished (its status, "ok" or "diverged", is in
// the summary), 1 a failure while running, 2 bad input (flags, values,
// hyperparameters, data), 130 interrupted (Ctrl-C; the checkpoint, if
// any, was written: rerun with --resume).
package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/c-bata/goptuna"
	"github.com/hashicorp/go-hclog"
	"github.com/spf13/cobra"

	"github.com/lrsgd-lab/lrsgd/cmd/internal/cli"
	"github.com/lrsgd-lab/lrsgd/host/data"
	"github.com/lrsgd-lab/lrsgd/host/models"
	"github.com/lrsgd-lab/lrsgd/host/stability"
	"github.com/lrsgd-lab/lrsgd/host/train"
	"github.com/lrsgd-lab/lrsgd/plugins/blocks"
	"github.com/lrsgd-lab/lrsgd/plugins/loader"
	"github.com/lrsgd-lab/lrsgd/plugins/optimizer"
	"github.com/lrsgd-lab/lrsgd/results"
)

type options struct {
	optimizer  string
	sets       []string
	model      string
	dataset    string
	dataDir    string
	trainSize  int
	testSize   int
	epochs     float64
	batch      int
	budget     int64
	lr         float64
	schedule   string
	milestones []float64
	every      int64
	factor     float64
	seed       uint64
	dataSeed   uint64
	evalEvery  float64
	evalBatch  int
	trainEval  int
	hit        float64
	augment    string
	fastOps    bool
	pluginsDir string
	manifest   string
	rpcTimeout time.Duration
	storage    string
	studyName  string
	jsonOut    bool
	curve      string
	checkpoint string
	resume     bool
	noProgress bool
	noDownload bool
	verbose    bool

	stability   bool   // run the stability probe
	replace     int    // K, the number of replaced indices
	replaceSet  bool   // --replace was given
	stabSeed    uint64 // seed of the replaced indices
	stabSeedSet bool   // --stability-seed was given
}

// probeReplace is K: --replace, or 1 when only --stability was given.
func (o options) probeReplace() int {
	if o.replaceSet {
		return o.replace
	}
	return 1
}

// probeSeed is the seed that chooses the replaced indices: --stability-seed,
// else --seed.
func (o options) probeSeed() uint64 {
	if o.stabSeedSet {
		return o.stabSeed
	}
	return o.seed
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var o options
	code := 0
	root := &cobra.Command{
		Use:   "train --optimizer NAME [flags]",
		Short: "Train one model with one optimizer plugin",
		Long: `train trains a model (LeNet, an MLP, VGG16-BN or ResNet18) on CIFAR-10,
Fashion-MNIST or a generated set with an optimizer plugin, evaluating on the
test set and on the training set, and reports test accuracy, losses, the
generalization gap, the hitting time of the train-loss threshold and both step
counts (outer steps and gradient evaluations).`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			o.replaceSet = cmd.Flags().Changed("replace")
			o.stabSeedSet = cmd.Flags().Changed("stability-seed")
			code, err = trainCmd(cmd.Context(), cmd, o, stdout, stderr)
			return err
		},
	}
	f := root.Flags()
	f.StringVar(&o.optimizer, "optimizer", "", "optimizer plugin name, e.g. sgd, lrsgd-r, lrsgd-c, adam-lr (required)")
	f.StringArrayVar(&o.sets, "set", nil, "optimizer hyperparameter key=value (repeatable)")
	f.StringVar(&o.model, "model", "lenet", "model: "+strings.Join(models.Names(), ", "))
	f.StringVar(&o.dataset, "dataset", data.CIFAR10, "data set: cifar10, fashion-mnist or synthetic")
	f.StringVar(&o.dataDir, "data-dir", "", "folder holding the data set files (else $LRSGD_DATA, then the cache)")
	f.IntVar(&o.trainSize, "train-size", 0, "use a stratified subset of this many training images (0 = all)")
	f.IntVar(&o.testSize, "test-size", 0, "use a stratified subset of this many test images (0 = all)")
	f.BoolVar(&o.noDownload, "no-download", false, "never download CIFAR-10")
	f.Float64Var(&o.epochs, "epochs", 1, "epochs of ⌈N/B⌉ outer steps (0 = no limit; then --budget-grads)")
	f.IntVar(&o.batch, "batch-size", 128, "minibatch size")
	f.Int64Var(&o.budget, "budget-grads", 0, "stop after this many gradient evaluations (0 = no limit)")
	f.Float64Var(&o.lr, "lr", 0.1, "initial learning rate α")
	f.StringVar(&o.schedule, "schedule", train.ScheduleConstant, "learning-rate schedule: constant, step (×factor at --milestones epochs) or every (×factor every --every outer steps)")
	f.Float64SliceVar(&o.milestones, "milestones", nil, "epochs at which the step schedule decays, e.g. 150,250")
	f.Int64Var(&o.every, "every", 0, "outer steps between decays of the every schedule")
	f.Float64Var(&o.factor, "lr-factor", 0.1, "decay factor of the step and every schedules")
	f.Uint64Var(&o.seed, "seed", 1, "seed of the initialisation, the optimizer, the data stream and the subsets")
	f.Uint64Var(&o.dataSeed, "data-seed", 0, "seed of the minibatch stream only (0 = derived from --seed)")
	f.Float64Var(&o.evalEvery, "eval-every", 1, "evaluation interval in epochs")
	f.IntVar(&o.evalBatch, "eval-batch", train.DefaultEvalBatch, "evaluation batch size")
	f.IntVar(&o.trainEval, "train-eval-size", 0, "evaluate the train loss on the first N training images (0 = all)")
	f.Float64Var(&o.hit, "hit-threshold", train.DefaultHitThreshold, "train loss that defines the hitting time")
	f.StringVar(&o.augment, "augment", "auto", "crop+flip augmentation: auto (on for CIFAR-10), on or off")
	f.BoolVar(&o.fastOps, "fast-ops", true, "use host/ops' fused operators for LeNet and the MLP (false: Gorgonia's own)")
	f.StringVar(&o.pluginsDir, "plugins-dir", "", "plugin folder (else $LRSGD_PLUGINS, else ./bin/plugins)")
	f.StringVar(&o.manifest, "manifest", "", "sha256 manifest pinning the plugins (else $LRSGD_PLUGIN_MANIFEST)")
	f.DurationVar(&o.rpcTimeout, "rpc-timeout", 0, "deadline of each plugin call (0 = the loader's default)")
	f.StringVar(&o.storage, "storage", "", "result store DSN (a SQLite file or postgres://…): the run becomes a trial of --study")
	f.StringVar(&o.studyName, "study", "train", "study that --storage files the run under")
	f.BoolVar(&o.jsonOut, "json", false, "print the metrics as one JSON object on the last line of stdout")
	f.StringVar(&o.curve, "curve", "", "write the evaluation curve to this file (.csv, else JSON)")
	f.StringVar(&o.checkpoint, "checkpoint", "", "checkpoint file, written after every evaluation, at the end and on Ctrl-C")
	f.BoolVar(&o.resume, "resume", false, "continue from --checkpoint")
	f.BoolVar(&o.stability, "stability", false, "run the stability probe: twins on S and on S with one sample replaced (K + 1 runs)")
	f.IntVar(&o.replace, "replace", 1, "with --stability: K, the number of replaced training indices (0 = control: twins on identical data)")
	f.Uint64Var(&o.stabSeed, "stability-seed", 0, "with --stability: seed that chooses the replaced indices and their replacements (default --seed)")
	f.BoolVar(&o.noProgress, "no-progress", false, "no progress bar")
	f.BoolVar(&o.verbose, "verbose", false, "show the plugins' log lines")
	f.SortFlags = false
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return cli.BadInput{Err: err} })
	root.SetArgs(args)
	root.SetOut(stderr)
	root.SetErr(stderr)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintf(stderr, "train: %v\n", err)
		var bi cli.BadInput
		switch {
		case errors.As(err, &bi):
			return cli.ExitBadInput
		case ctx.Err() != nil:
			return cli.ExitInterrupted
		}
		if strings.Contains(err.Error(), "unknown flag") || strings.Contains(err.Error(), "invalid argument") {
			return cli.ExitBadInput
		}
		return cli.ExitFailure
	}
	return code
}

// config checks the flags and turns them into a train.Config.
func (o options) config() (train.Config, map[string]string, error) {
	var cfg train.Config
	if o.optimizer == "" {
		return cfg, nil, cli.Bad("--optimizer: required (a plugin name, e.g. sgd, lrsgd-r, lrsgd-c, adam-lr)")
	}
	if !slices.Contains(models.Names(), o.model) {
		return cfg, nil, cli.Bad("--model %q: want one of %s", o.model, strings.Join(models.Names(), ", "))
	}
	if !slices.Contains([]string{data.CIFAR10, "fashion-mnist", "synthetic"}, o.dataset) {
		return cfg, nil, cli.Bad("--dataset %q: want cifar10, fashion-mnist or synthetic", o.dataset)
	}
	switch {
	case o.batch < 1:
		return cfg, nil, cli.Bad("--batch-size %d: want at least 1", o.batch)
	case o.epochs < 0 || math.IsNaN(o.epochs) || math.IsInf(o.epochs, 0):
		return cfg, nil, cli.Bad("--epochs %v: want a finite number ≥ 0", o.epochs)
	case o.budget < 0:
		return cfg, nil, cli.Bad("--budget-grads %d: want ≥ 0", o.budget)
	case o.epochs == 0 && o.budget == 0:
		return cfg, nil, cli.Bad("--epochs 0 needs --budget-grads: the run would never end")
	case !(o.lr > 0) || math.IsInf(o.lr, 0):
		return cfg, nil, cli.Bad("--lr %v: want a positive number", o.lr)
	case o.trainSize < 0 || o.testSize < 0:
		return cfg, nil, cli.Bad("--train-size %d / --test-size %d: want ≥ 0", o.trainSize, o.testSize)
	case o.evalEvery <= 0:
		return cfg, nil, cli.Bad("--eval-every %v: want a positive number of epochs", o.evalEvery)
	case o.evalBatch < 1:
		return cfg, nil, cli.Bad("--eval-batch %d: want at least 1", o.evalBatch)
	case o.trainEval < 0:
		return cfg, nil, cli.Bad("--train-eval-size %d: want ≥ 0", o.trainEval)
	case !(o.hit > 0):
		return cfg, nil, cli.Bad("--hit-threshold %v: want a positive loss", o.hit)
	case o.replaceSet && !o.stability:
		return cfg, nil, cli.Bad("--replace needs --stability")
	case o.stabSeedSet && !o.stability:
		return cfg, nil, cli.Bad("--stability-seed needs --stability")
	case o.stability && o.replace < 0:
		return cfg, nil, cli.Bad("--replace %d: want K ≥ 0 replaced indices (0 = the control, twins on identical data)", o.replace)
	case o.stability && o.resume:
		return cfg, nil, cli.Bad("--stability cannot be used with --resume: the probe's runs are not checkpointed")
	case o.stability && o.checkpoint != "":
		return cfg, nil, cli.Bad("--stability cannot be used with --checkpoint: the probe's K + 1 runs cannot share one checkpoint")
	case o.resume && o.checkpoint == "":
		return cfg, nil, cli.Bad("--resume needs --checkpoint FILE")
	}
	sched := train.Schedule{Kind: o.schedule, LR: o.lr, Milestones: o.milestones, Every: o.every, Factor: o.factor}
	switch o.schedule {
	case train.ScheduleConstant:
		sched.Milestones, sched.Every, sched.Factor = nil, 0, 0
	case train.ScheduleStep:
		if len(o.milestones) == 0 {
			return cfg, nil, cli.Bad("--schedule step needs --milestones, e.g. --milestones 150,250")
		}
		sched.Every = 0
	case train.ScheduleEvery:
		if o.every <= 0 {
			return cfg, nil, cli.Bad("--schedule every needs --every K (outer steps between decays), got %d", o.every)
		}
		sched.Milestones = nil
	default:
		return cfg, nil, cli.Bad("--schedule %q: want constant, step or every", o.schedule)
	}
	if !(o.factor > 0) || math.IsInf(o.factor, 0) {
		return cfg, nil, cli.Bad("--lr-factor %v: want a positive number", o.factor)
	}
	if err := sched.Validate(); err != nil {
		return cfg, nil, cli.BadInput{Err: fmt.Errorf("--schedule/--milestones/--every: %w", err)}
	}
	var augment *bool
	switch o.augment {
	case "auto":
	case "on", "off":
		v := o.augment == "on"
		augment = &v
	default:
		return cfg, nil, cli.Bad("--augment %q: want auto, on or off", o.augment)
	}
	hp := map[string]string{}
	for _, s := range o.sets {
		k, v, ok := strings.Cut(s, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return cfg, nil, cli.Bad("--set %q: want key=value", s)
		}
		if _, dup := hp[k]; dup {
			return cfg, nil, cli.Bad("--set %s given twice", k)
		}
		hp[k] = strings.TrimSpace(v)
	}
	cfg = train.Config{
		Model: o.model,
		Data: data.Source{Dataset: o.dataset, DataDir: o.dataDir, TrainSize: o.trainSize, TestSize: o.testSize,
			Seed: o.seed, NoDownload: o.noDownload},
		Optimizer: o.optimizer, Hyperparams: hp,
		Epochs: o.epochs, BudgetGrads: o.budget, BatchSize: o.batch, EvalBatch: o.evalBatch,
		Seed: o.seed, DataSeed: o.dataSeed, Schedule: sched, EvalEvery: o.evalEvery, HitThreshold: o.hit,
		Augment: augment, StockOps: !o.fastOps, TrainEvalSize: o.trainEval,
		Checkpoint: o.checkpoint, Resume: o.resume,
	}
	return cfg, hp, nil
}

// output is the JSON line: the run's Result (without its curve) and what
// ran.
type output struct {
	train.Result
	Optimizer        string            `json:"optimizer"`
	OptimizerVersion string            `json:"optimizer_version"`
	Hyperparams      map[string]string `json:"hyperparams"`
	Model            string            `json:"model"`
	Dataset          string            `json:"dataset"`
	TrainSize        int               `json:"train_size"`
	TestSize         int               `json:"test_size"`
	BatchSize        int               `json:"batch_size"`
	Seed             uint64            `json:"seed"`
	FastOps          bool              `json:"fast_ops"`
	TrialID          int               `json:"trial_id,omitempty"`
}

func trainCmd(ctx context.Context, cmd *cobra.Command, o options, stdout, stderr io.Writer) (int, error) {
	cfg, hp, err := o.config()
	if err != nil {
		return cli.ExitBadInput, err
	}
	level := hclog.Warn
	if o.verbose {
		level = hclog.Debug
	}
	logger := hclog.New(&hclog.LoggerOptions{Name: "train", Level: level, Output: stderr})
	lopts := loader.Options{Dir: loader.ResolveDir(o.pluginsDir),
		Manifest: loader.ResolveManifest(o.manifest), Logger: logger, RPCTimeout: o.rpcTimeout}
	opt, err := loader.Open(ctx, o.optimizer, lopts)
	if err != nil {
		return cli.ExitBadInput, cli.BadInput{Err: fmt.Errorf("--optimizer %s: %w", o.optimizer, err)}
	}
	defer opt.Close() // Close is idempotent
	desc, err := opt.Describe(ctx)
	if err != nil {
		return cli.ExitFailure, fmt.Errorf("describe %s: %w", o.optimizer, err)
	}
	if _, err := blocks.ParseValues(desc.Hyperparams, hp); err != nil {
		return cli.ExitBadInput, cli.BadInput{Err: fmt.Errorf("--set for %s: %w", desc.Name, err)}
	}
	if o.stability {
		// The probe opens one plugin process per run; this one has
		// served to describe the optimizer and check the flags.
		if err := opt.Close(); err != nil {
			return cli.ExitFailure, fmt.Errorf("close %s: %w", o.optimizer, err)
		}
	}

	// Load the data here, so that a missing or corrupt file is bad input.
	if !o.noProgress {
		cfg.Data.Progress = stderr
	}
	cfg.Train, cfg.Test, err = data.Load(ctx, cfg.Data)
	if err != nil {
		if ctx.Err() != nil {
			return cli.ExitInterrupted, err
		}
		return cli.ExitBadInput, cli.BadInput{Err: fmt.Errorf("--dataset %s: %w", o.dataset, err)}
	}
	if o.stability {
		return probeCmd(ctx, o, cfg, hp, desc, lopts, stdout, stderr)
	}
	hooks := train.Hooks{}
	if !o.noProgress {
		hooks.Progress = stderr
	}
	res, err := train.Run(ctx, cfg, opt, hooks)
	if err != nil {
		if strings.HasPrefix(err.Error(), "train config") || strings.Contains(err.Error(), "resume") {
			return cli.ExitBadInput, cli.BadInput{Err: err}
		}
		return cli.ExitFailure, err
	}

	out := output{Result: res, Optimizer: desc.Name, OptimizerVersion: desc.Version, Hyperparams: hp,
		Model: o.model, Dataset: o.dataset, TrainSize: cfg.Train.N, TestSize: cfg.Test.N,
		BatchSize: o.batch, Seed: o.seed, FastOps: fastOps(o)}
	if o.curve != "" {
		if err := writeCurve(o.curve, res.Curve, nil); err != nil {
			return cli.ExitFailure, err
		}
	}
	if o.storage != "" {
		// The trial is filed even after Ctrl-C (as FAIL, status
		// "interrupted"), so the writes must not see the cancellation.
		sctx, cancel := storeContext(ctx)
		id, err := store(sctx, o, out, desc, cfg, nil)
		cancel()
		if err != nil {
			return cli.ExitFailure, err
		}
		out.TrialID = id
	}
	summary(stderr, out)
	if o.jsonOut {
		out.Curve = nil
		b, err := json.Marshal(out)
		if err != nil {
			return cli.ExitFailure, fmt.Errorf("encode result: %w", err)
		}
		fmt.Fprintf(stdout, "%s\n", b)
	}
	if res.Status == train.StatusInterrupted {
		if o.checkpoint != "" {
			fmt.Fprintf(stderr, "interrupted: checkpoint in %s; rerun with --resume to continue\n", o.checkpoint)
		}
		return cli.ExitInterrupted, nil
	}
	return 0, nil
}

func summary(w io.Writer, o output) {
	r := o.Result
	fmt.Fprintf(w, "\n%s on %s (%d train / %d test), %s %v, batch %d, seed %d: %s\n",
		o.Model, o.Dataset, o.TrainSize, o.TestSize, o.Optimizer, hpString(o.Hyperparams), o.BatchSize, o.Seed, r.Status)
	if r.Status == train.StatusDiverged {
		fmt.Fprintf(w, "  diverged at gradient evaluation %d\n", r.DivergedAt)
	}
	fmt.Fprintf(w, "  test accuracy %.2f%% (best %.2f%%), test loss %.4f, train loss %.4f, train accuracy %.2f%%\n",
		100*r.TestAccuracy, 100*r.BestTestAccuracy, r.TestLoss, r.TrainLoss, 100*r.TrainAccuracy)
	fmt.Fprintf(w, "  generalization gap %.4f; hitting time %s\n", r.GeneralizationGap, hitString(r))
	fmt.Fprintf(w, "  %d outer steps (%.2f epochs), %d gradient evaluations; step %.2f ms median; %.1f s wall\n",
		r.OuterSteps, r.Epochs, r.GradEvals, r.StepMsMedian, r.WallSeconds)
}

func hpString(hp map[string]string) string {
	if len(hp) == 0 {
		return "(defaults)"
	}
	keys := make([]string, 0, len(hp))
	for k := range hp {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + hp[k]
	}
	return strings.Join(parts, " ")
}

func hitString(r train.Result) string {
	if r.HittingTimeOuter < 0 {
		return "never (train loss stayed above the threshold)"
	}
	return fmt.Sprintf("%d outer steps / %d gradient evaluations", r.HittingTimeOuter, r.HittingTimeGrads)
}

// writeCurve writes the curve as CSV (a .csv name) or as a JSON array.
// With a probe's aligned points (stab, from alignProbe) every evaluation
// also carries param_divergence, epsilon_mean and epsilon_max (empty in
// CSV, absent in JSON, where the probe made no comparison).
func writeCurve(path string, curve []train.EvalPoint, stab []*stability.Point) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("--curve: %w", err)
	}
	if strings.EqualFold(filepath.Ext(path), ".csv") {
		w := csv.NewWriter(f)
		head := []string{"epoch", "outer_steps", "grad_evals", "lr", "train_loss", "train_accuracy", "test_loss", "test_accuracy", "wall_seconds"}
		if stab != nil {
			head = append(head, "param_divergence", "epsilon_mean", "epsilon_max")
		}
		w.Write(head)
		g := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
		for i, p := range curve {
			row := []string{g(p.Epoch), strconv.FormatInt(p.OuterSteps, 10), strconv.FormatInt(p.GradEvals, 10), g(p.LR),
				g(p.TrainLoss), g(p.TrainAcc), g(p.TestLoss), g(p.TestAcc), g(p.Wall)}
			if stab != nil {
				if q := stab[i]; q != nil {
					row = append(row, g(q.ParamDivergence), g(q.EpsilonMean), g(q.EpsilonMax))
				} else {
					row = append(row, "", "", "")
				}
			}
			w.Write(row)
		}
		w.Flush()
		err = w.Error()
	} else {
		enc := json.NewEncoder(f)
		enc.SetIndent("", "  ")
		if stab == nil {
			if curve == nil {
				curve = []train.EvalPoint{}
			}
			err = enc.Encode(curve)
		} else {
			type point struct {
				train.EvalPoint
				ParamDivergence *float64 `json:"param_divergence,omitempty"`
				EpsilonMean     *float64 `json:"epsilon_mean,omitempty"`
				EpsilonMax      *float64 `json:"epsilon_max,omitempty"`
			}
			pts := make([]point, len(curve))
			for i, p := range curve {
				pts[i].EvalPoint = p
				if q := stab[i]; q != nil {
					pts[i].ParamDivergence, pts[i].EpsilonMean, pts[i].EpsilonMax = finitePtr(q.ParamDivergence), finitePtr(q.EpsilonMean), finitePtr(q.EpsilonMax)
				}
			}
			err = enc.Encode(pts)
		}
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("--curve %s: %w", path, err)
	}
	return nil
}

// finitePtr returns &v, or nil for NaN and ±Inf (which JSON cannot hold).
func finitePtr(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

// alignProbe returns, for every point of the reference curve, the probe's
// comparison at the same evaluation, or nil where it made none. The two
// curves are aligned index by index (host/stability records a comparison
// at every evaluation of the S run) except after a divergence: the probe
// stops comparing at the step where a run produced a NaN or Inf, while
// the S run's trainer may have recorded that evaluation. So points are
// matched by their step counts, not by position alone.
func alignProbe(ref []train.EvalPoint, probe []stability.Point) []*stability.Point {
	out := make([]*stability.Point, len(ref))
	j := 0
	for i, p := range ref {
		for j < len(probe) && probe[j].GradEvals < p.GradEvals {
			j++
		}
		if j < len(probe) && probe[j].GradEvals == p.GradEvals && probe[j].OuterSteps == p.OuterSteps {
			out[i] = &probe[j]
		}
	}
	return out
}

// storeTimeout bounds the writes that file a run in the result store.
const storeTimeout = 30 * time.Second

// storeContext is ctx without its cancellation and with storeTimeout: a
// run interrupted by Ctrl-C is still filed whole, and a second Ctrl-C
// (swallowed by signal.NotifyContext) cannot cut the writes half-way.
func storeContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
}

// probeRecord is what the stability probe adds to a stored trial.
type probeRecord struct {
	res  *stability.Result
	seed uint64
}

// extras are the run metadata extras of a probed trial.
func (p *probeRecord) extras() map[string]string {
	return map[string]string{
		"stability_replace": strconv.Itoa(p.res.Replace),
		"stability_seed":    strconv.FormatUint(p.seed, 10),
	}
}

// newTrial opens the store and creates a trial of study --study.
func newTrial(ctx context.Context, o options) (*results.Store, int, error) {
	st, err := results.Open(ctx, results.ResolveDSN(o.storage))
	if err != nil {
		return nil, 0, fmt.Errorf("--storage: %w", err)
	}
	gs := st.Storage()
	studyID, err := gs.GetStudyIDFromName(o.studyName)
	if err != nil {
		if studyID, err = gs.CreateNewStudy(o.studyName); err != nil {
			st.Close()
			return nil, 0, fmt.Errorf("--storage: create study %s: %w", o.studyName, err)
		}
	}
	id, err := gs.CreateNewTrial(studyID)
	if err != nil {
		st.Close()
		return nil, 0, fmt.Errorf("--storage: new trial: %w", err)
	}
	return st, id, nil
}

// store files the run as a completed trial of study --study in the
// result store: its curve, metrics, run metadata and hyperparameters (as
// trial user attributes "hp.KEY"); the trial's value is the test accuracy.
// With a probe (non-nil), out.Result is the probe's S run, and the curve
// points also carry the twins' divergence and ε, the metrics the probe's.
// The trial's state is set last: a trial left RUNNING was cut off while
// being filed.
func store(ctx context.Context, o options, out output, desc optimizer.Description, cfg train.Config, probe *probeRecord) (int, error) {
	st, id, err := newTrial(ctx, o)
	if err != nil {
		return 0, err
	}
	defer st.Close()
	gs := st.Storage()
	r := out.Result
	var stab []*stability.Point
	if probe != nil {
		stab = alignProbe(r.Curve, probe.res.Curve)
	}
	pts := make([]results.CurvePoint, len(r.Curve))
	for i, p := range r.Curve {
		pts[i] = results.CurvePoint{TrialID: id, Epoch: p.Epoch, OuterSteps: p.OuterSteps, GradEvals: p.GradEvals, LR: p.LR,
			TrainLoss: p.TrainLoss, TrainAcc: p.TrainAcc, TestLoss: p.TestLoss, TestAcc: p.TestAcc, Wall: p.Wall}
		if stab != nil && stab[i] != nil {
			q := stab[i]
			pts[i].ParamDivergence, pts[i].EpsilonMean, pts[i].EpsilonMax = &q.ParamDivergence, &q.EpsilonMean, &q.EpsilonMax
		}
	}
	if err := st.AddCurvePoints(ctx, pts...); err != nil {
		return 0, fmt.Errorf("--storage: curve: %w", err)
	}
	metrics := map[string]float64{
		results.MetricTestAccuracy: r.TestAccuracy, results.MetricTestLoss: r.TestLoss,
		results.MetricTrainLoss: r.TrainLoss, results.MetricTrainAccuracy: r.TrainAccuracy,
		results.MetricGeneralizationGap: r.GeneralizationGap, results.MetricBestTestAccuracy: r.BestTestAccuracy,
		results.MetricHittingTimeOuter: float64(r.HittingTimeOuter), results.MetricHittingTimeGrads: float64(r.HittingTimeGrads),
		results.MetricGradEvals: float64(r.GradEvals), results.MetricOuterSteps: float64(r.OuterSteps),
		results.MetricEpochs: r.Epochs, results.MetricStepMsMedian: r.StepMsMedian, results.MetricWallSeconds: r.WallSeconds,
	}
	if probe != nil {
		maps.Copy(metrics, probe.res.Metrics())
	}
	if err := st.PutMetrics(ctx, id, metrics); err != nil {
		return 0, fmt.Errorf("--storage: metrics: %w", err)
	}
	extra := map[string]string{"status": r.Status, "batch_size": strconv.Itoa(o.batch), "fast_ops": strconv.FormatBool(out.FastOps)}
	if probe != nil {
		maps.Copy(extra, probe.extras())
	}
	if err := st.PutRunMeta(ctx, runMeta(id, o, desc, cfg, extra)); err != nil {
		return 0, fmt.Errorf("--storage: run metadata: %w", err)
	}
	for k, v := range out.Hyperparams {
		if err := gs.SetTrialUserAttr(id, "hp."+k, v); err != nil {
			return 0, fmt.Errorf("--storage: hyperparameter %s: %w", k, err)
		}
	}
	if err := gs.SetTrialValue(id, r.TestAccuracy); err != nil {
		return 0, fmt.Errorf("--storage: value: %w", err)
	}
	state := goptunaState(r.Status)
	if err := gs.SetTrialState(id, state); err != nil {
		return 0, fmt.Errorf("--storage: state: %w", err)
	}
	return id, nil
}

// storeInterruptedProbe files a stability probe stopped by Ctrl-C: a FAIL
// trial with its run metadata (status "interrupted") and hyperparameters.
// No curve and no metrics: an interrupted probe returns no result of its
// S run, and the twins' comparison so far is not a final one.
func storeInterruptedProbe(ctx context.Context, o options, hp map[string]string, desc optimizer.Description, cfg train.Config, probe *probeRecord) (int, error) {
	st, id, err := newTrial(ctx, o)
	if err != nil {
		return 0, err
	}
	defer st.Close()
	gs := st.Storage()
	extra := map[string]string{"status": train.StatusInterrupted, "batch_size": strconv.Itoa(o.batch),
		"fast_ops": strconv.FormatBool(fastOps(o))}
	maps.Copy(extra, probe.extras())
	if err := st.PutRunMeta(ctx, runMeta(id, o, desc, cfg, extra)); err != nil {
		return 0, fmt.Errorf("--storage: run metadata: %w", err)
	}
	for k, v := range hp {
		if err := gs.SetTrialUserAttr(id, "hp."+k, v); err != nil {
			return 0, fmt.Errorf("--storage: hyperparameter %s: %w", k, err)
		}
	}
	if err := gs.SetTrialState(id, goptuna.TrialStateFail); err != nil {
		return 0, fmt.Errorf("--storage: state: %w", err)
	}
	return id, nil
}

// runMeta is the run metadata of trial id.
func runMeta(id int, o options, desc optimizer.Description, cfg train.Config, extra map[string]string) results.RunMeta {
	host, _ := os.Hostname()
	return results.RunMeta{TrialID: id, Plugin: desc.Name, PluginVersion: desc.Version, Dataset: o.dataset,
		DatasetSHA256: cfg.Train.Checksum, Model: o.model, Seed: o.seed, Machine: host, Extra: extra}
}

// fastOps reports whether the run uses host/ops' fused operators.
func fastOps(o options) bool { return o.fastOps && (o.model == "lenet" || o.model == "mlp") }

// goptunaState maps a run's status to a trial state: ok → complete,
// pruned → pruned, diverged and interrupted → fail.
func goptunaState(status string) goptuna.TrialState {
	switch status {
	case train.StatusOK:
		return goptuna.TrialStateComplete
	case train.StatusPruned:
		return goptuna.TrialStatePruned
	}
	return goptuna.TrialStateFail
}
