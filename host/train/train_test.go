package train

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/lrsgd-lab/lrsgd/host/data"
	"github.com/lrsgd-lab/lrsgd/plugins/blocks"
	"github.com/lrsgd-lab/lrsgd/plugins/optimizer"
)

var (
	synthOnce        sync.Once
	synthTr, synthTe *data.Set
	synthErr         error
)

// synthetic returns a small generated data set, loaded once.
func synthetic(t testing.TB) (*data.Set, *data.Set) {
	t.Helper()
	synthOnce.Do(func() {
		synthTr, synthTe, synthErr = data.Load(context.Background(),
			data.Source{Dataset: "synthetic", TrainSize: 480, TestSize: 200, Seed: 3})
	})
	if synthErr != nil {
		t.Fatal(synthErr)
	}
	return synthTr, synthTe
}

func baseConfig(t testing.TB) Config {
	tr, te := synthetic(t)
	return Config{
		Model: "lenet", Train: tr, Test: te, BatchSize: 32, Epochs: 2, Seed: 5,
		Schedule: Schedule{Kind: ScheduleConstant, LR: 0.05}, EvalBatch: 100,
	}
}

// stripWall drops the wall times, the only field allowed to differ
// between two runs of the same configuration.
func stripWall(c []EvalPoint) []EvalPoint {
	out := append([]EvalPoint(nil), c...)
	for i := range out {
		out[i].Wall = 0
	}
	return out
}

