package main

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/lrsgd-lab/lrsgd/plugins/loader"
	"github.com/lrsgd-lab/lrsgd/plugins/loader/loadertest"
	"github.com/lrsgd-lab/lrsgd/plugins/optimizer"
	"github.com/lrsgd-lab/lrsgd/plugins/sdk/sdktest"
)

// TestAgainstEquations checks the composed optimizer against a plain
// implementation written here from the equations: outer steps of M = 3
// inner steps, anchor = w at k = 1, effective gradient g + 2λ(w − anchor)
// with λ_t = 0.01/α at k = 1, then RMSProp with weight decay.
func TestAgainstEquations(t *testing.T) {
	const n, steps, m = 6, 15, 3
	ctx := context.Background()
	opt := newOptimizer()
	b, err := opt.Init(ctx, optimizer.InitConfig{NumParams: n, Hyperparams: map[string]string{
		"m_policy": "constant", "m": "3", "rho": "0.9", "rms_eps": "1e-6", "weight_decay": "0.01",
	}})
	if err != nil {
		t.Fatal(err)
	}
	sdktest.QuadStart(b.Params)

	w := make([]float64, n) // QuadStart in float64
	for i := range w {
		w[i] = float64(i+1) * 0.25 * float64(1-2*(i%2))
	}
	s, anchor := make([]float64, n), make([]float64, n)
	var lambda float64
	const rho, eps, wd = 0.9, 1e-6, 0.01
	for step := range int64(steps) {
		alpha := 0.1
		if step >= 7 {
			alpha = 0.05
		}
		k := int(step%m) + 1
		if k == 1 { // anchor and λ_t are fixed at the first inner step
			copy(anchor, w)
			lambda = 0.01 / alpha
		}
		for i := range w {
			g := float64(1+i%3)*w[i] + 2*lambda*(w[i]-anchor[i]) // QuadGrad + the proximal term
			d := g + wd*w[i]
			s[i] = rho*s[i] + (1-rho)*d*d
			w[i] -= alpha * d / (math.Sqrt(s[i]) + eps)
		}

		sdktest.QuadGrad(b.Grads, b.Params)
		r, err := opt.Step(ctx, optimizer.StepRequest{Step: step, LR: alpha})
		if err != nil {
			t.Fatal(err)
		}
		if want := (optimizer.StepResult{OuterEnded: k == m, Inner: k, Outer: step/m + 1, M: m}); r != want {
			t.Fatalf("step %d: %+v, want %+v", step, r, want)
		}
		for i := range w {
			if d := math.Abs(float64(b.Params[i]) - w[i]); d > 1e-5*math.Max(1, math.Abs(w[i])) {
				t.Fatalf("step %d: w[%d] = %v, equations give %v (|Δ| = %g)", step, i, b.Params[i], w[i], d)
			}
		}
	}
}

// TestAsPlugin builds this package into a plugin directory and uses it by
// name through the host's loader, as any command would: it is listed with
// its hyperparameters and runs bit-identically to the in-process optimizer.
func TestAsPlugin(t *testing.T) {
	opts := loader.Options{Dir: loadertest.BuildPlugin(t, ".", "rmsprop-lr"), Logger: hclog.NewNullLogger()}
	table := loadertest.Describe(t, opts, "rmsprop-lr")
	if !strings.Contains(table, "rho") || !strings.Contains(table, "m_policy") {
		t.Fatalf("hyperparameter table lacks rho or m_policy:\n%s", table)
	}

	ctx := context.Background()
	cfg := optimizer.InitConfig{NumParams: 300, Seed: 5, Hyperparams: map[string]string{"gamma": "0.4"}}
	remote, rb := loadertest.Start(t, "rmsprop-lr", opts, cfg)
	local := newOptimizer()
	lb, err := local.Init(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	sdktest.QuadStart(rb.Params)
	sdktest.QuadStart(lb.Params)
	for step := range int64(30) {
		sdktest.QuadGrad(rb.Grads, rb.Params)
		sdktest.QuadGrad(lb.Grads, lb.Params)
		req := optimizer.StepRequest{Step: step, LR: 0.01}
		rr, err := remote.Step(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		lr, _ := local.Step(ctx, req)
		if rr != lr {
			t.Fatalf("step %d: plugin %+v, in-process %+v", step, rr, lr)
		}
	}
	sdktest.SameBits(t, "plugin params", rb.Params, lb.Params)
	if _, err := remote.Init(ctx, optimizer.InitConfig{NumParams: 3, Hyperparams: map[string]string{"rho": "1.5"}}); err == nil ||
		!strings.Contains(err.Error(), `rho="1.5"`) || !strings.Contains(err.Error(), "[0, 0.9999]") {
		t.Fatalf("Init with rho=1.5: %v, want a refusal with the valid range", err)
	}
}
