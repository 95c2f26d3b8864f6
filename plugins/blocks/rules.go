package blocks

import (
	"encoding/binary"
	"fmt"

	"github.com/lrsgd-lab/lrsgd/plugins/optimizer"
)

// Rule is an inner update rule: given the effective gradient of the
// current (sub)problem it updates the parameters in place. It is the one
// thing a new inner solver has to provide; NewProximal wraps it in the
// proximal outer loop (anchor, proximal gradient, M_t policies, λ
// schedule, inner step sizes, save/restore) and NewPlain runs it alone.
//
// A Rule's hyperparameter names must not collide with the outer loop's
// (see ProximalHyperparams).
type Rule interface {
	// Hyperparams declares the rule's own hyperparameters.
	Hyperparams() []optimizer.HyperparamSpec
	// StateVectors is how many NumParams-long vectors the rule keeps
	// (1 for momentum, 2 for Adam's moments). They live in
	// Buffers.State, are zeroed at Init, and are saved by the host.
	StateVectors() int
	// Configure reads the rule's hyperparameters and resets any
	// non-vector state. It is called by Init with values already checked
	// against Hyperparams; it returns an error for combinations that are
	// invalid together.
	Configure(v Values) error
	// Update performs one step: g is the effective gradient (minibatch
	// gradient plus the proximal term), lr the step size the outer loop
	// chose, state the rule's StateVectors vectors. It updates w and
	// state in place, may overwrite g, and must not allocate.
	Update(w, g []float32, state [][]float32, lr float32)
}

// StatefulRule is a Rule with state outside its vectors, such as
// whether the momentum buffer holds data yet or Adam's step count. The
// outer loop saves and restores it with the rest of the optimizer.
type StatefulRule interface {
	Rule
	// Reset forgets the non-vector state, as after Configure. The outer
	// loop zeroes the state vectors itself before calling it.
	Reset()
	// AppendState appends the non-vector state to b.
	AppendState(b []byte) []byte
	// LoadState restores what AppendState wrote.
	LoadState(b []byte) error
}

// RuleChecker is implemented by a Rule that can judge its hyperparameters
// without being configured: Check returns the error Configure would return
// for v and changes nothing. The outer loop's Check (optimizer.Checker)
// uses it; for a rule without it, Check configures the rule only while
// the optimizer is not initialised, and skips the rule's own rules between
// Init and Close.
type RuleChecker interface {
	Check(v Values) error
}

// SGDRule is SGD with momentum, dampening, Nesterov and coupled weight
// decay, as torch.optim.SGD (see MomentumStep). The momentum buffer is
// initialised to the first gradient and is never reset unless the outer
// loop's reset_inner asks for it. Hyperparameters: momentum, dampening,
// nesterov, weight_decay.
type SGDRule struct {
	mu, damp, wd float32
	nesterov     bool
	started      bool // the momentum buffer holds data
}

// NewSGDRule returns an SGDRule; its defaults are the reference code's
// (momentum 0.9, dampening 0, no Nesterov, weight decay 1e-4).
func NewSGDRule() *SGDRule { return &SGDRule{} }

// Hyperparams implements Rule.
func (r *SGDRule) Hyperparams() []optimizer.HyperparamSpec {
	return []optimizer.HyperparamSpec{
		{Name: "momentum", Type: optimizer.Float, Default: "0.9", Min: 0, Max: 0.9999, Doc: "momentum μ: buf = μ·buf + (1−dampening)·g (0: plain SGD)"},
		{Name: "dampening", Type: optimizer.Float, Default: "0", Min: 0, Max: 1, Doc: "dampening of the gradient in the momentum buffer"},
		{Name: "nesterov", Type: optimizer.Bool, Default: "false", Doc: "Nesterov momentum: step along g + μ·buf (needs momentum > 0, dampening 0)"},
		{Name: "weight_decay", Type: optimizer.Float, Default: "0.0001", Min: 0, Max: 1, Doc: "coupled weight decay on every parameter: g += wd·w"},
	}
}

// StateVectors implements Rule: one momentum buffer.
func (r *SGDRule) StateVectors() int { return 1 }

// Configure implements Rule.
func (r *SGDRule) Configure(v Values) error {
	r.mu = float32(v.Float("momentum"))
	r.damp = float32(v.Float("dampening"))
	r.wd = float32(v.Float("weight_decay"))
	r.nesterov = v.Bool("nesterov")
	r.started = false
	return r.Check(v)
}

