package blocks_test

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/lrsgd-lab/lrsgd/plugins/blocks"
	"github.com/lrsgd-lab/lrsgd/plugins/optimizer"
	"github.com/lrsgd-lab/lrsgd/plugins/sdk"
)

// The plugin server binds optimizers that implement sdk.Binder to shared
// memory; blocks.Binder must keep the same method set.
var _ sdk.Binder = blocks.Binder(nil)

func TestGeometricInverseCDF(t *testing.T) {
	tests := []struct {
		u, gamma float64
		want     int
	}{
		{0, 0.5, 1},      // u = 0 → smallest support point
		{0.5, 0.5, 1},    // F(1) = 0.5 ≥ 0.5
		{0.6, 0.5, 2},    // F(1) = 0.5 < 0.6 ≤ F(2) = 0.75
		{0.8, 0.5, 3},    // F(2) = 0.75 < 0.8 ≤ F(3) = 0.875
		{0.95, 0.1, 29},  // F(28) = 1−0.9^28 = 0.9477 < 0.95 ≤ F(29) = 0.9529
		{0.999, 1, 1},    // γ = 1: always 1
		{0.0001, 0.1, 1}, // F(1) = 0.1
	}
	for _, tt := range tests {
		if got := blocks.Geometric(tt.u, tt.gamma); got != tt.want {
			t.Errorf("Geometric(%g, %g) = %d, want %d", tt.u, tt.gamma, got, tt.want)
		}
	}
}

// chiSquareGeometric draws n values with draw and returns Pearson's
// statistic against Geometric(gamma) over bins 1..kmax and a tail bin
// (> kmax), the sample mean, and the smallest value drawn.
func chiSquareGeometric(n, kmax int, gamma float64, draw func() int) (chi2, mean float64, minDraw int) {
	counts := make([]int, kmax+2) // index 0 unused, kmax+1 = tail
	minDraw = math.MaxInt
	var sum float64
	for range n {
		m := draw()
		minDraw = min(minDraw, m)
		sum += float64(m)
		counts[min(m, kmax+1)]++
	}
	for k := 1; k <= kmax+1; k++ {
		p := math.Pow(1-gamma, float64(k-1)) * gamma // P(M = k)
		if k == kmax+1 {
			p = math.Pow(1-gamma, float64(kmax)) // P(M > kmax)
		}
		e := float64(n) * p
		d := float64(counts[max(k, 1)]) - e
		chi2 += d * d / e
	}
	return chi2, sum / float64(n), minDraw
}

func TestGeometricSampler(t *testing.T) {
	const n = 100_000
	tests := []struct {
		gamma float64
		kmax  int     // bins 1..kmax plus a tail: df = kmax
		crit  float64 // χ² quantile 0.999 with df = kmax
	}{
		{0.5, 10, 29.588}, // tail P = 0.5^10: 98 expected
		{0.1, 40, 73.402}, // tail P = 0.9^40: 1478 expected; P(M=40) → 164 expected
	}
	for _, tt := range tests {
		rng := rand.New(rand.NewPCG(1, blocks.PCGStream))
		chi2, mean, minDraw := chiSquareGeometric(n, tt.kmax, tt.gamma, func() int { return blocks.Geometric(rng.Float64(), tt.gamma) })
		if minDraw != 1 {
			t.Errorf("γ=%g: smallest draw %d, want support starting at 1", tt.gamma, minDraw)
		}
		// Mean 1/γ within 4 standard errors, sd = sqrt(1−γ)/γ.
		if se := math.Sqrt(1-tt.gamma) / tt.gamma / math.Sqrt(n); math.Abs(mean-1/tt.gamma) > 4*se {
			t.Errorf("γ=%g: mean %g, want %g ± %g", tt.gamma, mean, 1/tt.gamma, 4*se)
		}
		if chi2 > tt.crit {
			t.Errorf("γ=%g: χ² = %.2f over %d bins, above the 0.999 quantile %.3f", tt.gamma, chi2, tt.kmax+1, tt.crit)
		}
		t.Logf("γ=%g: mean %.4f (1/γ = %g), χ² = %.2f (df %d, 0.999 quantile %.3f)", tt.gamma, mean, 1/tt.gamma, chi2, tt.kmax, tt.crit)

		// Power check: the same test rejects a sampler that is slightly off
		// (γ·1.1) and one whose support starts at 0.
		rng = rand.New(rand.NewPCG(1, blocks.PCGStream))
		if c, _, _ := chiSquareGeometric(n, tt.kmax, tt.gamma, func() int { return blocks.Geometric(rng.Float64(), tt.gamma*1.1) }); c <= tt.crit {
			t.Errorf("γ=%g: χ² test does not reject Geometric(%g): %.2f", tt.gamma, tt.gamma*1.1, c)
		}
		if c, _, _ := chiSquareGeometric(n, tt.kmax, tt.gamma, func() int { return blocks.Geometric(rng.Float64(), tt.gamma) - 1 }); c <= tt.crit {
			t.Errorf("γ=%g: χ² test does not reject a sampler starting at 0: %.2f", tt.gamma, c)
		}
	}
}

