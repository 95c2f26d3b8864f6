package stability

import (
	"context"
	"fmt"
	"testing"
)

// lenetParams is LeNet's parameter count (62,006).
const lenetParams = 62006

// BenchmarkBitEqual measures the per-step coupling check on LeNet-sized
// vectors (the worst case: equal vectors, compared to the end).
func BenchmarkBitEqual(b *testing.B) {
	x := make([]float32, lenetParams)
	y := make([]float32, lenetParams)
	b.SetBytes(8 * lenetParams)
	for b.Loop() {
		if !bitEqual(x, y) {
			b.Fatal("unequal")
		}
	}
}

// BenchmarkL2Diff measures ‖w − v‖ on LeNet-sized vectors (per evaluation).
func BenchmarkL2Diff(b *testing.B) {
	x := make([]float32, lenetParams)
	y := make([]float32, lenetParams)
	for i := range y {
		y[i] = float32(i)
	}
	for b.Loop() {
		l2Diff32(x, y)
	}
}

type nopRunner struct{ p []float32 }

func (n *nopRunner) Step(context.Context) (StepInfo, error)      { return StepInfo{}, nil }
func (n *nopRunner) Params() []float32                           { return n.p }
func (n *nopRunner) TestLosses(context.Context, []float64) error { return nil }
func (n *nopRunner) Close() error                                { return nil }

// BenchmarkLockstep measures the probe's synchronisation cost per inner
// step: stepping K+1 no-op runners through parallel().
func BenchmarkLockstep(b *testing.B) {
	for _, k := range []int{1, 4} {
		for _, par := range []int{1, 2} {
			b.Run(fmt.Sprintf("runs=%d/parallel=%d", k+1, par), func(b *testing.B) {
				ms := make([]*member, k+1)
				for i := range ms {
					ms[i] = &member{run: &nopRunner{}}
				}
				ctx := context.Background()
				for b.Loop() {
					if err := parallel(ctx, par, ms, func(ctx context.Context, m *member) error {
						var err error
						m.info, err = m.run.Step(ctx)
						return err
					}); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
