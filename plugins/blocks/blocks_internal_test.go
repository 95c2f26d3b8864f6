package blocks

import (
	"context"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/lrsgd-lab/lrsgd/plugins/optimizer"
)

// Hand-computed checks of every block. Numbers are chosen as short binary
// fractions so that most expected values are exact in float32; the rest
// carry 8 digits and are compared to 1e-6.

const tol = 1e-6

func near(a, b float32) bool { return math.Abs(float64(a)-float64(b)) <= tol }

func checkVec(t *testing.T, what string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: len %d, want %d", what, len(got), len(want))
	}
	for i := range got {
		if !near(got[i], want[i]) {
			t.Errorf("%s[%d] = %.9g, want %.9g", what, i, got[i], want[i])
		}
	}
}

// The gradient sequence of the hand-computed rule tests.
var handGrads = [][]float32{{0.5, 1}, {0.25, -1}, {1, 0}}

func TestAddScaledAndAddProximal(t *testing.T) {
	dst := []float32{1, 2, 3}
	AddScaled(dst, []float32{2, -4, 0.5}, 0.5)
	// 1+0.5·2 = 2; 2+0.5·(−4) = 0; 3+0.5·0.5 = 3.25
	checkVec(t, "AddScaled", dst, []float32{2, 0, 3.25})

	g := []float32{1, -1, 0}
	AddProximal(g, []float32{3, 0, -1}, []float32{1, 1, 1}, 0.5)
	// 1+0.5·(3−1) = 2; −1+0.5·(0−1) = −1.5; 0+0.5·(−1−1) = −1
	checkVec(t, "AddProximal", g, []float32{2, -1.5, -1})
}

func TestMomentumStep(t *testing.T) {
	// w0 = (1, −2), lr 0.5, gradients handGrads.
	tests := []struct {
		name           string
		mu, damp, wd   float32
		nesterov       bool
		wantW, wantBuf [][]float32 // after each step
	}{
		{
			name: "momentum", mu: 0.5,
			// s1: buf = g1 = (0.5, 1);               w = (1−0.25, −2−0.5)      = (0.75, −2.5)
			// s2: buf = 0.5·(0.5,1)+(0.25,−1) = (0.5,−0.5); w = (0.75−0.25, −2.5+0.25) = (0.5, −2.25)
			// s3: buf = 0.5·(0.5,−0.5)+(1,0) = (1.25,−0.25); w = (0.5−0.625, −2.25+0.125) = (−0.125, −2.125)
			wantW:   [][]float32{{0.75, -2.5}, {0.5, -2.25}, {-0.125, -2.125}},
			wantBuf: [][]float32{{0.5, 1}, {0.5, -0.5}, {1.25, -0.25}},
		},
		{
			name: "dampening", mu: 0.5, damp: 0.5,
			// s1: buf = g1 (no dampening on the first step) = (0.5, 1); w = (0.75, −2.5)
			// s2: buf = 0.5·(0.5,1) + 0.5·(0.25,−1) = (0.375, 0); w = (0.75−0.1875, −2.5) = (0.5625, −2.5)
			// s3: buf = 0.5·(0.375,0) + 0.5·(1,0) = (0.6875, 0); w = (0.5625−0.34375, −2.5) = (0.21875, −2.5)
			wantW:   [][]float32{{0.75, -2.5}, {0.5625, -2.5}, {0.21875, -2.5}},
			wantBuf: [][]float32{{0.5, 1}, {0.375, 0}, {0.6875, 0}},
		},
		{
			name: "nesterov", mu: 0.5, nesterov: true,
			// s1: buf = (0.5,1); dir = g + 0.5·buf = (0.75, 1.5); w = (1−0.375, −2−0.75) = (0.625, −2.75)
			// s2: buf = (0.5,−0.5); dir = (0.25+0.25, −1−0.25) = (0.5, −1.25); w = (0.375, −2.125)
			// s3: buf = (1.25,−0.25); dir = (1+0.625, 0−0.125) = (1.625, −0.125); w = (0.375−0.8125, −2.125+0.0625) = (−0.4375, −2.0625)
			wantW:   [][]float32{{0.625, -2.75}, {0.375, -2.125}, {-0.4375, -2.0625}},
			wantBuf: [][]float32{{0.5, 1}, {0.5, -0.5}, {1.25, -0.25}},
		},
		{
			name: "weight decay, no momentum", wd: 0.5,
			// s1: d = (0.5+0.5·1, 1+0.5·(−2)) = (1, 0);       w = (0.5, −2)
			// s2: d = (0.25+0.25, −1−1) = (0.5, −2);          w = (0.5−0.25, −2+1) = (0.25, −1)
			// s3: d = (1+0.125, 0−0.5) = (1.125, −0.5);       w = (0.25−0.5625, −1+0.25) = (−0.3125, −0.75)
			wantW:   [][]float32{{0.5, -2}, {0.25, -1}, {-0.3125, -0.75}},
			wantBuf: [][]float32{{0, 0}, {0, 0}, {0, 0}}, // unused
		},
		{
			name: "momentum and weight decay", mu: 0.5, wd: 0.5,
			// s1: d = (1, 0); buf = (1, 0); w = (0.5, −2)
			// s2: d = (0.25+0.25, −1−1) = (0.5, −2); buf = (0.5+0.5, 0−2) = (1, −2); w = (0.5−0.5, −2+1) = (0, −1)
			// s3: d = (1+0, 0−0.5) = (1, −0.5); buf = (0.5+1, −1−0.5) = (1.5, −1.5); w = (0−0.75, −1+0.75) = (−0.75, −0.25)
			wantW:   [][]float32{{0.5, -2}, {0, -1}, {-0.75, -0.25}},
			wantBuf: [][]float32{{1, 0}, {1, -2}, {1.5, -1.5}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := []float32{1, -2}
			buf := make([]float32, 2)
			for s, g := range handGrads {
				gc := append([]float32(nil), g...)
				MomentumStep(w, gc, buf, 0.5, tt.wd, tt.mu, tt.damp, tt.nesterov, s == 0)
				checkVec(t, "w", w, tt.wantW[s])
				checkVec(t, "buf", buf, tt.wantBuf[s])
				checkVec(t, "g (must be unchanged)", gc, g)
			}
		})
	}
}

