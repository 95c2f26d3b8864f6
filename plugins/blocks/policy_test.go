package blocks_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/lrsgd-lab/lrsgd/plugins/blocks"
	"github.com/lrsgd-lab/lrsgd/plugins/optimizer"
)

// recordingM is an M_t policy with M_t = 3 that records what the loop
// tells it: the OuterInfo of every outer step and every raw gradient.
type recordingM struct {
	outer []blocks.OuterInfo
	grads [][]float32
}

func (p *recordingM) Hyperparams() []optimizer.HyperparamSpec        { return nil }
func (p *recordingM) Configure(blocks.Values, blocks.InitInfo) error { return nil }
func (p *recordingM) Observe(g []float32)                            { p.grads = append(p.grads, slices.Clone(g)) }

func (p *recordingM) M(o blocks.OuterInfo) (int, error) {
	p.outer = append(p.outer, o)
	return 3, nil
}

// decayLambda is λ_t = lambda0/t.
type decayLambda struct{ lambda0 float64 }

// lambda0Spec is decayLambda's one hyperparameter.
var lambda0Spec = optimizer.HyperparamSpec{Name: "lambda0", Type: optimizer.Float, Default: "1", Min: 0, Max: 10, Doc: "λ_1"}

func (p *decayLambda) Hyperparams() []optimizer.HyperparamSpec {
	return []optimizer.HyperparamSpec{lambda0Spec}
}

func (p *decayLambda) Configure(v blocks.Values, _ blocks.InitInfo) error {
	p.lambda0 = v.Float(lambda0Spec.Name)
	return nil
}

func (p *decayLambda) Lambda(o blocks.OuterInfo) float64 { return p.lambda0 / float64(o.T) }
func (p *decayLambda) UsesLR() bool                      { return false }
func (p *decayLambda) Fixed() (float64, bool)            { return 0, false }
func (p *decayLambda) Expr() string                      { return "lambda0/t" }

// halvingLR is η_k = α/2^(k−1).
type halvingLR struct{}

func (halvingLR) Hyperparams() []optimizer.HyperparamSpec        { return nil }
func (halvingLR) Configure(blocks.Values, blocks.InitInfo) error { return nil }
func (halvingLR) Eta(s blocks.InnerStep) float64                 { return s.LR / math.Exp2(float64(s.K-1)) }

