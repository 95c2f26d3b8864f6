package loader

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/lrsgd-lab/lrsgd/plugins/blocks"
	"github.com/lrsgd-lab/lrsgd/plugins/optimizer"
)

// BenchmarkStep times one lrsgd-r step (reference preset) in-process and
// through the plugin process at LeNet (62,006), 1M and ResNet18 (11.2M)
// sizes. ns/op is the mean step time; median-ns/step the median, which
// bench/plugin-overhead.sh reports. Refilling the gradient between steps
// is not timed. Run it with a fixed -benchtime (e.g. 50x).
func BenchmarkStep(b *testing.B) {
	for _, n := range []int{62_006, 1_000_000, 11_200_000} {
		for _, where := range []string{"inprocess", "plugin"} {
			b.Run(fmt.Sprintf("n=%d/%s", n, where), func(b *testing.B) { benchStep(b, n, where) })
		}
	}
}

func benchStep(b *testing.B, n int, where string) {
	ctx := context.Background()
	var opt optimizer.Optimizer
	if where == "plugin" {
		var err error
		opt, err = Open(ctx, "lrsgd-r", Options{Dir: binDir, Logger: hclog.NewNullLogger()})
		if err != nil {
			b.Fatal(err)
		}
	} else {
		opt = blocks.NewLRSGDR()
	}
	defer opt.Close()
	buf, err := opt.Init(ctx, optimizer.InitConfig{NumParams: n, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(2, 3))
	g0 := make([]float32, n)
	for i := range g0 {
		buf.Params[i] = float32(r.NormFloat64()) * 0.05
		g0[i] = float32(r.NormFloat64()) * 0.01
	}
	step := int64(0)
	for ; step < 3; step++ { // fault the pages in on both sides
		copy(buf.Grads, g0)
		if _, err := opt.Step(ctx, optimizer.StepRequest{Step: step, LR: 0.1}); err != nil {
			b.Fatal(err)
		}
	}
	times := make([]time.Duration, 0, b.N)
	b.SetBytes(int64(4 * n))
	b.ResetTimer()
	b.StopTimer()
	for range b.N {
		copy(buf.Grads, g0)
		b.StartTimer()
		t0 := time.Now()
		if _, err := opt.Step(ctx, optimizer.StepRequest{Step: step, LR: 0.1}); err != nil {
			b.Fatal(err)
		}
		times = append(times, time.Since(t0))
		b.StopTimer()
		step++
	}
	slices.Sort(times)
	b.ReportMetric(float64(times[len(times)/2].Nanoseconds()), "median-ns/step")
}
