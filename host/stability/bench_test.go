package stability

import (
	"context"
	"fmt"
	"testing"

	"github.com/lrsgd-lab/lrsgd/host/data"
	"github.com/lrsgd-lab/lrsgd/host/train"
	"github.com/lrsgd-lab/lrsgd/plugins/blocks"
	"github.com/lrsgd-lab/lrsgd/plugins/optimizer"
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

// BenchmarkProbeCost compares one plain LeNet run (synthetic set, 2048
// training and 512 test images, batch 64, one epoch, lrsgd-c so M = 10)
// with the probe at K = 1 and K = 3, stepping one or two runs at a time.
// Run with: go test ./host/stability -run XXX -bench ProbeCost -benchtime 2x
func BenchmarkProbeCost(b *testing.B) {
	tr, te, err := data.Load(context.Background(), data.Source{Dataset: data.Synthetic, TrainSize: 2048, TestSize: 512, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	cfg := train.Config{Model: "lenet", Train: tr, Test: te, Epochs: 0.25, BatchSize: 64, EvalEvery: 0.125, Seed: 1,
		Schedule: train.Schedule{Kind: "constant", LR: 0.05}}
	open := func(context.Context) (optimizer.Optimizer, error) { return blocks.NewLRSGDC(), nil }
	b.Run("plain", func(b *testing.B) {
		for b.Loop() {
			if _, err := train.Run(context.Background(), cfg, blocks.NewLRSGDC(), train.Hooks{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, c := range []struct{ k, par int }{{1, 1}, {1, 2}, {3, 1}, {3, 2}} {
		b.Run(fmt.Sprintf("probe/K=%d/parallel=%d", c.k, c.par), func(b *testing.B) {
			for b.Loop() {
				if _, err := Probe(context.Background(), cfg, Config{Replace: c.k, Parallel: c.par}, open, Hooks{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
