// Package train runs one training: a model from host/models on a data set
// from host/data, updated once per inner step by an optimizer.Optimizer
// (an in-process one or a plugin), with learning-rate schedules, periodic
// evaluation, divergence detection, checkpoints and the derived metrics
// of the LRSGD study (generalization gap, hitting time, both step counts).
//
// [Run] is the whole run; [Trainer] is the same loop one step at a time,
// for callers that drive two runs in lock-step (the stability probe).
//
// Counting: every call of the optimizer's Step is one gradient evaluation
// (one minibatch gradient); an outer step ends when the optimizer says so
// (StepResult.OuterEnded; SGD ends one every step). An epoch is ⌈N/B⌉
// OUTER steps, as in the reference code, so LRSGD spends about E[M] times
// the gradients of SGD per epoch; Config.BudgetGrads matches compute
// instead. Both counts are recorded everywhere.
package train

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/lrsgd-lab/lrsgd/host/data"
	"github.com/lrsgd-lab/lrsgd/host/metrics"
	"github.com/lrsgd-lab/lrsgd/host/models"
	"github.com/lrsgd-lab/lrsgd/plugins/optimizer"
)

// ErrPruned is returned by a Hooks.OnEval callback to stop a run early;
// the run then ends with Status "pruned" and no error.
var ErrPruned = errors.New("trial pruned")

// ErrDiverged is returned by Trainer.Step after the run has diverged.
var ErrDiverged = errors.New("training diverged")

// Statuses of a Result.
const (
	StatusOK          = metrics.StatusOK
	StatusDiverged    = metrics.StatusDiverged
	StatusInterrupted = metrics.StatusInterrupted
	StatusPruned      = metrics.StatusPruned
)

// DefaultHitThreshold is the train loss whose first crossing is the
// hitting time (the paper's Figure 2 uses 0.65).
const DefaultHitThreshold = 0.65

// DefaultEvalBatch is the evaluation batch size when Config.EvalBatch is 0.
const DefaultEvalBatch = 256

// Config configures a training run.
type Config struct {
	// Model is "lenet", "mlp", "vgg16" or "resnet18".
	Model string
	// Data says which data set to load. It is not read when Train and Test
	// are both given.
	Data data.Source
	// Train and Test, when both non-nil, are used instead of loading Data
	// (the stability probe passes S and S′ this way).
	Train, Test *data.Set

	// Optimizer is the optimizer's name, recorded in checkpoints (the
	// optimizer itself is passed to New or Run); "" uses Describe's name.
	Optimizer string
	// Hyperparams go to the optimizer's Init unchanged.
	Hyperparams map[string]string

	// Epochs is the length of the run in epochs of ⌈N/B⌉ outer steps
	// (0: no epoch limit; then BudgetGrads must be set).
	Epochs float64
	// BudgetGrads stops the run when this many gradient evaluations have
	// been made (0: no limit). With Epochs too, the first limit reached
	// ends the run.
	BudgetGrads int64
	// BatchSize is the training minibatch size B.
	BatchSize int
	// EvalBatch is the batch size of evaluation passes (0: 256).
	EvalBatch int

	// Seed seeds the initialisation, the optimizer (InitConfig.Seed), the
	// dropout masks and, unless StreamSeed is set, the minibatch stream.
	// (The subsets and the generated images are seeded by Data.Seed.)
	Seed uint64
	// StreamSeed, when non-zero, seeds the minibatch stream (order and
	// augmentation) instead of a value derived from Seed.
	StreamSeed uint64

	// Schedule is the learning-rate schedule α(outer step).
	Schedule Schedule
	// EvalEvery is the evaluation interval in epochs (0: 1). There is
	// always a final evaluation at the end of the run.
	EvalEvery float64
	// Clock is what an epoch counts in Epochs, EvalEvery and the
	// schedule's milestones: ClockEpochs ("" too) counts ⌈N/B⌉ outer
	// steps, ClockGrads counts ⌈N/B⌉ gradient evaluations, so that every
	// optimizer gets the same schedule, evaluations and length in compute
	// (SGD's epochs). With ClockGrads a run ends after ⌈Epochs·N/B⌉
	// gradient evaluations (or BudgetGrads, the first reached), the rate
	// is the schedule's at the gradient count where the outer step
	// began, and an evaluation falls at the end of the outer step that
	// crosses a multiple of EvalEvery·⌈N/B⌉ gradients.
	Clock string
	// HitThreshold is the train loss that defines the hitting time
	// (0: 0.65).
	HitThreshold float64
	// Augment turns the paper's crop+flip augmentation on or off; nil uses
	// the training set's own Augment field (true for CIFAR-10).
	Augment *bool
	// StockOps builds every model with Gorgonia's own operators (and the
	// lab's stock batch norm) instead of host/ops' (the default).
	StockOps bool
	// TrainEvalSize evaluates on the first TrainEvalSize training images
	// only (0: the whole training set).
	TrainEvalSize int

	// Checkpoint is the checkpoint file ("" for none). It is written
	// atomically after every evaluation, at the end and on interruption.
	Checkpoint string
	// Resume continues from Checkpoint, which must exist and belong to
	// the same run (model, data, batch size, seed, optimizer, hyperparams).
	Resume bool
}

