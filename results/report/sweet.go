package report

import (
	"fmt"
	"math"
	"strconv"

	"github.com/lrsgd-lab/lrsgd/results/pareto"
)

// DefaultMinProbability is the least share of bootstrap resamples in which
// a configuration must be the knee to be named the sweet spot.
const DefaultMinProbability = 0.5

// ConfigSweetSpotRule states how the sweet spot of configurations is
// chosen; reports print it.
const ConfigSweetSpotRule = "front of configurations at matched fit: each converged configuration (every run reached " +
	"the target) at the mean over its runs of grads_at_target (X) and of the stability at the target (Y), both " +
	"minimised; the knee by the same rule as for trials; a bootstrap over seeds (each configuration's runs resampled " +
	"with replacement, fixed seed; every distinct resample enumerated with its probability when there are at most B " +
	"of them) gives each configuration's share of resamples on the front and as the knee; the sweet spot is the " +
	"configuration most often the knee, if that share is at least the minimum probability, else there is no clear " +
	"sweet spot"

// BootstrapInfo says how a front's probabilities were computed.
type BootstrapInfo struct {
	// Resamples is B for Monte Carlo, or the number of distinct
	// resamples enumerated when Exact.
	Resamples int    `json:"resamples"`
	Exact     bool   `json:"exact"`
	Seed      uint64 `json:"seed,omitempty"` // Monte Carlo only
	// MinProbability is the least knee share that names a sweet spot.
	MinProbability Float `json:"min_probability"`
}

// SweetSpot is the configuration named the sweet spot of a front.
type SweetSpot struct {
	Key    string         `json:"key"`
	Params map[string]any `json:"params"`
	Seeds  int            `json:"seeds"`
	// Probability is the share of bootstrap resamples in which it was the
	// knee; FrontProbability, on the front.
	Probability      Float `json:"probability"`
	FrontProbability Float `json:"front_probability"`
	// X and Y summarise its two coordinates over its runs (with their 95%
	// intervals; none for one run).
	X Stat `json:"x"`
	Y Stat `json:"y"`
	// Note says when its resamples are all the same run.
	Note string `json:"note,omitempty"`
}

// ConfigFront is the Pareto front of a study's configurations at matched
// fit, with its bootstrap.
type ConfigFront struct {
	X string `json:"x"` // GradsAtTarget
	Y string `json:"y"` // GapAtTarget or EpsilonAtTarget
	// Configs are the keys on the front of seed means, by X, then Y.
	Configs []string `json:"configs"`
	// Knee is the knee of the front of seed means (null when empty).
	Knee *string `json:"knee"`
	// Candidates counts the converged configurations with Y for every run.
	Candidates int `json:"candidates"`
	// NotConverged lists the configurations some run of which never
	// reached the target: they are kept off the front.
	NotConverged []string `json:"not_converged"`
	// Missing lists converged configurations some run of which lacks Y.
	Missing   []string      `json:"missing,omitempty"`
	Bootstrap BootstrapInfo `json:"bootstrap"`
	// SweetSpot is null when no configuration is the knee in at least
	// Bootstrap.MinProbability of the resamples.
	SweetSpot *SweetSpot `json:"sweet_spot"`
	// Verdict is one line saying what was found.
	Verdict string `json:"verdict"`
}

// frontOptions tune the fronts of configurations.
type frontOptions struct {
	minProbability float64
	bootstrap      pareto.BootstrapOptions
}

