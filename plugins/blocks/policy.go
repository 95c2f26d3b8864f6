package blocks

import (
	"fmt"
	"slices"

	"github.com/lrsgd-lab/lrsgd/plugins/optimizer"
)

// The proximal outer loop asks three policies what to do, each chosen by
// an enum hyperparameter and each a small value of its own:
//
//   - an MPolicy (m_policy) chooses M_t, the number of inner steps of
//     outer step t: geometric, constant or psi;
//   - a LambdaSchedule (lambda_mode) chooses λ_t, the weight of the
//     proximal term: schedule (λ_t = lambda_coef/α) or fixed;
//   - an InnerLR (inner_lr) chooses the inner step size η:
//     constant, alpha-over-k, theta-over-lambda or inv-lambda-delta-k.
//
// NewProximal starts from these built-in choices; WithMPolicy,
// WithLambdaSchedule and WithInnerLR add choices of a third party's own.
// At Init the loop makes a new value of each chosen policy with its
// factory and configures it; the value then lives for the run.
//
// A policy may implement the optional interfaces GradientObserver (to see
// the raw gradient of every inner step), LambdaChecker (to refuse a λ_t it
// cannot use) and StatefulPolicy (to have its state in the Save blob).

// InitInfo is what a policy learns at Init besides the hyperparameters.
type InitInfo struct {
	NumParams int    // the length of the parameter vector
	Seed      uint64 // InitConfig.Seed, which seeds every random choice of the run
}

// OuterInfo describes the outer step that begins, as the LambdaSchedule
// and the MPolicy see it at its first inner step.
type OuterInfo struct {
	T    int64   // outer index t of the step that begins, from 1
	Step int64   // global inner-step number of its first inner step
	LR   float64 // the scheduled lr α of that step
	// Lambda is λ_t as the LambdaSchedule chose it and every
	// LambdaChecker accepted it; 0 when the schedule itself is asked.
	Lambda float64
}

// InnerStep describes one inner step, as the InnerLR sees it.
type InnerStep struct {
	T      int64   // outer index t
	K      int     // inner index k, 1..M
	M      int     // M_t, the number of inner steps of outer step t
	LR     float64 // the scheduled lr α of this step
	Lambda float64 // λ_t of outer step t
}

// MPolicy chooses M_t, the number of inner steps of each outer step.
//
// Hyperparams declares the hyperparameters the policy adds to the
// optimizer (nil for none). Configure may read those and any other
// hyperparameter the optimizer declares, such as the outer loop's
// (ProximalHyperparams); a name may be declared by several policies only
// with identical specs. Configure is called on a new value from the
// factory at every Init (and at Restore, to build the value that receives
// the saved state); it sets up the initial state and returns an error for
// combinations that are invalid together.
//
// M is called at the first inner step of every outer step and returns
// M_t ≥ 1. It must not allocate. If it returns an error the step is
// refused, and the policy's state must be as before the call.
type MPolicy interface {
	Hyperparams() []optimizer.HyperparamSpec
	Configure(v Values, info InitInfo) error
	M(o OuterInfo) (int, error)
}

// LambdaSchedule chooses λ_t, the weight of the proximal term, once per
// outer step. Hyperparams and Configure are as for MPolicy.
type LambdaSchedule interface {
	Hyperparams() []optimizer.HyperparamSpec
	Configure(v Values, info InitInfo) error
	// Lambda returns λ_t for the outer step o that begins (o.Lambda is 0).
	Lambda(o OuterInfo) float64
	// UsesLR reports whether λ_t is computed from α; every Step then
	// needs α > 0.
	UsesLR() bool
	// Fixed reports λ_t if it is the same at every outer step, so that
	// Init can check it against the LambdaCheckers.
	Fixed() (lambda float64, ok bool)
	// Expr is λ_t as the user sets it, for messages: "lambda",
	// "lambda_coef/lr".
	Expr() string
}

// InnerLR chooses the inner step size η of every inner step.
// Hyperparams and Configure are as for MPolicy.
type InnerLR interface {
	Hyperparams() []optimizer.HyperparamSpec
	Configure(v Values, info InitInfo) error
	// Eta returns η for inner step s; the loop rounds it once to float32.
	// It must not allocate.
	Eta(s InnerStep) float64
}