// StepInfo describes one inner step.
type StepInfo struct {
	GradEvals  int64   // gradient evaluations after this step
	OuterSteps int64   // outer steps completed after this step
	Loss       float64 // minibatch loss at the parameters before the update
	LR         float64 // scheduled α of this step
	OuterEnded bool    // this step ended an outer step
	Inner, M   int     // inner index k and M_t, as the optimizer reported
	// Indices are the training-set indices of the minibatch; the slice
	// belongs to the Trainer and is overwritten by the next step.
	Indices []int
	StepMs  float64 // wall ms of forward + backward + optimizer update
	// Diverged is set when this step produced a NaN or Inf loss or
	// parameter; the optimizer was not stepped on a non-finite loss.
	Diverged bool
}

// Trainer is one training run advanced step by step. It is not safe for
// concurrent use.
type Trainer struct {
	cfg   Config
	model *models.Model
	opt   optimizer.Optimizer
	name  string
	buf   optimizer.Buffers
	stats []float32

	train, test *data.Set
	stream      *data.Stream
	tnet, enet  *models.Net
	labels, idx []int
	evLabels    []int
	evLosses    []float64
	testLosses  []float64

	stepsPerEpoch int64
	gradEvals     int64
	outer         int64
	outerStart    int64 // gradEvals when the current outer step began
	evalDue       bool
	diverged      bool
	divergedAt    int64

	curve  []EvalPoint
	timing reservoir

	now      func() time.Time
	started  time.Time
	wallBase float64 // wall seconds of earlier sessions (resume)
}

// ErrInvalidConfig is matched (errors.Is) by every error of
// Config.Validate: the configuration, not the run, is at fault.
var ErrInvalidConfig = errors.New("invalid train config")

// ErrCheckpoint is wrapped by the errors of a resume from a checkpoint that
// is missing, unreadable or belongs to another run.
var ErrCheckpoint = errors.New("checkpoint cannot resume this run")

// ConfigError is an invalid field of a Config. Field names it in the
// snake_case that study files use (batch_size, schedule.lr, ...), so that
// each front end can name its own key or flag; Problem gives the value and
// what is expected ("0: want at least 1").
type ConfigError struct {
	Field   string
	Problem string
}

func (e *ConfigError) Error() string { return "invalid train config: " + e.Field + " " + e.Problem }

// Is makes every ConfigError match ErrInvalidConfig.
func (e *ConfigError) Is(target error) bool { return target == ErrInvalidConfig }

func badField(field, format string, args ...any) error {
	return &ConfigError{Field: field, Problem: fmt.Sprintf(format, args...)}
}

