package stability

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
)

// TestConvexEpsilonFallsAsOneOverN checks the theory's prediction for the
// convex case: for a fixed step schedule, doubling n halves the measured ε
// (and ‖w − v‖). The ratio is averaged over 4 seeds × 32 replaced indices.
func TestConvexEpsilonFallsAsOneOverN(t *testing.T) {
	ns := []int{500, 1000, 2000}
	eps := make([]float64, len(ns))
	epsMax := make([]float64, len(ns))
	div := make([]float64, len(ns))
	for k, n := range ns {
		for seed := uint64(1); seed <= 4; seed++ {
			c := DefaultConvexConfig()
			c.N, c.Seed, c.Replace = n, seed, 32
			r, err := Convex(context.Background(), c)
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Twins) != 32 {
				t.Fatalf("n=%d: %d twins, want 32", n, len(r.Twins))
			}
			if r.EpsilonMax > r.Bound {
				t.Errorf("n=%d seed=%d: measured ε max %v above Hardt et al.'s bound %v", n, seed, r.EpsilonMax, r.Bound)
			}
			eps[k] += r.EpsilonMean
			epsMax[k] += r.EpsilonMaxMean
			div[k] += r.ParamDivergence
		}
	}
	for k := 1; k < len(ns); k++ {
		for _, q := range []struct {
			name string
			v    []float64
		}{{"epsilon_mean", eps}, {"epsilon_max_mean", epsMax}, {"param_divergence", div}} {
			ratio := q.v[k] / q.v[k-1]
			t.Logf("%s(n=%d)/%s(n=%d) = %.3f", q.name, ns[k], q.name, ns[k-1], ratio)
			if !(ratio >= 0.3 && ratio <= 0.75) {
				t.Errorf("%s(n=%d)/%s(n=%d) = %.3f, want in [0.3, 0.75] (1/n predicts 0.5)", q.name, ns[k], q.name, ns[k-1], ratio)
			}
		}
	}
}

// TestConvexControl checks that K = 0 compares two runs on identical data
// and finds them identical, and that one replacement makes them differ.
func TestConvexControl(t *testing.T) {
	c := DefaultConvexConfig()
	c.N, c.Replace = 200, 0
	r, err := Convex(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Twins) != 1 || r.Twins[0].Index != -1 {
		t.Fatalf("control twins = %+v, want one with index -1", r.Twins)
	}
	if r.ParamDivergence != 0 || r.EpsilonMean != 0 || r.EpsilonMax != 0 {
		t.Errorf("control: %+v, want all zero", r.Measure)
	}
	if r.Twins[0].GapS != r.Twins[0].GapSPrime {
		t.Errorf("control gaps differ: %v vs %v", r.Twins[0].GapS, r.Twins[0].GapSPrime)
	}
	c.Replace = 1
	r, err = Convex(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if !(r.ParamDivergence > 0 && r.EpsilonMean > 0 && r.EpsilonMax >= r.EpsilonMean) {
		t.Errorf("one replacement: %+v, want 0 < epsilon_mean ≤ epsilon_max and divergence > 0", r.Measure)
	}
	// Determinism: the same seed gives the same numbers.
	r2, err := Convex(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if r2.Measure != r.Measure {
		t.Errorf("same seed, different results: %+v vs %+v", r.Measure, r2.Measure)
	}
}

func TestLogGradMatchesFiniteDifferences(t *testing.T) {
	star := teacher(3, 5)
	w := []float64{0.3, -1.2, 0.7, 2.0, -0.4}
	for j := 0; j < 10; j++ {
		s := sample(3, domTrain, j, star, 0.2)
		g := make([]float64, len(w))
		addLogGrad(g, w, s)
		for i := range w {
			const h = 1e-6
			wp := append([]float64(nil), w...)
			wm := append([]float64(nil), w...)
			wp[i] += h
			wm[i] -= h
			fd := (logLoss(wp, s) - logLoss(wm, s)) / (2 * h)
			if math.Abs(fd-g[i]) > 1e-7 {
				t.Errorf("sample %d coord %d: gradient %v, finite difference %v", j, i, g[i], fd)
			}
		}
	}
}

func TestLogLossValues(t *testing.T) {
	s := logistic{x: []float64{1, 2}, y: 1}
	for _, c := range []struct {
		w    []float64
		want float64
	}{
		{[]float64{0, 0}, math.Log(2)},
		{[]float64{1, 0}, math.Log(1 + math.Exp(-1))},
		{[]float64{0, -500}, 1000}, // log(1+e^1000) = 1000 to double precision
		{[]float64{0, 500}, 0},
	} {
		if got := logLoss(c.w, s); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("logLoss(%v) = %v, want %v", c.w, got, c.want)
		}
	}
}

func TestOrderIsEpochPermutations(t *testing.T) {
	ord := order(7, 10, 25)
	if len(ord) != 25 {
		t.Fatalf("len = %d, want 25", len(ord))
	}
	for e := 0; e < 2; e++ {
		seen := make([]bool, 10)
		for _, j := range ord[e*10 : e*10+10] {
			if seen[j] {
				t.Fatalf("epoch %d repeats index %d: %v", e, j, ord)
			}
			seen[j] = true
		}
	}
}

func TestConvexConfigErrors(t *testing.T) {
	for _, c := range []struct {
		mod  func(*ConvexConfig)
		want string
	}{
		{func(c *ConvexConfig) { c.N = 0 }, "n = 0"},
		{func(c *ConvexConfig) { c.Batch = 0 }, "batch = 0"},
		{func(c *ConvexConfig) { c.Alpha0 = math.NaN() }, "alpha0 = NaN"},
		{func(c *ConvexConfig) { c.Flip = 0.5 }, "flip = 0.5"},
		{func(c *ConvexConfig) { c.Replace = c.N + 1 }, "replace = 1001"},
		{func(c *ConvexConfig) { c.TestN = -1 }, "test_n = -1"},
	} {
		cfg := DefaultConvexConfig()
		c.mod(&cfg)
		_, err := Convex(context.Background(), cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("error %v, want one containing %q", err, c.want)
		}
	}
}

func TestConvexCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Convex(ctx, DefaultConvexConfig())
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want context.Canceled", err)
	}
}

func TestLossGapAndL2(t *testing.T) {
	m, mx := lossGap([]float64{1, 2, 3}, []float64{1.5, 2, 1})
	if m != (0.5+0+2)/3 || mx != 2 {
		t.Errorf("lossGap = %v, %v; want %v, 2", m, mx, (0.5+0+2)/3)
	}
	if d := l2Diff32([]float32{1, 2, 3}, []float32{1, 0, 3}); d != 2 {
		t.Errorf("l2Diff32 = %v, want 2", d)
	}
	if d := l2Diff64([]float64{3, 0}, []float64{0, 4}); d != 5 {
		t.Errorf("l2Diff64 = %v, want 5", d)
	}
	if _, mx := lossGap([]float64{1, math.NaN()}, []float64{1, 1}); !math.IsNaN(mx) {
		t.Errorf("lossGap max with a NaN = %v, want NaN", mx)
	}
}
