// Command doubling-m is an example of a third party's own M_t policy:
// LRSGD's proximal outer loop whose number of inner steps doubles every K
// outer steps,
//
//	M_t = min(m_start · 2^⌊(t−1)/K⌋, m_cap),  K = double_every,
//
// so that early outer steps are short (close to SGD) and later ones solve
// each proximal subproblem more thoroughly. It is the whole plugin: the
// policy (a blocks.MPolicy), added to the m_policy choices with
// blocks.WithMPolicy, and one sdk.Serve call. Everything else (anchor,
// proximal gradient, λ schedule, inner step sizes, the SGD-momentum inner
// solver, Save/Restore, hyperparameter checks) comes from blocks.
//
// Build it into the plugin directory and every command can use it by name:
//
//	go build -o bin/plugins/doubling-m ./examples/doubling-m
//	bin/tune plugins            # lists doubling-m with m_policy=doubling and its hyperparameters
package main

import (
	"fmt"

	"github.com/lrsgd-lab/lrsgd/plugins/blocks"
	"github.com/lrsgd-lab/lrsgd/plugins/optimizer"
	"github.com/lrsgd-lab/lrsgd/plugins/sdk"
)

// doubling is the M_t policy. M_t depends only on t, which the outer loop
// counts and saves, so the policy has no state of its own: it implements
// neither blocks.StatefulPolicy nor blocks.GradientObserver.
type doubling struct{ start, every, limit int }

// Hyperparams implements blocks.MPolicy: the hyperparameters the policy
// adds to the optimizer.
func (p *doubling) Hyperparams() []optimizer.HyperparamSpec {
	return []optimizer.HyperparamSpec{
		{Name: "double_every", Type: optimizer.Int, Default: "3", Min: 1, Max: 1e6, Doc: "K: M_t doubles every K outer steps (m_policy=doubling)"},
		{Name: "m_start", Type: optimizer.Int, Default: "1", Min: 1, Max: 1e6, Doc: "M_t of the first K outer steps (m_policy=doubling)"},
		{Name: "m_cap", Type: optimizer.Int, Default: "1024", Min: 1, Max: 1e6, Doc: "upper clamp of M_t (m_policy=doubling)"},
	}
}

// Configure implements blocks.MPolicy.
func (p *doubling) Configure(v blocks.Values, _ blocks.InitInfo) error {
	p.start, p.every, p.limit = v.Int("m_start"), v.Int("double_every"), v.Int("m_cap")
	if p.start > p.limit {
		return fmt.Errorf("m_start=%d is above m_cap=%d", p.start, p.limit)
	}
	return nil
}

// M implements blocks.MPolicy.
func (p *doubling) M(o blocks.OuterInfo) (int, error) {
	m := p.start
	for d := (o.T - 1) / int64(p.every); d > 0 && m < p.limit; d-- {
		m *= 2
	}
	return min(m, p.limit), nil
}

// newOptimizer composes the policy with the proximal outer loop around
// SGD with momentum. Its other defaults are lrsgd-r's reference ones:
// inner lr α, λ_t = 0.01/α with the reference factor 2, momentum 0.9,
// weight decay 1e-4.
func newOptimizer() optimizer.Optimizer {
	return blocks.NewProximal(blocks.NewSGDRule(), "doubling-m", "0.1.0",
		blocks.WithDoc("proximal outer loop whose M_t doubles every double_every outer steps (example plugin)"),
		blocks.WithMPolicy("doubling", func() blocks.MPolicy { return &doubling{} }),
		blocks.WithDefaults(map[string]string{"m_policy": "doubling"}))
}

func main() { sdk.Serve(newOptimizer()) }
