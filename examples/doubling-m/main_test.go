package main

import (
	"bytes"
	"context"
	"math"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/lrsgd-lab/lrsgd/plugins/blocks"
	"github.com/lrsgd-lab/lrsgd/plugins/loader"
	"github.com/lrsgd-lab/lrsgd/plugins/optimizer"
)

// grad is a fixed quadratic loss ½·Σ c_i w_i² with c_i = 1 + i%3, so that
// ∇f(w)_i = c_i·w_i; the same on both sides of every comparison.
func grad(g, w []float32) {
	for i := range g {
		g[i] = float32(1+i%3) * w[i]
	}
}

func start(w []float32) {
	for i := range w {
		w[i] = float32(i+1) * 0.25 * float32(1-2*(i%2))
	}
}

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
	dir := t.TempDir()
	if out, err := exec.Command("go", "build", "-o", filepath.Join(dir, "doubling-m"), ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	opts := loader.Options{Dir: dir, Logger: hclog.NewNullLogger()}
	ctx := context.Background()
	infos, err := loader.List(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 1 || infos[0].Err != nil || infos[0].Desc.Name != "doubling-m" {
		t.Fatalf("List = %+v, want one doubling-m plugin", infos)
	}
	var table bytes.Buffer
	loader.FormatDescription(&table, infos[0].Desc)
	for _, want := range []string{"geometric|constant|psi|doubling", "double_every", "m_start", "m_cap"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("hyperparameter table lacks %q:\n%s", want, table.String())
		}
	}

	const n = 50
	cfg := optimizer.InitConfig{NumParams: n, Seed: 5, Hyperparams: map[string]string{"double_every": "3", "m_start": "1"}}
	want := results(1, 1, 1, 2, 2, 2, 4, 4, 4) // 21 steps
	lrAt := func(step int) float64 { return 0.05 / float64(1+step/10) }

	// The uninterrupted run, in-process.
	local := newOptimizer()
	lb, err := local.Init(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	start(lb.Params)
	for s := range want {
		grad(lb.Grads, lb.Params)
		r, err := local.Step(ctx, optimizer.StepRequest{Step: int64(s), LR: lrAt(s)})
		if err != nil {
			t.Fatal(err)
		}
		if r != want[s] {
			t.Fatalf("in-process step %d: %+v, want %+v", s, r, want[s])
		}
	}

	// The plugin runs to step 8 (inside outer step 6), saves, and a second
	// plugin process restores and finishes the run.
	const at = 8
	first, err := loader.Open(ctx, "doubling-m", opts)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	fb, err := first.Init(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	start(fb.Params)
	for s := range at {
		grad(fb.Grads, fb.Params)
		r, err := first.Step(ctx, optimizer.StepRequest{Step: int64(s), LR: lrAt(s)})
		if err != nil {
			t.Fatal(err)
		}
		if r != want[s] {
			t.Fatalf("plugin step %d: %+v, want %+v", s, r, want[s])
		}
	}
	blob, err := first.Save(ctx)
	if err != nil {
		t.Fatal(err)
	}
	params, state := slices.Clone(fb.Params), slices.Clone(fb.State)
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}

	second, err := loader.Open(ctx, "doubling-m", opts)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	sb, err := second.Init(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	copy(sb.Params, params)
	copy(sb.State, state)
	if err := second.Restore(ctx, blob); err != nil {
		t.Fatal(err)
	}
	for s := at; s < len(want); s++ {
		grad(sb.Grads, sb.Params)
		r, err := second.Step(ctx, optimizer.StepRequest{Step: int64(s), LR: lrAt(s)})
		if err != nil {
			t.Fatal(err)
		}
		if r != want[s] {
			t.Fatalf("restored plugin step %d: %+v, want %+v", s, r, want[s])
		}
	}
	for i := range lb.Params {
		if math.Float32bits(sb.Params[i]) != math.Float32bits(lb.Params[i]) {
			t.Fatalf("params[%d]: restored plugin %v, uninterrupted in-process %v", i, sb.Params[i], lb.Params[i])
		}
	}
	for i := range lb.State {
		if math.Float32bits(sb.State[i]) != math.Float32bits(lb.State[i]) {
			t.Fatalf("state[%d]: restored plugin %v, uninterrupted in-process %v", i, sb.State[i], lb.State[i])
		}
	}
	if _, err := second.Init(ctx, optimizer.InitConfig{NumParams: 3, Hyperparams: map[string]string{"double_every": "0"}}); err == nil ||
		!strings.Contains(err.Error(), `double_every="0"`) || !strings.Contains(err.Error(), "[1, 1e+06]") {
		t.Errorf("Init with double_every=0: %v, want a refusal with the valid range", err)
	}
}
