// Package pipeline is the one path every training run takes, whichever
// command starts it: `train` builds a Spec from its flags, a `tune` trial
// from its study and sampled values, and both call Run. Run opens the
// optimizer plugin, records its Describe and the sha256 of its binary,
// checks the hyperparameters against the plugin's own ranges, loads the
// data, and runs the trainer or, when asked, the stability probe, whose
// comparisons it aligns with the trainer's evaluations in one way. The
// Outcome says what ran and what it measured; recording it is the caller's
// business (package search/record).
package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"

	"github.com/lrsgd-lab/lrsgd/host/data"
	"github.com/lrsgd-lab/lrsgd/host/metrics"
	"github.com/lrsgd-lab/lrsgd/host/stability"
	"github.com/lrsgd-lab/lrsgd/host/train"
	"github.com/lrsgd-lab/lrsgd/plugins/loader"
	"github.com/lrsgd-lab/lrsgd/plugins/optimizer"
)

// ErrBadInput is matched (errors.Is) by every error that is the caller's
// input's fault rather than a failure while running: an invalid trainer
// configuration (a *train.ConfigError), a checkpoint of another run, and
// every *InputError. Commands exit with status 2 for it.
var ErrBadInput = errors.New("bad input")

// InputError is a part of a Spec that Run refused. Input names it —
// "optimizer" (the plugin would not start or describe itself),
// "hyperparameters" (refused by the plugin's Describe or Check), "dataset"
// (missing or corrupt files), "stability.replace" — so that a command can
// name its own flag or key; Err says what was wrong.
type InputError struct {
	Input string
	Err   error
}

func (e *InputError) Error() string { return e.Input + " " + e.Err.Error() }

// Unwrap returns the cause.
func (e *InputError) Unwrap() error { return e.Err }

// Is makes every InputError match ErrBadInput.
func (e *InputError) Is(target error) bool { return target == ErrBadInput }

// badInput marks err, an error of the trainer's configuration or
// checkpoint, as bad input without changing its message.
type badInput struct{ err error }

func (b badInput) Error() string        { return b.err.Error() }
func (b badInput) Unwrap() error        { return b.err }
func (b badInput) Is(target error) bool { return target == ErrBadInput }

// ErrPruned is what a Hooks.OnEval callback returns to stop the run early;
// Run then returns an Outcome whose status is metrics.StatusPruned and no
// error. It is train.ErrPruned.
var ErrPruned = train.ErrPruned

// Spec is everything one run needs.
type Spec struct {
	// Config is the trainer's configuration. Config.Optimizer names the
	// plugin and Config.Hyperparams go to it; Config.Data says which data
	// set to load (Run fills Config.Train and Config.Test).
	Config train.Config
	// Loader finds and starts the plugin; its Dir is resolved with
	// loader.ResolveDir.
	Loader loader.Options
	// Stability, when non-nil, runs the stability probe: the run on S — the
	// run itself — and one twin per replaced training sample, each with its
	// own plugin process.
	Stability *stability.Config
}

// Data loads the train and test sets of a source; data.Load is one, and
// a cache that keeps the sets of earlier runs in memory is another.
type Data func(ctx context.Context, src data.Source) (train, test *data.Set, err error)

// Hooks let a caller observe and stop a run.
type Hooks struct {
	// OnEval is called after every evaluation of the run, with the probe's
	// comparison at that evaluation when the probe runs; a non-nil error
	// stops the run (ErrPruned prunes it) and, unless it is ErrPruned, is
	// returned. Under the probe the points are reported when the probe has
	// finished (its runs advance in lock step and cannot be stopped one by
	// one).
	OnEval func(Eval) error
	// OnStart, when non-nil, is called once the plugin has described
	// itself and the data are loaded, just before training starts.
	OnStart func(Outcome)
	// OnProbePoint, when non-nil, is called live at each of the probe's
	// comparisons.
	OnProbePoint func(stability.Point)
	// Progress receives the live progress bar (nil = none).
	Progress io.Writer
	// Data loads the data set (nil = data.Load).
	Data Data
}

// Eval is one evaluation of a run: the trainer's point and, under the
// stability probe, the twins' comparison at that point (nil without the
// probe, or where it made none).
type Eval struct {
	metrics.EvalPoint
	Probe *stability.Point
}

// Plugin says which plugin binary ran.
type Plugin struct {
	Description optimizer.Description
	Path        string // the executable
	SHA256      string // of the executable, hex
}

// DataInfo says which data the run trained and was evaluated on.
type DataInfo struct {
	Dataset     string
	Train, Test string // "NAME: N images, sha256 …"
	TrainN      int
	TestN       int
	// SHA256 fingerprints both sets: the sha256 of their two checksums.
	SHA256 string
}