func TestThirdPartyPolicies(t *testing.T) {
	// Plain inner SGD (momentum 0, wd 0), prox_factor 1, M_t = 3 from the
	// recording policy, λ_t = 1/t, η_k = α/2^(k−1) with α = 0.5, constant
	// loss gradient (1, −1), w0 = (1, 2):
	//
	// t=1, λ=1:   k=1 anchor (1, 2), g = (1, −1), η = 0.5 → w = (0.5, 2.5)
	//             k=2 g = (1, −1) + (−0.5, 0.5) = (0.5, −0.5), η = 0.25 → w = (0.375, 2.625)
	//             k=3 g = (1, −1) + (−0.625, 0.625) = (0.375, −0.375), η = 0.125 → w = (0.328125, 2.671875)
	// t=2, λ=0.5: k=1 anchor (0.328125, 2.671875), g = (1, −1), η = 0.5 → w = (−0.171875, 3.171875)
	//             k=2 g = (1, −1) + 0.5·(−0.5, 0.5) = (0.75, −0.75), η = 0.25 → w = (−0.359375, 3.359375)
	//             k=3 g = (1, −1) + 0.5·(−0.6875, 0.6875) = (0.65625, −0.65625), η = 0.125 → w = (−0.44140625, 3.44140625)
	var rec *recordingM // the last one made: the one Init configures
	opt := blocks.NewProximal(blocks.NewSGDRule(), "custom", "1",
		blocks.WithMPolicy("recording", func() blocks.MPolicy { rec = &recordingM{}; return rec }),
		blocks.WithLambdaSchedule("decay", func() blocks.LambdaSchedule { return &decayLambda{} }),
		blocks.WithInnerLR("halving", func() blocks.InnerLR { return halvingLR{} }),
		blocks.WithDefaults(map[string]string{"m_policy": "recording"}))
	ctx := context.Background()
	d, err := opt.Describe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	choices := map[string][]string{}
	var names []string
	for _, s := range d.Hyperparams {
		choices[s.Name] = s.Choices
		names = append(names, s.Name)
	}
	for param, want := range map[string][]string{
		"m_policy":    {blocks.MGeometric, blocks.MConstant, blocks.MPsi, "recording"},
		"lambda_mode": {blocks.LambdaModeSchedule, blocks.LambdaModeFixed, "decay"},
		"inner_lr":    {blocks.LRConstant, blocks.LRAlphaOverK, blocks.LRThetaOverLambda, blocks.LRInvLambdaK, "halving"},
	} {
		if !slices.Equal(choices[param], want) {
			t.Errorf("%s choices %v, want %v", param, choices[param], want)
		}
	}
	// The policy's hyperparameter comes after the loop's, before the rule's.
	if i, j, k := slices.Index(names, "reset_inner"), slices.Index(names, lambda0Spec.Name), slices.Index(names, "momentum"); !(i >= 0 && i < j && j < k) {
		t.Errorf("hyperparameters in order %v: want lambda0 after reset_inner and before momentum", names)
	}

	buf, err := opt.Init(ctx, optimizer.InitConfig{NumParams: 2, Hyperparams: map[string]string{
		"lambda_mode": "decay", "inner_lr": "halving", "prox_factor": "1", "momentum": "0", "weight_decay": "0"}})
	if err != nil {
		t.Fatal(err)
	}
	copy(buf.Params, []float32{1, 2})
	wantW := [][]float32{{0.5, 2.5}, {0.375, 2.625}, {0.328125, 2.671875}, {-0.171875, 3.171875}, {-0.359375, 3.359375}, {-0.44140625, 3.44140625}}
	for s, want := range wantW {
		copy(buf.Grads, []float32{1, -1})
		r, err := opt.Step(ctx, optimizer.StepRequest{Step: int64(s), LR: 0.5})
		if err != nil {
			t.Fatal(err)
		}
		if wantR := (optimizer.StepResult{OuterEnded: s%3 == 2, Inner: s%3 + 1, Outer: int64(s/3 + 1), M: 3}); r != wantR {
			t.Errorf("step %d: %+v, want %+v", s, r, wantR)
		}
		if !slices.Equal(buf.Params, want) {
			t.Errorf("step %d: w = %v, want %v", s, buf.Params, want)
		}
	}
	wantOuter := []blocks.OuterInfo{{T: 1, Step: 0, LR: 0.5, Lambda: 1}, {T: 2, Step: 3, LR: 0.5, Lambda: 0.5}}
	if !slices.Equal(rec.outer, wantOuter) {
		t.Errorf("M saw %+v, want %+v", rec.outer, wantOuter)
	}
	// Observe sees the raw minibatch gradient, not the effective one that
	// Step leaves in Grads.
	if len(rec.grads) != 6 {
		t.Fatalf("Observe called %d times, want 6", len(rec.grads))
	}
	for i, g := range rec.grads {
		if !slices.Equal(g, []float32{1, -1}) {
			t.Errorf("Observe %d saw %v, want the raw gradient (1, −1)", i, g)
		}
	}
}

// cycleM is a stateful M_t policy: M_t = 1, 2, ..., period, 1, 2, ...
// counted by calls to M. Its Save blob is "cycle" and the count.
type cycleM struct{ period, calls int }

func (p *cycleM) Hyperparams() []optimizer.HyperparamSpec {
	return []optimizer.HyperparamSpec{{Name: "period", Type: optimizer.Int, Default: "4", Min: 1, Max: 100, Doc: "longest M_t"}}
}

func (p *cycleM) Configure(v blocks.Values, _ blocks.InitInfo) error {
	p.period, p.calls = v.Int("period"), 0
	return nil
}

func (p *cycleM) M(blocks.OuterInfo) (int, error) {
	p.calls++
	return (p.calls-1)%p.period + 1, nil
}

func (p *cycleM) Save() ([]byte, error) {
	return binary.LittleEndian.AppendUint64([]byte("cycle"), uint64(p.calls)), nil
}

func (p *cycleM) Restore(b []byte) error {
	if len(b) != 13 || string(b[:5]) != "cycle" {
		return fmt.Errorf("want \"cycle\" and 8 bytes, have %d bytes", len(b))
	}
	p.calls = int(binary.LittleEndian.Uint64(b[5:]))
	return nil
}

func newCycleOpt() optimizer.Optimizer {
	return blocks.NewProximal(blocks.NewSGDRule(), "cycle-lr", "1",
		blocks.WithMPolicy("cycle", func() blocks.MPolicy { return &cycleM{} }),
		blocks.WithDefaults(map[string]string{"m_policy": "cycle"}))
}