// buildConfigFront places the converged configurations in (X, y), finds
// the front and knee of their seed means, resamples their runs and names
// the sweet spot. It records each configuration's share in
// Config.Fronts[name].
func buildConfigFront(name string, configs []*Config, y string, opt frontOptions) *ConfigFront {
	f := &ConfigFront{X: GradsAtTarget, Y: y, Configs: []string{}, NotConverged: []string{},
		Bootstrap: BootstrapInfo{MinProbability: Float(opt.minProbability)}}
	var groups []pareto.Group
	for i, c := range configs {
		if !c.Converged {
			f.NotConverged = append(f.NotConverged, c.Key)
			continue
		}
		g := pareto.Group{ID: i}
		for _, r := range c.Runs {
			yv, ok := r.AtTarget[y]
			if !ok || !finite(float64(yv)) {
				g.Runs = nil
				break
			}
			g.Runs = append(g.Runs, pareto.Point{X: float64(r.AtTarget[GradsAtTarget]), Y: float64(yv)})
		}
		if len(g.Runs) == 0 {
			f.Missing = append(f.Missing, c.Key)
			continue
		}
		groups = append(groups, g)
	}
	f.Candidates = len(groups)
	if len(groups) == 0 {
		f.Verdict = "no clear sweet spot: no configuration reached the target in every run"
		if len(f.NotConverged) == 0 {
			f.Verdict = fmt.Sprintf("no clear sweet spot: no configuration has %s for every run", y)
		}
		return f
	}
	means := make([]pareto.Point, len(groups))
	for i, g := range groups {
		means[i] = g.Mean()
	}
	front := pareto.Front(means)
	for _, p := range front {
		f.Configs = append(f.Configs, configs[p.ID].Key)
	}
	knee, hasKnee := pareto.Knee(front)
	if hasKnee {
		f.Knee = &configs[knee.ID].Key
	}
	b := pareto.Bootstrap(groups, opt.bootstrap)
	f.Bootstrap.Resamples, f.Bootstrap.Exact, f.Bootstrap.Seed = b.Resamples, b.Exact, b.Seed
	best := -1
	for i, s := range b.Shares {
		c := configs[s.ID]
		if c.Fronts == nil {
			c.Fronts = map[string]*FrontShare{}
		}
		fs := &FrontShare{PFront: Float(s.Front), PKnee: Float(s.Knee), Knee: hasKnee && knee.ID == s.ID}
		for _, p := range front {
			fs.OnFront = fs.OnFront || p.ID == s.ID
		}
		c.Fronts[name] = fs
		switch {
		case best < 0 || s.Knee > b.Shares[best].Knee+1e-12:
			best = i
		case math.Abs(s.Knee-b.Shares[best].Knee) <= 1e-12 && fs.Knee:
			best = i // a tie goes to the knee of the seed means
		}
	}
	top := b.Shares[best]
	c := configs[top.ID]
	how := fmt.Sprintf("%d resamples (seed %d)", b.Resamples, b.Seed)
	if b.Exact {
		how = fmt.Sprintf("all %d distinct resamples (exact bootstrap)", b.Resamples)
	}
	if top.Knee+1e-12 < opt.minProbability {
		f.Verdict = fmt.Sprintf("no clear sweet spot: no configuration is the knee in at least %s of %s; the most frequent knee is %s (%s)",
			percent(opt.minProbability), how, c.Label(), percent(top.Knee))
		return f
	}
	f.SweetSpot = &SweetSpot{Key: c.Key, Params: c.Params, Seeds: c.Seeds,
		Probability: Float(top.Knee), FrontProbability: Float(top.Front), X: c.Stats[GradsAtTarget], Y: c.Stats[y]}
	if c.Seeds == 1 {
		f.SweetSpot.Note = "one run: every resample is that run, so its probability reflects only the other configurations' spread; no interval"
	}
	f.Verdict = fmt.Sprintf("sweet spot %s: the knee in %s of %s", c.Label(), percent(top.Knee), how)
	return f
}

// percent formats a share as a percentage to one decimal, 0% and 100%
// only when exact.
func percent(p float64) string {
	v := math.Round(1000*p) / 10
	switch {
	case v == 0 && p > 0:
		return "<0.1%"
	case v == 100 && p < 1:
		return ">99.9%"
	}
	return strconv.FormatFloat(v, 'f', -1, 64) + "%"
}