func TestAdamStep(t *testing.T) {
	// w0 = (1, −2), lr 0.5, β1 = β2 = 0.5, eps 0, gradients handGrads.
	tests := []struct {
		name      string
		wd        float32
		decoupled bool
		want      [][]float32
	}{
		{
			name: "adam",
			// s1: m = 0.5·g = (0.25, 0.5); v = 0.5·g² = (0.125, 0.5); bias corrections 1−0.5 = 0.5:
			//     m̂ = (0.5, 1), sqrt(v̂) = (0.5, 1): w −= 0.5·(1, 1) → (0.5, −2.5)
			// s2: m = 0.5·(0.25,0.5)+0.5·(0.25,−1) = (0.25, −0.25); v = 0.5·(0.125,0.5)+0.5·(0.0625,1) = (0.09375, 0.75)
			//     bc1 = bc2 = 0.75: step 0.5/0.75 = 2/3; sqrt(v/0.75) = (sqrt(0.125), 1) = (0.35355339, 1)
			//     w −= 2/3·(0.25/0.35355339, −0.25) = (0.47140452, −0.16666667) → (0.02859548, −2.33333333)
			// s3: m = (0.125+0.5, −0.125+0) = (0.625, −0.125); v = (0.046875+0.5, 0.375+0) = (0.546875, 0.375)
			//     bc = 0.875: step 0.5/0.875 = 0.57142857; sqrt(v/0.875) = (sqrt(0.625), sqrt(0.42857143)) = (0.79056942, 0.65465367)
			//     w −= 0.57142857·(0.79056942, −0.19094065) = (0.45175395, −0.10910895) → (−0.42315847, −2.22422439)
			want: [][]float32{{0.5, -2.5}, {0.02859548, -2.33333333}, {-0.42315847, -2.22422439}},
		},
		{
			name: "adam coupled weight decay", wd: 0.25,
			// s1: d = g + 0.25·w = (0.5+0.25, 1−0.5) = (0.75, 0.5); first Adam step moves lr·sign(d): w = (0.5, −2.5)
			// s2: d = (0.25+0.125, −1−0.625) = (0.375, −1.625); m = 0.5·(0.375, 0.25)+0.5·d = (0.375, −0.6875)
			//     v = 0.5·(0.28125, 0.125)+0.5·(0.140625, 2.640625) = (0.2109375, 1.3828125)
			//     sqrt(v/0.75) = (0.53033009, 1.35784756); w −= 2/3·(0.70710678, −0.50631095) → (0.02859548, −2.16245597)
			want: [][]float32{{0.5, -2.5}, {0.02859548, -2.16245597}},
		},
		{
			name: "adamw decoupled weight decay", wd: 0.5, decoupled: true,
			// shrink = 1 − 0.5·0.5 = 0.75 before each update; m, v as in "adam".
			// s1: w = 0.75·(1, −2) − 0.5·(1, 1) = (0.25, −2)
			// s2: w = 0.75·(0.25, −2) − (0.47140452, −0.16666667) = (−0.28390452, −1.33333333)
			want: [][]float32{{0.25, -2}, {-0.28390452, -1.33333333}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := []float32{1, -2}
			m, v := make([]float32, 2), make([]float32, 2)
			for s, want := range tt.want {
				g := append([]float32(nil), handGrads[s]...)
				AdamStep(w, g, m, v, int64(s+1), 0.5, tt.wd, 0.5, 0.5, 0, tt.decoupled)
				checkVec(t, "w", w, want)
				checkVec(t, "g (must be unchanged)", g, handGrads[s])
			}
		})
	}
}

