package blocks

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/lrsgd-lab/lrsgd/plugins/optimizer"
)

// Binder is optimizer.Binder: every optimizer this package returns
// implements it, so the plugin server binds it straight to the shared
// memory. InitBuffers is Init with caller-provided buffers: instead of
// allocating, the optimizer keeps (and zeroes) buf.Params, buf.Grads and
// buf.State, whose lengths must be NumParams, NumParams and
// StateVectors·NumParams. The optimizer never reallocates them and drops
// them at Close; the caller owns the memory.
type Binder = optimizer.Binder

// Option customises an optimizer built by NewProximal or NewPlain.
type Option func(*options)

type options struct {
	doc       string
	defaults  map[string]string
	presets   map[string]map[string]string
	mPolicies []added[MPolicy]
	lambdas   []added[LambdaSchedule]
	innerLRs  []added[InnerLR]
}

// WithDoc sets the one-line description reported by Describe.
func WithDoc(doc string) Option { return func(o *options) { o.doc = doc } }

// WithDefaults overrides the declared defaults of hyperparameters (of the
// outer loop or of the rule) under every preset; Describe reports the new
// defaults. For example lrsgd-c is NewProximal(NewSGDRule(), ...) with
// WithDefaults(map[string]string{"m_policy": "constant", "inner_lr": "alpha-over-k"}).
func WithDefaults(values map[string]string) Option {
	return func(o *options) {
		for k, v := range values {
			o.defaults[k] = v
		}
	}
}

// WithPresetDefaults sets the defaults that apply when the preset
// hyperparameter has the given value (for instance the "paper" preset of
// lrsgd-r sets inner_lr=theta-over-lambda, momentum=0, weight_decay=0).
// Values given explicitly in InitConfig always win.
func WithPresetDefaults(preset string, values map[string]string) Option {
	return func(o *options) {
		if o.presets[preset] == nil {
			o.presets[preset] = map[string]string{}
		}
		for k, v := range values {
			o.presets[preset][k] = v
		}
	}
}

// Presets (values of the preset hyperparameter).
const (
	PresetReference = "reference" // the public reference code
	PresetPaper     = "paper"     // the paper's definitions
)

// presetSpec is the preset hyperparameter every optimizer here has.
var presetSpec = optimizer.HyperparamSpec{
	Name: "preset", Type: optimizer.Enum, Default: PresetReference, Choices: []string{PresetReference, PresetPaper},
	Doc: "defaults of the other hyperparameters: reference (the public reference code) or paper (the paper's definitions)",
}

