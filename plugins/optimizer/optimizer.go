// Package optimizer defines the contract every LRSGD-lab optimizer speaks,
// whether it runs in the host process or as a go-plugin subprocess.
//
// An optimizer owns three kinds of vectors, all of length NumParams:
// the parameters, the gradients, and StateVectors vectors of state
// (momentum buffers, the proximal anchor, Adam moments, ...). Init returns
// them as Buffers. In a plugin they are views of one shared-memory file
// mapped by both processes, so the host writes gradients straight into
// Buffers.Grads, calls Step, and reads the updated Buffers.Params without
// any vector crossing the RPC.
//
// The package also owns the hyperparameter contract: ParseValue is the one
// parser of a value given as a string against its HyperparamSpec, used by
// the plugin server (CheckHyperparams), by the optimizers themselves
// (ParseValues, ResolveValues) and by anything that validates a
// configuration before it reaches a plugin. It imports nothing beyond the
// standard library.
package optimizer

import (
	"context"
	"fmt"
)

// ParamType is the type of a hyperparameter value.
type ParamType string

// Hyperparameter value types.
const (
	Float ParamType = "float"
	Int   ParamType = "int"
	Bool  ParamType = "bool"
	Enum  ParamType = "enum"
)

// HyperparamSpec describes one hyperparameter an optimizer accepts.
type HyperparamSpec struct {
	Name    string    // key used with --set name=value
	Type    ParamType // float, int, bool or enum
	Default string    // default value, formatted as it would be given on the command line
	Min     float64   // inclusive lower bound for float and int
	Max     float64   // inclusive upper bound for float and int
	Choices []string  // valid values for enum
	Doc     string    // one-line description
}

// Description is what an optimizer says about itself.
type Description struct {
	Name         string // plugin name, e.g. "lrsgd-r"
	Version      string // semantic version of the update rule
	Doc          string // one-line description
	StateVectors int    // number of NumParams-long state vectors kept in Buffers.State
	Hyperparams  []HyperparamSpec
}

// InitConfig configures an optimizer for one training run.
type InitConfig struct {
	// Hyperparams maps hyperparameter names to values as strings; names
	// not given take their defaults. Unknown names and out-of-range values
	// are refused with an error naming the valid range.
	Hyperparams map[string]string
	NumParams   int    // number of float32 parameters
	Seed        uint64 // seeds every random choice the optimizer makes (e.g. M_t draws)
}

// CheckConfig is a run's configuration as Checker.Check judges it: what
// Init will be given and the learning rate of the run's first Step.
type CheckConfig struct {
	// InitConfig is the configuration Init will receive. NumParams may be
	// 0 when it is not known yet (the model is not built): the optimizer
	// then judges the configuration as if for a single parameter.
	InitConfig
	// LR is the learning rate α of the run's first Step (the schedule's
	// initial lr), for the rules that depend on it, such as λ_t =
	// lambda_coef/α > δ. 0 means not known: those rules are not judged.
	LR float64
}

// Checker is implemented by optimizers that can judge a configuration
// without being initialised. Check reports the error Init would return
// for cfg.InitConfig (unknown names, values out of range, values that are
// invalid together, such as Nesterov momentum with dampening) and the one
// the first Step at cfg.LR would return (a λ_t the optimizer cannot use),
// or nil. It allocates no vectors and leaves the optimizer as it was, so
// it may be called at any time, also between Steps.
//
// A host calls it before anything is written about a run; the plugin
// server forwards it, and a plugin built before the Check RPC existed is
// judged on its Describe alone.
type Checker interface {
	Check(ctx context.Context, cfg CheckConfig) error
}

// CheckDescription validates what an optimizer says about itself: a
// non-negative number of state vectors and hyperparameter declarations
// that CheckSpecs accepts (names non-empty and unique, bounds numbers,
// every default valid for its own spec). The plugin loader runs it on the
// Describe of every plugin it opens, so every command refuses the same
// descriptions.
func CheckDescription(d Description) error {
	if d.StateVectors < 0 {
		return fmt.Errorf("%d state vectors, want at least 0", d.StateVectors)
	}
	return CheckSpecs(d.Hyperparams)
}

// Buffers are the vectors shared between the host and the optimizer.
// Params and Grads have NumParams elements; State has
// StateVectors*NumParams elements, vector i at [i*NumParams, (i+1)*NumParams).
type Buffers struct {
	Params []float32
	Grads  []float32
	State  []float32
}

// StepRequest asks for one inner step.
type StepRequest struct {
	Step int64   // global inner-step number, counting from 0
	LR   float64 // the scheduled learning rate α for this step
}

// StepResult reports where the optimizer is in its outer loop after a step.
type StepResult struct {
	OuterEnded bool  // this step was the last inner step of an outer step
	Inner      int   // inner index k of this step, 1..M
	Outer      int64 // outer index t of this step, counting from 1
	M          int   // M_t, the number of inner steps of the current outer step
}

// Binder is implemented by optimizers that can run over vectors they do
// not own. InitBuffers does what Init does but uses buf, whose vectors
// have the lengths Init's Buffers would have (NumParams, NumParams and
// StateVectors·NumParams), instead of allocating its own: it zeroes them,
// never reallocates them, and drops them at Close; the caller owns the
// memory. The plugin server binds such an optimizer to the shared memory,
// so that a Step reads and writes the host's vectors directly; an
// optimizer without it still works, at the cost of a copy of the vectors
// into and out of its own buffers around every Step.
type Binder interface {
	InitBuffers(ctx context.Context, cfg InitConfig, buf Buffers) error
}

// Optimizer is an update rule over Buffers. Implementations are not safe
// for concurrent use.
type Optimizer interface {
	// Describe reports the optimizer's name, version and hyperparameters.
	Describe(ctx context.Context) (Description, error)
	// Init validates the configuration, allocates the buffers (zeroed)
	// and resets all state. The host then writes initial parameters into
	// Buffers.Params.
	Init(ctx context.Context, cfg InitConfig) (Buffers, error)
	// Step updates Buffers.Params (and State) in place from Buffers.Grads,
	// which hold the minibatch gradient of f at the current Params.
	Step(ctx context.Context, req StepRequest) (StepResult, error)
	// Save returns every part of the state that is not in Buffers
	// (counters, random-number state, running estimates). Together with
	// Buffers.Params and Buffers.State it resumes a run bit-identically.
	Save(ctx context.Context) ([]byte, error)
	// Restore loads a Save blob after Init with the same InitConfig; the
	// caller restores Buffers.Params and Buffers.State itself.
	Restore(ctx context.Context, blob []byte) error
	// Close releases the buffers and, for a plugin, its process.
	Close() error
}
