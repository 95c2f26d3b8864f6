package stability

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
)

// ConvexConfig configures the convex reference case: binary logistic
// regression on a generated, nearly linearly separable set, trained by
// plain SGD with a decaying step, where the theory (Hardt, Recht and Singer
// 2016, Theorem 3.8) gives ε ≤ (2L²/n)·Σ_t α_t — uniform stability falls as
// 1/n for a fixed step schedule.
type ConvexConfig struct {
	// N is the training-set size n.
	N int `json:"n"`
	// Dim is the number of features d (a bias feature is not added).
	Dim int `json:"dim"`
	// TestN is the number of test points ε is measured on.
	TestN int `json:"test_n"`
	// Steps is the number of SGD steps T. It is fixed, not tied to N, so
	// that Σ α_t — and hence the bound — depends on n only through 1/n.
	Steps int `json:"steps"`
	// Batch is the minibatch size (1 is plain SGD).
	Batch int `json:"batch"`
	// Alpha0 and Tau set the step α_t = Alpha0 / (1 + t/Tau), t = 0..T−1.
	Alpha0 float64 `json:"alpha0"`
	Tau    float64 `json:"tau"`
	// Flip is the probability that a generated label is flipped (label
	// noise keeps the set from being exactly separable, so w stays bounded).
	Flip float64 `json:"flip"`
	// Replace is K, the number of replaced indices; K = 0 runs one pair of
	// twins on identical data (the control).
	Replace int `json:"replace"`
	// Seed fixes the data, the sample order and the replaced indices.
	Seed uint64 `json:"seed"`
}

// DefaultConvexConfig returns the configuration the tests and the docs use:
// n = 1000, d = 10, 2000 test points, T = 8000 steps of plain SGD with
// α_t = 0.5/(1 + t/100), 10% label noise, K = 8.
func DefaultConvexConfig() ConvexConfig {
	return ConvexConfig{N: 1000, Dim: 10, TestN: 2000, Steps: 8000, Batch: 1,
		Alpha0: 0.5, Tau: 100, Flip: 0.1, Replace: 8, Seed: 1}
}

func (c ConvexConfig) validate() error {
	switch {
	case c.N < 1:
		return fmt.Errorf("convex probe: n = %d, expected ≥ 1", c.N)
	case c.Dim < 1:
		return fmt.Errorf("convex probe: dim = %d, expected ≥ 1", c.Dim)
	case c.TestN < 1:
		return fmt.Errorf("convex probe: test_n = %d, expected ≥ 1", c.TestN)
	case c.Steps < 0:
		return fmt.Errorf("convex probe: steps = %d, expected ≥ 0", c.Steps)
	case c.Batch < 1 || c.Batch > c.N:
		return fmt.Errorf("convex probe: batch = %d, expected 1..n = %d", c.Batch, c.N)
	case !(c.Alpha0 > 0) || math.IsInf(c.Alpha0, 0):
		return fmt.Errorf("convex probe: alpha0 = %v, expected a finite value > 0", c.Alpha0)
	case !(c.Tau > 0) || math.IsInf(c.Tau, 0):
		return fmt.Errorf("convex probe: tau = %v, expected a finite value > 0", c.Tau)
	case !(c.Flip >= 0 && c.Flip < 0.5):
		return fmt.Errorf("convex probe: flip = %v, expected 0 ≤ flip < 0.5", c.Flip)
	case c.Replace < 0 || c.Replace > c.N:
		return fmt.Errorf("convex probe: replace = %d, expected 0..n = %d", c.Replace, c.N)
	}
	return nil
}

// ConvexTwin is the outcome of one pair of twins in the convex case.
type ConvexTwin struct {
	// Index is the replaced training index, or −1 for the control (K = 0).
	Index int `json:"index"`
	Measure
	// GapS and GapSPrime are the generalization gaps (test loss − train
	// loss on the run's own training set) of the twins on S and on S'.
	GapS      float64 `json:"gap_s"`
	GapSPrime float64 `json:"gap_s_prime"`
}

