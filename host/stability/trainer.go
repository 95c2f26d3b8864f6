package stability

import (
	"context"
	"errors"
	"fmt"

	"github.com/lrsgd-lab/lrsgd/host/data"
	"github.com/lrsgd-lab/lrsgd/host/train"
	"github.com/lrsgd-lab/lrsgd/plugins/optimizer"
)

// OpenOptimizer returns a fresh optimizer for one run: an in-process one
// (blocks.NewLRSGDR()) or a plugin process (loader.Open). The probe calls
// it once per run and closes what it returns.
type OpenOptimizer func(ctx context.Context) (optimizer.Optimizer, error)

// trainerRun is a Runner over a train.Trainer. It evaluates when
// train.Run would: after every EvalEvery epochs of outer steps, and at the
// end (Epochs or BudgetGrads reached).
type trainerRun struct {
	t        *train.Trainer
	opt      optimizer.Optimizer
	lastEval int64 // grad evals at the last evaluation, −1 for none
}

// TrainerOpen returns an OpenFunc that trains with package train: cfg
// with its training set replaced by the probe's S or S′, test as the test
// set, and a fresh optimizer from open for every run. cfg must not ask for
// checkpoints (K + 1 runs cannot share one file).
func TrainerOpen(cfg train.Config, test *data.Set, open OpenOptimizer) OpenFunc {
	return func(ctx context.Context, set *data.Set) (Runner, error) {
		if cfg.Checkpoint != "" || cfg.Resume {
			return nil, errors.New("stability probe: checkpoints and resume are not supported, clear the checkpoint option")
		}
		c := cfg
		c.Train, c.Test = set, test
		opt, err := open(ctx)
		if err != nil {
			return nil, fmt.Errorf("open optimizer: %w", err)
		}
		t, err := train.New(ctx, c, opt)
		if err != nil {
			opt.Close()
			return nil, err
		}
		r := &trainerRun{t: t, opt: opt, lastEval: -1}
		return r, nil
	}
}

// Step makes one trainer step and, when due, an evaluation (recorded in
// the trainer's curve, so its Result is the plain run's).
func (r *trainerRun) Step(ctx context.Context) (StepInfo, error) {
	ti, err := r.t.Step(ctx)
	if err != nil {
		return StepInfo{}, err
	}
	info := StepInfo{GradEvals: ti.GradEvals, OuterSteps: ti.OuterSteps, Drawn: ti.Indices,
		Done: r.t.Finished(), Diverged: ti.Diverged}
	if ti.Diverged {
		return info, nil
	}
	if r.t.EvalDue() || (info.Done && r.lastEval != ti.GradEvals) {
		p, err := r.t.Evaluate(ctx)
		if err != nil {
			return StepInfo{}, err
		}
		r.t.Record(p)
		r.lastEval = ti.GradEvals
		info.Eval = &p
		if d, _ := r.t.Diverged(); d {
			info.Diverged = true
		}
	}
	return info, nil
}

func (r *trainerRun) Params() []float32 { return r.t.Params() }

func (r *trainerRun) TestLosses(ctx context.Context, dst []float64) error {
	return r.t.TestLosses(ctx, dst)
}

// Result is the trainer's summary of the run.
func (r *trainerRun) Result(status train.Status) train.Result { return r.t.Result(status) }

func (r *trainerRun) Close() error {
	err := r.t.Close()
	if e := r.opt.Close(); err == nil {
		err = e
	}
	return err
}

// Probe runs the twin-run probe on the trainer: S is the training set of
// cfg (cfg.Train, or loaded from cfg.Data), the test set is cfg.Test (or
// loaded); p gives K, the probe seed and the parallelism (its Train and
// Test are ignored). Every run gets its own optimizer from open and the
// same cfg, hence the same seeds: only the replaced sample differs.
func Probe(ctx context.Context, cfg train.Config, p Config, open OpenOptimizer, hooks Hooks) (Result, error) {
	tr, te := cfg.Train, cfg.Test
	if tr == nil || te == nil {
		var err error
		if tr, te, err = data.Load(ctx, cfg.Data); err != nil {
			return Result{}, fmt.Errorf("stability probe: %w", err)
		}
	}
	p.Train, p.Test = tr, te
	return Run(ctx, p, TrainerOpen(cfg, te, open), hooks)
}