// Check implements RuleChecker: Nesterov momentum needs momentum > 0 and
// dampening 0 (as float32, the precision the rule runs at).
func (r *SGDRule) Check(v Values) error {
	mu, damp := float32(v.Float("momentum")), float32(v.Float("dampening"))
	if v.Bool("nesterov") && (mu == 0 || damp != 0) {
		return fmt.Errorf("nesterov=true needs momentum > 0 and dampening = 0, have momentum=%g dampening=%g", mu, damp)
	}
	return nil
}

// Update implements Rule.
func (r *SGDRule) Update(w, g []float32, state [][]float32, lr float32) {
	MomentumStep(w, g, state[0], lr, r.wd, r.mu, r.damp, r.nesterov, !r.started)
	if r.mu != 0 {
		r.started = true
	}
}

// Reset implements StatefulRule.
func (r *SGDRule) Reset() { r.started = false }

// AppendState implements StatefulRule.
func (r *SGDRule) AppendState(b []byte) []byte {
	if r.started {
		return append(b, 1)
	}
	return append(b, 0)
}

// LoadState implements StatefulRule.
func (r *SGDRule) LoadState(b []byte) error {
	if len(b) != 1 || b[0] > 1 {
		return fmt.Errorf("sgd rule state: want 1 byte 0 or 1, have %d bytes", len(b))
	}
	r.started = b[0] == 1
	return nil
}

// AdamRule is Adam with bias correction and optional decoupled (AdamW)
// weight decay, as torch.optim.Adam/AdamW (see AdamStep). Its step count
// runs across outer steps unless the outer loop's reset_inner resets it.
// Hyperparameters: beta1, beta2, eps, weight_decay, decoupled_wd.
type AdamRule struct {
	beta1, beta2, eps, wd float32
	decoupled             bool
	t                     int64 // Adam steps taken
}

// NewAdamRule returns an AdamRule with PyTorch's defaults for the
// moments (β1 0.9, β2 0.999, eps 1e-8) and the reference code's weight
// decay 1e-4, coupled.
func NewAdamRule() *AdamRule { return &AdamRule{} }

// Hyperparams implements Rule.
func (r *AdamRule) Hyperparams() []optimizer.HyperparamSpec {
	return []optimizer.HyperparamSpec{
		{Name: "beta1", Type: optimizer.Float, Default: "0.9", Min: 0, Max: 0.999999, Doc: "decay of Adam's first moment m"},
		{Name: "beta2", Type: optimizer.Float, Default: "0.999", Min: 0, Max: 0.999999, Doc: "decay of Adam's second moment v"},
		{Name: "eps", Type: optimizer.Float, Default: "1e-08", Min: 0, Max: 1, Doc: "added to sqrt(v̂) in the denominator"},
		{Name: "weight_decay", Type: optimizer.Float, Default: "0.0001", Min: 0, Max: 1, Doc: "weight decay on every parameter (coupled g += wd·w unless decoupled_wd)"},
		{Name: "decoupled_wd", Type: optimizer.Bool, Default: "false", Doc: "AdamW: shrink w by (1 − η·wd) instead of adding wd·w to the gradient"},
	}
}

// StateVectors implements Rule: the first and second moments.
func (r *AdamRule) StateVectors() int { return 2 }

// Configure implements Rule.
func (r *AdamRule) Configure(v Values) error {
	r.beta1 = float32(v.Float("beta1"))
	r.beta2 = float32(v.Float("beta2"))
	r.eps = float32(v.Float("eps"))
	r.wd = float32(v.Float("weight_decay"))
	r.decoupled = v.Bool("decoupled_wd")
	r.t = 0
	return nil
}

// Check implements RuleChecker: every combination of valid values is
// valid together.
func (r *AdamRule) Check(Values) error { return nil }

// Update implements Rule.
func (r *AdamRule) Update(w, g []float32, state [][]float32, lr float32) {
	r.t++
	AdamStep(w, g, state[0], state[1], r.t, lr, r.wd, r.beta1, r.beta2, r.eps, r.decoupled)
}

// Reset implements StatefulRule.
func (r *AdamRule) Reset() { r.t = 0 }

// AppendState implements StatefulRule.
func (r *AdamRule) AppendState(b []byte) []byte {
	return binary.LittleEndian.AppendUint64(b, uint64(r.t))
}

// LoadState implements StatefulRule.
func (r *AdamRule) LoadState(b []byte) error {
	if len(b) != 8 {
		return fmt.Errorf("adam rule state: want 8 bytes, have %d", len(b))
	}
	t := int64(binary.LittleEndian.Uint64(b))
	if t < 0 {
		return fmt.Errorf("adam rule state: negative step count %d", t)
	}
	r.t = t
	return nil
}
