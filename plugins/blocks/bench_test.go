package blocks_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/lrsgd-lab/lrsgd/plugins/blocks"
	"github.com/lrsgd-lab/lrsgd/plugins/optimizer"
)

// BenchmarkStep measures one in-process Step at LeNet (62,006), 1M and
// ResNet18 (11.2M) sizes. SetBytes is 4·NumParams, so MB/s reads as
// megabytes of parameters updated per second. The gradient is written
// once; Step overwrites it with the effective gradient, which does not
// change the cost.
func BenchmarkStep(b *testing.B) {
	for _, opt := range []struct {
		name string
		new  func() optimizer.Optimizer
	}{{"sgd", blocks.NewSGD}, {"lrsgd-r", blocks.NewLRSGDR}} {
		for _, n := range []int{62006, 1_000_000, 11_200_000} {
			b.Run(fmt.Sprintf("%s/n=%d", opt.name, n), func(b *testing.B) {
				ctx := context.Background()
				o := opt.new()
				buf, err := o.Init(ctx, optimizer.InitConfig{NumParams: n, Seed: 1})
				if err != nil {
					b.Fatal(err)
				}
				for i := range buf.Params {
					buf.Params[i] = float32(i%7) * 0.1
					buf.Grads[i] = float32(i%5)*0.01 - 0.02
				}
				b.SetBytes(int64(4 * n))
				b.ReportAllocs()
				var step int64
				for b.Loop() {
					if _, err := o.Step(ctx, optimizer.StepRequest{Step: step, LR: 0.1}); err != nil {
						b.Fatal(err)
					}
					step++
				}
			})
		}
	}
}
