package models

import (
	"math"
	"testing"
)

// fillInput writes deterministic pseudo-random pixels in [-1, 1).
func fillInput(x []float32, seed uint64) {
	r := newRNG(seed)
	for i := range x {
		x[i] = float32(2*r.Float64() - 1)
	}
}

func newInit(t *testing.T, name string, in Input, seed uint64) (*Model, []float32, []float32) {
	return newInitOpts(t, name, in, seed, Options{})
}

func newInitOpts(t *testing.T, name string, in Input, seed uint64, opts Options) (*Model, []float32, []float32) {
	t.Helper()
	m, err := New(name, in, opts)
	if err != nil {
		t.Fatal(err)
	}
	params := make([]float32, m.NumParams())
	stats := make([]float32, m.NumStats())
	if err := m.Init(params, stats, seed); err != nil {
		t.Fatal(err)
	}
	return m, params, stats
}

func TestOutputShapesAndOneStep(t *testing.T) {
	cifar := Input{C: 3, H: 32, W: 32, Classes: 10}
	fmnist := Input{C: 1, H: 28, W: 28, Classes: 10}
	tests := []struct {
		name  string
		in    Input
		batch int
		lr    float32
	}{
		{"lenet", cifar, 3, 0.05},
		{"lenet", fmnist, 3, 0.05},
		{"mlp", cifar, 3, 0.05},
		{"mlp", fmnist, 2, 0.05},
		{"vgg16", cifar, 2, 0.01},
		{"resnet18", cifar, 2, 0.01},
	}
	for _, tc := range tests {
		t.Run(tc.name+"/"+tc.in.String(), func(t *testing.T) {
			if testing.Short() && (tc.name == "vgg16" || tc.name == "resnet18") {
				t.Skip("short: big model")
			}
			m, params, stats := newInit(t, tc.name, tc.in, 1)
			tr, err := m.NewNet(params, stats, tc.batch, Train, 7)
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Close()
			ev, err := m.NewNet(params, stats, tc.batch, Eval, 7)
			if err != nil {
				t.Fatal(err)
			}
			defer ev.Close()
			if len(tr.Input()) != tc.batch*tc.in.Size() || len(ev.Input()) != tc.batch*tc.in.Size() {
				t.Fatalf("input buffers %d, %d, want %d", len(tr.Input()), len(ev.Input()), tc.batch*tc.in.Size())
			}
			fillInput(tr.Input(), 3)
			copy(ev.Input(), tr.Input())
			labels := make([]int, tc.batch)
			for i := range labels {
				labels[i] = i % tc.in.Classes
			}
			losses := make([]float64, tc.batch)
			if _, err := ev.Evaluate(labels, tc.batch, losses); err != nil {
				t.Fatal(err)
			}
			if got := len(ev.Logits()); got != tc.batch*tc.in.Classes {
				t.Fatalf("logits has %d values, want %d", got, tc.batch*tc.in.Classes)
			}
			grads := make([]float32, m.NumParams())
			loss0, err := tr.TrainStep(labels, 0, grads)
			if err != nil {
				t.Fatal(err)
			}
			if math.IsNaN(loss0) || loss0 <= 0 {
				t.Fatalf("loss %v", loss0)
			}
			var norm float64
			for _, g := range grads {
				norm += float64(g) * float64(g)
			}
			if !(norm > 0) || math.IsInf(norm, 0) {
				t.Fatalf("gradient norm² %v", norm)
			}
			for i := range params {
				params[i] -= tc.lr * grads[i]
			}
			// Dropout masks are keyed; the same key gives the same masks,
			// so the second loss sees only the parameter change.
			loss1, err := tr.TrainStep(labels, 0, grads)
			if err != nil {
				t.Fatal(err)
			}
			if !(loss1 < loss0) {
				t.Errorf("loss %v after a gradient step, was %v", loss1, loss0)
			}
			t.Logf("loss %.4f -> %.4f, |g| %.4g", loss0, loss1, math.Sqrt(norm))
		})
	}
}