// Validate checks the configuration without loading data or building the
// model: the model and data set names, the sizes and counts, the schedule,
// the evaluation settings and the checkpoint options. It is the one check
// every way of starting a run (train's flags, a study file, --set
// overrides) goes through. Zero means the default for EvalBatch (256),
// EvalEvery (1 epoch) and HitThreshold (0.65). The error is a
// *ConfigError.
func (c *Config) Validate() error {
	switch {
	case !slices.Contains(models.Names(), c.Model):
		return badField("model", "%q: want one of %s", c.Model, strings.Join(models.Names(), ", "))
	case c.Train == nil && c.Test == nil && !slices.Contains(data.Names(), c.Data.Dataset):
		return badField("dataset", "%q: want one of %s", c.Data.Dataset, strings.Join(data.Names(), ", "))
	case c.Data.TrainSize < 0:
		return badField("train_size", "%d: want ≥ 0 (0 = all)", c.Data.TrainSize)
	case c.Data.TestSize < 0:
		return badField("test_size", "%d: want ≥ 0 (0 = all)", c.Data.TestSize)
	case c.BatchSize < 1:
		return badField("batch_size", "%d: want at least 1", c.BatchSize)
	case c.Epochs < 0 || math.IsNaN(c.Epochs) || math.IsInf(c.Epochs, 0):
		return badField("epochs", "%v: want a finite number ≥ 0", c.Epochs)
	case c.BudgetGrads < 0:
		return badField("budget_grads", "%d: want ≥ 0", c.BudgetGrads)
	case c.Epochs == 0 && c.BudgetGrads == 0:
		return badField("epochs", "0 without a gradient budget: want epochs > 0 or budget_grads > 0, else the run would never end")
	case c.EvalBatch < 0:
		return badField("eval_batch", "%d: want ≥ 0 (0 = %d)", c.EvalBatch, DefaultEvalBatch)
	case c.Clock != "" && c.Clock != ClockEpochs && c.Clock != ClockGrads:
		return badField("clock", "%q: want %s or %s", c.Clock, ClockEpochs, ClockGrads)
	case c.EvalEvery < 0 || math.IsNaN(c.EvalEvery) || math.IsInf(c.EvalEvery, 0):
		return badField("eval_every", "%v: want a finite number of epochs ≥ 0 (0 = 1)", c.EvalEvery)
	case c.HitThreshold < 0 || math.IsNaN(c.HitThreshold) || math.IsInf(c.HitThreshold, 0):
		return badField("hit_threshold", "%v: want a finite loss ≥ 0 (0 = %g)", c.HitThreshold, DefaultHitThreshold)
	case c.TrainEvalSize < 0:
		return badField("train_eval_size", "%d: want ≥ 0", c.TrainEvalSize)
	case c.Resume && c.Checkpoint == "":
		return badField("resume", "needs a checkpoint file to resume from")
	}
	return c.Schedule.Validate()
}

// Seed domains: each use of Config.Seed gets its own stream.
const (
	seedOptimizer = iota + 1
	seedStream
	seedDropout
)