// initLoop builds and initialises one of the package's optimizers.
func initLoop(t *testing.T, opt optimizer.Optimizer, n int, hp map[string]string) (*loop, optimizer.Buffers) {
	t.Helper()
	buf, err := opt.Init(context.Background(), optimizer.InitConfig{Hyperparams: hp, NumParams: n, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	return opt.(*loop), buf
}

func TestRulesThroughPlain(t *testing.T) {
	// The rules behave exactly as their kernels when run through NewPlain,
	// including the "first step fills the buffer" flag.
	tests := []struct {
		name string
		opt  optimizer.Optimizer
		hp   map[string]string
		want []float32 // after the three handGrads steps at lr 0.5
	}{
		// As TestMomentumStep "momentum and weight decay".
		{"sgd", NewSGD(), map[string]string{"momentum": "0.5", "weight_decay": "0.5"}, []float32{-0.75, -0.25}},
		// As TestAdamStep "adam".
		{"adam", NewPlain(NewAdamRule(), "adam", "1"), map[string]string{"beta1": "0.5", "beta2": "0.5", "eps": "0", "weight_decay": "0"}, []float32{-0.42315847, -2.22422439}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, buf := initLoop(t, tt.opt, 2, tt.hp)
			copy(buf.Params, []float32{1, -2})
			for s, g := range handGrads {
				copy(buf.Grads, g)
				r, err := tt.opt.Step(context.Background(), optimizer.StepRequest{Step: int64(s), LR: 0.5})
				if err != nil {
					t.Fatal(err)
				}
				if want := (optimizer.StepResult{OuterEnded: true, Inner: 1, Outer: int64(s + 1), M: 1}); r != want {
					t.Errorf("step %d: result %+v, want %+v", s, r, want)
				}
			}
			checkVec(t, "w", buf.Params, tt.want)
		})
	}
}

func TestProximalHand(t *testing.T) {
	// Plain inner SGD (momentum 0, wd 0), c·λ = 2·0.5 = 1, M = 2, η_k = α/k
	// with α = 0.5, constant gradient (1, −1) from the loss, w0 = (1, 2).
	//
	// t=1 k=1: anchor = (1, 2); g = (1, −1); η = 0.5 → w = (0.5, 2.5)
	// t=1 k=2: g = (1, −1) + 1·((0.5, 2.5) − (1, 2)) = (0.5, −0.5); η = 0.25 → w = (0.375, 2.625)
	// t=2 k=1: anchor = (0.375, 2.625); g = (1, −1); η = 0.5 → w = (−0.125, 3.125)
	// t=2 k=2: g = (1, −1) + (−0.5, 0.5) = (0.5, −0.5); η = 0.25 → w = (−0.25, 3.25)
	common := map[string]string{"momentum": "0", "weight_decay": "0", "m": "2", "m_policy": "constant", "inner_lr": "alpha-over-k"}
	tests := []struct {
		name string
		hp   map[string]string
	}{
		{"fixed lambda", map[string]string{"lambda_mode": "fixed", "lambda": "0.5"}},
		{"scheduled lambda 0.25/alpha", map[string]string{"lambda_mode": "schedule", "lambda_coef": "0.25"}},
		{"paper factor 1, lambda 1", map[string]string{"preset": "paper", "lambda_mode": "fixed", "lambda": "1"}},
	}
	wantW := [][]float32{{0.5, 2.5}, {0.375, 2.625}, {-0.125, 3.125}, {-0.25, 3.25}}
	wantR := []optimizer.StepResult{
		{OuterEnded: false, Inner: 1, Outer: 1, M: 2},
		{OuterEnded: true, Inner: 2, Outer: 1, M: 2},
		{OuterEnded: false, Inner: 1, Outer: 2, M: 2},
		{OuterEnded: true, Inner: 2, Outer: 2, M: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hp := map[string]string{}
			for k, v := range common {
				hp[k] = v
			}
			for k, v := range tt.hp {
				hp[k] = v
			}
			opt := NewLRSGDC()
			_, buf := initLoop(t, opt, 2, hp)
			copy(buf.Params, []float32{1, 2})
			for s := range wantW {
				copy(buf.Grads, []float32{1, -1})
				r, err := opt.Step(context.Background(), optimizer.StepRequest{Step: int64(s), LR: 0.5})
				if err != nil {
					t.Fatal(err)
				}
				if r != wantR[s] {
					t.Errorf("step %d: %+v, want %+v", s, r, wantR[s])
				}
				checkVec(t, "w", buf.Params, wantW[s])
			}
			// State = [momentum buffer (unused at μ=0), anchor].
			checkVec(t, "anchor", buf.State[2:], []float32{0.375, 2.625})
		})
	}
}