// ProximalHyperparams returns the hyperparameters of the proximal outer
// loop and of its built-in policies, with their reference-code defaults;
// a Rule must not reuse these names. The paper preset changes prox_factor
// to 1, lambda_coef to 0.02 and lambda to 0.2, and derives gamma from
// theta unless gamma is given. Policies added with WithMPolicy,
// WithLambdaSchedule or WithInnerLR add their choices to the enums here
// and their hyperparameters after these.
func ProximalHyperparams() []optimizer.HyperparamSpec {
	return []optimizer.HyperparamSpec{
		presetSpec,
		{Name: "lambda_mode", Type: optimizer.Enum, Default: LambdaModeSchedule, Choices: []string{LambdaModeSchedule, LambdaModeFixed}, Doc: "λ_t = lambda_coef/α from the scheduled lr (schedule) or λ_t = lambda (fixed)"},
		{Name: "lambda_coef", Type: optimizer.Float, Default: "0.01", Min: 0, Max: 1e6, Doc: "c in λ_t = c/α when lambda_mode=schedule"},
		{Name: "lambda", Type: optimizer.Float, Default: "0.1", Min: 0, Max: 1e9, Doc: "λ when lambda_mode=fixed"},
		{Name: "prox_factor", Type: optimizer.Float, Default: "2", Min: 0, Max: 1e3, Doc: "proximal gradient is prox_factor·λ_t·(w − w_t): 2 in the reference code, 1 in the paper's (λ/2)‖w − w_t‖²"},
		{Name: "m_policy", Type: optimizer.Enum, Default: MGeometric, Choices: []string{MGeometric, MConstant, MPsi}, Doc: "inner steps per outer step: geometric(gamma), constant(m) or psi (paper Definition 4.8)"},
		{Name: "gamma", Type: optimizer.Float, Default: "0.1", Min: 1e-6, Max: 1, Doc: "γ of M_t ~ Geometric(γ) on {1,2,...}, mean 1/γ (paper preset: ln(1/(1−θ))/ln(1/θ) unless given)"},
		{Name: "m", Type: optimizer.Int, Default: "10", Min: 1, Max: 1e6, Doc: "M_t under m_policy=constant"},
		{Name: "m_max", Type: optimizer.Int, Default: "100", Min: 1, Max: 1e6, Doc: "upper clamp of M_t under m_policy=psi"},
		{Name: "psi", Type: optimizer.Float, Default: "1", Min: 1e-9, Max: 1e9, Doc: "ψ, precision of each proximal solve (m_policy=psi)"},
		{Name: "ell", Type: optimizer.Float, Default: "1", Min: 0, Max: 1e9, Doc: "ℓ, smoothness constant (m_policy=psi)"},
		{Name: "delta", Type: optimizer.Float, Default: "0", Min: 0, Max: 1e9, Doc: "δ, non-convexity constant, must stay below λ_t (m_policy=psi, inner_lr=inv-lambda-delta-k)"},
		{Name: "g2_init", Type: optimizer.Float, Default: "1", Min: 0, Max: 1e12, Doc: "initial estimate of G², the mean squared minibatch-gradient norm (m_policy=psi)"},
		{Name: "sigma2_init", Type: optimizer.Float, Default: "1", Min: 0, Max: 1e12, Doc: "initial estimate of σ², the minibatch-gradient variance (m_policy=psi)"},
		{Name: "est_decay", Type: optimizer.Float, Default: "0.99", Min: 0, Max: 0.999999, Doc: "EMA decay of the G², σ² estimates and of the mean-gradient sketch (m_policy=psi)"},
		{Name: "inner_lr", Type: optimizer.Enum, Default: LRConstant, Choices: []string{LRConstant, LRAlphaOverK, LRThetaOverLambda, LRInvLambdaK}, Doc: "inner step size: α, α/k, θ/λ_t or 1/((λ_t−δ)k)"},
		{Name: "theta", Type: optimizer.Float, Default: "0.25", Min: 1e-9, Max: 0.25, Doc: "θ ≤ 1/4 of inner_lr=theta-over-lambda and of the paper preset's γ"},
		{Name: "reset_inner", Type: optimizer.Bool, Default: "false", Doc: "zero the inner solver's state (momentum buffer, Adam moments) at every outer step; the reference never does"},
	}
}

// loopSpecs returns the specs of ProximalHyperparams with these names, in
// that order; the built-in policies declare theirs with it.
func loopSpecs(names ...string) []optimizer.HyperparamSpec {
	all := ProximalHyperparams()
	specs := make([]optimizer.HyperparamSpec, 0, len(names))
	for _, n := range names {
		i := slices.IndexFunc(all, func(s optimizer.HyperparamSpec) bool { return s.Name == n })
		if i < 0 {
			panic("blocks: no outer-loop hyperparameter " + n)
		}
		specs = append(specs, all[i])
	}
	return specs
}

// paperLoopDefaults are the outer loop's paper-preset defaults.
var paperLoopDefaults = map[string]string{"prox_factor": "1", "lambda_coef": "0.02", "lambda": "0.2"}

// loop is the optimizer behind NewProximal and NewPlain.
type loop struct {
	name, version, doc string
	prox               bool
	rule               Rule
	stateful           StatefulRule // rule, if it is stateful
	specs              []optimizer.HyperparamSpec
	presets            map[string]map[string]string
	mPolicies          *registry[MPolicy]
	lambdas            *registry[LambdaSchedule]
	innerLRs           *registry[InnerLR]
	err                error // construction error, reported by Describe and Init

	// configuration (set by Init)
	ready      bool
	hash       uint64
	n          int
	values     Values   // the resolved hyperparameters
	info       InitInfo // what the policies were configured with
	buf        optimizer.Buffers
	rstate     [][]float32 // the rule's state vectors
	anchor     []float32
	factor     float64
	resetInner bool
	pol        policies // proximal loops only

	// dynamic state (saved by Save, with the policies' and the rule's)
	step   int64 // inner steps taken
	t      int64 // outer index of the current outer step
	k, m   int   // inner index and M_t of the current outer step
	lambda float64
}