// Outcome is a finished, stopped or failed run: what ran and what it
// measured so far. Fields are zero where Run stopped before reaching them
// (for example Plugin after a plugin that would not start).
type Outcome struct {
	Spec   Spec
	Plugin Plugin
	Data   DataInfo
	// FastOps reports whether the model ran on host/ops' fused operators.
	FastOps bool
	// Result is the trainer's result (under the probe, the S run's, which
	// equals an unprobed run's, except that its status is "diverged" when
	// any twin diverged), with its curve.
	Result train.Result
	// Probe is the stability probe's result, nil without the probe.
	Probe *stability.Result
	// Evals are the evaluations as reported to Hooks.OnEval.
	Evals []Eval
	// ResumedAt is the gradient-evaluation count of the checkpoint the run
	// resumed from (Config.Resume), 0 for a run from the start. The
	// evaluations before it are reported to Hooks.OnEval too.
	ResumedAt int64
}

// Status is how the run ended (under the probe, a divergence of any twin
// counts as the run's).
func (o Outcome) Status() metrics.Status { return o.Result.Status }

// DivergedAt is the gradient evaluation at which the run diverged, or −1.
func (o Outcome) DivergedAt() int64 {
	if o.Result.Status != train.StatusDiverged {
		return -1
	}
	return o.Result.DivergedAt
}

// Metrics are the run's final metrics by name: the trainer's and, under
// the probe, the probe's.
func (o Outcome) Metrics() map[string]float64 {
	m := o.Result.Metrics()
	if o.Probe != nil {
		maps.Copy(m, o.Probe.Metrics())
	}
	return m
}

// Run runs spec to its end, or until ctx is cancelled (the Outcome's
// status is then "interrupted"; with a checkpoint configured, it has been
// written) or hooks.OnEval stops it. Errors that are the input's fault wrap
// ErrBadInput. The returned Outcome holds what was learnt before any error.
func Run(ctx context.Context, spec Spec, hooks Hooks) (Outcome, error) {
	out := Outcome{Spec: spec}
	cfg := spec.Config
	if err := cfg.Validate(); err != nil {
		return out, badInput{err}
	}
	if spec.Stability != nil && spec.Stability.Replace < 0 {
		return out, &InputError{"stability.replace", fmt.Errorf("%d: want K ≥ 0 replaced samples (0 = the control, twins on identical data)", spec.Stability.Replace)}
	}
	lopts := spec.Loader
	lopts.Dir = loader.ResolveDir(lopts.Dir)
	opt, err := loader.Open(ctx, cfg.Optimizer, lopts)
	if err != nil {
		if ctx.Err() != nil {
			return out, err
		}
		return out, &InputError{"optimizer", fmt.Errorf("%s: %w", cfg.Optimizer, err)}
	}
	defer func() {
		if opt != nil {
			opt.Close()
		}
	}()
	if out.Plugin, err = describe(ctx, opt, filepath.Join(lopts.Dir, cfg.Optimizer)); err != nil {
		return out, err
	}
	if err := optimizer.CheckHyperparams(out.Plugin.Description, cfg.Hyperparams); err != nil {
		return out, &InputError{"hyperparameters", err}
	}
	// The plugin's own rules across its hyperparameters and the lr (a
	// plugin built before the Check RPC is judged on its Describe alone).
	if c, ok := opt.(optimizer.Checker); ok {
		err := c.Check(ctx, optimizer.CheckConfig{InitConfig: optimizer.InitConfig{Hyperparams: cfg.Hyperparams}, LR: cfg.Schedule.LR})
		switch {
		case err == nil:
		case ctx.Err() != nil || errors.Is(err, loader.ErrPluginStopped):
			return out, err
		default:
			return out, &InputError{"hyperparameters", err}
		}
	}

	load := hooks.Data
	if load == nil {
		load = data.Load
	}
	if cfg.Train, cfg.Test, err = load(ctx, cfg.Data); err != nil {
		if ctx.Err() != nil {
			return out, err
		}
		return out, &InputError{"dataset", fmt.Errorf("%s: %w", cfg.Data.Dataset, err)}
	}
	out.Data = dataInfo(cfg.Data.Dataset, cfg.Train, cfg.Test)
	if spec.Stability != nil {
		if err := checkReplace(spec.Stability.Replace, cfg); err != nil {
			return out, err
		}
	}
	if hooks.OnStart != nil {
		hooks.OnStart(out)
	}
	if spec.Stability != nil {
		opt.Close() // the probe starts one plugin process per run
		opt = nil
		return probe(ctx, out, cfg, lopts, hooks)
	}

	t, err := train.New(ctx, cfg, opt)
	if err != nil {
		return out, classify(ctx, err)
	}
	defer t.Close()
	out.FastOps = t.Model().FastOps()
	onEval := func(p metrics.EvalPoint) error {
		e := Eval{EvalPoint: p}
		out.Evals = append(out.Evals, e)
		if hooks.OnEval == nil {
			return nil
		}
		return hooks.OnEval(e)
	}
	if cfg.Resume {
		// The evaluations before the checkpoint are part of this run's
		// curve: report them first, as if they had just been made.
		out.ResumedAt = t.GradEvals()
		for _, p := range t.Curve() {
			if err := onEval(p); err != nil {
				return out, err
			}
		}
	}
	out.Result, err = t.Run(ctx, train.Hooks{Progress: hooks.Progress, OnEval: onEval})
	return out, err
}

