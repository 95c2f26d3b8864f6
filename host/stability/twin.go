package stability

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/lrsgd-lab/lrsgd/host/data"
	"github.com/lrsgd-lab/lrsgd/host/train"
)

// Runner is one training run that the probe drives one inner step at a
// time. Two runners opened on the same training set with the same
// configuration must make bit-identical steps: every random choice
// (initialisation, minibatch order, augmentation, dropout, M_t draws) must
// come from the configuration's seeds, never from the training data or a
// global source.
type Runner interface {
	// Step runs one inner step: one minibatch gradient evaluation and one
	// optimizer step, followed by an evaluation when one is due.
	Step(ctx context.Context) (StepInfo, error)
	// Params returns the flat parameter vector. The probe only reads it,
	// between steps.
	Params() []float32
	// TestLosses writes the per-sample loss of the current model on every
	// test point, in test-set order, into dst (len = test-set size).
	TestLosses(ctx context.Context, dst []float64) error
	// Close releases the run (and its optimizer).
	Close() error
}

// StepInfo reports one inner step of a Runner.
type StepInfo struct {
	GradEvals  int64 // gradient evaluations so far, this step included
	OuterSteps int64 // outer steps completed so far
	// Drawn holds the training-set indices of the step's minibatch; it is
	// valid until the next Step.
	Drawn []int
	// Eval is non-nil when the step ended with an evaluation.
	Eval *train.EvalPoint
	// Done reports that the run's budget is spent (no further Step).
	Done bool
	// Diverged reports a NaN or Inf loss or parameter; the probe stops.
	Diverged bool
}

// OpenFunc opens a Runner that trains on set. The probe calls it once for
// S and once per S'; everything but set must be the same each time.
type OpenFunc func(ctx context.Context, set *data.Set) (Runner, error)

// Config configures a twin-run probe.
type Config struct {
	// Train is S, the training set; Test is the test set ε is measured on
	// and the pool the replacement samples come from.
	Train, Test *data.Set
	// Replace is K, the number of replaced indices. K = 0 runs one pair of
	// twins on identical data: the control, whose divergence must stay 0.
	Replace int
	// Seed chooses the replaced training indices and their replacements.
	Seed uint64
	// Parallel is the number of runners stepped at once (0 = 2, the
	// machine's cores; 1 = one after the other).
	Parallel int
}

// Twin is the outcome for one replaced index.
type Twin struct {
	// Index is the replaced training index i, or −1 for the control.
	Index int `json:"index"`
	// TestIndex is the test point that replaced it (excluded from this
	// twin's ε), or −1 for the control.
	TestIndex int `json:"test_index"`
	// FirstDrawn is the gradient evaluation (counting from 1) whose
	// minibatch first contained Index, or −1 if it was never drawn.
	FirstDrawn int64 `json:"first_drawn"`
	// FirstDiverged is the first gradient evaluation after which the
	// twins' parameters differed in any bit, 0 if they differed at
	// initialisation (uncoupled randomness), or −1 if they never did.
	FirstDiverged int64 `json:"first_diverged"`
	// Final is the comparison at the last evaluation.
	Final Measure `json:"final"`
	// GapSPrime is the S' run's final generalization gap.
	GapSPrime float64 `json:"gap_s_prime"`
	// Curve holds the comparison at every evaluation.
	Curve []Point `json:"curve"`
}

// Point is the comparison at one evaluation. For a Twin it describes that
// pair; in Result.Curve, ParamDivergence, EpsilonMean and GapSPrime are
// means over the twins and EpsilonMax and ParamDivergenceMax maxima.
type Point struct {
	GradEvals  int64 `json:"grad_evals"`
	OuterSteps int64 `json:"outer_steps"`
	Measure
	ParamDivergenceMax float64 `json:"param_divergence_max"`
	// GapS and GapSPrime are the generalization gaps (test loss − train
	// loss) of the S run and of the S' run(s).
	GapS      float64 `json:"gap_s"`
	GapSPrime float64 `json:"gap_s_prime"`
}