// constructors lists the four optimizers with their expected description.
var constructors = []struct {
	name  string
	new   func() optimizer.Optimizer
	state int
}{
	{"sgd", blocks.NewSGD, 1},        // momentum
	{"lrsgd-r", blocks.NewLRSGDR, 2}, // momentum, anchor
	{"lrsgd-c", blocks.NewLRSGDC, 2}, // momentum, anchor
	{"adam-lr", blocks.NewAdamLR, 3}, // m, v, anchor
}

func TestDescribe(t *testing.T) {
	ctx := context.Background()
	for _, c := range constructors {
		opt := c.new()
		d, err := opt.Describe(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if d.Name != c.name || d.StateVectors != c.state || d.Version == "" || d.Doc == "" {
			t.Errorf("%s: Describe = %q v%q state %d doc %q; want name %q, %d state vectors", c.name, d.Name, d.Version, d.StateVectors, d.Doc, c.name, c.state)
		}
		names := map[string]bool{}
		for _, s := range d.Hyperparams {
			if s.Doc == "" || s.Default == "" {
				t.Errorf("%s: hyperparameter %s lacks doc or default", c.name, s.Name)
			}
			names[s.Name] = true
		}
		want := []string{"preset", "weight_decay"}
		if c.name != "sgd" {
			want = append(want, "gamma", "lambda", "lambda_mode", "lambda_coef", "m", "m_policy", "m_max", "psi", "ell", "delta",
				"g2_init", "sigma2_init", "inner_lr", "theta")
		}
		if c.name == "adam-lr" {
			want = append(want, "beta1", "beta2", "eps", "decoupled_wd")
		} else {
			want = append(want, "momentum", "dampening", "nesterov")
		}
		for _, n := range want {
			if !names[n] {
				t.Errorf("%s: no hyperparameter %q", c.name, n)
			}
		}
		const n = 5
		buf, err := opt.Init(ctx, optimizer.InitConfig{NumParams: n})
		if err != nil {
			t.Fatal(err)
		}
		if len(buf.Params) != n || len(buf.Grads) != n || len(buf.State) != c.state*n {
			t.Errorf("%s: Init buffers %d/%d/%d, want %d/%d/%d", c.name, len(buf.Params), len(buf.Grads), len(buf.State), n, n, c.state*n)
		}
	}
	// Defaults that differ by preset say so in the doc line.
	d, _ := blocks.NewLRSGDC().Describe(ctx)
	for _, s := range d.Hyperparams {
		if s.Name == "m_policy" && (s.Default != "constant" || !strings.Contains(s.Doc, "(paper preset: psi)")) {
			t.Errorf("lrsgd-c m_policy: default %q doc %q; want constant and the paper preset's psi", s.Default, s.Doc)
		}
	}
}

func TestBadHyperparameters(t *testing.T) {
	tests := []struct {
		opt  func() optimizer.Optimizer
		hp   map[string]string
		want []string // substrings of the error
	}{
		{blocks.NewLRSGDR, map[string]string{"gamma": "1.5"}, []string{"lrsgd-r", "gamma", "1.5", "[1e-06, 1]"}},
		{blocks.NewLRSGDR, map[string]string{"gamma": "0"}, []string{"gamma", `"0"`, "[1e-06, 1]"}},
		{blocks.NewLRSGDR, map[string]string{"gama": "0.1"}, []string{`unknown hyperparameter "gama"`, "gamma"}},
		{blocks.NewLRSGDC, map[string]string{"m": "0"}, []string{"lrsgd-c", "m=", `"0"`, "integer in [1, 1e+06]"}},
		{blocks.NewLRSGDC, map[string]string{"m": "2.5"}, []string{"m=", "2.5", "integer"}},
		{blocks.NewLRSGDC, map[string]string{"m_policy": "random"}, []string{"m_policy", "random", "one of geometric, constant, psi"}},
		{blocks.NewLRSGDC, map[string]string{"theta": "0.3"}, []string{"theta", "0.3", "[1e-09, 0.25]"}},
		{blocks.NewSGD, map[string]string{"momentum": "-0.1"}, []string{"sgd", "momentum", "-0.1", "[0, 0.9999]"}},
		{blocks.NewSGD, map[string]string{"weight_decay": "NaN"}, []string{"weight_decay", "NaN", "[0, 1]"}},
		{blocks.NewSGD, map[string]string{"nesterov": "maybe"}, []string{"nesterov", "maybe", "true or false"}},
		{blocks.NewSGD, map[string]string{"nesterov": "true", "dampening": "0.5"}, []string{"nesterov=true needs momentum > 0 and dampening = 0"}},
		{blocks.NewSGD, map[string]string{"gamma": "0.1"}, []string{`unknown hyperparameter "gamma"`}},
		{blocks.NewAdamLR, map[string]string{"beta2": "1"}, []string{"adam-lr", "beta2", "[0, 0.999999]"}},
		{blocks.NewAdamLR, map[string]string{"preset": "papers"}, []string{"preset", "one of reference, paper"}},
		{blocks.NewLRSGDC, map[string]string{"inner_lr": "inv-lambda-delta-k", "lambda_mode": "fixed", "lambda": "0.1", "delta": "0.2"},
			[]string{"inner_lr=inv-lambda-delta-k needs lambda > delta, have 0.1 <= 0.2"}},
		{blocks.NewLRSGDR, map[string]string{"inner_lr": "theta-over-lambda", "lambda_coef": "0"}, []string{"theta-over-lambda", "lambda_coef/lr > 0"}},
	}
	for _, tt := range tests {
		opt := tt.opt()
		_, err := opt.Init(context.Background(), optimizer.InitConfig{NumParams: 3, Hyperparams: tt.hp})
		if err == nil {
			t.Errorf("%v accepted", tt.hp)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%v: error %q lacks %q", tt.hp, err, w)
			}
		}
		if _, err := opt.Step(context.Background(), optimizer.StepRequest{LR: 0.1}); err == nil {
			t.Errorf("%v: Step after a refused Init succeeded", tt.hp)
		}
	}
}