func TestProximalMomentumNeverReset(t *testing.T) {
	// Reference semantics: the momentum buffer carries over outer steps.
	// μ = 0.5, wd 0, λ fixed with c·λ = 1, M = 1 (each step is its own
	// outer step, so the proximal term is always 0), η = α = 0.5,
	// w0 = (1, −2), gradients handGrads: exactly TestMomentumStep "momentum".
	// With reset_inner the buffer restarts from g at every outer step, which
	// for M = 1 is plain SGD:
	// s1: w = (1,−2) − 0.5·(0.5,1) = (0.75, −2.5); s2: − 0.5·(0.25,−1) → (0.625, −2);
	// s3: − 0.5·(1, 0) → (0.125, −2).
	for _, tt := range []struct {
		reset string
		want  []float32
	}{{"false", []float32{-0.125, -2.125}}, {"true", []float32{0.125, -2}}} {
		t.Run("reset_inner="+tt.reset, func(t *testing.T) {
			opt := NewLRSGDC()
			_, buf := initLoop(t, opt, 2, map[string]string{"momentum": "0.5", "weight_decay": "0", "m": "1",
				"lambda_mode": "fixed", "lambda": "0.5", "inner_lr": "constant", "reset_inner": tt.reset})
			copy(buf.Params, []float32{1, -2})
			for s, g := range handGrads {
				copy(buf.Grads, g)
				if _, err := opt.Step(context.Background(), optimizer.StepRequest{Step: int64(s), LR: 0.5}); err != nil {
					t.Fatal(err)
				}
			}
			checkVec(t, "w", buf.Params, tt.want)
		})
	}
}