// NewProximal returns the proximal outer loop around rule: at inner step
// k=1 of each outer step t it sets the anchor w_t to the current
// parameters and chooses λ_t (lambda_mode) and M_t (m_policy); every
// inner step adds the proximal gradient prox_factor·λ_t·(w − w_t) to the
// minibatch gradient and calls rule.Update with the inner step size
// (inner_lr); the last inner iterate is the next anchor. Its
// hyperparameters are ProximalHyperparams, then those of policies added
// with WithMPolicy, WithLambdaSchedule or WithInnerLR, then the rule's.
// StateVectors is the rule's plus one (the anchor, stored last).
// Construction errors (a rule reusing an outer-loop name, an option
// naming an unknown hyperparameter or a bad policy) are returned by
// Describe and Init.
func NewProximal(rule Rule, name, version string, opts ...Option) optimizer.Optimizer {
	return newLoop(true, rule, name, version, opts)
}

// NewPlain returns rule run on its own: every Step is one update with
// step size α and ends an outer step (λ = 0, M_t = 1). Its
// hyperparameters are preset followed by the rule's, and StateVectors is
// the rule's. It takes no policy options.
func NewPlain(rule Rule, name, version string, opts ...Option) optimizer.Optimizer {
	return newLoop(false, rule, name, version, opts)
}

func newLoop(prox bool, rule Rule, name, version string, opts []Option) *loop {
	o := &loop{name: name, version: version, prox: prox, rule: rule}
	op := options{defaults: map[string]string{}, presets: map[string]map[string]string{}}
	if prox {
		op.presets[PresetPaper] = maps.Clone(paperLoopDefaults)
	}
	for _, f := range opts {
		f(&op)
	}
	o.doc = op.doc
	o.presets = op.presets
	if rule == nil {
		o.err = errors.New("nil rule")
		return o
	}
	o.stateful, _ = rule.(StatefulRule)
	var specs []optimizer.HyperparamSpec
	if prox {
		if specs, o.err = o.policySpecs(op); o.err != nil {
			return o
		}
	} else {
		if len(op.mPolicies)+len(op.lambdas)+len(op.innerLRs) > 0 {
			o.err = errors.New("WithMPolicy, WithLambdaSchedule and WithInnerLR need the proximal outer loop (NewProximal)")
			return o
		}
		specs = []optimizer.HyperparamSpec{presetSpec}
	}
	specs = append(specs, rule.Hyperparams()...)
	byName := map[string]int{}
	for i, s := range specs {
		byName[s.Name] = i
	}
	for _, k := range slices.Sorted(maps.Keys(op.defaults)) {
		i, ok := byName[k]
		if !ok {
			o.err = fmt.Errorf("WithDefaults names unknown hyperparameter %q", k)
			return o
		}
		specs[i].Default = op.defaults[k]
	}
	for _, p := range slices.Sorted(maps.Keys(op.presets)) {
		if !slices.Contains(presetSpec.Choices, p) {
			o.err = fmt.Errorf("WithPresetDefaults names unknown preset %q", p)
			return o
		}
		for _, k := range slices.Sorted(maps.Keys(op.presets[p])) {
			i, ok := byName[k]
			if !ok {
				o.err = fmt.Errorf("preset %s names unknown hyperparameter %q", p, k)
				return o
			}
			if p != presetSpec.Default && op.presets[p][k] != specs[i].Default && !strings.Contains(specs[i].Doc, "("+p+" preset:") {
				specs[i].Doc += fmt.Sprintf(" (%s preset: %s)", p, op.presets[p][k])
			}
		}
	}
	if err := optimizer.CheckSpecs(specs); err != nil {
		o.err = err
		return o
	}
	for _, p := range slices.Sorted(maps.Keys(op.presets)) {
		if _, err := optimizer.ResolveValues(specs, nil, op.presets[p]); err != nil {
			o.err = fmt.Errorf("preset %s: %w", p, err)
			return o
		}
	}
	o.specs = specs
	return o
}