// Result is the outcome of a probe.
type Result struct {
	// Status is "ok", or "diverged" when a run produced a NaN or Inf (the
	// probe then stops at that step).
	Status train.Status `json:"status"`
	// DivergedAt is the gradient evaluation at which a run diverged, or −1.
	DivergedAt int64 `json:"diverged_at"`
	// Replace is K (0 for the control).
	Replace int `json:"replace"`
	// ParamDivergence is the final ‖w − v‖, mean over the twins, and
	// ParamDivergenceMax its maximum.
	ParamDivergence    float64 `json:"param_divergence"`
	ParamDivergenceMax float64 `json:"param_divergence_max"`
	// EpsilonMean is the final mean over test points of |f(w;x) − f(v;x)|,
	// averaged over the twins; EpsilonMax is the final maximum over the
	// test points and the twins (the empirical sup of the definition).
	EpsilonMean float64 `json:"epsilon_mean"`
	EpsilonMax  float64 `json:"epsilon_max"`
	// GapS is the S run's final generalization gap, GapSPrime the mean of
	// the S' runs'.
	GapS      float64 `json:"gap_s"`
	GapSPrime float64 `json:"gap_s_prime"`
	// GradEvals and OuterSteps are the S run's final counts.
	GradEvals  int64 `json:"grad_evals"`
	OuterSteps int64 `json:"outer_steps"`
	// Runs is the number of training runs the probe made (K + 1, or 2 for
	// the control) and WallSeconds its wall time.
	Runs        int     `json:"runs"`
	WallSeconds float64 `json:"wall_seconds"`
	// Curve is the comparison at every evaluation, aggregated over twins.
	Curve []Point `json:"curve"`
	Twins []Twin  `json:"twins"`
	// Reference is the S run's own result when its Runner reports one
	// (the trainer's does): the S run trains on exactly the data of a
	// plain run, so this is the result of the unprobed trial.
	Reference *train.Result `json:"reference,omitempty"`
}

// resulter is implemented by Runners that summarise their run.
type resulter interface {
	Result(status train.Status) train.Result
}

// Hooks let a caller observe and stop a probe.
type Hooks struct {
	// OnPoint is called after every evaluation with the aggregated point;
	// a non-nil error stops the probe and is returned.
	OnPoint func(Point) error
	// Now is the clock (nil = time.Now).
	Now func() time.Time
}

// Choose returns the replaced training indices and their replacement test
// indices for K replacements: K distinct indices of each, drawn from the
// seed. K = 0 gives one control pair (−1, −1).
func Choose(seed uint64, nTrain, nTest, k int) (trainIdx, testIdx []int, err error) {
	switch {
	case k < 0:
		return nil, nil, fmt.Errorf("stability: replace = %d, expected ≥ 0", k)
	case k == 0:
		return []int{-1}, []int{-1}, nil
	case k > nTrain:
		return nil, nil, fmt.Errorf("stability: replace = %d, expected at most the training-set size %d", k, nTrain)
	case k > nTest:
		return nil, nil, fmt.Errorf("stability: replace = %d, expected at most the test-set size %d (the replacement pool)", k, nTest)
	}
	r := rand.New(rand.NewPCG(seed, 0x737461626c65)) // "stable"
	trainIdx = r.Perm(nTrain)[:k]
	testIdx = r.Perm(nTest)[:k]
	return trainIdx, testIdx, nil
}

// member is one run of the probe: the S run (twin = −1) or an S' run.
type member struct {
	name   string // "S" or "S'[i]", for errors
	run    Runner
	info   StepInfo
	losses []float64
}