// innerLR is η of the built-in inner_lr policy, configured from θ and δ
// as Init configures it, at inner step k with lr α and λ_t = lambda.
func innerLR(t *testing.T, policy string, alpha float64, k int, lambda, theta, delta float64) float64 {
	t.Helper()
	p, err := builtinInnerLRs().make(policy)
	if err != nil {
		t.Fatal(err)
	}
	v, err := ParseValues(ProximalHyperparams(), map[string]string{"inner_lr": policy,
		"theta": strconv.FormatFloat(theta, 'g', -1, 64), "delta": strconv.FormatFloat(delta, 'g', -1, 64)})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Configure(v, InitInfo{NumParams: 1}); err != nil {
		t.Fatal(err)
	}
	return p.Eta(InnerStep{T: 1, K: k, M: k, LR: alpha, Lambda: lambda})
}

func TestInnerLR(t *testing.T) {
	tests := []struct {
		policy                     string
		alpha                      float64
		k                          int
		lambda, theta, delta, want float64
	}{
		{LRConstant, 0.1, 3, 0.1, 0.25, 0, 0.1},
		{LRAlphaOverK, 0.1, 4, 0.1, 0.25, 0, 0.025},     // 0.1/4
		{LRThetaOverLambda, 0.1, 4, 0.2, 0.25, 0, 1.25}, // 0.25/0.2
		{LRInvLambdaK, 0.1, 2, 0.5, 0.25, 0.25, 2},      // 1/((0.5−0.25)·2)
		{LRInvLambdaK, 0.1, 1, 0.2, 0.25, 0, 5},         // 1/(0.2·1)
	}
	for _, tt := range tests {
		if got := innerLR(t, tt.policy, tt.alpha, tt.k, tt.lambda, tt.theta, tt.delta); math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("innerLR(%s, α=%g, k=%d, λ=%g, θ=%g, δ=%g) = %g, want %g", tt.policy, tt.alpha, tt.k, tt.lambda, tt.theta, tt.delta, got, tt.want)
		}
	}
}

func TestPsiM(t *testing.T) {
	tests := []struct {
		ell, g2, s2, psi, lambda, delta float64
		mMax, want                      int
	}{
		{1, 1, 1, 1, 0.5, 0, 100, 16},        // ceil(4·1·2/(1·0.5)) = 16
		{0.5, 2, 0, 2, 1, 0.5, 100, 1},       // 4·0.25·2/(4·0.5) = 1
		{1, 1, 1, 2, 0.5, 0, 100, 4},         // 8/(4·0.5) = 4
		{1, 7.75, 2.625, 2, 0.5, 0, 100, 21}, // 4·10.375/2 = 20.75 → 21
		{10, 1, 1, 1, 0.5, 0, 100, 100},      // 1600 clamped to m_max
		{0, 1, 1, 1, 0.5, 0, 100, 1},         // 0 clamped to 1
	}
	for _, tt := range tests {
		got, err := PsiM(tt.ell, tt.g2, tt.s2, tt.psi, tt.lambda, tt.delta, tt.mMax)
		if err != nil || got != tt.want {
			t.Errorf("PsiM(%+v) = %d, %v; want %d", tt, got, err, tt.want)
		}
	}
	if _, err := PsiM(1, 1, 1, 1, 0.5, 0.5, 100); err == nil || !strings.Contains(err.Error(), "lambda > delta") {
		t.Errorf("PsiM with λ = δ: err %v, want lambda > delta", err)
	}
}