// policySpecs sets up the registries of the three policies (the built-in
// choices and those added by options) and returns the outer loop's
// hyperparameters with every choice's.
func (o *loop) policySpecs(op options) ([]optimizer.HyperparamSpec, error) {
	o.mPolicies, o.lambdas, o.innerLRs = builtinMPolicies(), builtinLambdaSchedules(), builtinInnerLRs()
	for _, a := range op.mPolicies {
		if err := o.mPolicies.add(a.name, a.factory); err != nil {
			return nil, fmt.Errorf("WithMPolicy: %w", err)
		}
	}
	for _, a := range op.lambdas {
		if err := o.lambdas.add(a.name, a.factory); err != nil {
			return nil, fmt.Errorf("WithLambdaSchedule: %w", err)
		}
	}
	for _, a := range op.innerLRs {
		if err := o.innerLRs.add(a.name, a.factory); err != nil {
			return nil, fmt.Errorf("WithInnerLR: %w", err)
		}
	}
	specs := ProximalHyperparams()
	for i := range specs {
		switch specs[i].Name {
		case paramM:
			specs[i].Choices = slices.Clone(o.mPolicies.names)
		case paramLambda:
			specs[i].Choices = slices.Clone(o.lambdas.names)
		case paramLR:
			specs[i].Choices = slices.Clone(o.innerLRs.names)
		}
	}
	var err error
	if specs, err = o.mPolicies.declare(specs); err != nil {
		return nil, err
	}
	if specs, err = o.lambdas.declare(specs); err != nil {
		return nil, err
	}
	return o.innerLRs.declare(specs)
}

// Describe implements optimizer.Optimizer.
func (o *loop) Describe(ctx context.Context) (optimizer.Description, error) {
	if o.err != nil {
		return optimizer.Description{}, fmt.Errorf("%s: %w", o.name, o.err)
	}
	return optimizer.Description{
		Name:         o.name,
		Version:      o.version,
		Doc:          o.doc,
		StateVectors: o.stateVectors(),
		Hyperparams:  slices.Clone(o.specs),
	}, nil
}

func (o *loop) stateVectors() int {
	n := o.rule.StateVectors()
	if o.prox {
		n++
	}
	return n
}

// Init implements optimizer.Optimizer.
func (o *loop) Init(ctx context.Context, cfg optimizer.InitConfig) (optimizer.Buffers, error) {
	if err := o.configure(ctx, cfg); err != nil {
		return optimizer.Buffers{}, err
	}
	n := cfg.NumParams
	o.bind(optimizer.Buffers{
		Params: make([]float32, n),
		Grads:  make([]float32, n),
		State:  make([]float32, o.stateVectors()*n),
	})
	return o.buf, nil
}

// InitBuffers implements Binder.
func (o *loop) InitBuffers(ctx context.Context, cfg optimizer.InitConfig, buf optimizer.Buffers) error {
	if err := o.configure(ctx, cfg); err != nil {
		return err
	}
	n, s := cfg.NumParams, o.stateVectors()
	if len(buf.Params) != n || len(buf.Grads) != n || len(buf.State) != s*n {
		o.ready = false
		return fmt.Errorf("%s: init: buffers have Params %d, Grads %d, State %d floats; want %d, %d, %d (%d state vectors)",
			o.name, len(buf.Params), len(buf.Grads), len(buf.State), n, n, s*n, s)
	}
	clear(buf.Params)
	clear(buf.Grads)
	clear(buf.State)
	o.bind(buf)
	return nil
}