// Run trains the S run and, in lock-step with it, one S' run per replaced
// index, and compares every S' run with the S run: after every step
// whether the parameters are still bit-identical, and at every evaluation
// ‖w − v‖ and ε over the test set (without the twin's replacement point).
// The S run is shared by all twins, so a probe costs K + 1 runs.
func Run(ctx context.Context, cfg Config, open OpenFunc, hooks Hooks) (res Result, err error) {
	if cfg.Train == nil || cfg.Test == nil {
		return Result{}, errors.New("stability: config needs both the training and the test set")
	}
	if cfg.Parallel < 0 {
		return Result{}, fmt.Errorf("stability: parallel = %d, expected ≥ 0", cfg.Parallel)
	}
	par := cfg.Parallel
	if par == 0 {
		par = 2
	}
	now := hooks.Now
	if now == nil {
		now = time.Now
	}
	start := now()
	trainIdx, testIdx, err := Choose(cfg.Seed, cfg.Train.N, cfg.Test.N, cfg.Replace)
	if err != nil {
		return Result{}, err
	}

	members := make([]*member, 1+len(trainIdx))
	defer func() {
		for _, m := range members {
			if m != nil {
				if cerr := m.run.Close(); cerr != nil && err == nil {
					err = fmt.Errorf("stability: close run: %w", cerr)
				}
			}
		}
	}()
	for k := range members {
		set := cfg.Train
		if k > 0 && trainIdx[k-1] >= 0 {
			if set, err = cfg.Train.WithReplaced(trainIdx[k-1], cfg.Test, testIdx[k-1]); err != nil {
				return Result{}, fmt.Errorf("stability: %w", err)
			}
		}
		r, err := open(ctx, set)
		if err != nil {
			if k == 0 {
				return Result{}, fmt.Errorf("stability: open the run on S: %w", err)
			}
			return Result{}, fmt.Errorf("stability: open the run on S' (index %d): %w", trainIdx[k-1], err)
		}
		name := "S"
		if k > 0 {
			name = fmt.Sprintf("S'[%d]", trainIdx[k-1])
		}
		members[k] = &member{name: name, run: r, losses: make([]float64, cfg.Test.N)}
	}

	res = Result{Status: train.StatusOK, DivergedAt: -1, Replace: cfg.Replace, Runs: len(members)}
	res.Twins = make([]Twin, len(trainIdx))
	for k := range res.Twins {
		res.Twins[k] = Twin{Index: trainIdx[k], TestIndex: testIdx[k], FirstDrawn: -1, FirstDiverged: -1}
	}
	diverged := make([]bool, len(trainIdx))
	ref := members[0]
	for k, m := range members[1:] {
		if !bitEqual(ref.run.Params(), m.run.Params()) {
			diverged[k] = true
			res.Twins[k].FirstDiverged = 0
		}
	}
	for {
		if err := parallel(ctx, par, members, func(ctx context.Context, m *member) error {
			var err error
			if m.info, err = m.run.Step(ctx); err != nil {
				return fmt.Errorf("stability: step of the run on %s: %w", m.name, err)
			}
			return nil
		}); err != nil {
			return res, err
		}
		for _, m := range members {
			if m.info.Diverged && res.DivergedAt < 0 {
				res.Status, res.DivergedAt = train.StatusDiverged, m.info.GradEvals
			}
		}
		for k, m := range members[1:] {
			if m.info.GradEvals != ref.info.GradEvals || m.info.Done != ref.info.Done || (m.info.Eval == nil) != (ref.info.Eval == nil) {
				return res, fmt.Errorf("stability: run on %s out of step with the S run: grad evals %d vs %d, done %v vs %v, eval %v vs %v",
					m.name, m.info.GradEvals, ref.info.GradEvals, m.info.Done, ref.info.Done, m.info.Eval != nil, ref.info.Eval != nil)
			}
			tw := &res.Twins[k]
			if tw.FirstDrawn < 0 && tw.Index >= 0 && contains(ref.info.Drawn, tw.Index) {
				tw.FirstDrawn = ref.info.GradEvals
			}
			if !diverged[k] && !bitEqual(ref.run.Params(), m.run.Params()) {
				diverged[k] = true
				tw.FirstDiverged = ref.info.GradEvals
			}
		}
		if ref.info.Eval != nil && res.DivergedAt < 0 {
			if err := parallel(ctx, par, members, func(ctx context.Context, m *member) error {
				if err := m.run.TestLosses(ctx, m.losses); err != nil {
					return fmt.Errorf("stability: test losses of the run on %s: %w", m.name, err)
				}
				return nil
			}); err != nil {
				return res, err
			}
			p := compare(&res, members)
			if hooks.OnPoint != nil {
				if err := hooks.OnPoint(p); err != nil {
					return res, err
				}
			}
		}
		if ref.info.Done || res.DivergedAt >= 0 {
			break
		}
	}
	res.WallSeconds = now().Sub(start).Seconds()
	if r, ok := ref.run.(resulter); ok {
		tr := r.Result(res.Status)
		res.Reference = &tr
	}
	return res, nil
}

// compare records the twins' comparison at an evaluation and returns the
// aggregated point; it also updates the result's final values.
func compare(res *Result, members []*member) Point {
	ref := members[0]
	gapS := ref.info.Eval.TestLoss - ref.info.Eval.TrainLoss
	agg := Point{GradEvals: ref.info.GradEvals, OuterSteps: ref.info.OuterSteps, GapS: gapS}
	n := float64(len(members) - 1)
	for k, m := range members[1:] {
		tw := &res.Twins[k]
		p := Point{GradEvals: ref.info.GradEvals, OuterSteps: ref.info.OuterSteps, GapS: gapS,
			GapSPrime: m.info.Eval.TestLoss - m.info.Eval.TrainLoss}
		p.ParamDivergence = l2Diff32(ref.run.Params(), m.run.Params())
		p.ParamDivergenceMax = p.ParamDivergence
		p.EpsilonMean, p.EpsilonMax = lossGapExcept(ref.losses, m.losses, tw.TestIndex)
		tw.Curve = append(tw.Curve, p)
		tw.Final = p.Measure
		tw.GapSPrime = p.GapSPrime

		agg.ParamDivergence += p.ParamDivergence / n
		agg.ParamDivergenceMax = maxNaN(agg.ParamDivergenceMax, p.ParamDivergence)
		agg.EpsilonMean += p.EpsilonMean / n
		agg.EpsilonMax = maxNaN(agg.EpsilonMax, p.EpsilonMax)
		agg.GapSPrime += p.GapSPrime / n
	}
	res.Curve = append(res.Curve, agg)
	res.ParamDivergence, res.ParamDivergenceMax = agg.ParamDivergence, agg.ParamDivergenceMax
	res.EpsilonMean, res.EpsilonMax = agg.EpsilonMean, agg.EpsilonMax
	res.GapS, res.GapSPrime = agg.GapS, agg.GapSPrime
	res.GradEvals, res.OuterSteps = agg.GradEvals, agg.OuterSteps
	return agg
}