func TestPsiPolicyEstimates(t *testing.T) {
	// n = 2, β = 0.5, G² = σ² = 1 initially, ψ = 2, ℓ = 1, λ = 0.5 (fixed), δ = 0,
	// plain inner SGD with prox_factor 0 (the estimates use the raw gradient anyway).
	// M_1 = ceil(4·1·(1+1)/(4·0.5)) = 4.
	// s1 g=(3,4): G² = 0.5·1 + 0.5·25 = 13; sketch ← (3,4) (first gradient, σ² unchanged = 1)
	// s2 g=(1,0): G² = 6.5 + 0.5 = 7; σ² = 0.5·1 + 0.5·((1−3)²+(0−4)²) = 0.5 + 10 = 10.5; sketch = (2, 2)
	// s3 g=(2,2): G² = 3.5 + 4 = 7.5; σ² = 5.25 + 0 = 5.25
	// s4 g=(2,2): G² = 3.75 + 4 = 7.75; σ² = 2.625
	// M_2 = ceil(4·(7.75+2.625)/(4·0.5)) = ceil(20.75) = 21.
	opt := NewLRSGDC()
	o, buf := initLoop(t, opt, 2, map[string]string{"m_policy": "psi", "est_decay": "0.5", "psi": "2", "ell": "1",
		"lambda_mode": "fixed", "lambda": "0.5", "prox_factor": "0", "momentum": "0", "weight_decay": "0", "inner_lr": "constant"})
	psi := o.pol.m.(*psiPolicy)
	grads := [][]float32{{3, 4}, {1, 0}, {2, 2}, {2, 2}}
	wantG2 := []float64{13, 7, 7.5, 7.75}
	wantS2 := []float64{1, 10.5, 5.25, 2.625}
	for s, g := range grads {
		copy(buf.Grads, g)
		r, err := opt.Step(context.Background(), optimizer.StepRequest{Step: int64(s), LR: 0.1})
		if err != nil {
			t.Fatal(err)
		}
		if r.M != 4 || r.Outer != 1 || r.Inner != s+1 {
			t.Errorf("step %d: %+v, want M=4 outer 1 inner %d", s, r, s+1)
		}
		if psi.g2 != wantG2[s] || psi.s2 != wantS2[s] {
			t.Errorf("step %d: G²=%g σ²=%g, want %g %g", s, psi.g2, psi.s2, wantG2[s], wantS2[s])
		}
	}
	r, err := opt.Step(context.Background(), optimizer.StepRequest{Step: 4, LR: 0.1})
	if err != nil {
		t.Fatal(err)
	}
	if r.M != 21 || r.Outer != 2 || r.Inner != 1 {
		t.Errorf("first step of outer 2: %+v, want M=21", r)
	}
}

func TestPsiSketchScaling(t *testing.T) {
	// N = 131073 > 65536: stride ceil(131073/65536) = 3, sketch of
	// ceil(131073/3) = 43691 coordinates, scaled by N/43691. With the
	// gradient all 1 and then all 2, Σ_j (2−1)² · N/n = N exactly:
	// σ² = 0.5·1 + 0.5·131073 = 65537.
	const n = 131073
	opt := NewLRSGDC()
	o, buf := initLoop(t, opt, n, map[string]string{"m_policy": "psi", "est_decay": "0.5", "lambda_mode": "fixed", "lambda": "0.5"})
	psi := o.pol.m.(*psiPolicy)
	if psi.stride != 3 || len(psi.sketch) != 43691 {
		t.Fatalf("stride %d, sketch %d; want 3, 43691", psi.stride, len(psi.sketch))
	}
	for s, x := range []float32{1, 2} {
		for i := range buf.Grads {
			buf.Grads[i] = x
		}
		if _, err := opt.Step(context.Background(), optimizer.StepRequest{Step: int64(s), LR: 0.1}); err != nil {
			t.Fatal(err)
		}
	}
	if math.Abs(psi.s2-65537) > 1e-6 {
		t.Errorf("σ² = %.9g, want 65537", psi.s2)
	}
}

// loopConfig is what the policies of a proximal loop were configured
// with, read back for TestPresets.
type loopConfig struct {
	schedule   bool    // lambda_mode=schedule
	lambdaCoef float64 // its c in λ_t = c/α
	mPolicy    string
	gamma      float64 // of m_policy=geometric
	mConst     int     // of m_policy=constant
	lrPolicy   string
	theta      float64 // of inner_lr=theta-over-lambda
}

func configOf(o *loop) loopConfig {
	c := loopConfig{mPolicy: o.pol.mName, lrPolicy: o.pol.lrName}
	if s, ok := o.pol.sched.(*scheduledLambda); ok {
		c.schedule, c.lambdaCoef = true, s.coef
	}
	switch m := o.pol.m.(type) {
	case *geometricPolicy:
		c.gamma = m.gamma
	case *constantPolicy:
		c.mConst = m.m
	}
	if lr, ok := o.pol.lr.(*thetaOverLambda); ok {
		c.theta = lr.theta
	}
	return c
}