// GradientObserver is implemented by a policy that learns from the
// gradient, such as the psi M_t policy. The loop calls Observe at every
// inner step, after counting k and before adding the proximal term, with
// the raw minibatch gradient. Observe must not change g or allocate.
type GradientObserver interface {
	Observe(g []float32)
}

// LambdaChecker is implemented by a policy that cannot use every λ_t: the
// psi M_t policy and the inv-lambda-delta-k step size need λ_t > δ,
// theta-over-lambda needs λ_t > 0. The loop calls CheckLambda with λ_t at
// the start of every outer step, and once at Init when the schedule's
// λ_t is Fixed; an error refuses the step or the Init. what is the
// schedule's Expr, to name λ_t in the message. The inner-lr policy is
// asked first, then the M_t policy, then the λ schedule.
type LambdaChecker interface {
	CheckLambda(lambda float64, what string) error
}

// StatefulPolicy is implemented by a policy whose state changes during a
// run (a random-number generator, running estimates). Save returns that
// state; Restore loads what Save returned into a value configured as the
// saved one was, and leaves the value unchanged on error. The loop keeps
// the bytes in the optimizer's Save blob. A policy without it is rebuilt
// by Configure alone.
type StatefulPolicy interface {
	Save() ([]byte, error)
	Restore(b []byte) error
}

// The enum hyperparameters that choose the policies.
const (
	paramM      = "m_policy"
	paramLR     = "inner_lr"
	paramLambda = "lambda_mode"
)

// WithMPolicy adds the choice name to the optimizer's m_policy
// hyperparameter: under m_policy=name, Init makes the M_t policy with
// factory. The policy's hyperparameters are declared after the outer
// loop's and before the rule's. name must be new, made of letters,
// digits, '-', '_' and '.'. factory must return a new value at every
// call: it is called once at construction (for Hyperparams), at every
// Init and at every Restore. Only NewProximal takes the option;
// construction errors are reported by Describe and Init.
func WithMPolicy(name string, factory func() MPolicy) Option {
	return func(o *options) { o.mPolicies = append(o.mPolicies, added[MPolicy]{name, factory}) }
}

// WithLambdaSchedule adds the choice name to the optimizer's lambda_mode
// hyperparameter, as WithMPolicy does for m_policy.
func WithLambdaSchedule(name string, factory func() LambdaSchedule) Option {
	return func(o *options) { o.lambdas = append(o.lambdas, added[LambdaSchedule]{name, factory}) }
}

// WithInnerLR adds the choice name to the optimizer's inner_lr
// hyperparameter, as WithMPolicy does for m_policy.
func WithInnerLR(name string, factory func() InnerLR) Option {
	return func(o *options) { o.innerLRs = append(o.innerLRs, added[InnerLR]{name, factory}) }
}

// added is a choice given by an option.
type added[P any] struct {
	name    string
	factory func() P
}

// policy is what the three kinds of policy have in common.
type policy interface {
	Hyperparams() []optimizer.HyperparamSpec
	Configure(v Values, info InitInfo) error
}

// registry holds the choices of one enum hyperparameter of the outer
// loop and the factory of each, in the order Describe lists them.
type registry[P policy] struct {
	param   string // the enum hyperparameter: m_policy, inner_lr or lambda_mode
	names   []string
	factory map[string]func() P
}

func newRegistry[P policy](param string) *registry[P] {
	return &registry[P]{param: param, factory: map[string]func() P{}}
}

// add registers a choice; it reports a bad or duplicate name.
func (r *registry[P]) add(name string, f func() P) error {
	if !validPolicyName(name) {
		return fmt.Errorf("%s %q: want a name of letters, digits, '-', '_' and '.'", r.param, name)
	}
	if _, dup := r.factory[name]; dup {
		return fmt.Errorf("%s %q is already a choice", r.param, name)
	}
	if f == nil {
		return fmt.Errorf("%s %q: nil factory", r.param, name)
	}
	r.names = append(r.names, name)
	r.factory[name] = f
	return nil
}

