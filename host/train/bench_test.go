package train

import (
	"context"
	"testing"

	"github.com/lrsgd-lab/lrsgd/plugins/blocks"
)

// BenchmarkStep measures one Trainer.Step (minibatch from the stream,
// forward, backward, gradient copy, in-process SGD update, divergence
// check) for LeNet on the synthetic set at batch 128, with host/ops and
// with Gorgonia's own operators. allocs/op is the number to watch.
func BenchmarkStep(b *testing.B) {
	for _, stock := range []bool{false, true} {
		name := "fast"
		if stock {
			name = "stock"
		}
		b.Run("lenet-128-"+name, func(b *testing.B) {
			cfg := baseConfig(b)
			cfg.BatchSize, cfg.StockOps, cfg.Epochs = 128, stock, 1e6
			opt := blocks.NewSGD()
			defer opt.Close()
			tr, err := New(context.Background(), cfg, opt)
			if err != nil {
				b.Fatal(err)
			}
			defer tr.Close()
			ctx := context.Background()
			for range 3 {
				if _, err := tr.Step(ctx); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := tr.Step(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