func derive(seed uint64, domain uint64) uint64 {
	x := seed ^ (domain * 0x9e3779b97f4a7c15)
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// New prepares a run: it loads the data (unless cfg.Train and cfg.Test
// are given), builds the model, initialises opt (Init with the model's
// parameter count, cfg.Hyperparams and a seed derived from cfg.Seed),
// writes the initial parameters into the optimizer's Buffers.Params —
// which the model's graphs view directly — and, with cfg.Resume, restores
// the checkpoint. The caller keeps ownership of opt and closes it after
// the Trainer.
func New(ctx context.Context, cfg Config, opt optimizer.Optimizer) (*Trainer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if opt == nil {
		return nil, errors.New("train: no optimizer")
	}
	t := &Trainer{cfg: cfg, opt: opt, now: time.Now}
	if t.cfg.EvalBatch == 0 {
		t.cfg.EvalBatch = DefaultEvalBatch
	}
	if t.cfg.EvalEvery == 0 {
		t.cfg.EvalEvery = 1
	}
	if t.cfg.HitThreshold == 0 {
		t.cfg.HitThreshold = DefaultHitThreshold
	}
	t.train, t.test = cfg.Train, cfg.Test
	if t.train == nil || t.test == nil {
		var err error
		if t.train, t.test, err = data.Load(ctx, cfg.Data); err != nil {
			return nil, fmt.Errorf("train: %w", err)
		}
	}
	if t.train.C != t.test.C || t.train.H != t.test.H || t.train.W != t.test.W || t.train.Classes != t.test.Classes {
		return nil, fmt.Errorf("train: train set %s and test set %s have different shapes", t.train.Name, t.test.Name)
	}
	if t.cfg.TrainEvalSize > t.train.N {
		return nil, fmt.Errorf("train: train eval size %d exceeds the %d training images", t.cfg.TrainEvalSize, t.train.N)
	}
	in := models.Input{C: t.train.C, H: t.train.H, W: t.train.W, Classes: t.train.Classes}
	m, err := models.New(cfg.Model, in, models.Options{Fast: !cfg.StockOps})
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	t.model = m

	desc, err := opt.Describe(ctx)
	if err != nil {
		return nil, fmt.Errorf("train: describe optimizer: %w", err)
	}
	t.name = cfg.Optimizer
	if t.name == "" {
		t.name = desc.Name
	}
	t.buf, err = opt.Init(ctx, optimizer.InitConfig{Hyperparams: cfg.Hyperparams, NumParams: m.NumParams(),
		Seed: derive(cfg.Seed, seedOptimizer)})
	if err != nil {
		return nil, fmt.Errorf("train: init optimizer %s: %w", t.name, err)
	}
	if len(t.buf.Params) != m.NumParams() || len(t.buf.Grads) != m.NumParams() {
		return nil, fmt.Errorf("train: optimizer %s returned buffers of %d and %d values, want %d",
			t.name, len(t.buf.Params), len(t.buf.Grads), m.NumParams())
	}
	t.stats = make([]float32, m.NumStats())
	if err := m.Init(t.buf.Params, t.stats, cfg.Seed); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}

	b := cfg.BatchSize
	t.stepsPerEpoch = int64((t.train.N + b - 1) / b)
	augment := t.train.Augment
	if cfg.Augment != nil {
		augment = *cfg.Augment
	}
	streamSeed := cfg.StreamSeed
	if streamSeed == 0 {
		streamSeed = derive(cfg.Seed, seedStream)
	}
	t.stream = data.NewStream(t.train, b, streamSeed, augment)
	dropSeed := derive(cfg.Seed, seedDropout)
	if t.tnet, err = m.NewNet(t.buf.Params, t.stats, b, models.Train, dropSeed); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	if t.enet, err = m.NewNet(t.buf.Params, t.stats, t.cfg.EvalBatch, models.Eval, dropSeed); err != nil {
		t.tnet.Close()
		return nil, fmt.Errorf("train: %w", err)
	}
	t.labels = make([]int, b)
	t.idx = make([]int, b)
	t.evLabels = make([]int, t.cfg.EvalBatch)
	t.evLosses = make([]float64, t.cfg.EvalBatch)
	t.testLosses = make([]float64, t.test.N)
	t.divergedAt = -1
	t.timing = newReservoir(reservoirCap)

	if cfg.Resume {
		if err := t.restore(ctx, cfg.Checkpoint); err != nil {
			t.Close()
			return nil, err
		}
	}
	t.started = t.now()
	return t, nil
}

// Close releases the model's graphs. It does not close the optimizer.
func (t *Trainer) Close() error {
	err := t.tnet.Close()
	if e := t.enet.Close(); err == nil {
		err = e
	}
	return err
}

