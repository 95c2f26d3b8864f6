package train

import (
	"io"
	"time"

	"github.com/lrsgd-lab/lrsgd/host/metrics"
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

// Clocks: what an epoch counts (Config.Clock).
const (
	ClockEpochs = "epochs" // ⌈N/B⌉ outer steps
	ClockGrads  = "grads"  // ⌈N/B⌉ gradient evaluations
)

// EvalPoint is one evaluation during training (see package metrics).
type EvalPoint = metrics.EvalPoint

// Result summarises a finished (or stopped) run (see package metrics).
type Result = metrics.Result

// Status is how a run ended (see package metrics).
type Status = metrics.Status

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