// configure validates cfg and sets the configuration; on error the
// optimizer is left uninitialised.
func (o *loop) configure(ctx context.Context, cfg optimizer.InitConfig) error {
	o.ready = false
	o.buf = optimizer.Buffers{}
	o.pol = policies{}
	if o.err != nil {
		return fmt.Errorf("%s: %w", o.name, o.err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: init: %w", o.name, err)
	}
	if cfg.NumParams <= 0 {
		return fmt.Errorf("%s: init: NumParams=%d, want at least 1", o.name, cfg.NumParams)
	}
	info := InitInfo{NumParams: cfg.NumParams, Seed: cfg.Seed}
	v, pol, err := o.resolve(cfg.Hyperparams, info, o.rule.Configure)
	if err != nil {
		return fmt.Errorf("%s: init: %w", o.name, err)
	}
	if o.prox {
		o.factor = v.Float("prox_factor")
		o.resetInner = v.Bool("reset_inner")
	}
	h := fnv.New64a()
	fmt.Fprintf(h, "%s|%s|n=%d|%s", o.name, o.version, cfg.NumParams, canonical(v))
	o.hash = h.Sum64()
	o.n = cfg.NumParams
	o.values, o.info, o.pol = v, info, pol
	return nil
}

// resolve is the configuration logic of Init, shared with Check: it
// resolves hp under its preset, has configureRule judge (and, for Init,
// configure) the rule, makes and configures the policies (proximal loops
// only) and checks a λ_t that does not depend on α. It changes nothing in
// o; the policies it returns are new values.
func (o *loop) resolve(hp map[string]string, info InitInfo, configureRule func(Values) error) (Values, policies, error) {
	v, err := optimizer.ResolveValues(o.specs, hp, o.presets[o.preset(hp)])
	if err != nil {
		return Values{}, policies{}, err
	}
	if err := configureRule(v); err != nil {
		return Values{}, policies{}, err
	}
	if !o.prox {
		return v, policies{}, nil
	}
	pol, err := o.newPolicies(v, info)
	if err != nil {
		return Values{}, policies{}, err
	}
	// λ-dependent checks that do not depend on α can be made now.
	if lambda, ok := pol.sched.Fixed(); ok {
		if err := pol.checkLambda(lambda); err != nil {
			return Values{}, policies{}, err
		}
	}
	return v, pol, nil
}

// Check implements optimizer.Checker. It runs Init's configuration logic
// on values of its own — the rule is judged by its RuleChecker, or, for a
// rule without one, configured only while the optimizer is not
// initialised (Init configures it again) — and then asks the LambdaCheckers
// about λ_t of the first outer step at cfg.LR (not judged when λ_t is
// computed from α and cfg.LR is 0). NumParams 0 (not known) is judged as
// 1. Neither the optimizer's state nor its buffers change.
func (o *loop) Check(ctx context.Context, cfg optimizer.CheckConfig) error {
	if o.err != nil {
		return fmt.Errorf("%s: %w", o.name, o.err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: check: %w", o.name, err)
	}
	if cfg.NumParams < 0 {
		return fmt.Errorf("%s: NumParams=%d, want at least 1 (or 0: not known)", o.name, cfg.NumParams)
	}
	if lr := cfg.LR; math.IsNaN(lr) || math.IsInf(lr, 0) || lr < 0 {
		return fmt.Errorf("%s: lr=%g, want a finite lr >= 0 (0: not known)", o.name, lr)
	}
	info := InitInfo{NumParams: max(cfg.NumParams, 1), Seed: cfg.Seed}
	_, pol, err := o.resolve(cfg.Hyperparams, info, o.checkRule)
	if err != nil {
		return fmt.Errorf("%s: %w", o.name, err)
	}
	if !o.prox {
		return nil
	}
	if _, fixed := pol.sched.Fixed(); fixed || (pol.sched.UsesLR() && cfg.LR == 0) {
		return nil // checked by resolve, or α not known
	}
	lambda := pol.sched.Lambda(OuterInfo{T: 1, LR: cfg.LR})
	if err := pol.checkLambda(lambda); err != nil {
		return fmt.Errorf("%s: at lr=%g: %w", o.name, cfg.LR, err)
	}
	return nil
}

// checkRule judges the rule's hyperparameters for Check without changing
// a configured rule.
func (o *loop) checkRule(v Values) error {
	if c, ok := o.rule.(RuleChecker); ok {
		return c.Check(v)
	}
	if !o.ready {
		return o.rule.Configure(v) // Init configures the rule again before it is used
	}
	return nil
}

// preset is the preset that hp chooses, or the declared default if hp
// gives none or an invalid one (ResolveValues then reports it).
func (o *loop) preset(hp map[string]string) string {
	i := slices.IndexFunc(o.specs, func(s optimizer.HyperparamSpec) bool { return s.Name == presetSpec.Name })
	ps := o.specs[i]
	raw, given := hp[ps.Name]
	if !given {
		raw = ps.Default
	}
	x, err := optimizer.ParseValue(ps, raw)
	if err != nil {
		return ps.Default
	}
	return x.Enum
}

func (o *loop) bind(buf optimizer.Buffers) {
	o.buf = buf
	r := o.rule.StateVectors()
	o.rstate = make([][]float32, r)
	for i := range r {
		o.rstate[i] = buf.State[i*o.n : (i+1)*o.n : (i+1)*o.n]
	}
	o.anchor = nil
	if o.prox {
		o.anchor = buf.State[r*o.n : (r+1)*o.n : (r+1)*o.n]
	}
	o.step, o.t, o.k, o.m, o.lambda = 0, 0, 0, 0, 0
	o.ready = true
}

// Step implements optimizer.Optimizer.
func (o *loop) Step(ctx context.Context, req optimizer.StepRequest) (optimizer.StepResult, error) {
	if !o.ready {
		return optimizer.StepResult{}, fmt.Errorf("%s: step %d: not initialised", o.name, req.Step)
	}
	if err := ctx.Err(); err != nil {
		return optimizer.StepResult{}, fmt.Errorf("%s: step %d: %w", o.name, req.Step, err)
	}
	if req.Step != o.step {
		return optimizer.StepResult{}, fmt.Errorf("%s: step %d out of order: expected step %d", o.name, req.Step, o.step)
	}
	alpha := req.LR
	if math.IsNaN(alpha) || math.IsInf(alpha, 0) || alpha < 0 || (o.prox && o.pol.sched.UsesLR() && alpha == 0) {
		return optimizer.StepResult{}, fmt.Errorf("%s: step %d: lr=%g, want a finite lr >= 0 (> 0 when lambda_mode=schedule)", o.name, req.Step, alpha)
	}
	w, g := o.buf.Params, o.buf.Grads
	if !o.prox {
		o.rule.Update(w, g, o.rstate, float32(alpha))
		o.step++
		return optimizer.StepResult{OuterEnded: true, Inner: 1, Outer: o.step, M: 1}, nil
	}
	if o.k == o.m { // the previous outer step is over (or none began)
		out := OuterInfo{T: o.t + 1, Step: req.Step, LR: alpha}
		out.Lambda = o.pol.sched.Lambda(out)
		if err := o.pol.checkLambda(out.Lambda); err != nil {
			return optimizer.StepResult{}, fmt.Errorf("%s: step %d (lr=%g): %w", o.name, req.Step, alpha, err)
		}
		m, err := o.pol.m.M(out)
		if err != nil {
			return optimizer.StepResult{}, fmt.Errorf("%s: step %d: %w", o.name, req.Step, err)
		}
		if m < 1 {
			return optimizer.StepResult{}, fmt.Errorf("%s: step %d: m_policy=%s chose M_t=%d, want at least 1", o.name, req.Step, o.pol.mName, m)
		}
		o.t++
		o.k, o.m, o.lambda = 0, m, out.Lambda
		copy(o.anchor, w)
		if o.resetInner && o.t > 1 {
			for _, s := range o.rstate {
				clear(s)
			}
			if o.stateful != nil {
				o.stateful.Reset()
			}
		}
	}
	o.k++
	for _, ob := range o.pol.observers {
		ob.Observe(g)
	}
	eta := o.pol.lr.Eta(InnerStep{T: o.t, K: o.k, M: o.m, LR: alpha, Lambda: o.lambda})
	// At k = 1, w equals the anchor and the proximal term is zero.
	if c := float32(o.factor * o.lambda); o.k > 1 && c != 0 {
		AddProximal(g, w, o.anchor, c)
	}
	o.rule.Update(w, g, o.rstate, float32(eta))
	o.step++
	return optimizer.StepResult{OuterEnded: o.k == o.m, Inner: o.k, Outer: o.t, M: o.m}, nil
}

// Close implements optimizer.Optimizer. It drops the buffers and the
// policies; a closed optimizer can be initialised again.
func (o *loop) Close() error {
	o.ready = false
	o.buf, o.rstate, o.anchor, o.pol = optimizer.Buffers{}, nil, nil, policies{}
	return nil
}

var (
	_ optimizer.Optimizer = (*loop)(nil)
	_ Binder              = (*loop)(nil)
	_ optimizer.Checker   = (*loop)(nil)
	_ RuleChecker         = (*SGDRule)(nil)
	_ RuleChecker         = (*AdamRule)(nil)
	_ StatefulRule        = (*SGDRule)(nil)
	_ StatefulRule        = (*AdamRule)(nil)
	_ StatefulPolicy      = (*geometricPolicy)(nil)
	_ StatefulPolicy      = (*psiPolicy)(nil)
	_ GradientObserver    = (*psiPolicy)(nil)
	_ LambdaChecker       = (*psiPolicy)(nil)
	_ LambdaChecker       = (*thetaOverLambda)(nil)
	_ LambdaChecker       = (*invLambdaDeltaK)(nil)
)
