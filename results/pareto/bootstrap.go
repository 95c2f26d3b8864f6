package pareto

import (
	"math"
	"math/rand/v2"
)

// DefaultResamples is the number of bootstrap resamples when
// BootstrapOptions leaves it zero.
const DefaultResamples = 2000

// DefaultSeed seeds the bootstrap's generator when BootstrapOptions
// leaves it zero, so that the same store always gives the same report.
const DefaultSeed = 1

// Group is one configuration in objective space: the points of its runs
// (one per seed; their IDs are ignored). Its place on a front is that of
// the mean of its runs.
type Group struct {
	ID   int
	Runs []Point
}

// Mean returns the group's point: the mean X and the mean Y of its runs.
func (g Group) Mean() Point {
	p := Point{ID: g.ID}
	for _, r := range g.Runs {
		p.X += r.X
		p.Y += r.Y
	}
	n := float64(len(g.Runs))
	p.X, p.Y = p.X/n, p.Y/n
	return p
}

// BootstrapOptions tunes Bootstrap.
type BootstrapOptions struct {
	// Resamples is the number of Monte Carlo resamples B; zero means
	// DefaultResamples.
	Resamples int
	// Seed seeds the generator; zero means DefaultSeed.
	Seed uint64
}

// Share is how often a group was on the front and was the knee, as a
// share of the resamples (or, for an exact bootstrap, the probability).
type Share struct {
	ID    int
	Front float64
	Knee  float64
}

// BootstrapResult is the outcome of Bootstrap.
type BootstrapResult struct {
	// Shares holds one entry per group with runs, in the groups' order.
	Shares []Share
	// Exact is true when every distinct resample was enumerated with its
	// probability (there were at most Resamples of them); false for Monte
	// Carlo resampling.
	Exact bool
	// Resamples is the number of Monte Carlo resamples drawn, or of
	// distinct resamples enumerated.
	Resamples int
	// Seed is the generator's seed (Monte Carlo only).
	Seed uint64
}

// Bootstrap resamples each group's runs with replacement (n draws from n
// runs, independently per group), places every group at the mean of its
// resampled runs, and counts how often each group is on the Front and is
// its Knee.
//
// When the number of distinct resamples — the product over groups of
// C(2n−1, n), the multisets of n draws from n runs — is at most
// opt.Resamples, every one is enumerated with its multinomial probability
// n!/(k₁!⋯kₙ!)/nⁿ: the exact bootstrap distribution, of which Monte Carlo
// resampling is an estimate. Otherwise opt.Resamples resamples are drawn
// from a PCG generator seeded with opt.Seed, so the result is
// reproducible. A group with one run is that run in every resample. Groups
// without runs are left out.
func Bootstrap(groups []Group, opt BootstrapOptions) BootstrapResult {
	if opt.Resamples <= 0 {
		opt.Resamples = DefaultResamples
	}
	if opt.Seed == 0 {
		opt.Seed = DefaultSeed
	}
	var gs []Group
	for _, g := range groups {
		if len(g.Runs) > 0 {
			gs = append(gs, g)
		}
	}
	res := BootstrapResult{Shares: make([]Share, len(gs))}
	index := make(map[int]int, len(gs))
	for i, g := range gs {
		res.Shares[i].ID = g.ID
		index[g.ID] = i
	}
	if len(gs) == 0 {
		return res
	}
	pts := make([]Point, len(gs))
	total := 0.0 // the weight tallied: 1 for exact (up to rounding), B for Monte Carlo
	tally := func(w float64) {
		total += w
		front := Front(pts)
		for _, p := range front {
			res.Shares[index[p.ID]].Front += w
		}
		if k, ok := Knee(front); ok {
			res.Shares[index[k.ID]].Knee += w
		}
	}
	if combos, ok := combinations(gs, opt.Resamples); ok {
		res.Exact, res.Resamples = true, combos
		enumerate(gs, pts, tally)
	} else {
		res.Resamples, res.Seed = opt.Resamples, opt.Seed
		sample(gs, pts, opt, tally)
	}
	for i := range res.Shares {
		res.Shares[i].Front /= total
		res.Shares[i].Knee /= total
	}
	return res
}

// sample calls tally(1) for each of opt.Resamples Monte Carlo resamples,
// pts holding the resample's points.
func sample(gs []Group, pts []Point, opt BootstrapOptions, tally func(w float64)) {
	rng := rand.New(rand.NewPCG(opt.Seed, 0))
	for range opt.Resamples {
		for i, g := range gs {
			var x, y float64
			n := len(g.Runs)
			for range n {
				r := g.Runs[rng.IntN(n)]
				x += r.X
				y += r.Y
			}
			pts[i] = Point{ID: g.ID, X: x / float64(n), Y: y / float64(n)}
		}
		tally(1)
	}
}

// combinations returns the number of distinct resamples of gs and whether
// it is at most limit.
func combinations(gs []Group, limit int) (int, bool) {
	total := 1.0
	for _, g := range gs {
		total *= multisets(len(g.Runs))
		if total > float64(limit) {
			return 0, false
		}
	}
	return int(total), true
}

// multisets returns C(2n−1, n), the number of multisets of n draws from n
// runs.
func multisets(n int) float64 {
	c := 1.0
	for i := 1; i <= n; i++ {
		c = c * float64(n-1+i) / float64(i)
	}
	return math.Round(c)
}

// resample is one distinct resample of a group: its mean point and its
// probability.
type resample struct {
	p Point
	w float64
}

// resamples lists the distinct resamples of g: every count vector
// (k₁, …, kₙ) with Σk = n, at the mean Σkᵢ·runᵢ/n, with probability
// n!/(k₁!⋯kₙ!)/nⁿ.
func resamples(g Group) []resample {
	n := len(g.Runs)
	var out []resample
	counts := make([]int, n)
	logNorm := lgamma(n+1) - float64(n)*math.Log(float64(n))
	var rec func(i, left int)
	rec = func(i, left int) {
		if i == n-1 {
			counts[i] = left
			p := Point{ID: g.ID}
			lw := logNorm
			for j, k := range counts {
				p.X += float64(k) * g.Runs[j].X
				p.Y += float64(k) * g.Runs[j].Y
				lw -= lgamma(k + 1)
			}
			p.X, p.Y = p.X/float64(n), p.Y/float64(n)
			out = append(out, resample{p, math.Exp(lw)})
			return
		}
		for k := left; k >= 0; k-- {
			counts[i] = k
			rec(i+1, left-k)
		}
	}
	rec(0, n)
	return out
}

func lgamma(n int) float64 {
	v, _ := math.Lgamma(float64(n))
	return v
}

// enumerate calls tally with the weight of every combination of the
// groups' distinct resamples, pts holding the combination's points.
func enumerate(gs []Group, pts []Point, tally func(w float64)) {
	opts := make([][]resample, len(gs))
	for i, g := range gs {
		opts[i] = resamples(g)
	}
	var rec func(i int, w float64)
	rec = func(i int, w float64) {
		if i == len(gs) {
			tally(w)
			return
		}
		for _, r := range opts[i] {
			pts[i] = r.p
			rec(i+1, w*r.w)
		}
	}
	rec(0, 1)
}