func TestBadSteps(t *testing.T) {
	ctx := context.Background()
	opt := blocks.NewLRSGDC()
	if _, err := opt.Init(ctx, optimizer.InitConfig{NumParams: 2, Hyperparams: map[string]string{"m_policy": "psi", "delta": "0.05"}}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		req  optimizer.StepRequest
		want string
	}{
		{optimizer.StepRequest{Step: 1, LR: 0.1}, "step 1 out of order: expected step 0"},
		{optimizer.StepRequest{Step: 0, LR: 0}, "lr=0"},
		{optimizer.StepRequest{Step: 0, LR: math.NaN()}, "lr=NaN"},
		{optimizer.StepRequest{Step: 0, LR: 0.5}, "m_policy=psi needs lambda_coef/lr > delta, have 0.02 <= 0.05"}, // λ = 0.01/0.5 = 0.02 < δ = 0.05
	} {
		if _, err := opt.Step(ctx, tt.req); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Step(%+v): err %v, want %q", tt.req, err, tt.want)
		}
	}
	// None of the refused steps changed anything: step 0 at a valid lr works.
	if r, err := opt.Step(ctx, optimizer.StepRequest{Step: 0, LR: 0.1}); err != nil || r.Outer != 1 || r.Inner != 1 {
		t.Errorf("valid step after refusals: %+v, %v", r, err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := opt.Step(cctx, optimizer.StepRequest{Step: 1, LR: 0.1}); err == nil || !strings.Contains(err.Error(), "canceled") {
		t.Errorf("Step with a cancelled context: %v", err)
	}
}

func TestInitBuffers(t *testing.T) {
	ctx := context.Background()
	const n = 4
	for _, c := range constructors {
		opt := c.new()
		b, ok := opt.(blocks.Binder)
		if !ok {
			t.Fatalf("%s does not implement Binder", c.name)
		}
		bad := optimizer.Buffers{Params: make([]float32, n), Grads: make([]float32, n), State: make([]float32, (c.state+1)*n)}
		if err := b.InitBuffers(ctx, optimizer.InitConfig{NumParams: n}, bad); err == nil || !strings.Contains(err.Error(), "want 4, 4") {
			t.Errorf("%s: InitBuffers with %d state floats: %v", c.name, len(bad.State), err)
		}
		buf := optimizer.Buffers{Params: make([]float32, n), Grads: make([]float32, n), State: make([]float32, c.state*n)}
		buf.State[0] = 42 // zeroed by InitBuffers
		if err := b.InitBuffers(ctx, optimizer.InitConfig{NumParams: n}, buf); err != nil {
			t.Fatal(err)
		}
		if buf.State[0] != 0 {
			t.Errorf("%s: InitBuffers left state %g", c.name, buf.State[0])
		}
		copy(buf.Params, []float32{1, 2, 3, 4})
		copy(buf.Grads, []float32{1, 1, 1, 1})
		if _, err := opt.Step(ctx, optimizer.StepRequest{LR: 0.1}); err != nil {
			t.Fatal(err)
		}
		if buf.Params[0] == 1 {
			t.Errorf("%s: Step did not update the caller's Params", c.name)
		}
		if err := opt.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := opt.Step(ctx, optimizer.StepRequest{Step: 1, LR: 0.1}); err == nil {
			t.Errorf("%s: Step after Close succeeded", c.name)
		}
	}
}

// saveRestoreCases covers every optimizer and the stateful policies.
var saveRestoreCases = []struct {
	name string
	new  func() optimizer.Optimizer
	hp   map[string]string
}{
	{"sgd", blocks.NewSGD, nil},
	{"sgd nesterov", blocks.NewSGD, map[string]string{"nesterov": "true"}},
	{"lrsgd-r", blocks.NewLRSGDR, nil},
	{"lrsgd-r paper", blocks.NewLRSGDR, map[string]string{"preset": "paper", "theta": "0.01"}},
	{"lrsgd-c", blocks.NewLRSGDC, nil},
	{"lrsgd-c psi", blocks.NewLRSGDC, map[string]string{"m_policy": "psi", "psi": "3", "m_max": "7", "est_decay": "0.9"}},
	{"lrsgd-c reset_inner", blocks.NewLRSGDC, map[string]string{"reset_inner": "true", "m": "3"}},
	{"adam-lr", blocks.NewAdamLR, nil},
	{"adam-lr adamw", blocks.NewAdamLR, map[string]string{"decoupled_wd": "true", "m_policy": "constant", "m": "4"}},
}

// runSteps runs steps [from, to) of the test gradient sequence with the
// test lr schedule (driven by completed outer steps) and returns the
// results.
func runSteps(t *testing.T, opt optimizer.Optimizer, buf optimizer.Buffers, from, to int64, outerDone *int64) []optimizer.StepResult {
	t.Helper()
	var rs []optimizer.StepResult
	for s := from; s < to; s++ {
		testGrad(s, buf.Params, buf.Grads)
		r, err := opt.Step(context.Background(), optimizer.StepRequest{Step: s, LR: lrAt(*outerDone / 4)})
		if err != nil {
			t.Fatal(err)
		}
		if r.OuterEnded {
			*outerDone++
		}
		rs = append(rs, r)
	}
	return rs
}

// initTest initialises opt with cfg and puts the test initialisation
// (testInit) in its Params.
func initTest(t *testing.T, opt optimizer.Optimizer, cfg optimizer.InitConfig) optimizer.Buffers {
	t.Helper()
	buf, err := opt.Init(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Init with %v: %v", cfg.Hyperparams, err)
	}
	copy(buf.Params, testInit(cfg.NumParams))
	return buf
}

// stepAllocs initialises opt with cfg (initTest) and returns the average
// number of allocations of its Step over runs steps of the test gradient
// sequence.
func stepAllocs(t *testing.T, opt optimizer.Optimizer, cfg optimizer.InitConfig, runs int) float64 {
	t.Helper()
	buf := initTest(t, opt, cfg)
	var step int64
	return testing.AllocsPerRun(runs, func() {
		testGrad(step, buf.Params, buf.Grads)
		if _, err := opt.Step(context.Background(), optimizer.StepRequest{Step: step, LR: 0.01}); err != nil {
			t.Fatal(err)
		}
		step++
	})
}

func TestSaveRestoreBitIdentical(t *testing.T) {
	const (
		n     = 70
		total = 400
	)
	ctx := context.Background()
	for _, tc := range saveRestoreCases {
		for _, at := range []int64{0, 1, 137} {
			cfg := optimizer.InitConfig{NumParams: n, Seed: 99, Hyperparams: tc.hp}
			// Uninterrupted run.
			a := tc.new()
			bufA := initTest(t, a, cfg)
			var doneA int64
			resA := runSteps(t, a, bufA, 0, total, &doneA)

			// Interrupted at step `at`, restored into a fresh optimizer.
			b := tc.new()
			bufB := initTest(t, b, cfg)
			var doneB int64
			resB := runSteps(t, b, bufB, 0, at, &doneB)
			blob, err := b.Save(ctx)
			if err != nil {
				t.Fatal(err)
			}
			params := append([]float32(nil), bufB.Params...)
			state := append([]float32(nil), bufB.State...)
			b.Close()

			c := tc.new()
			bufC, err := c.Init(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			copy(bufC.Params, params)
			copy(bufC.State, state)
			if err := c.Restore(ctx, blob); err != nil {
				t.Fatalf("%s: restore: %v", tc.name, err)
			}
			resB = append(resB, runSteps(t, c, bufC, at, total, &doneB)...)

			for i := range resA {
				if resA[i] != resB[i] {
					t.Fatalf("%s (restored at %d): step %d result %+v, uninterrupted %+v", tc.name, at, i, resB[i], resA[i])
				}
			}
			for i := range bufA.Params {
				if math.Float32bits(bufA.Params[i]) != math.Float32bits(bufC.Params[i]) {
					t.Fatalf("%s (restored at %d): param %d = %g, uninterrupted %g", tc.name, at, i, bufC.Params[i], bufA.Params[i])
				}
			}
			for i := range bufA.State {
				if math.Float32bits(bufA.State[i]) != math.Float32bits(bufC.State[i]) {
					t.Fatalf("%s (restored at %d): state %d = %g, uninterrupted %g", tc.name, at, i, bufC.State[i], bufA.State[i])
				}
			}
			blobA, _ := a.Save(ctx)
			blobC, _ := c.Save(ctx)
			if string(blobA) != string(blobC) {
				t.Fatalf("%s (restored at %d): final Save blobs differ", tc.name, at)
			}
		}
	}
}

func TestRestoreRefusesForeignBlobs(t *testing.T) {
	ctx := context.Background()
	save := func(opt optimizer.Optimizer, cfg optimizer.InitConfig, steps int64) []byte {
		buf, err := opt.Init(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		var done int64
		runSteps(t, opt, buf, 0, steps, &done)
		blob, err := opt.Save(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return blob
	}
	cfg := optimizer.InitConfig{NumParams: 8, Seed: 1}
	good := save(blocks.NewLRSGDR(), cfg, 5)
	tests := []struct {
		name string
		blob []byte
		cfg  optimizer.InitConfig
		want string
	}{
		{"other optimizer", save(blocks.NewLRSGDC(), cfg, 5), cfg, `saved by optimizer "lrsgd-c"`},
		{"other hyperparameters", good, optimizer.InitConfig{NumParams: 8, Seed: 1, Hyperparams: map[string]string{"gamma": "0.2"}}, "different version, NumParams or hyperparameters"},
		{"other size", good, optimizer.InitConfig{NumParams: 9, Seed: 1}, "different version, NumParams or hyperparameters"},
		{"truncated", good[:len(good)-3], cfg, "truncated"},
		{"trailing bytes", append(append([]byte(nil), good...), 0), cfg, "trailing"},
		{"not a blob", []byte("hello, world"), cfg, "bad magic"},
	}
	for _, tt := range tests {
		opt := blocks.NewLRSGDR()
		if _, err := opt.Init(ctx, tt.cfg); err != nil {
			t.Fatal(err)
		}
		before, _ := opt.Save(ctx)
		err := opt.Restore(ctx, tt.blob)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Restore error %v, want %q", tt.name, err, tt.want)
		}
		if after, _ := opt.Save(ctx); string(after) != string(before) {
			t.Errorf("%s: a refused Restore changed the state", tt.name)
		}
	}
}

func TestStepDoesNotAllocate(t *testing.T) {
	for _, tc := range saveRestoreCases {
		allocs := stepAllocs(t, tc.new(), optimizer.InitConfig{NumParams: 1000, Seed: 3, Hyperparams: tc.hp}, 200)
		if allocs != 0 {
			t.Errorf("%s: %g allocations per Step, want 0", tc.name, allocs)
		}
	}
}

// clash is a rule that reuses an outer-loop hyperparameter name.
type clash struct{ blocks.SGDRule }

func (clash) Hyperparams() []optimizer.HyperparamSpec {
	return []optimizer.HyperparamSpec{{Name: "gamma", Type: optimizer.Float, Default: "0.5", Min: 0, Max: 1, Doc: "clashes"}}
}

// refusal is an optimizer that is built wrongly and the part of the
// error that says so.
type refusal struct {
	name string
	opt  optimizer.Optimizer
	want string
}

// checkRefusals checks that Describe refuses each optimizer with its
// error and that Init fails.
func checkRefusals(t *testing.T, tests []refusal) {
	t.Helper()
	for _, tt := range tests {
		_, err := tt.opt.Describe(context.Background())
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Describe error %v, want %q", tt.name, err, tt.want)
		}
		if _, err := tt.opt.Init(context.Background(), optimizer.InitConfig{NumParams: 1}); err == nil {
			t.Errorf("%s: Init succeeded", tt.name)
		}
	}
}

func TestConstructionErrors(t *testing.T) {
	checkRefusals(t, []refusal{
		{"name clash", blocks.NewProximal(&clash{}, "x", "1"), `x: hyperparameter "gamma" declared twice`},
		{"nil rule", blocks.NewPlain(nil, "x", "1"), "x: nil rule"},
		{"unknown default", blocks.NewProximal(blocks.NewSGDRule(), "x", "1", blocks.WithDefaults(map[string]string{"gama": "1"})), `unknown hyperparameter "gama"`},
		{"bad default", blocks.NewProximal(blocks.NewSGDRule(), "x", "1", blocks.WithDefaults(map[string]string{"gamma": "7"})), "gamma"},
		{"unknown preset", blocks.NewProximal(blocks.NewSGDRule(), "x", "1", blocks.WithPresetDefaults("fast", map[string]string{"m": "1"})), `unknown preset "fast"`},
		{"bad preset value", blocks.NewProximal(blocks.NewSGDRule(), "x", "1", blocks.WithPresetDefaults("paper", map[string]string{"m": "0"})), "preset paper: hyperparameter m="},
	})
}

func TestParseValuesConfiguresARuleAlone(t *testing.T) {
	// SGDRule on its own, configured from strings: μ = 0.5, wd 0, lr 0.5,
	// w0 = (1, −2), gradients (0.5, 1) then (0.25, −1):
	// s1: buf = (0.5, 1), w = (0.75, −2.5); s2: buf = (0.5, −0.5), w = (0.5, −2.25).
	r := blocks.NewSGDRule()
	v, err := blocks.ParseValues(r.Hyperparams(), map[string]string{"momentum": "0.5", "weight_decay": "0"})
	if err != nil {
		t.Fatal(err)
	}
	if !v.Given("momentum") || v.Given("dampening") || v.Float("dampening") != 0 || v.Bool("nesterov") {
		t.Errorf("Values: given/default bookkeeping wrong")
	}
	if err := r.Configure(v); err != nil {
		t.Fatal(err)
	}
	w, buf := []float32{1, -2}, [][]float32{make([]float32, 2)}
	r.Update(w, []float32{0.5, 1}, buf, 0.5)
	r.Update(w, []float32{0.25, -1}, buf, 0.5)
	if w[0] != 0.5 || w[1] != -2.25 || buf[0][0] != 0.5 || buf[0][1] != -0.5 {
		t.Errorf("w = %v, buf = %v; want (0.5, −2.25), (0.5, −0.5)", w, buf[0])
	}
	if _, err := blocks.ParseValues(r.Hyperparams(), map[string]string{"momentum": "2"}); err == nil || !strings.Contains(err.Error(), "[0, 0.9999]") {
		t.Errorf("ParseValues(momentum=2): %v", err)
	}
}

// TestCheck: Check refuses what Init or the first Step at the same lr
// refuses, and accepts the rest.
func TestCheck(t *testing.T) {
	tests := []struct {
		name   string
		newOpt func() optimizer.Optimizer
		hp     map[string]string
		lr     float64
		want   string // substring of the refusal; "" to accept
	}{
		{"sgd defaults", blocks.NewSGD, nil, 0.1, ""},
		{"sgd nesterov", blocks.NewSGD, map[string]string{"nesterov": "true"}, 0.1, ""},
		{"sgd nesterov with dampening", blocks.NewSGD, map[string]string{"nesterov": "true", "dampening": "0.5"}, 0.1,
			"sgd: nesterov=true needs momentum > 0 and dampening = 0, have momentum=0.9 dampening=0.5"},
		{"sgd nesterov without momentum", blocks.NewSGD, map[string]string{"nesterov": "true", "momentum": "0"}, 0, "nesterov=true needs momentum > 0"},
		{"lrsgd-r nesterov with dampening", blocks.NewLRSGDR, map[string]string{"nesterov": "true", "dampening": "0.5"}, 0.1, "lrsgd-r: nesterov=true needs"},
		{"unknown name", blocks.NewLRSGDR, map[string]string{"gama": "0.1"}, 0.1, `unknown hyperparameter "gama"`},
		{"out of range", blocks.NewLRSGDR, map[string]string{"gamma": "2"}, 0.1, `hyperparameter gamma="2": want a number in [1e-06, 1]`},
		{"psi, delta below lambda", blocks.NewLRSGDR, map[string]string{"m_policy": "psi", "delta": "0.05"}, 0.1, ""},
		{"psi, delta above lambda", blocks.NewLRSGDR, map[string]string{"m_policy": "psi", "delta": "1"}, 0.1,
			"lrsgd-r: at lr=0.1: m_policy=psi needs lambda_coef/lr > delta, have 0.09999999999999999 <= 1"},
		{"psi, delta equal to lambda", blocks.NewLRSGDR, map[string]string{"m_policy": "psi", "delta": "0.1", "lambda_coef": "0.01"}, 0.1, "needs lambda_coef/lr > delta"},
		{"psi, delta above lambda, lr not known", blocks.NewLRSGDR, map[string]string{"m_policy": "psi", "delta": "1"}, 0, ""},
		{"psi, small lr makes lambda large", blocks.NewLRSGDR, map[string]string{"m_policy": "psi", "delta": "1"}, 0.001, ""},
		{"lrsgd-c paper, delta above lambda", blocks.NewLRSGDC, map[string]string{"preset": "paper", "delta": "0.5"}, 0.1,
			"at lr=0.1: inner_lr=inv-lambda-delta-k needs lambda_coef/lr > delta, have 0.19999999999999998 <= 0.5"},
		{"fixed lambda below delta, lr not known", blocks.NewLRSGDC, map[string]string{"m_policy": "psi", "lambda_mode": "fixed", "lambda": "0.1", "delta": "0.2"}, 0,
			"m_policy=psi needs lambda > delta, have 0.1 <= 0.2"},
		{"theta-over-lambda with lambda 0", blocks.NewLRSGDR, map[string]string{"inner_lr": "theta-over-lambda", "lambda_coef": "0"}, 0.1, "inner_lr=theta-over-lambda needs lambda_coef/lr > 0"},
		{"adam-lr defaults", blocks.NewAdamLR, nil, 0.01, ""},
		{"negative lr", blocks.NewLRSGDR, nil, -1, "lrsgd-r: lr=-1, want a finite lr >= 0"},
		{"NaN lr", blocks.NewSGD, nil, math.NaN(), "lr=NaN"},
	}
	ctx := context.Background()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := optimizer.CheckConfig{InitConfig: optimizer.InitConfig{Hyperparams: tt.hp, Seed: 1}, LR: tt.lr}
			err := tt.newOpt().(optimizer.Checker).Check(ctx, cfg)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Check: %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Check: %v, want an error containing %q", err, tt.want)
			}
			if !(tt.lr > 0) {
				return
			}
			// The verdict is the one of Init followed by a first Step at lr.
			opt := tt.newOpt()
			defer opt.Close()
			_, runErr := opt.Init(ctx, optimizer.InitConfig{Hyperparams: tt.hp, NumParams: 8, Seed: 1})
			if runErr == nil {
				_, runErr = opt.Step(ctx, optimizer.StepRequest{Step: 0, LR: tt.lr})
			}
			if (runErr != nil) != (err != nil) {
				t.Fatalf("Check: %v; Init and first Step: %v", err, runErr)
			}
		})
	}
}

