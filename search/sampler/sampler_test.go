package sampler

import (
	"errors"
	"math"
	"slices"
	"sync"
	"testing"

	"github.com/c-bata/goptuna"
)

// sample draws name for the trial numbered number.
func sample(t *testing.T, r *Random, number int, name string, dist any) float64 {
	t.Helper()
	v, err := r.Sample(nil, goptuna.FrozenTrial{Number: number}, name, dist)
	if err != nil {
		t.Fatalf("trial %d, %s: %v", number, name, err)
	}
	return v
}

// TestDiscreteValues checks that over a few hundred trials every value of
// a discrete distribution is drawn, its upper bound included, and no other.
func TestDiscreteValues(t *testing.T) {
	tests := []struct {
		name string
		dist any
		want []float64
	}{
		{"int", goptuna.IntUniformDistribution{Low: 0, High: 2}, []float64{0, 1, 2}},
		{"int negative", goptuna.IntUniformDistribution{Low: -3, High: -1}, []float64{-3, -2, -1}},
		{"int single", goptuna.IntUniformDistribution{Low: 4, High: 4}, []float64{4}},
		{"step-int on the grid", goptuna.StepIntUniformDistribution{Low: 1, High: 10, Step: 3}, []float64{1, 4, 7, 10}},
		{"step-int off the grid", goptuna.StepIntUniformDistribution{Low: 0, High: 10, Step: 4}, []float64{0, 4, 8}},
		{"step-int single", goptuna.StepIntUniformDistribution{Low: 2, High: 3, Step: 5}, []float64{2}},
		{"discrete-uniform", goptuna.DiscreteUniformDistribution{Low: 0, High: 1, Q: 0.25}, []float64{0, 0.25, 0.5, 0.75, 1}},
		{"discrete-uniform off the grid", goptuna.DiscreteUniformDistribution{Low: 1, High: 2.9, Q: 0.5}, []float64{1, 1.5, 2, 2.5}},
		{"categorical", goptuna.CategoricalDistribution{Choices: []string{"a", "b", "c", "d"}}, []float64{0, 1, 2, 3}},
		{"categorical single", goptuna.CategoricalDistribution{Choices: []string{"a"}}, []float64{0}},
	}
	r := NewRandom(1)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seen := map[float64]int{}
			for n := range 300 {
				seen[sample(t, r, n, "x", tt.dist)]++
			}
			for _, w := range tt.want {
				if seen[w] == 0 {
					t.Errorf("%v never drawn in 300 trials: %v", w, seen)
				}
			}
			if len(seen) != len(tt.want) {
				t.Errorf("drew %v, want only %v", seen, tt.want)
			}
		})
	}
}

// TestContinuousRange checks that floats and log-floats stay within their
// bounds and cover the range (uniformly in log space for log-floats).
func TestContinuousRange(t *testing.T) {
	tests := []struct {
		name      string
		dist      any
		low, high float64
		log       bool
	}{
		{"uniform", goptuna.UniformDistribution{Low: -1, High: 3}, -1, 3, false},
		{"log-uniform", goptuna.LogUniformDistribution{Low: 1e-4, High: 1}, 1e-4, 1, true},
		{"log-uniform narrow", goptuna.LogUniformDistribution{Low: 0.05, High: 0.5}, 0.05, 0.5, true},
	}
	r := NewRandom(7)
	const trials = 1000
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lo, hi := tt.low, tt.high
			if tt.log {
				lo, hi = math.Log(lo), math.Log(hi)
			}
			var quarters [4]int
			for n := range trials {
				v := sample(t, r, n, "x", tt.dist)
				if !(v >= tt.low && v <= tt.high) {
					t.Fatalf("trial %d: %v outside [%v, %v]", n, v, tt.low, tt.high)
				}
				if tt.log {
					v = math.Log(v)
				}
				quarters[min(int(4*(v-lo)/(hi-lo)), 3)]++
			}
			for i, c := range quarters {
				// 250 expected; 150 is over 7 standard deviations away.
				if c < 150 {
					t.Errorf("quarter %d of the range got %d of %d draws: %v", i, c, trials, quarters)
				}
			}
		})
	}
	for _, d := range []any{goptuna.UniformDistribution{Low: 2, High: 2}, goptuna.LogUniformDistribution{Low: 2, High: 2}} {
		if v := sample(t, r, 0, "x", d); v != 2 {
			t.Errorf("%#v: drew %v, want 2", d, v)
		}
	}
}

