// Command rmsprop-lr is an example of a third party's optimizer plugin:
// RMSProp as the inner solver of LRSGD's proximal outer loop. It is the
// whole plugin: an update rule (blocks.Rule) and one sdk.Serve call. The
// outer loop (anchor, proximal gradient, M_t policies, λ schedule, inner
// step sizes, Save/Restore, hyperparameter checks) comes from
// blocks.NewProximal.
//
// Build it into the plugin directory and every command can use it by name:
//
//	go build -o bin/plugins/rmsprop-lr ./examples/rmsprop-lr
//	bin/tune plugins            # lists rmsprop-lr with its hyperparameters
package main

import (
	"math"

	"github.com/lrsgd-lab/lrsgd/plugins/blocks"
	"github.com/lrsgd-lab/lrsgd/plugins/optimizer"
	"github.com/lrsgd-lab/lrsgd/plugins/sdk"
)

// rmsProp is RMSProp with coupled weight decay, as torch.optim.RMSprop
// (no momentum, not centered):
//
//	d = g + wd·w
//	s = ρ·s + (1−ρ)·d²
//	w = w − η·d / (sqrt(s) + eps)
//
// where g is the effective gradient of the proximal subproblem and η the
// inner step size the outer loop chooses.
type rmsProp struct{ rho, eps, wd float32 }

// Hyperparams implements blocks.Rule.
func (r *rmsProp) Hyperparams() []optimizer.HyperparamSpec {
	return []optimizer.HyperparamSpec{
		{Name: "rho", Type: optimizer.Float, Default: "0.99", Min: 0, Max: 0.9999, Doc: "decay ρ of the squared-gradient average s (torch's alpha)"},
		{Name: "rms_eps", Type: optimizer.Float, Default: "1e-8", Min: 0, Max: 1, Doc: "eps added to sqrt(s)"},
		{Name: "weight_decay", Type: optimizer.Float, Default: "0.0001", Min: 0, Max: 1, Doc: "coupled weight decay: d = g + wd·w"},
	}
}

// StateVectors implements blocks.Rule: the squared-gradient average s.
func (r *rmsProp) StateVectors() int { return 1 }

// Configure implements blocks.Rule.
func (r *rmsProp) Configure(v blocks.Values) error {
	r.rho, r.eps, r.wd = float32(v.Float("rho")), float32(v.Float("rms_eps")), float32(v.Float("weight_decay"))
	return nil
}

// Update implements blocks.Rule.
func (r *rmsProp) Update(w, g []float32, state [][]float32, lr float32) {
	s := state[0]
	for i := range w {
		d := g[i] + r.wd*w[i]
		s[i] = r.rho*s[i] + (1-r.rho)*d*d
		w[i] -= lr * d / (float32(math.Sqrt(float64(s[i]))) + r.eps)
	}
}

// newOptimizer composes the rule with the proximal outer loop. Its other
// defaults are lrsgd-r's reference ones: M_t ~ Geometric(0.1), inner lr α,
// λ_t = 0.01/α with the reference factor 2.
func newOptimizer() optimizer.Optimizer {
	return blocks.NewProximal(&rmsProp{}, "rmsprop-lr", "0.1.0",
		blocks.WithDoc("RMSProp as the inner solver of LRSGD's proximal subproblem (example plugin)"))
}

func main() { sdk.Serve(newOptimizer()) }