func TestPresets(t *testing.T) {
	tests := []struct {
		name   string
		opt    optimizer.Optimizer
		hp     map[string]string
		check  func(o *loop, c loopConfig) bool
		expect string
	}{
		{"lrsgd-r reference", NewLRSGDR(), nil, func(o *loop, c loopConfig) bool {
			r := o.rule.(*SGDRule)
			return c.schedule && c.lambdaCoef == 0.01 && o.factor == 2 && c.mPolicy == MGeometric && c.gamma == 0.1 &&
				c.lrPolicy == LRConstant && !o.resetInner && r.mu == 0.9 && r.damp == 0 && !r.nesterov && r.wd == float32(1e-4)
		}, "λ=0.01/α, c=2, geometric γ=0.1, η=α, μ=0.9, wd=1e-4"},
		{"lrsgd-c reference", NewLRSGDC(), nil, func(o *loop, c loopConfig) bool {
			r := o.rule.(*SGDRule)
			return c.schedule && c.lambdaCoef == 0.01 && o.factor == 2 && c.mPolicy == MConstant && c.mConst == 10 &&
				c.lrPolicy == LRAlphaOverK && r.mu == 0.9 && r.wd == float32(1e-4)
		}, "λ=0.01/α, c=2, M=10, η=α/k, μ=0.9, wd=1e-4"},
		{"lrsgd-r paper", NewLRSGDR(), map[string]string{"preset": "paper"}, func(o *loop, c loopConfig) bool {
			r := o.rule.(*SGDRule)
			// γ = ln(1/(1−0.25))/ln(1/0.25) = ln(4/3)/ln(4) = 0.28768207/1.38629436 = 0.20751875
			return c.lambdaCoef == 0.02 && o.factor == 1 && c.lrPolicy == LRThetaOverLambda && c.theta == 0.25 &&
				math.Abs(c.gamma-0.20751875) < 1e-8 && r.mu == 0 && r.wd == 0
		}, "λ=0.02/α, c=1, η=θ/λ, γ from θ, plain SGD"},
		{"lrsgd-r paper, gamma given", NewLRSGDR(), map[string]string{"preset": "paper", "gamma": "0.5"}, func(o *loop, c loopConfig) bool {
			return c.gamma == 0.5
		}, "explicit gamma wins"},
		{"paper, gamma set by the preset", NewProximal(NewSGDRule(), "x", "1", WithPresetDefaults(PresetPaper, map[string]string{"gamma": "0.5"})),
			map[string]string{"preset": "paper"}, func(o *loop, c loopConfig) bool {
				return c.gamma == 0.5
			}, "a preset's own gamma wins over the one from theta"},
		{"paper, gamma default changed", NewProximal(NewSGDRule(), "x", "1", WithDefaults(map[string]string{"gamma": "0.5"})),
			map[string]string{"preset": "paper"}, func(o *loop, c loopConfig) bool {
				return math.Abs(c.gamma-0.20751875) < 1e-8
			}, "γ from θ over a changed declared default"},
		{"lrsgd-c paper", NewLRSGDC(), map[string]string{"preset": "paper"}, func(o *loop, c loopConfig) bool {
			return o.factor == 1 && c.mPolicy == MPsi && c.lrPolicy == LRInvLambdaK && o.rule.(*SGDRule).mu == 0
		}, "c=1, psi, η=1/((λ−δ)k)"},
		{"adam-lr reference", NewAdamLR(), nil, func(o *loop, c loopConfig) bool {
			r := o.rule.(*AdamRule)
			return o.factor == 2 && c.mPolicy == MGeometric && c.lrPolicy == LRConstant && r.beta1 == 0.9 && r.beta2 == 0.999 &&
				r.eps == 1e-8 && r.wd == float32(1e-4) && !r.decoupled
		}, "Adam defaults"},
		{"sgd paper", NewSGD(), map[string]string{"preset": "paper", "momentum": "0.5"}, func(o *loop, c loopConfig) bool {
			r := o.rule.(*SGDRule)
			return r.mu == 0.5 && r.wd == 0
		}, "explicit momentum wins over preset"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, _ := initLoop(t, tt.opt, 3, tt.hp)
			if c := configOf(o); !tt.check(o, c) {
				t.Errorf("configuration is not %s: %+v, %+v", tt.expect, c, *o)
			}
		})
	}
}