// Model is the model being trained.
func (t *Trainer) Model() *models.Model { return t.model }

// TrainSet and TestSet are the data the run uses.
func (t *Trainer) TrainSet() *data.Set { return t.train }

// TestSet is the evaluation set.
func (t *Trainer) TestSet() *data.Set { return t.test }

// Params is the parameter vector (the optimizer's Buffers.Params, viewed
// by the model's graphs). Do not write to it between steps.
func (t *Trainer) Params() []float32 { return t.buf.Params }

// Stats is the batch-norm running statistics vector (empty without BN).
func (t *Trainer) Stats() []float32 { return t.stats }

// StepsPerEpoch is ⌈N/B⌉, the outer steps of one epoch.
func (t *Trainer) StepsPerEpoch() int64 { return t.stepsPerEpoch }

// GradEvals is the number of gradient evaluations made so far.
func (t *Trainer) GradEvals() int64 { return t.gradEvals }

// OuterSteps is the number of outer steps completed so far.
func (t *Trainer) OuterSteps() int64 { return t.outer }

// Epoch is OuterSteps / StepsPerEpoch.
func (t *Trainer) Epoch() float64 { return float64(t.outer) / float64(t.stepsPerEpoch) }

// LR is the learning rate the next step will use.
func (t *Trainer) LR() float64 { return t.cfg.Schedule.At(t.clockAt(), t.stepsPerEpoch) }

// clockAt is the position of the current outer step on the run's clock:
// outer steps completed, or with ClockGrads the gradient evaluations made
// before the outer step began.
func (t *Trainer) clockAt() int64 {
	if t.cfg.Clock == ClockGrads {
		return t.outerStart
	}
	return t.outer
}

// totalOuter is the number of outer steps that ends the run (0: no
// outer-step limit, as with ClockGrads).
func (t *Trainer) totalOuter() int64 {
	if t.cfg.Epochs > 0 && t.cfg.Clock != ClockGrads {
		return int64(math.Ceil(t.cfg.Epochs * float64(t.stepsPerEpoch)))
	}
	return 0
}

// Finished reports whether the run's length (Epochs on its clock, or
// BudgetGrads) has been reached.
func (t *Trainer) Finished() bool {
	total, budget := t.totalOuter(), t.gradBudget()
	return (total > 0 && t.outer >= total) || (budget > 0 && t.gradEvals >= budget)
}

// EvalDue reports whether the last step ended an evaluation interval
// (EvalEvery on the run's clock) and no evaluation has been recorded
// since.
func (t *Trainer) EvalDue() bool { return t.evalDue }

// gradBudget is the number of gradient evaluations that ends the run (0:
// no gradient limit): BudgetGrads, or with ClockGrads ⌈Epochs·N/B⌉ if
// that comes first.
func (t *Trainer) gradBudget() int64 {
	b := t.cfg.BudgetGrads
	if t.cfg.Clock == ClockGrads && t.cfg.Epochs > 0 {
		e := int64(math.Ceil(t.cfg.Epochs * float64(t.stepsPerEpoch)))
		if b == 0 || e < b {
			b = e
		}
	}
	return b
}

// Curve is the evaluations recorded so far (by Run, or by Record).
func (t *Trainer) Curve() []EvalPoint { return t.curve }

// Diverged reports whether a step has produced a non-finite loss or
// parameter, and the gradient evaluation count at which it did.
func (t *Trainer) Diverged() (bool, int64) { return t.diverged, t.divergedAt }

