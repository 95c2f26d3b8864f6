package blocks_test

import (
	"context"
	"fmt"
	"log"
	"math"

	"github.com/lrsgd-lab/lrsgd/plugins/blocks"
	"github.com/lrsgd-lab/lrsgd/plugins/optimizer"
)

// rmsProp is a new inner solver written as a blocks.Rule: RMSProp,
// s = ρ·s + (1−ρ)·g², w −= η·g/(sqrt(s)+eps). That is all a third party
// writes; the proximal outer loop comes with NewProximal.
type rmsProp struct{ rho, eps float32 }

func (r *rmsProp) Hyperparams() []optimizer.HyperparamSpec {
	return []optimizer.HyperparamSpec{
		{Name: "rho", Type: optimizer.Float, Default: "0.9", Min: 0, Max: 0.9999, Doc: "decay of the squared-gradient average"},
		{Name: "rms_eps", Type: optimizer.Float, Default: "1e-8", Min: 0, Max: 1, Doc: "added to sqrt(s)"},
	}
}

func (r *rmsProp) StateVectors() int { return 1 }

func (r *rmsProp) Configure(v blocks.Values) error {
	r.rho, r.eps = float32(v.Float("rho")), float32(v.Float("rms_eps"))
	return nil
}

func (r *rmsProp) Update(w, g []float32, state [][]float32, lr float32) {
	s := state[0]
	for i := range w {
		s[i] = r.rho*s[i] + (1-r.rho)*g[i]*g[i]
		w[i] -= lr * g[i] / (float32(math.Sqrt(float64(s[i]))) + r.eps)
	}
}

// A new inner solver gets the whole proximal outer loop: here RMSProp
// minimises f(w) = ½‖w‖² in outer steps of M = 3 inner steps, each
// regularised towards its anchor.
func ExampleNewProximal() {
	ctx := context.Background()
	opt := blocks.NewProximal(&rmsProp{}, "rmsprop-lr", "0.1.0",
		blocks.WithDoc("RMSProp as the inner solver of the proximal subproblem"),
		blocks.WithDefaults(map[string]string{"m_policy": "constant", "m": "3"}))
	d, err := opt.Describe(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s: %d hyperparameters, %d state vectors (s, anchor)\n", d.Name, len(d.Hyperparams), d.StateVectors)

	buf, err := opt.Init(ctx, optimizer.InitConfig{NumParams: 2, Seed: 1,
		Hyperparams: map[string]string{"lambda_mode": "fixed", "lambda": "1", "rho": "0.5"}})
	if err != nil {
		log.Fatal(err)
	}
	copy(buf.Params, []float32{1, -2})
	for step := int64(0); step < 6; step++ {
		copy(buf.Grads, buf.Params) // ∇f(w) = w
		r, err := opt.Step(ctx, optimizer.StepRequest{Step: step, LR: 0.1})
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("t=%d k=%d/%d ended=%-5v w=(%.4f, %.4f)\n", r.Outer, r.Inner, r.M, r.OuterEnded, buf.Params[0], buf.Params[1])
	}
	// Output:
	// rmsprop-lr: 20 hyperparameters, 2 state vectors (s, anchor)
	// t=1 k=1/3 ended=false w=(0.8586, -1.8586)
	// t=1 k=2/3 ended=false w=(0.7693, -1.7533)
	// t=1 k=3/3 ended=true  w=(0.7084, -1.6623)
	// t=2 k=1/3 ended=false w=(0.5932, -1.5536)
	// t=2 k=2/3 ended=false w=(0.5214, -1.4605)
	// t=2 k=3/3 ended=true  w=(0.4817, -1.3767)
}

// The four optimizers come ready-made; hyperparameters travel as strings.
func ExampleNewLRSGDR() {
	ctx := context.Background()
	opt := blocks.NewLRSGDR()
	buf, err := opt.Init(ctx, optimizer.InitConfig{NumParams: 3, Seed: 42,
		Hyperparams: map[string]string{"gamma": "0.5"}})
	if err != nil {
		log.Fatal(err)
	}
	copy(buf.Params, []float32{1, 2, 3})
	for step, outer := int64(0), 0; outer < 4; step++ {
		copy(buf.Grads, []float32{0.1, 0.1, 0.1}) // the host's minibatch gradient
		r, err := opt.Step(ctx, optimizer.StepRequest{Step: step, LR: 0.1})
		if err != nil {
			log.Fatal(err)
		}
		if r.OuterEnded {
			outer++
			fmt.Printf("outer step %d: M_t = %d inner steps, ended at global step %d\n", r.Outer, r.M, step)
		}
	}
	_, err = opt.Init(ctx, optimizer.InitConfig{NumParams: 3, Hyperparams: map[string]string{"gamma": "2"}})
	fmt.Println(err)
	// Output:
	// outer step 1: M_t = 6 inner steps, ended at global step 5
	// outer step 2: M_t = 8 inner steps, ended at global step 13
	// outer step 3: M_t = 2 inner steps, ended at global step 15
	// outer step 4: M_t = 2 inner steps, ended at global step 17
	// lrsgd-r: init: hyperparameter gamma="2": want a number in [1e-06, 1]
}