// lossGapExcept is lossGap over all indices but skip (−1 skips none).
func lossGapExcept(a, b []float64, skip int) (mean, max float64) {
	if skip < 0 || skip >= len(a) {
		return lossGap(a, b)
	}
	var s float64
	for i, x := range a {
		if i == skip {
			continue
		}
		d := math.Abs(x - b[i])
		s += d
		max = maxNaN(max, d)
	}
	if len(a) > 1 {
		s /= float64(len(a) - 1)
	}
	return s, max
}

// maxNaN is math.Max without the −0 subtleties and with NaN winning.
func maxNaN(a, b float64) float64 {
	if b > a || math.IsNaN(b) {
		return b
	}
	return a
}

func contains(xs []int, x int) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// bitEqual reports whether a and b hold the same bits (so +0 ≠ −0 and a
// NaN equals the same NaN): it compares the bytes, with memcmp speed.
func bitEqual(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	if len(a) == 0 {
		return true
	}
	ab := unsafe.Slice((*byte)(unsafe.Pointer(&a[0])), 4*len(a))
	bb := unsafe.Slice((*byte)(unsafe.Pointer(&b[0])), 4*len(b))
	return bytes.Equal(ab, bb)
}

// parallel calls f on every member with at most par at once and returns
// the first error (after all calls return).
func parallel(ctx context.Context, par int, ms []*member, f func(context.Context, *member) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("stability: %w", err)
	}
	if par <= 1 {
		for _, m := range ms {
			if err := f(ctx, m); err != nil {
				return err
			}
		}
		return nil
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		sem   = make(chan struct{}, par)
	)
	for _, m := range ms {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := f(ctx, m); err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return first
}

// Metrics returns the probe's summary as named numbers, for a trial's
// metrics in the results store: param_divergence, param_divergence_max,
// epsilon_mean, epsilon_max, stability_gap_s_prime (mean S′ gap; the S
// run's gap is the trial's own generalization_gap), stability_replace (K)
// and stability_runs.
func (r Result) Metrics() map[string]float64 {
	return map[string]float64{
		"param_divergence":      r.ParamDivergence,
		"param_divergence_max":  r.ParamDivergenceMax,
		"epsilon_mean":          r.EpsilonMean,
		"epsilon_max":           r.EpsilonMax,
		"stability_gap_s_prime": r.GapSPrime,
		"stability_replace":     float64(r.Replace),
		"stability_runs":        float64(r.Runs),
	}
}

// Summary is a short human-readable account of the probe.
func (r Result) Summary() string {
	var b strings.Builder
	what := fmt.Sprintf("K = %d replaced indices", r.Replace)
	if r.Replace == 0 {
		what = "control (K = 0, identical data)"
	}
	fmt.Fprintf(&b, "stability probe: %s, %d runs, %d grad evals, %d outer steps, %.1f s, status %s\n",
		what, r.Runs, r.GradEvals, r.OuterSteps, r.WallSeconds, r.Status)
	fmt.Fprintf(&b, "  ‖w − v‖           mean %.6g  max %.6g\n", r.ParamDivergence, r.ParamDivergenceMax)
	fmt.Fprintf(&b, "  |f(w;x) − f(v;x)|  mean %.6g  max %.6g\n", r.EpsilonMean, r.EpsilonMax)
	fmt.Fprintf(&b, "  generalization gap S %.4f  S′ (mean) %.4f\n", r.GapS, r.GapSPrime)
	for _, tw := range r.Twins {
		fmt.Fprintf(&b, "  index %d ← test %d: first drawn at grad %d, diverged at %d, ‖w − v‖ %.6g, ε mean %.6g max %.6g\n",
			tw.Index, tw.TestIndex, tw.FirstDrawn, tw.FirstDiverged, tw.Final.ParamDivergence, tw.Final.EpsilonMean, tw.Final.EpsilonMax)
	}
	return b.String()
}