// Step makes one inner step: the next minibatch from the stream, forward
// and backward into the optimizer's Buffers.Grads, and the optimizer's
// Step with the scheduled learning rate. A cancelled ctx is reported
// before any work; once started, the step completes (the optimizer call
// is not cancelled half-way, so the state stays consistent for a
// checkpoint). After a divergence Step returns ErrDiverged.
func (t *Trainer) Step(ctx context.Context) (StepInfo, error) {
	if err := ctx.Err(); err != nil {
		return StepInfo{}, err
	}
	if t.diverged {
		return StepInfo{}, ErrDiverged
	}
	lr := t.LR()
	t.stream.Next(t.tnet.Input(), t.labels, t.idx)
	start := t.now()
	loss, err := t.tnet.TrainStep(t.labels, uint64(t.gradEvals), t.buf.Grads)
	if err != nil {
		return StepInfo{}, fmt.Errorf("step %d: %w", t.gradEvals, err)
	}
	info := StepInfo{LR: lr, Loss: loss, Indices: t.idx}
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		t.gradEvals++
		t.diverged, t.divergedAt = true, t.gradEvals
		info.GradEvals, info.OuterSteps, info.Diverged = t.gradEvals, t.outer, true
		return info, nil
	}
	res, err := t.opt.Step(context.WithoutCancel(ctx), optimizer.StepRequest{Step: t.gradEvals, LR: lr})
	if err != nil {
		return StepInfo{}, fmt.Errorf("step %d: optimizer %s: %w", t.gradEvals, t.name, err)
	}
	ms := float64(t.now().Sub(start)) / float64(time.Millisecond)
	t.timing.add(float32(ms), uint64(t.gradEvals))
	t.gradEvals++
	if res.OuterEnded {
		t.outer++
		if t.cfg.Clock == ClockGrads {
			if every := t.evalInterval(); t.gradEvals/every > t.outerStart/every {
				t.evalDue = true
			}
			t.outerStart = t.gradEvals
		} else if t.outer%t.evalInterval() == 0 {
			t.evalDue = true
		}
	}
	info.GradEvals, info.OuterSteps = t.gradEvals, t.outer
	info.OuterEnded, info.Inner, info.M, info.StepMs = res.OuterEnded, res.Inner, res.M, ms
	if !finite(t.buf.Params) {
		t.diverged, t.divergedAt = true, t.gradEvals
		info.Diverged = true
	}
	return info, nil
}

// evalInterval is the evaluation interval in outer steps (in gradient
// evaluations with ClockGrads).
func (t *Trainer) evalInterval() int64 {
	return max(1, int64(math.Round(t.cfg.EvalEvery*float64(t.stepsPerEpoch))))
}

func finite(v []float32) bool {
	var s float32
	for _, x := range v {
		s += x * 0 // NaN·0 = NaN, ±Inf·0 = NaN
	}
	return s == 0
}

// Evaluate scores the current parameters on the whole test set and on
// the training set without augmentation (or its first TrainEvalSize
// images), in evaluation mode (batch norm with running statistics, no
// dropout). It does not record the point; Run does, and so does Record.
func (t *Trainer) Evaluate(ctx context.Context) (EvalPoint, error) {
	trainN := t.train.N
	if t.cfg.TrainEvalSize > 0 {
		trainN = t.cfg.TrainEvalSize
	}
	testLoss, testAcc, err := t.score(ctx, t.test, t.test.N, t.testLosses)
	if err != nil {
		return EvalPoint{}, err
	}
	trainLoss, trainAcc, err := t.score(ctx, t.train, trainN, nil)
	if err != nil {
		return EvalPoint{}, err
	}
	return EvalPoint{
		Epoch: t.Epoch(), OuterSteps: t.outer, GradEvals: t.gradEvals, LR: t.LR(),
		TrainLoss: trainLoss, TrainAcc: trainAcc, TestLoss: testLoss, TestAcc: testAcc,
		Wall: t.wall(),
	}, nil
}

