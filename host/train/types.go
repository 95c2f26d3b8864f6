package train

import (
	"io"
	"time"
)

// Schedule is a learning-rate schedule α(epoch, step).
type Schedule struct {
	// Kind is "step" (multiply by Factor at each epoch in Milestones),
	// "every" (multiply by Factor every Every outer steps) or "constant".
	Kind       string    `json:"kind" yaml:"kind"`
	LR         float64   `json:"lr" yaml:"lr"`                                     // initial learning rate α
	Milestones []float64 `json:"milestones,omitempty" yaml:"milestones,omitempty"` // epochs at which "step" decays
	Factor     float64   `json:"factor,omitempty" yaml:"factor,omitempty"`         // decay factor, e.g. 0.1
	Every      int64     `json:"every,omitempty" yaml:"every,omitempty"`           // outer steps between "every" decays
}

// EvalPoint is one evaluation during training: the full test set and the
// training set without augmentation.
type EvalPoint struct {
	Epoch      float64 `json:"epoch"`       // epochs completed (outer steps / ⌈N/B⌉)
	OuterSteps int64   `json:"outer_steps"` // outer steps completed
	GradEvals  int64   `json:"grad_evals"`  // minibatch gradient evaluations so far
	LR         float64 `json:"lr"`          // learning rate in force
	TrainLoss  float64 `json:"train_loss"`
	TrainAcc   float64 `json:"train_accuracy"`
	TestLoss   float64 `json:"test_loss"`
	TestAcc    float64 `json:"test_accuracy"`
	Wall       float64 `json:"wall_seconds"` // seconds since the run started
}

// Result summarises a finished (or stopped) run.
type Result struct {
	Status            string      `json:"status"`      // "ok", "diverged", "interrupted" or "pruned"
	DivergedAt        int64       `json:"diverged_at"` // gradient evaluation at which NaN/Inf appeared, or -1
	TestAccuracy      float64     `json:"test_accuracy"`
	TestLoss          float64     `json:"test_loss"`
	TrainLoss         float64     `json:"train_loss"`
	TrainAccuracy     float64     `json:"train_accuracy"`
	GeneralizationGap float64     `json:"generalization_gap"` // test loss − train loss
	BestTestAccuracy  float64     `json:"best_test_accuracy"`
	HittingTimeOuter  int64       `json:"hitting_time_outer"` // first outer step with train loss ≤ threshold, or -1
	HittingTimeGrads  int64       `json:"hitting_time_grads"` // the same in gradient evaluations, or -1
	GradEvals         int64       `json:"grad_evals"`
	OuterSteps        int64       `json:"outer_steps"`
	Epochs            float64     `json:"epochs"`
	StepMsMedian      float64     `json:"step_ms_median"` // median wall ms of forward+backward+update
	WallSeconds       float64     `json:"wall_seconds"`
	Curve             []EvalPoint `json:"curve,omitempty"`
}

// Hooks let a caller observe and stop a run.
type Hooks struct {
	// OnEval is called after every evaluation; a non-nil error stops the
	// run (search uses it for pruning: return ErrPruned).
	OnEval func(EvalPoint) error
	// Progress, when non-nil, receives a live progress bar.
	Progress io.Writer
	// Now is the clock (nil = time.Now); tests may fake it.
	Now func() time.Time
}
