package blocks

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/lrsgd-lab/lrsgd/plugins/optimizer"
)

// Binder is implemented by every optimizer this package returns; it has
// the method set of sdk.Binder, so the plugin server binds these
// optimizers to shared memory directly. InitBuffers is Init with
// caller-provided buffers: instead of allocating, the optimizer keeps
// (and zeroes) buf.Params, buf.Grads and buf.State, whose lengths must be
// NumParams, NumParams and StateVectors·NumParams. The optimizer never
// reallocates them and drops them at Close; the caller owns the memory.
type Binder interface {
	InitBuffers(ctx context.Context, cfg optimizer.InitConfig, buf optimizer.Buffers) error
}

// Option customises an optimizer built by NewProximal or NewPlain.
type Option func(*options)

type options struct {
	doc      string
	defaults map[string]string
	presets  map[string]map[string]string
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

// presetSpec is the preset hyperparameter every optimizer here has.
var presetSpec = optimizer.HyperparamSpec{
	Name: "preset", Type: optimizer.Enum, Default: PresetReference, Choices: []string{PresetReference, PresetPaper},
	Doc: "defaults of the other hyperparameters: reference (the public reference code) or paper (the paper's definitions)",
}

// ProximalHyperparams returns the hyperparameters of the proximal outer
// loop with their reference-code defaults; a Rule must not reuse these
// names. The paper preset changes prox_factor to 1, lambda_coef to 0.02
// and lambda to 0.2, and derives gamma from theta unless gamma is given.
func ProximalHyperparams() []optimizer.HyperparamSpec {
	return []optimizer.HyperparamSpec{
		presetSpec,
		{Name: "lambda_mode", Type: optimizer.Enum, Default: "schedule", Choices: []string{"schedule", "fixed"}, Doc: "λ_t = lambda_coef/α from the scheduled lr (schedule) or λ_t = lambda (fixed)"},
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

// paperLoopDefaults are the outer loop's paper-preset defaults.
var paperLoopDefaults = map[string]string{"prox_factor": "1", "lambda_coef": "0.02", "lambda": "0.2"}

// sketchMax bounds the coordinates of the mean-gradient sketch that the
// psi policy's σ² estimate uses.
const sketchMax = 1 << 16

// loop is the optimizer behind NewProximal and NewPlain.
type loop struct {
	name, version, doc string
	prox               bool
	rule               Rule
	stateful           StatefulRule // rule, if it is stateful
	specs              []optimizer.HyperparamSpec
	presets            map[string]map[string]string
	err                error // construction error, reported by Describe and Init

	// configuration (set by Init)
	ready      bool
	hash       uint64
	n          int
	buf        optimizer.Buffers
	rstate     [][]float32 // the rule's state vectors
	anchor     []float32
	schedule   bool
	lambdaCoef float64
	lambdaFix  float64
	factor     float64
	mPolicy    string
	gamma      float64
	mConst     int
	mMax       int
	psi, ell   float64
	delta      float64
	estDecay   float64
	lrPolicy   string
	theta      float64
	resetInner bool

	// dynamic state (saved by Save)
	step       int64 // inner steps taken
	t          int64 // outer index of the current outer step
	k, m       int   // inner index and M_t of the current outer step
	lambda     float64
	pcg        *rand.PCG
	rng        *rand.Rand
	g2, s2     float64   // running estimates of G² and σ²
	sketch     []float64 // EMA of the gradient at every stride-th coordinate
	stride     int
	sketchInit bool
}

// NewProximal returns the proximal outer loop around rule: at inner step
// k=1 of each outer step t it sets the anchor w_t to the current
// parameters and chooses M_t and λ_t; every inner step adds the proximal
// gradient prox_factor·λ_t·(w − w_t) to the minibatch gradient and calls
// rule.Update with the inner step size; the last inner iterate is the
// next anchor. Its hyperparameters are ProximalHyperparams followed by
// the rule's. StateVectors is the rule's plus one (the anchor, stored
// last). Construction errors (a rule reusing an outer-loop name, an
// option naming an unknown hyperparameter) are returned by Describe and
// Init.
func NewProximal(rule Rule, name, version string, opts ...Option) optimizer.Optimizer {
	return newLoop(true, rule, name, version, opts)
}

// NewPlain returns rule run on its own: every Step is one update with
// step size α and ends an outer step (λ = 0, M_t = 1). Its
// hyperparameters are preset followed by the rule's, and StateVectors is
// the rule's.
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
		specs = ProximalHyperparams()
	} else {
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
			if _, err := parseValue(specs[i], op.presets[p][k]); err != nil {
				o.err = fmt.Errorf("preset %s: %w", p, err)
				return o
			}
			if p != presetSpec.Default && op.presets[p][k] != specs[i].Default && !strings.Contains(specs[i].Doc, "("+p+" preset:") {
				specs[i].Doc += fmt.Sprintf(" (%s preset: %s)", p, op.presets[p][k])
			}
		}
	}
	if err := checkSpecs(specs); err != nil {
		o.err = err
		return o
	}
	o.specs = specs
	return o
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
	if o.err != nil {
		return fmt.Errorf("%s: %w", o.name, o.err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: init: %w", o.name, err)
	}
	if cfg.NumParams <= 0 {
		return fmt.Errorf("%s: init: NumParams=%d, want at least 1", o.name, cfg.NumParams)
	}
	v, err := resolve(o.specs, cfg.Hyperparams, func(p string) map[string]string { return o.presets[p] })
	if err != nil {
		return fmt.Errorf("%s: init: %w", o.name, err)
	}
	if err := o.rule.Configure(v); err != nil {
		return fmt.Errorf("%s: init: %w", o.name, err)
	}
	if o.prox {
		if err := o.configureLoop(v); err != nil {
			return fmt.Errorf("%s: init: %w", o.name, err)
		}
	}
	h := fnv.New64a()
	fmt.Fprintf(h, "%s|%s|n=%d|%s", o.name, o.version, cfg.NumParams, v.canonical())
	o.hash = h.Sum64()
	o.n = cfg.NumParams
	o.pcg = rand.NewPCG(cfg.Seed, PCGStream)
	o.rng = rand.New(o.pcg)
	if o.prox && o.mPolicy == MPsi {
		o.stride = (o.n + sketchMax - 1) / sketchMax
		o.sketch = make([]float64, (o.n+o.stride-1)/o.stride)
	} else {
		o.stride, o.sketch = 0, nil
	}
	return nil
}

func (o *loop) configureLoop(v Values) error {
	o.schedule = v.Enum("lambda_mode") == "schedule"
	o.lambdaCoef = v.Float("lambda_coef")
	o.lambdaFix = v.Float("lambda")
	o.factor = v.Float("prox_factor")
	o.mPolicy = v.Enum("m_policy")
	o.theta = v.Float("theta")
	o.gamma = v.Float("gamma")
	if v.Enum("preset") == PresetPaper && !v.Given("gamma") && o.presets[PresetPaper]["gamma"] == "" {
		o.gamma = GammaFromTheta(o.theta)
	}
	o.mConst = v.Int("m")
	o.mMax = v.Int("m_max")
	o.psi = v.Float("psi")
	o.ell = v.Float("ell")
	o.delta = v.Float("delta")
	o.g2 = v.Float("g2_init")
	o.s2 = v.Float("sigma2_init")
	o.estDecay = v.Float("est_decay")
	o.lrPolicy = v.Enum("inner_lr")
	o.resetInner = v.Bool("reset_inner")
	// λ-dependent checks that do not depend on α can be made now.
	if o.schedule && o.lambdaCoef == 0 || !o.schedule {
		if err := o.checkLambda(o.lambdaAt(1)); err != nil {
			return err
		}
	}
	return nil
}

// lambdaAt is λ_t for scheduled lr alpha.
func (o *loop) lambdaAt(alpha float64) float64 {
	if o.schedule {
		return o.lambdaCoef / alpha
	}
	return o.lambdaFix
}

// checkLambda refuses a λ_t the chosen policies cannot use.
func (o *loop) checkLambda(lambda float64) error {
	what := "lambda"
	if o.schedule {
		what = "lambda_coef/lr"
	}
	if o.lrPolicy == LRThetaOverLambda && !(lambda > 0) {
		return fmt.Errorf("inner_lr=%s needs %s > 0, have %g", LRThetaOverLambda, what, lambda)
	}
	if !(lambda > o.delta) {
		switch {
		case o.lrPolicy == LRInvLambdaK:
			return fmt.Errorf("inner_lr=%s needs %s > delta, have %g <= %g", LRInvLambdaK, what, lambda, o.delta)
		case o.mPolicy == MPsi:
			return fmt.Errorf("m_policy=%s needs %s > delta, have %g <= %g", MPsi, what, lambda, o.delta)
		}
	}
	return nil
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
	o.sketchInit = false
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
	if math.IsNaN(alpha) || math.IsInf(alpha, 0) || alpha < 0 || (o.prox && o.schedule && alpha == 0) {
		return optimizer.StepResult{}, fmt.Errorf("%s: step %d: lr=%g, want a finite lr >= 0 (> 0 when lambda_mode=schedule)", o.name, req.Step, alpha)
	}
	w, g := o.buf.Params, o.buf.Grads
	if !o.prox {
		o.rule.Update(w, g, o.rstate, float32(alpha))
		o.step++
		return optimizer.StepResult{OuterEnded: true, Inner: 1, Outer: o.step, M: 1}, nil
	}
	if o.k == o.m { // the previous outer step is over (or none began)
		lambda := o.lambdaAt(alpha)
		if err := o.checkLambda(lambda); err != nil {
			return optimizer.StepResult{}, fmt.Errorf("%s: step %d (lr=%g): %w", o.name, req.Step, alpha, err)
		}
		var m int
		switch o.mPolicy {
		case MGeometric:
			m = Geometric(o.rng.Float64(), o.gamma)
		case MConstant:
			m = o.mConst
		case MPsi:
			var err error
			if m, err = PsiM(o.ell, o.g2, o.s2, o.psi, lambda, o.delta, o.mMax); err != nil {
				return optimizer.StepResult{}, fmt.Errorf("%s: step %d: %w", o.name, req.Step, err)
			}
		}
		o.t++
		o.k, o.m, o.lambda = 0, m, lambda
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
	if o.mPolicy == MPsi {
		o.observe(g)
	}
	eta := innerLR(o.lrPolicy, alpha, o.k, o.lambda, o.theta, o.delta)
	// At k = 1, w equals the anchor and the proximal term is zero.
	if c := float32(o.factor * o.lambda); o.k > 1 && c != 0 {
		AddProximal(g, w, o.anchor, c)
	}
	o.rule.Update(w, g, o.rstate, float32(eta))
	o.step++
	return optimizer.StepResult{OuterEnded: o.k == o.m, Inner: o.k, Outer: o.t, M: o.m}, nil
}

// observe updates the running estimates of G² and σ² from the raw
// minibatch gradient g (see docs/blocks.md):
//
//	G² ← β·G² + (1−β)·‖g‖²
//	σ² ← β·σ² + (1−β)·(N/n)·Σ_j (g_{j·s} − ḡ_j)²
//	ḡ_j ← β·ḡ_j + (1−β)·g_{j·s}
//
// where ḡ is an EMA of the gradient kept at every s-th coordinate
// (s = ceil(N/65536), so all of them up to 65536 parameters) and
// initialised to the first gradient seen. Sums are in float64.
func (o *loop) observe(g []float32) {
	b := o.estDecay
	var sq float64
	for _, x := range g {
		sq += float64(x) * float64(x)
	}
	o.g2 = b*o.g2 + (1-b)*sq
	if !o.sketchInit {
		for j := range o.sketch {
			o.sketch[j] = float64(g[j*o.stride])
		}
		o.sketchInit = true
		return
	}
	var dev float64
	for j, m := range o.sketch {
		x := float64(g[j*o.stride])
		d := x - m
		dev += d * d
		o.sketch[j] = b*m + (1-b)*x
	}
	o.s2 = b*o.s2 + (1-b)*dev*float64(o.n)/float64(len(o.sketch))
}

// Close implements optimizer.Optimizer. It drops the buffers; a closed
// optimizer can be initialised again.
func (o *loop) Close() error {
	o.ready = false
	o.buf, o.rstate, o.anchor, o.sketch = optimizer.Buffers{}, nil, nil, nil
	return nil
}

var (
	_ optimizer.Optimizer = (*loop)(nil)
	_ Binder              = (*loop)(nil)
	_ StatefulRule        = (*SGDRule)(nil)
	_ StatefulRule        = (*AdamRule)(nil)
)