// score evaluates the first n images of s; with per non-nil, it also
// writes each image's loss there.
func (t *Trainer) score(ctx context.Context, s *data.Set, n int, per []float64) (loss, acc float64, err error) {
	var sum float64
	var correct int
	eb := t.cfg.EvalBatch
	for start := 0; start < n; start += eb {
		if err := ctx.Err(); err != nil {
			return 0, 0, err
		}
		k := s.Batch(start, min(eb, n-start), t.enet.Input(), t.evLabels)
		c, err := t.enet.Evaluate(t.evLabels, k, t.evLosses)
		if err != nil {
			return 0, 0, fmt.Errorf("evaluate %s: %w", s.Name, err)
		}
		correct += c
		for _, l := range t.evLosses[:k] {
			sum += l
		}
		if per != nil {
			copy(per[start:start+k], t.evLosses[:k])
		}
	}
	return sum / float64(n), float64(correct) / float64(n), nil
}

// TestLosses writes the loss of every test image at the current
// parameters into dst (len TestSet().N), in test-set order.
func (t *Trainer) TestLosses(ctx context.Context, dst []float64) error {
	if len(dst) != t.test.N {
		return fmt.Errorf("test losses: dst has %d slots, want %d", len(dst), t.test.N)
	}
	_, _, err := t.score(ctx, t.test, t.test.N, dst)
	return err
}

// Record appends an evaluation to the curve (Run calls it after every
// evaluation). A non-finite loss marks the run diverged.
func (t *Trainer) Record(p EvalPoint) {
	t.curve = append(t.curve, p)
	t.evalDue = false
	for _, v := range []float64{p.TrainLoss, p.TestLoss} {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			if !t.diverged {
				t.diverged, t.divergedAt = true, p.GradEvals
			}
		}
	}
}

func (t *Trainer) wall() float64 {
	return t.wallBase + t.now().Sub(t.started).Seconds()
}

// Result summarises the run so far with the given status: the last
// recorded evaluation's metrics, the best test accuracy, the hitting
// time, the counters, the median step time and the wall time.
func (t *Trainer) Result(status Status) Result {
	r := Result{
		Status: status, DivergedAt: -1,
		HittingTimeOuter: -1, HittingTimeGrads: -1,
		GradEvals: t.gradEvals, OuterSteps: t.outer, Epochs: t.Epoch(),
		StepMsMedian: t.timing.median(), WallSeconds: t.wall(),
		Curve: append([]EvalPoint(nil), t.curve...),
	}
	if t.diverged {
		r.DivergedAt = t.divergedAt
	}
	for _, p := range t.curve {
		if !p.Finite() {
			continue
		}
		r.TestAccuracy, r.TestLoss, r.TrainLoss, r.TrainAccuracy = p.TestAcc, p.TestLoss, p.TrainLoss, p.TrainAcc
		r.GeneralizationGap = p.TestLoss - p.TrainLoss
		r.BestTestAccuracy = max(r.BestTestAccuracy, p.TestAcc)
		if r.HittingTimeOuter < 0 && p.TrainLoss <= t.cfg.HitThreshold {
			r.HittingTimeOuter, r.HittingTimeGrads = p.OuterSteps, p.GradEvals
		}
	}
	return r
}

// reservoirCap bounds the step times kept for the median.
const reservoirCap = 1 << 18

// reservoir keeps a uniform sample of at most cap step times (all of
// them until cap is reached), for the median.
type reservoir struct {
	Samples []float32
	Seen    int64
}

func newReservoir(n int) reservoir { return reservoir{Samples: make([]float32, 0, min(n, 4096))} }

func (r *reservoir) add(v float32, key uint64) {
	r.Seen++
	if len(r.Samples) < reservoirCap {
		r.Samples = append(r.Samples, v)
		return
	}
	j := int64(derive(key, 0x51) % uint64(r.Seen))
	if j < int64(len(r.Samples)) {
		r.Samples[j] = v
	}
}

func (r *reservoir) median() float64 {
	if len(r.Samples) == 0 {
		return 0
	}
	s := append([]float32(nil), r.Samples...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	n := len(s)
	if n%2 == 1 {
		return float64(s[n/2])
	}
	return (float64(s[n/2-1]) + float64(s[n/2])) / 2
}