func TestThirdPartyPolicySaveRestore(t *testing.T) {
	const n, total, at = 9, 120, 37
	ctx := context.Background()
	cfg := optimizer.InitConfig{NumParams: n, Seed: 3, Hyperparams: map[string]string{"period": "5"}}
	run := func(opt optimizer.Optimizer, buf optimizer.Buffers, from, to int64, done *int64) []optimizer.StepResult {
		return runSteps(t, opt, buf, from, to, done)
	}
	a := newCycleOpt()
	bufA := initTest(t, a, cfg)
	var doneA int64
	resA := run(a, bufA, 0, total, &doneA)

	b := newCycleOpt()
	bufB := initTest(t, b, cfg)
	var doneB int64
	resB := run(b, bufB, 0, at, &doneB)
	blob, err := b.Save(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c := newCycleOpt()
	bufC, err := c.Init(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	copy(bufC.Params, bufB.Params)
	copy(bufC.State, bufB.State)

	// A blob whose policy state the policy refuses leaves c as it was.
	bad := slices.Clone(blob)
	bad[bytes.LastIndex(bad, []byte("cycle"))+4] = 'a' // in the policy's state, not in the optimizer's name
	before, _ := c.Save(ctx)
	if err := c.Restore(ctx, bad); err == nil || !strings.Contains(err.Error(), `cycle-lr: restore: m_policy=cycle: want "cycle"`) {
		t.Errorf("Restore with bad policy state: %v", err)
	}
	if after, _ := c.Save(ctx); !bytes.Equal(after, before) {
		t.Error("a refused Restore changed the state")
	}

	if err := c.Restore(ctx, blob); err != nil {
		t.Fatal(err)
	}
	resB = append(resB, run(c, bufC, at, total, &doneB)...)
	ms := map[int]bool{}
	for i := range resA {
		if resA[i] != resB[i] {
			t.Fatalf("step %d: restored %+v, uninterrupted %+v", i, resB[i], resA[i])
		}
		ms[resA[i].M] = true
	}
	if len(ms) != 5 {
		t.Errorf("M_t took %d values, want the 5 of the cycle", len(ms))
	}
	for i := range bufA.Params {
		if math.Float32bits(bufA.Params[i]) != math.Float32bits(bufC.Params[i]) {
			t.Fatalf("param %d: restored %g, uninterrupted %g", i, bufC.Params[i], bufA.Params[i])
		}
	}
}

func TestRestoreRefusesStateForAStatelessPolicy(t *testing.T) {
	ctx := context.Background()
	opt := blocks.NewLRSGDC() // m_policy=constant, inner_lr=alpha-over-k, lambda_mode=schedule: all stateless
	cfg := optimizer.InitConfig{NumParams: 4}
	if _, err := opt.Init(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	blob, err := opt.Save(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// magic, version, name, hash, step, t, k, m, λ, then the m_policy state.
	off := 8 + 2 + 2 + len("lrsgd-c") + 8 + 8 + 4*8
	if got := binary.LittleEndian.Uint32(blob[off:]); got != 0 {
		t.Fatalf("m_policy state of %d bytes at offset %d, want 0: the blob layout changed", got, off)
	}
	bad := slices.Concat(blob[:off], binary.LittleEndian.AppendUint32(nil, 1), []byte{7}, blob[off+4:])
	if err := opt.Restore(ctx, bad); err == nil || !strings.Contains(err.Error(), "1 bytes of state for the stateless m_policy=constant") {
		t.Errorf("Restore: %v", err)
	}
	if err := opt.Restore(ctx, blob); err != nil {
		t.Errorf("Restore of the good blob: %v", err)
	}
}

// fixedM returns m from M, or err.
type fixedM struct {
	m   int
	err error
}

func (p *fixedM) Hyperparams() []optimizer.HyperparamSpec        { return nil }
func (p *fixedM) Configure(blocks.Values, blocks.InitInfo) error { return nil }
func (p *fixedM) M(blocks.OuterInfo) (int, error)                { return p.m, p.err }

func TestBadPolicyChoicesAreRefusedAtStep(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		p    *fixedM
		want string
	}{
		{"zero", &fixedM{m: 0}, "x: step 0: m_policy=bad chose M_t=0, want at least 1"},
		{"error", &fixedM{m: 1, err: errors.New("out of ideas")}, "x: step 0: out of ideas"},
	}
	for _, tt := range tests {
		// The factory returns the same value every time, so that the test
		// can change its answer before retrying.
		opt := blocks.NewProximal(blocks.NewSGDRule(), "x", "1", blocks.WithMPolicy("bad", func() blocks.MPolicy { return tt.p }))
		buf, err := opt.Init(ctx, optimizer.InitConfig{NumParams: 2, Hyperparams: map[string]string{"m_policy": "bad"}})
		if err != nil {
			t.Fatal(err)
		}
		copy(buf.Params, []float32{1, 2})
		if _, err := opt.Step(ctx, optimizer.StepRequest{Step: 0, LR: 0.1}); err == nil || err.Error() != tt.want {
			t.Errorf("%s: Step error %v, want %q", tt.name, err, tt.want)
		}
		// Nothing moved: the same step is expected again and w is unchanged.
		tt.p.m, tt.p.err = 2, nil
		if r, err := opt.Step(ctx, optimizer.StepRequest{Step: 0, LR: 0.1}); err != nil || r.Outer != 1 || r.M != 2 {
			t.Errorf("%s: the retried step: %+v, %v", tt.name, r, err)
		}
	}
}

// specM declares the given hyperparameters.
type specM struct {
	fixedM
	specs []optimizer.HyperparamSpec
}

func (p *specM) Hyperparams() []optimizer.HyperparamSpec { return p.specs }

func TestPolicyConstructionErrors(t *testing.T) {
	newM := func(specs ...optimizer.HyperparamSpec) func() blocks.MPolicy {
		return func() blocks.MPolicy { return &specM{fixedM{m: 1, err: nil}, specs} }
	}
	gamma := blocks.ProximalHyperparams()[6]
	if gamma.Name != "gamma" {
		t.Fatalf("ProximalHyperparams()[6] is %s, want gamma", gamma.Name)
	}
	otherGamma := gamma
	otherGamma.Max = 2
	checkRefusals(t, []refusal{
		{"taken name", blocks.NewProximal(blocks.NewSGDRule(), "x", "1", blocks.WithMPolicy("geometric", newM())),
			`x: WithMPolicy: m_policy "geometric" is already a choice`},
		{"bad name", blocks.NewProximal(blocks.NewSGDRule(), "x", "1", blocks.WithInnerLR("two words", func() blocks.InnerLR { return halvingLR{} })),
			`x: WithInnerLR: inner_lr "two words": want a name of letters, digits`},
		{"nil factory", blocks.NewProximal(blocks.NewSGDRule(), "x", "1", blocks.WithLambdaSchedule("none", nil)),
			`x: WithLambdaSchedule: lambda_mode "none": nil factory`},
		{"factory returns nil", blocks.NewProximal(blocks.NewSGDRule(), "x", "1", blocks.WithMPolicy("none", func() blocks.MPolicy { return nil })),
			"x: m_policy=none: the factory returned nil"},
		{"plain loop", blocks.NewPlain(blocks.NewSGDRule(), "x", "1", blocks.WithMPolicy("mine", newM())),
			"x: WithMPolicy, WithLambdaSchedule and WithInnerLR need the proximal outer loop (NewProximal)"},
		{"spec unlike the loop's", blocks.NewProximal(blocks.NewSGDRule(), "x", "1", blocks.WithMPolicy("mine", newM(otherGamma))),
			`x: m_policy "mine" declares hyperparameter "gamma" unlike the one already declared (float [1e-06, 1])`},
		{"spec clashes with the rule's", blocks.NewProximal(blocks.NewSGDRule(), "x", "1", blocks.WithMPolicy("mine",
			newM(optimizer.HyperparamSpec{Name: "momentum", Type: optimizer.Float, Default: "0", Min: 0, Max: 1}))),
			`x: hyperparameter "momentum" declared twice`},
		{"bad spec", blocks.NewProximal(blocks.NewSGDRule(), "x", "1", blocks.WithMPolicy("mine",
			newM(optimizer.HyperparamSpec{Name: "k", Type: optimizer.Int, Default: "0", Min: 1, Max: 3}))),
			`x: default of k: hyperparameter k="0": want an integer in [1, 3]`},
		{"unknown default choice", blocks.NewProximal(blocks.NewSGDRule(), "x", "1", blocks.WithDefaults(map[string]string{"m_policy": "mine"})),
			`x: default of m_policy: hyperparameter m_policy="mine": want one of geometric, constant, psi`},
	})
	// A policy may declare a loop hyperparameter with the same spec: it is
	// shared, not declared twice.
	opt := blocks.NewProximal(blocks.NewSGDRule(), "x", "1", blocks.WithMPolicy("mine", newM(gamma)))
	d, err := opt.Describe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	base, _ := blocks.NewProximal(blocks.NewSGDRule(), "x", "1").Describe(context.Background())
	if len(d.Hyperparams) != len(base.Hyperparams) {
		t.Errorf("%d hyperparameters with a policy sharing gamma, want %d", len(d.Hyperparams), len(base.Hyperparams))
	}
}

func TestThirdPartyPolicyStepDoesNotAllocate(t *testing.T) {
	opt := blocks.NewProximal(blocks.NewSGDRule(), "x", "1",
		blocks.WithMPolicy("cycle", func() blocks.MPolicy { return &cycleM{} }),
		blocks.WithLambdaSchedule("decay", func() blocks.LambdaSchedule { return &decayLambda{} }),
		blocks.WithInnerLR("halving", func() blocks.InnerLR { return halvingLR{} }))
	allocs := stepAllocs(t, opt, optimizer.InitConfig{NumParams: 100, Hyperparams: map[string]string{
		"m_policy": "cycle", "lambda_mode": "decay", "inner_lr": "halving"}}, 100)
	if allocs != 0 {
		t.Errorf("%g allocations per Step, want 0", allocs)
	}
}
