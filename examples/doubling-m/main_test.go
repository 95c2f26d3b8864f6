package main

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/lrsgd-lab/lrsgd/plugins/blocks"
	"github.com/lrsgd-lab/lrsgd/plugins/loader"
	"github.com/lrsgd-lab/lrsgd/plugins/loader/loadertest"
	"github.com/lrsgd-lab/lrsgd/plugins/optimizer"
	"github.com/lrsgd-lab/lrsgd/plugins/sdk/sdktest"
)

// results lists the StepResults of outer steps of these lengths, by hand.
func results(ms ...int) []optimizer.StepResult {
	var rs []optimizer.StepResult
	for t, m := range ms {
		for k := 1; k <= m; k++ {
			rs = append(rs, optimizer.StepResult{OuterEnded: k == m, Inner: k, Outer: int64(t + 1), M: m})
		}
	}
	return rs
}

func TestPolicy(t *testing.T) {
	tests := []struct {
		hp   map[string]string
		want []int // M_1, M_2, ...
	}{
		{nil, []int{1, 1, 1, 2, 2, 2, 4, 4, 4, 8}}, // K = 3, m_start = 1
		{map[string]string{"double_every": "1", "m_start": "3", "m_cap": "20"}, []int{3, 6, 12, 20, 20}},
		{map[string]string{"double_every": "2", "m_start": "5", "m_cap": "5"}, []int{5, 5, 5, 5}},
	}
	for _, tt := range tests {
		p := &doubling{}
		v, err := blocks.ParseValues(p.Hyperparams(), tt.hp)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Configure(v, blocks.InitInfo{NumParams: 1}); err != nil {
			t.Fatal(err)
		}
		var got []int
		for i := range tt.want {
			m, err := p.M(blocks.OuterInfo{T: int64(i + 1)})
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, m)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%v: M_t = %v, want %v", tt.hp, got, tt.want)
		}
	}
	_, err := newOptimizer().Init(context.Background(), optimizer.InitConfig{NumParams: 1, Hyperparams: map[string]string{"m_start": "8", "m_cap": "4"}})
	if err == nil || err.Error() != "doubling-m: init: m_policy=doubling: m_start=8 is above m_cap=4" {
		t.Errorf("Init with m_start > m_cap: %v", err)
	}
}

// TestAsPlugin builds this package into a plugin directory and uses it by
// name through the host's loader: it is listed with the new m_policy
// choice and its hyperparameters, reports the hand-computed M_t sequence,
// and a Save taken mid-run restores into a second plugin process that
// continues bit-identically to an uninterrupted in-process run.
func TestAsPlugin(t *testing.T) {
	opts := loader.Options{Dir: loadertest.BuildPlugin(t, ".", "doubling-m"), Logger: hclog.NewNullLogger()}
	table := loadertest.Describe(t, opts, "doubling-m")
	for _, want := range []string{"geometric|constant|psi|doubling", "double_every", "m_start", "m_cap"} {
		if !strings.Contains(table, want) {
			t.Errorf("hyperparameter table lacks %q:\n%s", want, table)
		}
	}

	const n = 50
	cfg := optimizer.InitConfig{NumParams: n, Seed: 5, Hyperparams: map[string]string{"double_every": "3", "m_start": "1"}}
	want := results(1, 1, 1, 2, 2, 2, 4, 4, 4) // 21 steps

	// The uninterrupted run, in-process.
	local := newOptimizer()
	lb, err := local.Init(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	sdktest.QuadStart(lb.Params)
	runSteps(t, "in-process", local, lb, 0, len(want), want)

	// The plugin runs to step 8 (inside outer step 6), saves, and a second
	// plugin process restores and finishes the run.
	const at = 8
	first, fb := loadertest.Start(t, "doubling-m", opts, cfg)
	sdktest.QuadStart(fb.Params)
	runSteps(t, "plugin", first, fb, 0, at, want)
	ck := sdktest.Save(t, first, fb)
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}

	second, sb := loadertest.Start(t, "doubling-m", opts, cfg)
	ck.Restore(t, second, sb)
	runSteps(t, "restored plugin", second, sb, at, len(want), want)
	sdktest.SameBits(t, "restored plugin params", sb.Params, lb.Params)
	sdktest.SameBits(t, "restored plugin state", sb.State, lb.State)
	if _, err := second.Init(context.Background(), optimizer.InitConfig{NumParams: 3, Hyperparams: map[string]string{"double_every": "0"}}); err == nil ||
		!strings.Contains(err.Error(), `double_every="0"`) || !strings.Contains(err.Error(), "[1, 1e+06]") {
		t.Errorf("Init with double_every=0: %v, want a refusal with the valid range", err)
	}
}

// runSteps runs steps [from, to) of the test run on o, whose buffers are
// b, with the gradients of sdktest.QuadGrad and a decaying lr, and checks
// each result against want; what names the run in messages.
func runSteps(t *testing.T, what string, o optimizer.Optimizer, b optimizer.Buffers, from, to int, want []optimizer.StepResult) {
	t.Helper()
	for s := from; s < to; s++ {
		sdktest.QuadGrad(b.Grads, b.Params)
		r, err := o.Step(context.Background(), optimizer.StepRequest{Step: int64(s), LR: 0.05 / float64(1+s/10)})
		if err != nil {
			t.Fatal(err)
		}
		if r != want[s] {
			t.Fatalf("%s step %d: %+v, want %+v", what, s, r, want[s])
		}
	}
}