// make returns a new, unconfigured value of the choice name.
func (r *registry[P]) make(name string) (P, error) {
	var zero P
	f, ok := r.factory[name]
	if !ok {
		return zero, fmt.Errorf("%s=%s: no such choice (have %v)", r.param, name, r.names)
	}
	p := f()
	if any(p) == nil {
		return zero, fmt.Errorf("%s=%s: the factory returned nil", r.param, name)
	}
	return p, nil
}

// configure makes and configures the choice v.Enum(r.param).
func (r *registry[P]) configure(v Values, info InitInfo) (P, string, error) {
	name := v.Enum(r.param)
	p, err := r.make(name)
	if err == nil {
		if err = p.Configure(v, info); err != nil {
			err = fmt.Errorf("%s=%s: %w", r.param, name, err)
		}
	}
	return p, name, err
}

// declare adds the hyperparameters of every choice to specs: a name
// already there must come with an identical spec and is shared.
func (r *registry[P]) declare(specs []optimizer.HyperparamSpec) ([]optimizer.HyperparamSpec, error) {
	for _, name := range r.names {
		p, err := r.make(name)
		if err != nil {
			return nil, err
		}
		for _, s := range p.Hyperparams() {
			i := slices.IndexFunc(specs, func(x optimizer.HyperparamSpec) bool { return x.Name == s.Name })
			switch {
			case i < 0:
				specs = append(specs, s)
			case !sameSpec(specs[i], s):
				return nil, fmt.Errorf("%s %q declares hyperparameter %q unlike the one already declared (%s %s)",
					r.param, name, s.Name, specs[i].Type, optimizer.ValidRange(specs[i]))
			}
		}
	}
	return specs, nil
}

func sameSpec(a, b optimizer.HyperparamSpec) bool {
	return a.Name == b.Name && a.Type == b.Type && a.Default == b.Default && a.Min == b.Min && a.Max == b.Max &&
		slices.Equal(a.Choices, b.Choices) && a.Doc == b.Doc
}

func validPolicyName(name string) bool {
	if name == "" {
		return false
	}
	for _, c := range name {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// policies are the configured policies of one run.
type policies struct {
	m         MPolicy
	lr        InnerLR
	sched     LambdaSchedule
	mName     string
	lrName    string
	schedName string
	observers []GradientObserver
	checkers  []LambdaChecker // inner lr, M_t, λ
}

// slot is one policy of a run with the hyperparameter that chose it.
type slot struct {
	param, name string
	pol         policy
}

// slots lists the policies in the order of their state in the Save
// blob: M_t, inner lr, λ.
func (p *policies) slots() [3]slot {
	return [3]slot{{paramM, p.mName, p.m}, {paramLR, p.lrName, p.lr}, {paramLambda, p.schedName, p.sched}}
}

// checkLambda asks every LambdaChecker whether λ_t = lambda is usable.
func (p *policies) checkLambda(lambda float64) error {
	for _, c := range p.checkers {
		if err := c.CheckLambda(lambda, p.sched.Expr()); err != nil {
			return err
		}
	}
	return nil
}

// newPolicies makes and configures the policies v chooses.
func (o *loop) newPolicies(v Values, info InitInfo) (policies, error) {
	var p policies
	var err error
	if p.sched, p.schedName, err = o.lambdas.configure(v, info); err != nil {
		return policies{}, err
	}
	if p.m, p.mName, err = o.mPolicies.configure(v, info); err != nil {
		return policies{}, err
	}
	if p.lr, p.lrName, err = o.innerLRs.configure(v, info); err != nil {
		return policies{}, err
	}
	for _, x := range []policy{p.m, p.lr, p.sched} {
		if ob, ok := x.(GradientObserver); ok {
			p.observers = append(p.observers, ob)
		}
	}
	for _, x := range []policy{p.lr, p.m, p.sched} {
		if c, ok := x.(LambdaChecker); ok {
			p.checkers = append(p.checkers, c)
		}
	}
	return p, nil
}
