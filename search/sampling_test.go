package search

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/lrsgd-lab/lrsgd/search/study"
)

// samplingStudy samples a float, two ints whose upper bounds can be drawn
// and a categorical; the fake runner scores gamma.
const samplingStudy = `
name: sampling
optimizer: lrsgd-r
model: lenet
dataset: synthetic
train: {epochs: 1, batch_size: 8, train_size: 16, test_size: 16, schedule: {kind: constant, lr: 0.1}}
space:
  - {name: gamma, type: log-float, low: 1/20, high: 1/2}
  - {name: inner, type: int, low: 1, high: 3}
  - {name: every, type: int, low: 0, high: 10, step: 5}
  - {name: rule, type: categorical, choices: [sgd, adam, momentum]}
objective: {metric: test_accuracy, direction: maximize}
trials: 12
sampler: random
seed: 3
`

// sampledParams runs the sampling study with the sampler kind in a fresh
// SQLite store, in one Tune call per entry of calls (its --trials; 0 = up
// to the study's total), and returns each trial's parameters by number.
func sampledParams(t *testing.T, kind string, workers int, calls ...int) map[int]map[string]any {
	t.Helper()
	parsed, err := study.Parse([]byte(samplingStudy), "sampling.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s, err := parsed.Resolve("", []string{"sampler=" + kind})
	if err != nil {
		t.Fatal(err)
	}
	st := openStore(t, filepath.Join(t.TempDir(), "s.db"))
	for _, n := range calls {
		if _, err := Tune(context.Background(), Config{Study: s, Store: st, Runner: &fakeRunner{}, Trials: n, Workers: workers}); err != nil {
			t.Fatalf("%s, %d workers: %v", kind, workers, err)
		}
	}
	params := map[int]map[string]any{}
	for _, tr := range trialsOf(t, st, "sampling") {
		if tr.State != "COMPLETE" {
			t.Fatalf("%s: trial %d %s", kind, tr.Number, tr.State)
		}
		params[tr.Number] = tr.Params
	}
	if len(params) != s.Trials {
		t.Fatalf("%s: %d trials, want %d", kind, len(params), s.Trials)
	}
	return params
}

// firstTrials returns the parameters of trials 0..n-1.
func firstTrials(p map[int]map[string]any, n int) map[int]map[string]any {
	first := map[int]map[string]any{}
	for i := range n {
		first[i] = p[i]
	}
	return first
}

// TestSamplingReproducible runs the same study with the same seed in
// fresh stores and compares the trials' parameters: with the random
// sampler all of them, with any number of workers and across a resume;
// with TPE its startup trials, which are the random sampler's draws.
func TestSamplingReproducible(t *testing.T) {
	random := sampledParams(t, study.SamplerRandom, 1, 0)

	// Every int value is drawn, the upper bounds included, and every choice.
	seen := map[string]map[any]bool{}
	for _, p := range random {
		for k, v := range p {
			if seen[k] == nil {
				seen[k] = map[any]bool{}
			}
			seen[k][v] = true
		}
	}
	for _, w := range []struct {
		param  string
		values []any
	}{
		{"inner", []any{1, 2, 3}},
		{"every", []any{0, 5, 10}},
		{"rule", []any{"sgd", "adam", "momentum"}},
	} {
		for _, v := range w.values {
			if !seen[w.param][v] {
				t.Errorf("%s = %v never drawn in %d trials (drew %v)", w.param, v, len(random), slices.Collect(maps.Keys(seen[w.param])))
			}
		}
	}
	if len(seen["gamma"]) != len(random) {
		t.Errorf("gamma took %d distinct values in %d trials", len(seen["gamma"]), len(random))
	}

	const startup = 5 // TPE's startup trials, as openStudy sets them
	tests := []struct {
		name    string
		kind    string
		workers int
		calls   []int
		compare int // trials compared with the random study's
	}{
		{"random again", study.SamplerRandom, 1, []int{0}, 12},
		{"random, 3 workers", study.SamplerRandom, 3, []int{0}, 12},
		{"random, resumed", study.SamplerRandom, 1, []int{5, 0}, 12},
		{"tpe startup", study.SamplerTPE, 1, []int{0}, startup},
		{"tpe startup, 3 workers", study.SamplerTPE, 3, []int{0}, startup},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := firstTrials(sampledParams(t, tt.kind, tt.workers, tt.calls...), tt.compare)
			want := firstTrials(random, tt.compare)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("parameters differ from the first random study's:\n got %s\nwant %s", fmtTrials(got), fmtTrials(want))
			}
		})
	}
}

func fmtTrials(p map[int]map[string]any) string {
	var s string
	for _, n := range slices.Sorted(maps.Keys(p)) {
		s += fmt.Sprintf("\n  %d: %v", n, p[n])
	}
	return s
}

// TestConfigKeyLeavesOutSeed: a configuration is its sampled values less a
// seed parameter, so that a grid over seed groups as seeds.
func TestConfigKeyLeavesOutSeed(t *testing.T) {
	for _, c := range []struct {
		params map[string]string
		want   string
	}{
		{map[string]string{"optimizer": "sgd", "seed": "3"}, "optimizer=sgd"},
		{map[string]string{"gamma": "0.1", "lr": "0.05"}, "gamma=0.1,lr=0.05"},
		{map[string]string{"seed": "1"}, ""},
	} {
		if got := configKey(c.params); got != c.want {
			t.Errorf("configKey(%v) = %q, want %q", c.params, got, c.want)
		}
	}
}
