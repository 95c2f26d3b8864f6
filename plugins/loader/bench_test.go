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
	"github.com/lrsgd-lab/lrsgd/plugins/sdk"
	"github.com/lrsgd-lab/lrsgd/plugins/shm"
)

// BenchmarkStep times one lrsgd-r step (reference preset) at LeNet
// (62,006), 1M and ResNet18 (11.2M) sizes, three ways:
//
//   - inprocess: blocks.NewLRSGDR() on its own Go-heap buffers;
//   - inprocess-shm: the same optimizer bound (InitBuffers) to a memfd
//     mapping with the plugin's layout, in the benchmark process;
//   - plugin: the lrsgd-r plugin process over the same kind of mapping.
//
// plugin − inprocess-shm is the cost of the transport (the RPC round trip
// and the process switch) with the memory layout held fixed;
// plugin − inprocess is what a caller sees. ns/op is the mean step time,
// median-ns/step the median, which bench/plugin-overhead.sh reports.
// Refilling the gradient between steps is not timed. Run it with a fixed
// -benchtime (e.g. 50x).
func BenchmarkStep(b *testing.B) {
	for _, n := range []int{62_006, 1_000_000, 11_200_000} {
		for _, where := range []string{"inprocess", "inprocess-shm", "plugin"} {
			b.Run(fmt.Sprintf("n=%d/%s", n, where), func(b *testing.B) { benchStep(b, n, where) })
		}
	}
}

func benchStep(b *testing.B, n int, where string) {
	ctx := context.Background()
	cfg := optimizer.InitConfig{NumParams: n, Seed: 1}
	var (
		opt optimizer.Optimizer
		buf optimizer.Buffers
		err error
	)
	switch where {
	case "plugin":
		if opt, err = Open(ctx, "lrsgd-r", Options{Dir: binDir, Logger: hclog.NewNullLogger()}); err != nil {
			b.Fatal(err)
		}
		buf, err = opt.Init(ctx, cfg)
	case "inprocess-shm":
		opt = blocks.NewLRSGDR()
		var m *shm.Mapping
		if m, err = mapLike(ctx, opt, n); err != nil {
			b.Fatal(err)
		}
		defer m.Unmap()
		buf = m.Buffers()
		err = opt.(sdk.Binder).InitBuffers(ctx, cfg, buf)
	default:
		opt = blocks.NewLRSGDR()
		buf, err = opt.Init(ctx, cfg)
	}
	if err != nil {
		b.Fatal(err)
	}
	defer opt.Close()
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

// mapLike maps a fresh memfd with the layout the loader would give opt.
func mapLike(ctx context.Context, opt optimizer.Optimizer, n int) (*shm.Mapping, error) {
	d, err := opt.Describe(ctx)
	if err != nil {
		return nil, err
	}
	l, err := shm.NewLayout(n, d.StateVectors)
	if err != nil {
		return nil, err
	}
	f, err := shm.Create("bench")
	if err != nil {
		return nil, err
	}
	defer f.Close() // the mapping keeps the memory
	if err := shm.Resize(f, l.Size); err != nil {
		return nil, err
	}
	return shm.Map(f, l)
}
