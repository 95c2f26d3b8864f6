package train

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/lrsgd-lab/lrsgd/plugins/optimizer"
)

// Run trains cfg.Model with opt until cfg.Epochs (epochs of cfg.Clock)
// or cfg.BudgetGrads (gradient evaluations) is reached, evaluating every
// cfg.EvalEvery epochs and at the end.
//
// Stops that are not errors return a Result with a status and a nil
// error: "diverged" (a NaN or Inf loss or parameter; DivergedAt is the
// gradient-evaluation count of the step that produced it), "pruned"
// (hooks.OnEval returned ErrPruned) and "interrupted" (ctx was cancelled;
// the checkpoint, if configured, has been written, and cfg.Resume
// continues from it). Any other OnEval error is returned as is.
//
// The same cfg, plugin and data give the same Result.Curve bit for bit
// (apart from wall times), and a run resumed from a checkpoint gives the
// curve of the run that was not interrupted.
func Run(ctx context.Context, cfg Config, opt optimizer.Optimizer, hooks Hooks) (Result, error) {
	t, err := New(ctx, cfg, opt)
	if err != nil {
		return Result{}, err
	}
	defer t.Close()
	return t.Run(ctx, hooks)
}

// Run is the package's Run on a Trainer made by New (which a caller may
// inspect first): it steps and evaluates until the run's length is
// reached. Call it once, on a Trainer that has not been stepped.
func (t *Trainer) Run(ctx context.Context, hooks Hooks) (Result, error) {
	if hooks.Now != nil {
		t.now = hooks.Now
		t.started = t.now()
	}
	totalOuter, budget := t.totalOuter(), t.gradBudget()
	bar := t.newBar(hooks, totalOuter, budget)
	status := StatusOK

	evaluate := func() (bool, error) {
		p, err := t.Evaluate(ctx)
		if err != nil {
			return false, err
		}
		t.Record(p)
		if bar != nil {
			bar.describe(p)
		}
		if t.cfg.Checkpoint != "" {
			if err := t.SaveCheckpoint(ctx, t.cfg.Checkpoint); err != nil {
				return false, err
			}
		}
		if hooks.OnEval != nil {
			if err := hooks.OnEval(p); err != nil {
				if errors.Is(err, ErrPruned) {
					status = StatusPruned
					return true, nil
				}
				return false, fmt.Errorf("train: on eval: %w", err)
			}
		}
		return t.diverged, nil
	}
	interrupted := func() (Result, error) {
		if t.cfg.Checkpoint != "" {
			if err := t.SaveCheckpoint(ctx, t.cfg.Checkpoint); err != nil {
				return t.Result(StatusInterrupted), err
			}
		}
		bar.finish()
		return t.Result(StatusInterrupted), nil
	}

	for !t.diverged && status == StatusOK {
		if t.evalDue {
			stop, err := evaluate()
			if ctx.Err() != nil {
				return interrupted()
			}
			if err != nil {
				return t.Result(status), err
			}
			if stop {
				break
			}
		}
		if t.Finished() {
			break
		}
		info, err := t.Step(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return interrupted()
			}
			return t.Result(status), fmt.Errorf("train: %w", err)
		}
		bar.step(info, totalOuter)
	}
	if t.diverged {
		status = StatusDiverged
	}
	if status == StatusOK && (len(t.curve) == 0 || t.curve[len(t.curve)-1].GradEvals != t.gradEvals) {
		p, err := t.Evaluate(ctx)
		if ctx.Err() != nil {
			return interrupted()
		}
		if err != nil {
			return t.Result(status), err
		}
		t.Record(p)
		if t.diverged {
			status = StatusDiverged
		}
		if hooks.OnEval != nil {
			if err := hooks.OnEval(p); err != nil && !errors.Is(err, ErrPruned) {
				return t.Result(status), fmt.Errorf("train: on eval: %w", err)
			}
		}
	}
	if t.cfg.Checkpoint != "" {
		if err := t.SaveCheckpoint(ctx, t.cfg.Checkpoint); err != nil {
			return t.Result(status), err
		}
	}
	bar.finish()
	return t.Result(status), nil
}

// bar is the live progress bar: outer steps (or gradient evaluations for
// a budget-only run) with the running loss, the last test accuracy,
// steps per second and the ETA.
type bar struct {
	pb       *progressbar.ProgressBar
	byGrads  bool
	ema      float64
	lastAcc  float64
	lastDesc time.Time
}

func (t *Trainer) newBar(hooks Hooks, totalOuter, budget int64) *bar {
	if hooks.Progress == nil {
		return nil
	}
	b := &bar{lastAcc: math.NaN()}
	max := totalOuter
	unit := "outer steps"
	if max == 0 {
		max, b.byGrads, unit = budget, true, "grads"
	}
	b.pb = progressbar.NewOptions64(max,
		progressbar.OptionSetWriter(hooks.Progress),
		progressbar.OptionSetDescription(fmt.Sprintf("%s/%s", t.model.Name(), t.name)),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString(unit),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionSetWidth(20),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(hooks.Progress) }),
	)
	if b.byGrads {
		b.pb.Set64(t.gradEvals)
	} else {
		b.pb.Set64(t.outer)
	}
	return b
}

func (b *bar) step(info StepInfo, totalOuter int64) {
	if b == nil {
		return
	}
	if b.ema == 0 {
		b.ema = info.Loss
	}
	b.ema = 0.98*b.ema + 0.02*info.Loss
	if b.byGrads {
		b.pb.Set64(info.GradEvals)
	} else if info.OuterEnded {
		b.pb.Set64(min(info.OuterSteps, totalOuter))
	}
	if now := time.Now(); now.Sub(b.lastDesc) > time.Second {
		b.lastDesc = now
		b.pb.Describe(fmt.Sprintf("loss %.3f  test acc %s  lr %.3g", b.ema, pct(b.lastAcc), info.LR))
	}
}

func (b *bar) describe(p EvalPoint) {
	b.lastAcc = p.TestAcc
	b.lastDesc = time.Now()
	b.pb.Describe(fmt.Sprintf("epoch %.1f  train loss %.3f  test acc %s", p.Epoch, p.TrainLoss, pct(p.TestAcc)))
}

func (b *bar) finish() {
	if b != nil {
		b.pb.Finish()
	}
}

func pct(v float64) string {
	if math.IsNaN(v) {
		return "  –  "
	}
	return fmt.Sprintf("%.1f%%", 100*v)
}