func TestCheckNumParams(t *testing.T) {
	ctx := context.Background()
	opt := blocks.NewLRSGDC().(optimizer.Checker)
	for _, n := range []int{0, 1, 100_000} {
		if err := opt.Check(ctx, optimizer.CheckConfig{InitConfig: optimizer.InitConfig{NumParams: n, Hyperparams: map[string]string{"m_policy": "psi"}}, LR: 0.1}); err != nil {
			t.Errorf("Check with NumParams %d: %v", n, err)
		}
	}
	if err := opt.Check(ctx, optimizer.CheckConfig{InitConfig: optimizer.InitConfig{NumParams: -1}}); err == nil || !strings.Contains(err.Error(), "NumParams=-1") {
		t.Errorf("Check with NumParams -1: %v, want a refusal", err)
	}
}

// TestCheckLeavesStateAlone: Checks between Steps, accepted and refused,
// change nothing: the run is bit-identical to one without them.
func TestCheckLeavesStateAlone(t *testing.T) {
	const n, steps = 64, 30
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		newOpt func() optimizer.Optimizer
		hp     map[string]string
	}{
		{"sgd", blocks.NewSGD, map[string]string{"nesterov": "true"}},
		{"lrsgd-c psi", blocks.NewLRSGDC, map[string]string{"m_policy": "psi", "m_max": "5"}},
		{"adam-lr", blocks.NewAdamLR, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run := func(check bool) optimizer.Buffers {
				opt := tc.newOpt()
				t.Cleanup(func() { opt.Close() })
				if check { // before Init too
					opt.(optimizer.Checker).Check(ctx, optimizer.CheckConfig{InitConfig: optimizer.InitConfig{Hyperparams: map[string]string{"momentum": "0.5"}}})
				}
				buf, err := opt.Init(ctx, optimizer.InitConfig{Hyperparams: tc.hp, NumParams: n, Seed: 5})
				if err != nil {
					t.Fatal(err)
				}
				for i := range buf.Params {
					buf.Params[i] = float32(math.Cos(float64(i)))
				}
				for s := range int64(steps) {
					for i := range buf.Grads {
						buf.Grads[i] = buf.Params[i] + float32(s%3)*0.01
					}
					if check {
						c := opt.(optimizer.Checker)
						c.Check(ctx, optimizer.CheckConfig{InitConfig: optimizer.InitConfig{Hyperparams: map[string]string{"momentum": "0.1", "weight_decay": "0.5"}, NumParams: 3}, LR: 1})
						c.Check(ctx, optimizer.CheckConfig{InitConfig: optimizer.InitConfig{Hyperparams: map[string]string{"nesterov": "true", "dampening": "0.5"}}, LR: 1})
						c.Check(ctx, optimizer.CheckConfig{InitConfig: optimizer.InitConfig{Hyperparams: map[string]string{"gama": "1"}}})
					}
					if _, err := opt.Step(ctx, optimizer.StepRequest{Step: s, LR: 0.05}); err != nil {
						t.Fatal(err)
					}
				}
				return buf
			}
			want, got := run(false), run(true)
			if !slices.Equal(bits(got.Params), bits(want.Params)) || !slices.Equal(bits(got.State), bits(want.State)) {
				t.Fatalf("Params and State with Checks differ from a run without them")
			}
		})
	}
}

