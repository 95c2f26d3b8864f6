package sdktest

import (
	"context"
	"math"
	"slices"
	"testing"

	"github.com/lrsgd-lab/lrsgd/plugins/optimizer"
)

// QuadGrad fills g with the gradient at w of the fixed quadratic loss
// ½·Σ c_i w_i² with c_i = 1 + i%3: g_i = c_i·w_i. Unlike Grad it is the
// same at every step, simple enough to write out in a test's own
// reference implementation.
func QuadGrad(g, w []float32) {
	for i := range g {
		g[i] = float32(1+i%3) * w[i]
	}
}

// QuadStart fills w with the starting point used with QuadGrad:
// w_i = (i+1)/4, with alternating signs.
func QuadStart(w []float32) {
	for i := range w {
		w[i] = float32(i+1) * 0.25 * float32(1-2*(i%2))
	}
}

// SameBits fails the test unless got and want hold the same float32
// values bit for bit; what names the vector in the message.
func SameBits(t testing.TB, what string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%s[%d] = %v (%#x), want %v (%#x)", what, i, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
		}
	}
}

// A Checkpoint is what a host keeps to resume a run in a fresh optimizer
// or plugin process: the optimizer's Save blob and copies of Params and
// State.
type Checkpoint struct {
	Blob          []byte
	Params, State []float32
}

// Save takes a checkpoint of o, whose buffers are b.
func Save(t testing.TB, o optimizer.Optimizer, b optimizer.Buffers) Checkpoint {
	t.Helper()
	blob, err := o.Save(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return Checkpoint{Blob: blob, Params: slices.Clone(b.Params), State: slices.Clone(b.State)}
}

// Restore resumes the checkpointed run in o, freshly initialised with the
// run's InitConfig and with buffers b: it copies the checkpoint's Params
// and State into b and restores its blob.
func (c Checkpoint) Restore(t testing.TB, o optimizer.Optimizer, b optimizer.Buffers) {
	t.Helper()
	copy(b.Params, c.Params)
	copy(b.State, c.State)
	if err := o.Restore(context.Background(), c.Blob); err != nil {
		t.Fatal(err)
	}
}