// ConvexResult is the outcome of the convex reference case.
type ConvexResult struct {
	Config ConvexConfig `json:"config"`
	// ParamDivergence and EpsilonMean are the means over the twins of
	// their final values; EpsilonMax is the maximum over the twins (and
	// the test points), as in [Result]. EpsilonMaxMean is the mean over the
	// twins of their maxima, a less noisy statistic.
	Measure
	EpsilonMaxMean float64 `json:"epsilon_max_mean"`
	// Bound is Hardt et al.'s bound (2L²/n)·Σ_t α_t with L = max ‖x‖ over
	// the data (the logistic loss is ‖x‖-Lipschitz in w), for plain SGD
	// (Batch = 1).
	Bound float64      `json:"bound"`
	Twins []ConvexTwin `json:"twins"`
}

// logistic is one generated sample with label ±1.
type logistic struct {
	x []float64
	y float64
}

// Domains that key the generator, so that the teacher, the training
// samples, the test points, the replacement samples, the sample order and
// the replaced indices never share a random stream. Sample j of a domain
// depends only on the seed and j, so a set of n samples is a prefix of the
// set of 2n.
const (
	domTeacher uint64 = iota + 1
	domTrain
	domTest
	domSpare
	domOrder
	domPick
)

func pcg(seed, dom, j uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed^0x5851f42d4c957f2d*dom, j*0x9e3779b97f4a7c15+dom))
}

// teacher returns the unit vector that labels the generated data.
func teacher(seed uint64, d int) []float64 {
	r := pcg(seed, domTeacher, 0)
	w := make([]float64, d)
	var n float64
	for i := range w {
		w[i] = r.NormFloat64()
		n += w[i] * w[i]
	}
	n = math.Sqrt(n)
	for i := range w {
		w[i] /= n
	}
	return w
}

// sample draws sample j of a domain: x ~ N(0, I/d) (so ‖x‖ ≈ 1), y = sign of
// the teacher's margin, flipped with probability flip.
func sample(seed, dom uint64, j int, star []float64, flip float64) logistic {
	r := pcg(seed, dom, uint64(j))
	x := make([]float64, len(star))
	s := 1 / math.Sqrt(float64(len(star)))
	var m float64
	for i := range x {
		x[i] = r.NormFloat64() * s
		m += x[i] * star[i]
	}
	y := 1.0
	if m < 0 {
		y = -1
	}
	if r.Float64() < flip {
		y = -y
	}
	return logistic{x: x, y: y}
}

// logLoss is log(1 + exp(−y·w·x)), computed without overflow.
func logLoss(w []float64, s logistic) float64 {
	z := -s.y * dot(w, s.x)
	if z > 0 {
		return z + math.Log1p(math.Exp(-z))
	}
	return math.Log1p(math.Exp(z))
}

func dot(a, b []float64) float64 {
	var s float64
	for i, x := range a {
		s += x * b[i]
	}
	return s
}

func meanLoss(w []float64, set []logistic) float64 {
	var s float64
	for _, p := range set {
		s += logLoss(w, p)
	}
	return s / float64(len(set))
}

// order returns the sample order: T·Batch indices into 0..n−1, the
// concatenation of per-epoch random permutations. Both twins use it.
func order(seed uint64, n, total int) []int32 {
	out := make([]int32, 0, total)
	perm := make([]int32, n)
	for epoch := uint64(0); len(out) < total; epoch++ {
		for i := range perm {
			perm[i] = int32(i)
		}
		r := pcg(seed, domOrder, epoch)
		r.Shuffle(n, func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
		k := min(n, total-len(out))
		out = append(out, perm[:k]...)
	}
	return out
}

// pickIndices returns k distinct indices in 0..n−1 chosen from the seed.
func pickIndices(seed uint64, n, k int) []int {
	return pcg(seed, domPick, uint64(n)).Perm(n)[:k]
}

// sgd runs the SGD of cfg on set in the given order from w = 0 and returns w.
func sgd(ctx context.Context, cfg ConvexConfig, set []logistic, ord []int32) ([]float64, error) {
	w := make([]float64, cfg.Dim)
	g := make([]float64, cfg.Dim)
	for t := 0; t < cfg.Steps; t++ {
		if t%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("convex probe: step %d: %w", t, err)
			}
		}
		clear(g)
		for _, j := range ord[t*cfg.Batch : (t+1)*cfg.Batch] {
			addLogGrad(g, w, set[j])
		}
		a := cfg.Alpha0 / (1 + float64(t)/cfg.Tau) / float64(cfg.Batch)
		for i := range w {
			w[i] -= a * g[i]
		}
	}
	return w, nil
}