func mustRun(t *testing.T, cfg Config, opt optimizer.Optimizer, hooks Hooks) Result {
	t.Helper()
	defer opt.Close()
	res, err := Run(context.Background(), cfg, opt, hooks)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestScheduleAt(t *testing.T) {
	paper := PaperSchedule()
	tests := []struct {
		s           Schedule
		outer, spe  int64
		want        float64
		description string
	}{
		{paper, 0, 391, 0.1, "start"},
		{paper, 150*391 - 1, 391, 0.1, "last step of epoch 149"},
		{paper, 150 * 391, 391, 0.01, "first step of epoch 150"},
		{paper, 250 * 391, 391, 0.001, "epoch 250"},
		{Schedule{Kind: ScheduleEvery, LR: 0.01, Every: 780, Factor: 0.5}, 779, 1, 0.01, "every: before"},
		{Schedule{Kind: ScheduleEvery, LR: 0.01, Every: 780, Factor: 0.5}, 1560, 1, 0.0025, "every: two decays"},
		{Schedule{Kind: ScheduleEvery, LR: 0.01, Every: 10}, 10, 1, 0.001, "every: default factor 0.1"},
		{Schedule{Kind: ScheduleConstant, LR: 0.3}, 1e6, 10, 0.3, "constant"},
	}
	for _, tc := range tests {
		if got := tc.s.At(tc.outer, tc.spe); math.Abs(got-tc.want) > 1e-15 {
			t.Errorf("%s: At(%d, %d) = %v, want %v", tc.description, tc.outer, tc.spe, got, tc.want)
		}
	}
	for _, bad := range []Schedule{{Kind: "cosine", LR: 0.1}, {LR: 0}, {Kind: ScheduleEvery, LR: 0.1}, {Kind: ScheduleStep, LR: 0.1, Milestones: []float64{5, 3}}} {
		if err := bad.Validate(); err == nil {
			t.Errorf("Validate(%+v) = nil, want an error", bad)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []struct {
		mod  func(*Config)
		want string
		kind error // the sentinel the error wraps
	}{
		{func(c *Config) { c.BatchSize = 0 }, "batch_size 0: want at least 1", ErrInvalidConfig},
		{func(c *Config) { c.Epochs = 0 }, "would never end", ErrInvalidConfig},
		{func(c *Config) { c.Model = "alexnet" }, `model "alexnet": want one of lenet, mlp, resnet18, vgg16`, ErrInvalidConfig},
		{func(c *Config) { c.HitThreshold = -1 }, "hit_threshold -1: want", ErrInvalidConfig},
		{func(c *Config) { c.EvalEvery = math.Inf(1) }, "eval_every +Inf: want", ErrInvalidConfig},
		{func(c *Config) { c.Schedule.LR = math.Inf(1) }, "schedule.lr +Inf: want", ErrInvalidConfig},
		{func(c *Config) { c.Clock = "steps" }, `clock "steps": want epochs or grads`, ErrInvalidConfig},
		{func(c *Config) { c.Resume = true }, "resume needs a checkpoint", ErrInvalidConfig},
		{func(c *Config) { c.Resume, c.Checkpoint = true, filepath.Join(t.TempDir(), "none") }, "no such file", ErrCheckpoint},
	} {
		cfg := baseConfig(t)
		c.mod(&cfg)
		_, err := Run(context.Background(), cfg, blocks.NewSGD(), Hooks{})
		if err == nil || !contains(err.Error(), c.want) {
			t.Errorf("error %v, want one containing %q", err, c.want)
		}
		if !errors.Is(err, c.kind) {
			t.Errorf("error %v does not wrap %v", err, c.kind)
		}
	}
}

func contains(s, sub string) bool {
	return len(sub) == 0 || (len(s) >= len(sub) && indexOf(s, sub) >= 0)
}

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

func TestRunCountsAndReproducible(t *testing.T) {
	cfg := baseConfig(t)
	a := mustRun(t, cfg, blocks.NewSGD(), Hooks{})
	b := mustRun(t, cfg, blocks.NewSGD(), Hooks{})
	if a.Status != StatusOK {
		t.Fatalf("status %q", a.Status)
	}
	// 480 images, batch 32: 15 outer steps an epoch; SGD: one gradient each.
	if a.OuterSteps != 30 || a.GradEvals != 30 || a.Epochs != 2 {
		t.Errorf("outer %d grads %d epochs %v, want 30, 30, 2", a.OuterSteps, a.GradEvals, a.Epochs)
	}
	if len(a.Curve) != 2 || a.Curve[0].OuterSteps != 15 || a.Curve[1].GradEvals != 30 {
		t.Fatalf("curve %+v, want evaluations at 15 and 30 outer steps", a.Curve)
	}
	if !reflect.DeepEqual(stripWall(a.Curve), stripWall(b.Curve)) {
		t.Errorf("same seed, different curves:\n%+v\n%+v", a.Curve, b.Curve)
	}
	last := a.Curve[1]
	if a.TestAccuracy != last.TestAcc || a.GeneralizationGap != last.TestLoss-last.TrainLoss {
		t.Errorf("result %+v does not match the last evaluation %+v", a, last)
	}
	if !(a.StepMsMedian > 0) || !(a.WallSeconds > 0) {
		t.Errorf("step_ms_median %v wall %v, want positive", a.StepMsMedian, a.WallSeconds)
	}
	cfg.Seed = 6
	c := mustRun(t, cfg, blocks.NewSGD(), Hooks{})
	if reflect.DeepEqual(stripWall(a.Curve), stripWall(c.Curve)) {
		t.Error("different seeds gave the same curve")
	}
}

// TestLRSGDCounting: LRSGD-C with M = 10 spends ten gradients per outer
// step; a gradient budget stops it exactly, mid outer step.
func TestLRSGDCounting(t *testing.T) {
	cfg := baseConfig(t)
	cfg.Epochs = 1
	cfg.Hyperparams = map[string]string{"m": "10"}
	r := mustRun(t, cfg, blocks.NewLRSGDC(), Hooks{})
	if r.OuterSteps != 15 || r.GradEvals != 150 {
		t.Errorf("one epoch: outer %d grads %d, want 15 and 150", r.OuterSteps, r.GradEvals)
	}
	cfg.Epochs, cfg.BudgetGrads = 0, 45
	r = mustRun(t, cfg, blocks.NewLRSGDC(), Hooks{})
	if r.OuterSteps != 4 || r.GradEvals != 45 || len(r.Curve) != 1 || r.Curve[0].GradEvals != 45 {
		t.Errorf("budget 45: outer %d grads %d curve %+v, want 4 outer, 45 grads, one final evaluation", r.OuterSteps, r.GradEvals, r.Curve)
	}
}

func TestResultDerivedMetrics(t *testing.T) {
	now := time.Unix(100, 0)
	tr := &Trainer{cfg: Config{HitThreshold: 0.65}, stepsPerEpoch: 10, timing: newReservoir(8),
		now: func() time.Time { return now }, started: now.Add(-3 * time.Second), divergedAt: -1}
	for _, ms := range []float32{5, 1, 4, 2} {
		tr.timing.add(ms, 0)
	}
	tr.gradEvals, tr.outer = 300, 30
	for _, p := range []EvalPoint{
		{OuterSteps: 10, GradEvals: 100, TrainLoss: 1.2, TestLoss: 1.3, TestAcc: 0.5},
		{OuterSteps: 20, GradEvals: 200, TrainLoss: 0.6, TestLoss: 0.9, TestAcc: 0.7},
		{OuterSteps: 30, GradEvals: 300, TrainLoss: 0.5, TestLoss: 1.0, TestAcc: 0.65, TrainAcc: 0.8},
	} {
		tr.Record(p)
	}
	r := tr.Result(StatusOK)
	want := Result{Status: StatusOK, DivergedAt: -1, TestAccuracy: 0.65, TestLoss: 1.0, TrainLoss: 0.5, TrainAccuracy: 0.8,
		GeneralizationGap: 0.5, BestTestAccuracy: 0.7, HittingTimeOuter: 20, HittingTimeGrads: 200,
		GradEvals: 300, OuterSteps: 30, Epochs: 3, StepMsMedian: 3, WallSeconds: 3, Curve: tr.curve}
	if !reflect.DeepEqual(r, want) {
		t.Errorf("result\n%+v\nwant\n%+v", r, want)
	}
	tr.cfg.HitThreshold = 0.1
	if r := tr.Result(StatusOK); r.HittingTimeOuter != -1 || r.HittingTimeGrads != -1 {
		t.Errorf("never hit: hitting time %d/%d, want -1/-1", r.HittingTimeOuter, r.HittingTimeGrads)
	}
	tr.Record(EvalPoint{OuterSteps: 31, GradEvals: 310, TrainLoss: math.NaN(), TestLoss: math.NaN()})
	if r := tr.Result(StatusDiverged); r.DivergedAt != 310 || r.TestAccuracy != 0.65 {
		t.Errorf("NaN evaluation: diverged at %d, test acc %v; want 310 and the last finite point's 0.65", r.DivergedAt, r.TestAccuracy)
	}
}

func TestDivergence(t *testing.T) {
	cfg := baseConfig(t)
	cfg.Schedule.LR = 1e6
	r := mustRun(t, cfg, blocks.NewSGD(), Hooks{})
	if r.Status != StatusDiverged || r.DivergedAt < 1 || r.DivergedAt > 10 || r.GradEvals != r.DivergedAt {
		t.Fatalf("status %q diverged at %d after %d grads; want diverged within 10 steps, stopping there", r.Status, r.DivergedAt, r.GradEvals)
	}
	t.Logf("diverged at gradient evaluation %d", r.DivergedAt)
}

func TestPruned(t *testing.T) {
	cfg := baseConfig(t)
	cfg.Epochs = 3
	calls := 0
	r := mustRun(t, cfg, blocks.NewSGD(), Hooks{OnEval: func(EvalPoint) error {
		calls++
		return ErrPruned
	}})
	if r.Status != StatusPruned || calls != 1 || r.OuterSteps != 15 {
		t.Errorf("status %q after %d evaluations and %d outer steps, want pruned after 1 and 15", r.Status, calls, r.OuterSteps)
	}
	other := errors.New("store down")
	_, err := Run(context.Background(), cfg, blocks.NewSGD(), Hooks{OnEval: func(EvalPoint) error { return other }})
	if !errors.Is(err, other) {
		t.Errorf("OnEval error: Run returned %v, want it wrapped", err)
	}
}

// cancelAfter cancels a context after n optimizer steps.
type cancelAfter struct {
	optimizer.Optimizer
	n      int
	cancel context.CancelFunc
}

func (c *cancelAfter) Step(ctx context.Context, req optimizer.StepRequest) (optimizer.StepResult, error) {
	c.n--
	if c.n == 0 {
		c.cancel()
	}
	return c.Optimizer.Step(ctx, req)
}

// TestResumeEqualsUninterrupted interrupts LRSGD-R (random M_t, momentum
// and anchor state) mid outer step and in an evaluation, resumes, and
// compares with a run that was never interrupted.
func TestResumeEqualsUninterrupted(t *testing.T) {
	for _, clock := range []string{ClockEpochs, ClockGrads} {
		t.Run(clock, func(t *testing.T) { testResume(t, clock) })
	}
}

// testResume stops a run mid outer step and resumes it: on the gradient
// clock the rate and the evaluation points depend on where the outer step
// began, which the checkpoint must carry.
func testResume(t *testing.T, clock string) {
	cfg := baseConfig(t)
	cfg.Clock = clock
	cfg.Schedule = Schedule{Kind: ScheduleStep, LR: 0.05, Milestones: []float64{1.1}, Factor: 0.5}
	cfg.Epochs = 2
	cfg.EvalEvery = 0.5
	cfg.Hyperparams = map[string]string{"gamma": "0.3"}
	full := mustRun(t, cfg, blocks.NewLRSGDR(), Hooks{})

	for _, stopAfter := range []int{7, 23} {
		cfg.Checkpoint = filepath.Join(t.TempDir(), "run.ckpt")
		cfg.Resume = false
		ctx, cancel := context.WithCancel(context.Background())
		opt := &cancelAfter{Optimizer: blocks.NewLRSGDR(), n: stopAfter, cancel: cancel}
		r, err := Run(ctx, cfg, opt, Hooks{})
		opt.Close()
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != StatusInterrupted || r.GradEvals != int64(stopAfter) {
			t.Fatalf("status %q after %d grads, want interrupted after %d", r.Status, r.GradEvals, stopAfter)
		}
		if _, err := os.Stat(cfg.Checkpoint); err != nil {
			t.Fatalf("no checkpoint after the interruption: %v", err)
		}
		cfg.Resume = true
		resumed := mustRun(t, cfg, blocks.NewLRSGDR(), Hooks{})
		if !reflect.DeepEqual(stripWall(resumed.Curve), stripWall(full.Curve)) {
			t.Errorf("stopped after %d grads: resumed curve\n%+v\nuninterrupted\n%+v", stopAfter, resumed.Curve, full.Curve)
		}
		if resumed.GradEvals != full.GradEvals || resumed.OuterSteps != full.OuterSteps || resumed.Status != StatusOK {
			t.Errorf("resumed: %d grads %d outer %q; uninterrupted %d, %d", resumed.GradEvals, resumed.OuterSteps, resumed.Status, full.GradEvals, full.OuterSteps)
		}
	}
	// A checkpoint of another run is refused with both fingerprints.
	cfg.Seed++
	_, err := Run(context.Background(), cfg, blocks.NewLRSGDR(), Hooks{})
	if err == nil || !contains(err.Error(), "belongs to another run") {
		t.Errorf("resume with another seed: %v, want a fingerprint error", err)
	}
}

// TestClockGrads: on the gradient clock an epoch is ⌈N/B⌉ gradient
// evaluations for every optimizer. SGD (one gradient per outer step) runs
// exactly as on the epoch clock; LRSGD-C with M = 10 stops after 2·15
// gradients, evaluates at the end of the outer steps that cross each 7.5
// gradients (EvalEvery 0.5), and takes the schedule's decay (milestone
// 1.2 epochs = 18 gradients) from the first outer step that begins at or
// after 18 gradients.
func TestClockGrads(t *testing.T) {
	cfg := baseConfig(t)
	cfg.Schedule = Schedule{Kind: ScheduleStep, LR: 0.05, Milestones: []float64{1.2}, Factor: 0.5}
	epochs := mustRun(t, cfg, blocks.NewSGD(), Hooks{})
	cfg.Clock = ClockGrads
	grads := mustRun(t, cfg, blocks.NewSGD(), Hooks{})
	if !reflect.DeepEqual(stripWall(epochs.Curve), stripWall(grads.Curve)) {
		t.Errorf("SGD on the gradient clock:\n%+v\non the epoch clock:\n%+v", grads.Curve, epochs.Curve)
	}

	cfg.EvalEvery = 0.5
	cfg.Hyperparams = map[string]string{"m": "10"}
	r := mustRun(t, cfg, blocks.NewLRSGDC(), Hooks{})
	if r.GradEvals != 30 || r.OuterSteps != 3 {
		t.Errorf("LRSGD-C, 2 gradient epochs: %d grads %d outer, want 30 and 3", r.GradEvals, r.OuterSteps)
	}
	var at []int64
	for _, p := range r.Curve {
		at = append(at, p.GradEvals)
	}
	// Outer steps end at 10, 20 and 30 gradients; each crosses a multiple
	// of round(7.5) = 8 gradients (8, 16, 24).
	if want := []int64{10, 20, 30}; !reflect.DeepEqual(at, want) {
		t.Errorf("evaluations at %v gradients, want %v", at, want)
	}
	// Outer steps begin at 0, 10, 20 gradients: only 20 ≥ 18 takes the decay.
	opt := blocks.NewLRSGDC()
	defer opt.Close()
	tr, err := New(context.Background(), cfg, opt)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	var lrs []float64
	first := true
	for !tr.Finished() {
		info, err := tr.Step(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if first {
			lrs = append(lrs, info.LR)
		}
		if !first && info.LR != lrs[len(lrs)-1] {
			t.Fatalf("rate changed inside an outer step at %d gradients", info.GradEvals)
		}
		first = info.OuterEnded
	}
	if want := []float64{0.05, 0.05, 0.025}; !reflect.DeepEqual(lrs, want) {
		t.Errorf("rates of the outer steps %v, want %v", lrs, want)
	}
}