// describe asks the plugin what it is and checksums its binary.
func describe(ctx context.Context, opt optimizer.Optimizer, path string) (Plugin, error) {
	desc, err := opt.Describe(ctx)
	if err != nil {
		return Plugin{}, fmt.Errorf("plugin %s: describe: %w", path, err)
	}
	sum, err := fileSHA256(path)
	if err != nil {
		return Plugin{}, fmt.Errorf("plugin %s: %w", path, err)
	}
	return Plugin{Description: desc, Path: path, SHA256: sum}, nil
}

// classify marks the trainer's configuration and checkpoint errors as bad
// input.
func classify(ctx context.Context, err error) error {
	if ctx.Err() == nil && (errors.Is(err, train.ErrInvalidConfig) || errors.Is(err, train.ErrCheckpoint)) {
		return badInput{err}
	}
	return err
}

// probe runs the stability probe on the loaded sets and reports the S
// run's evaluations, each with the probe's comparison at it.
func probe(ctx context.Context, out Outcome, cfg train.Config, lopts loader.Options, hooks Hooks) (Outcome, error) {
	open := func(ctx context.Context) (optimizer.Optimizer, error) { return loader.Open(ctx, cfg.Optimizer, lopts) }
	var sh stability.Hooks
	if hooks.OnProbePoint != nil {
		sh.OnPoint = func(p stability.Point) error { hooks.OnProbePoint(p); return nil }
	}
	res, err := stability.Probe(ctx, cfg, *out.Spec.Stability, open, sh)
	if err != nil {
		return out, classify(ctx, fmt.Errorf("stability probe: %w", err))
	}
	if res.Reference == nil {
		return out, errors.New("stability probe: no result of the run on S")
	}
	out.Probe = &res
	out.Result = *res.Reference
	if res.Status == train.StatusDiverged && out.Result.Status != train.StatusDiverged {
		// A twin diverged and the probe stopped there: the run did not
		// reach its end either.
		out.Result.Status, out.Result.DivergedAt = train.StatusDiverged, res.DivergedAt
	}
	out.FastOps = fastOps(cfg)
	for i, q := range Align(out.Result.Curve, res.Curve) {
		e := Eval{EvalPoint: out.Result.Curve[i], Probe: q}
		out.Evals = append(out.Evals, e)
		if hooks.OnEval == nil {
			continue
		}
		if err := hooks.OnEval(e); err != nil {
			if errors.Is(err, ErrPruned) {
				return out, nil // the probe ran to its end; nothing left to stop
			}
			return out, err
		}
	}
	return out, nil
}

// checkReplace checks the probe's K against the loaded sets.
func checkReplace(k int, cfg train.Config) error {
	switch {
	case k > cfg.Train.N:
		return &InputError{"stability.replace", fmt.Errorf("%d: want at most the training-set size %d", k, cfg.Train.N)}
	case k > cfg.Test.N:
		return &InputError{"stability.replace", fmt.Errorf("%d: want at most the test-set size %d (the replacements come from the test set)", k, cfg.Test.N)}
	}
	return nil
}

// fastOps reports whether a model built for cfg uses host/ops' operators
// (every model does unless cfg.StockOps).
func fastOps(cfg train.Config) bool { return !cfg.StockOps }

// Align returns, for every point of the S run's curve, the probe's
// comparison at the same evaluation, or nil where it made none. The probe
// compares at every evaluation of the S run, so the curves match index by
// index, except after a divergence: the probe stops comparing at the step
// where a run produced a NaN or Inf, while the S run may have recorded that
// evaluation. Points are therefore matched by both step counts.
func Align(curve []metrics.EvalPoint, probe []stability.Point) []*stability.Point {
	out := make([]*stability.Point, len(curve))
	j := 0
	for i, p := range curve {
		for j < len(probe) && probe[j].GradEvals < p.GradEvals {
			j++
		}
		if j < len(probe) && probe[j].GradEvals == p.GradEvals && probe[j].OuterSteps == p.OuterSteps {
			out[i] = &probe[j]
		}
	}
	return out
}

// dataInfo describes the loaded sets.
func dataInfo(dataset string, trainSet, testSet *data.Set) DataInfo {
	h := sha256.Sum256([]byte(trainSet.Checksum + " " + testSet.Checksum))
	return DataInfo{
		Dataset: dataset, TrainN: trainSet.N, TestN: testSet.N, SHA256: hex.EncodeToString(h[:]),
		Train: fmt.Sprintf("%s: %d images, sha256 %s", trainSet.Name, trainSet.N, trainSet.Checksum),
		Test:  fmt.Sprintf("%s: %d images, sha256 %s", testSet.Name, testSet.N, testSet.Checksum),
	}
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("checksum %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