// draws returns the values of three parameters of trials 0..19.
func draws(t *testing.T, r *Random) []float64 {
	dists := map[string]any{
		"lr":    goptuna.LogUniformDistribution{Low: 1e-4, High: 1},
		"steps": goptuna.IntUniformDistribution{Low: 1, High: 50},
		"rule":  goptuna.CategoricalDistribution{Choices: []string{"sgd", "adam", "momentum"}},
	}
	var vs []float64
	for n := range 20 {
		for _, name := range []string{"lr", "steps", "rule"} {
			vs = append(vs, sample(t, r, n, name, dists[name]))
		}
	}
	return vs
}

func TestSeed(t *testing.T) {
	a, b, c := draws(t, NewRandom(1)), draws(t, NewRandom(1)), draws(t, NewRandom(2))
	if !slices.Equal(a, b) {
		t.Errorf("same seed, different draws:\n%v\n%v", a, b)
	}
	same := 0
	for i := range a {
		if a[i] == c[i] {
			same++
		}
	}
	// Only a categorical or a narrow int may agree by chance.
	if same > len(a)/4 {
		t.Errorf("seeds 1 and 2 agree on %d of %d draws:\n%v\n%v", same, len(a), a, c)
	}
}

// TestOrderIndependent checks that a draw does not depend on the draws
// made before it, nor on concurrent ones: trial 7's values are the same
// whether it is sampled alone, after other trials, or while eight
// goroutines sample other trials from the same sampler.
func TestOrderIndependent(t *testing.T) {
	d := goptuna.UniformDistribution{Low: 0, High: 1}
	alone := sample(t, NewRandom(3), 7, "x", d)

	r := NewRandom(3)
	for n := range 7 {
		sample(t, r, n, "x", d)
		sample(t, r, n, "y", d)
	}
	if v := sample(t, r, 7, "x", d); v != alone {
		t.Errorf("after other trials: %v, alone: %v", v, alone)
	}

	var wg sync.WaitGroup
	got := make([]float64, 8)
	for g := range 8 {
		wg.Go(func() {
			for n := range 100 {
				sample(t, r, 100+n, "x", d)
			}
			got[g] = sample(t, r, 7, "x", d)
		})
	}
	wg.Wait()
	for g, v := range got {
		if v != alone {
			t.Errorf("goroutine %d: %v, alone: %v", g, v, alone)
		}
	}

	// Another parameter of the same trial, or another trial, draws anew.
	if sample(t, r, 7, "y", d) == alone || sample(t, r, 8, "x", d) == alone {
		t.Error("a different parameter or trial repeats the draw")
	}
}

func TestBadDistribution(t *testing.T) {
	tests := []struct {
		name string
		dist any
	}{
		{"float low > high", goptuna.UniformDistribution{Low: 2, High: 1}},
		{"float infinite", goptuna.UniformDistribution{Low: 0, High: math.Inf(1)}},
		{"log-float low 0", goptuna.LogUniformDistribution{Low: 0, High: 1}},
		{"int low > high", goptuna.IntUniformDistribution{Low: 3, High: 1}},
		{"step-int step 0", goptuna.StepIntUniformDistribution{Low: 0, High: 4, Step: 0}},
		{"discrete-uniform q 0", goptuna.DiscreteUniformDistribution{Low: 0, High: 1, Q: 0}},
		{"categorical empty", goptuna.CategoricalDistribution{}},
		{"pointer", &goptuna.UniformDistribution{Low: 0, High: 1}},
	}
	r := NewRandom(1)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if v, err := r.Sample(nil, goptuna.FrozenTrial{Number: 3}, "x", tt.dist); err == nil {
				t.Errorf("drew %v, want an error", v)
			}
		})
	}
	_, err := r.Sample(nil, goptuna.FrozenTrial{}, "x", "not a distribution")
	if !errors.Is(err, goptuna.ErrUnknownDistribution) {
		t.Errorf("unknown distribution: %v, want goptuna.ErrUnknownDistribution", err)
	}
}

func TestFixedGivesQueuedValues(t *testing.T) {
	dist := goptuna.StepIntUniformDistribution{Low: 0, High: 10, Step: 5}
	trial := goptuna.FrozenTrial{Number: 3, SystemAttrs: map[string]string{"fixed_params": `{"every": 10}`}}
	s := Fixed(NewRandom(1))
	if v, err := s.Sample(nil, trial, "every", dist); err != nil || v != 10 {
		t.Errorf("queued step-int upper bound: %v, %v; want 10", v, err)
	}
	want, _ := NewRandom(1).Sample(nil, trial, "other", dist)
	if v, err := s.Sample(nil, trial, "other", dist); err != nil || v != want {
		t.Errorf("a value not queued: %v, %v; want the inner sampler's %v", v, err, want)
	}
}