// addLogGrad adds the gradient of logLoss(w, s) to g:
// d/dw log(1+exp(−y·w·x)) = −y·σ(−y·w·x)·x.
func addLogGrad(g, w []float64, s logistic) {
	c := -s.y * sigmoid(-s.y*dot(w, s.x))
	for i, xi := range s.x {
		g[i] += c * xi
	}
}

func sigmoid(z float64) float64 {
	if z >= 0 {
		return 1 / (1 + math.Exp(-z))
	}
	e := math.Exp(z)
	return e / (1 + e)
}

// Convex runs the convex reference case: one SGD run on S and, for each of
// K replaced indices i (chosen from the seed), one on S' = S with sample i
// replaced by a fresh sample from the same distribution, with the same
// sample order; it measures ‖w − v‖ and ε over the test points between the
// S run and each S' run. K = 0 compares two runs on S (all zeros).
func Convex(ctx context.Context, cfg ConvexConfig) (ConvexResult, error) {
	if err := cfg.validate(); err != nil {
		return ConvexResult{}, err
	}
	star := teacher(cfg.Seed, cfg.Dim)
	train := make([]logistic, cfg.N)
	for j := range train {
		train[j] = sample(cfg.Seed, domTrain, j, star, cfg.Flip)
	}
	test := make([]logistic, cfg.TestN)
	for j := range test {
		test[j] = sample(cfg.Seed, domTest, j, star, cfg.Flip)
	}
	ord := order(cfg.Seed, cfg.N, cfg.Steps*cfg.Batch)

	w, err := sgd(ctx, cfg, train, ord)
	if err != nil {
		return ConvexResult{}, err
	}
	fw := make([]float64, len(test))
	for k, p := range test {
		fw[k] = logLoss(w, p)
	}
	trainLossS := meanLoss(w, train)
	testLossS := meanLoss(w, test)

	var L float64
	for _, set := range [][]logistic{train, test} {
		for _, p := range set {
			L = math.Max(L, math.Sqrt(dot(p.x, p.x)))
		}
	}

	idx := []int{-1}
	if cfg.Replace > 0 {
		idx = pickIndices(cfg.Seed, cfg.N, cfg.Replace)
	}
	res := ConvexResult{Config: cfg}
	fv := make([]float64, len(test))
	for n, i := range idx {
		prime := train
		if i >= 0 {
			prime = append([]logistic(nil), train...)
			prime[i] = sample(cfg.Seed, domSpare, n, star, cfg.Flip)
			L = math.Max(L, math.Sqrt(dot(prime[i].x, prime[i].x)))
		}
		v, err := sgd(ctx, cfg, prime, ord)
		if err != nil {
			return ConvexResult{}, err
		}
		for k, p := range test {
			fv[k] = logLoss(v, p)
		}
		tw := ConvexTwin{Index: i}
		tw.ParamDivergence = l2Diff64(w, v)
		tw.EpsilonMean, tw.EpsilonMax = lossGap(fw, fv)
		tw.GapS = testLossS - trainLossS
		tw.GapSPrime = meanLoss(v, test) - meanLoss(v, prime)
		res.Twins = append(res.Twins, tw)
		res.ParamDivergence += tw.ParamDivergence / float64(len(idx))
		res.EpsilonMean += tw.EpsilonMean / float64(len(idx))
		res.EpsilonMaxMean += tw.EpsilonMax / float64(len(idx))
		res.EpsilonMax = math.Max(res.EpsilonMax, tw.EpsilonMax)
	}
	var sum float64
	for t := 0; t < cfg.Steps; t++ {
		sum += cfg.Alpha0 / (1 + float64(t)/cfg.Tau)
	}
	res.Bound = 2 * L * L / float64(cfg.N) * sum
	return res, nil
}