// strictRule refuses a > b in Configure and has no RuleChecker.
type strictRule struct {
	a, b       float64
	configured int
}

func (r *strictRule) Hyperparams() []optimizer.HyperparamSpec {
	return []optimizer.HyperparamSpec{
		{Name: "a", Type: optimizer.Float, Default: "0", Min: 0, Max: 1},
		{Name: "b", Type: optimizer.Float, Default: "1", Min: 0, Max: 1},
	}
}
func (r *strictRule) StateVectors() int { return 0 }
func (r *strictRule) Configure(v blocks.Values) error {
	r.configured++
	r.a, r.b = v.Float("a"), v.Float("b")
	if r.a > r.b {
		return errors.New("a > b")
	}
	return nil
}
func (r *strictRule) Update(w, g []float32, _ [][]float32, lr float32) {
	for i := range w {
		w[i] -= lr * g[i] * float32(r.a+r.b)
	}
}

// TestCheckRuleWithoutChecker: a rule without RuleChecker is judged by
// its Configure while the optimizer is not initialised, and left alone
// between Init and Close.
func TestCheckRuleWithoutChecker(t *testing.T) {
	ctx := context.Background()
	rule := &strictRule{}
	opt := blocks.NewPlain(rule, "strict", "0.1.0")
	check := func(a string) error {
		return opt.(optimizer.Checker).Check(ctx, optimizer.CheckConfig{InitConfig: optimizer.InitConfig{Hyperparams: map[string]string{"a": a}}})
	}
	if err := check("0.9"); err != nil {
		t.Fatalf("Check(a=0.9): %v", err)
	}
	if err := check("1"); err != nil {
		t.Fatalf("Check(a=1): %v", err)
	}
	if _, err := opt.Init(ctx, optimizer.InitConfig{NumParams: 2, Hyperparams: map[string]string{"a": "0.25", "b": "0.5"}}); err != nil {
		t.Fatal(err)
	}
	before := rule.configured
	if err := check("0.9"); err != nil {
		t.Fatalf("Check(a=0.9) after Init: %v", err)
	}
	if rule.configured != before || rule.a != 0.25 || rule.b != 0.5 {
		t.Errorf("Check after Init configured the rule: %d Configure calls (want %d), a=%g b=%g", rule.configured, before, rule.a, rule.b)
	}
	opt.Close()
	if err := check("0.9"); err != nil {
		t.Fatalf("Check(a=0.9) after Close: %v", err)
	}
	if err := opt.(optimizer.Checker).Check(ctx, optimizer.CheckConfig{InitConfig: optimizer.InitConfig{Hyperparams: map[string]string{"a": "0.9", "b": "0.1"}}}); err == nil || err.Error() != "strict: a > b" {
		t.Errorf("Check(a=0.9, b=0.1) = %v, want \"strict: a > b\"", err)
	}
}
