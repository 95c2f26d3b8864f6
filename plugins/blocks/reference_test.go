package blocks_test

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/lrsgd-lab/lrsgd/plugins/blocks"
	"github.com/lrsgd-lab/lrsgd/plugins/optimizer"
)

// testGrad writes a deterministic stand-in for a minibatch gradient at w
// into g: the gradient of the quadratic ½Σ a_i (w_i − b_i)² plus a
// step-dependent "minibatch noise" term.
func testGrad(step int64, w, g []float32) {
	for i := range g {
		a := 0.5 + 0.3*float64(i%5)
		b := math.Cos(float64(i))
		noise := 0.1 * math.Sin(0.7*float64(step)+float64(i))
		g[i] = float32(a*(float64(w[i])-b) + noise)
	}
}

func testInit(n int) []float32 {
	w := make([]float32, n)
	for i := range w {
		w[i] = float32(math.Sin(3*float64(i) + 1))
	}
	return w
}

// plainRef is an independent implementation of the reference code from
// DESIGN.md §1, in float32 as PyTorch computes:
//
//	at inner step 1 of outer step t: anchor = w; λ = 0.01/α;
//	  M ~ Geometric(0.1) (R) or M = 10 (C)
//	each inner step k = 1..M: g = ∇f_B(w) + 2·λ·(w − anchor) + 1e-4·w
//	  buf = g on the very first step ever, else buf = 0.9·buf + g (never reset)
//	  w = w − η·buf, η = α (R) or α/k (C)
//
// The geometric draw uses the same PCG seeding as the optimizer (its
// documented contract) but its own inverse CDF: the smallest K with
// 1 − (1−γ)^K ≥ u, found by counting up.
type plainRef struct {
	variant        string // "r" or "c"
	w, buf, anchor []float32
	started        bool
	rng            *rand.Rand
	step           int64
	t              int64
	k, m           int
	lambda         float64
}

func newPlainRef(variant string, w0 []float32, seed uint64) *plainRef {
	n := len(w0)
	return &plainRef{
		variant: variant,
		w:       append([]float32(nil), w0...),
		buf:     make([]float32, n),
		anchor:  make([]float32, n),
		rng:     rand.New(rand.NewPCG(seed, blocks.PCGStream)),
	}
}

func (p *plainRef) drawGeometric(gamma float64) int {
	u := p.rng.Float64()
	k := 1
	for 1-math.Pow(1-gamma, float64(k)) < u {
		k++
	}
	return k
}

// inner performs one inner step with scheduled lr alpha and returns
// (t, k, M).
func (p *plainRef) inner(alpha float64) (int64, int, int) {
	if p.k == p.m {
		p.t++
		p.k = 0
		p.lambda = 0.01 / alpha
		if p.variant == "r" {
			p.m = p.drawGeometric(0.1)
		} else {
			p.m = 10
		}
		copy(p.anchor, p.w)
	}
	p.k++
	g := make([]float32, len(p.w))
	testGrad(p.step, p.w, g)
	eta := alpha
	if p.variant == "c" {
		eta = alpha / float64(p.k)
	}
	twoLambda := float32(2 * p.lambda)
	for i := range p.w {
		gi := g[i] + twoLambda*(p.w[i]-p.anchor[i]) + float32(1e-4)*p.w[i]
		if !p.started {
			p.buf[i] = gi
		} else {
			p.buf[i] = 0.9*p.buf[i] + gi
		}
		p.w[i] -= float32(eta) * p.buf[i]
	}
	p.started = true
	p.step++
	return p.t, p.k, p.m
}

// lrAt is the test schedule: α = 0.1 for the first 25 outer steps, then
// 0.01 (the lr change happens at an outer-step boundary, as the
// reference code's epoch schedule does).
func lrAt(outerDone int64) float64 {
	if outerDone < 25 {
		return 0.1
	}
	return 0.01
}

func TestReferencePresetAgainstPlainImplementation(t *testing.T) {
	const (
		n     = 37
		outer = 60
		seed  = 20240601
	)
	for _, tt := range []struct {
		variant string
		opt     optimizer.Optimizer
	}{{"r", blocks.NewLRSGDR()}, {"c", blocks.NewLRSGDC()}} {
		t.Run(tt.variant, func(t *testing.T) {
			ctx := context.Background()
			buf, err := tt.opt.Init(ctx, optimizer.InitConfig{NumParams: n, Seed: seed, Hyperparams: map[string]string{"preset": "reference"}})
			if err != nil {
				t.Fatal(err)
			}
			w0 := testInit(n)
			copy(buf.Params, w0)
			ref := newPlainRef(tt.variant, w0, seed)
			var done int64 // outer steps completed
			var step int64
			var maxDiff float64
			ms := map[int]bool{}
			for done < outer {
				alpha := lrAt(done)
				rt, rk, rm := ref.inner(alpha)
				testGrad(step, buf.Params, buf.Grads)
				res, err := tt.opt.Step(ctx, optimizer.StepRequest{Step: step, LR: alpha})
				if err != nil {
					t.Fatal(err)
				}
				step++
				if res.Outer != rt || res.Inner != rk || res.M != rm || res.OuterEnded != (rk == rm) {
					t.Fatalf("step %d: optimizer %+v, plain implementation t=%d k=%d M=%d", step-1, res, rt, rk, rm)
				}
				ms[res.M] = true
				for i := range buf.Params {
					maxDiff = max(maxDiff, math.Abs(float64(buf.Params[i])-float64(ref.w[i])))
				}
				if maxDiff > 1e-6 {
					t.Fatalf("step %d: max |w − w_plain| = %g > 1e-6", step-1, maxDiff)
				}
				if res.OuterEnded {
					done++
				}
			}
			// The anchor (last state vector) and momentum buffer agree too.
			for i := range n {
				if d := math.Abs(float64(buf.State[n+i] - ref.anchor[i])); d > 1e-6 {
					t.Fatalf("anchor[%d] differs by %g", i, d)
				}
				if d := math.Abs(float64(buf.State[i] - ref.buf[i])); d > 1e-6 {
					t.Fatalf("momentum[%d] differs by %g", i, d)
				}
			}
			if tt.variant == "r" && len(ms) < 5 {
				t.Errorf("only %d distinct M_t values over %d outer steps: geometric draws look wrong", len(ms), outer)
			}
			t.Logf("%d inner steps, %d outer steps, max |w − w_plain| = %g", step, done, maxDiff)
		})
	}
}
