package loader

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"

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
//   - plugin: the lrsgd-r plugin process over the same kind of mapping,
//     Steps on the step channel;
//   - plugin-rpc: the same with Steps as gRPC calls (Options.StepRPC).
//
// plugin − inprocess-shm is the cost of the transport (the RPC round trip
// and the process switch) with the memory layout held fixed;
// plugin − inprocess is what a caller sees. ns/op is the mean step time,
// median-ns/step the median, which bench/plugin-overhead.sh reports, and
// median-cpu-ns/step the median CPU time the step costs this process plus
// the plugin process (a measure less sensitive to a loaded machine), and
// for the plugin median-rpc-ns/step, the median of each step's wall time
// minus the time the plugin spent inside the optimizer's Step (reported in
// StepResponse.compute_nanos): the round trip alone.
// Refilling the gradient between steps is not timed. Run it with a fixed
// -benchtime (e.g. 50x).
func BenchmarkStep(b *testing.B) {
	for _, n := range []int{62_006, 1_000_000, 11_200_000} {
		for _, where := range []string{"inprocess", "inprocess-shm", "plugin", "plugin-rpc"} {
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
	case "plugin", "plugin-rpc":
		if opt, err = Open(ctx, "lrsgd-r", Options{Dir: binDir, Logger: hclog.NewNullLogger(), StepRPC: where == "plugin-rpc"}); err != nil {
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
	// CPU time of the processes involved: this one, plus the plugin's.
	pids := []int{os.Getpid()}
	if r, ok := opt.(*remote); ok {
		pids = append(pids, r.cmd.Process.Pid)
	}
	cpu := func() time.Duration {
		var sum time.Duration
		for _, pid := range pids {
			sum += processCPU(b, pid)
		}
		return sum
	}
	rem, _ := opt.(*remote)
	times := make([]time.Duration, 0, b.N)
	cpus := make([]time.Duration, 0, b.N)
	rpcs := make([]time.Duration, 0, b.N) // plugin: wall time minus the plugin's time in the update
	b.SetBytes(int64(4 * n))
	b.ResetTimer()
	b.StopTimer()
	for range b.N {
		copy(buf.Grads, g0)
		b.StartTimer() // outside the measured window: Start/StopTimer read memory statistics
		c0 := cpu()
		t0 := time.Now()
		if _, err := opt.Step(ctx, optimizer.StepRequest{Step: step, LR: 0.1}); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		c1 := cpu()
		b.StopTimer()
		times = append(times, t1.Sub(t0))
		cpus = append(cpus, c1-c0)
		if rem != nil {
			rpcs = append(rpcs, t1.Sub(t0)-rem.lastCompute)
		}
		step++
	}
	b.ReportMetric(float64(median(times).Nanoseconds()), "median-ns/step")
	b.ReportMetric(float64(median(cpus).Nanoseconds()), "median-cpu-ns/step")
	if rem != nil {
		b.ReportMetric(float64(median(rpcs).Nanoseconds()), "median-rpc-ns/step")
	}
}

func median(d []time.Duration) time.Duration {
	slices.Sort(d)
	return d[len(d)/2]
}

// processCPU returns the CPU time consumed so far by all threads of the
// process pid, from its Linux CPU-time clock (CPUCLOCK_SCHED, whole
// process: clockid = ^pid<<3 | 2).
func processCPU(b *testing.B, pid int) time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(int32((^pid)<<3|2), &ts); err != nil {
		b.Fatalf("CPU clock of process %d: %v", pid, err)
	}
	return time.Duration(ts.Nano())
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

// BenchmarkRoundTrip isolates the transport, for Steps on the step
// channel and as gRPC calls (Options.StepRPC): the test plugin spins (no
// memory traffic) for busy ms in each step of a 100-parameter optimizer,
// and median-rpc-ns/step is each step's wall time minus the plugin's time
// inside the step. It shows how the round trip grows when both processes
// sit idle longer between messages (wake-up latency, larger on a loaded
// machine).
func BenchmarkRoundTrip(b *testing.B) {
	for _, busy := range []int{0, 2, 35} {
		for _, how := range []string{"channel", "rpc"} {
			b.Run(fmt.Sprintf("busy=%dms/%s", busy, how), func(b *testing.B) { benchRoundTrip(b, busy, how == "rpc") })
		}
	}
}

func benchRoundTrip(b *testing.B, busy int, stepRPC bool) {
	b.Setenv("LRSGD_PLUGIN_TEST_BUSY_MS", fmt.Sprint(busy))
	ctx := context.Background()
	opt, err := Open(ctx, "testplugin", Options{Dir: binDir, Logger: hclog.NewNullLogger(), StepRPC: stepRPC})
	if err != nil {
		b.Fatal(err)
	}
	defer opt.Close()
	if _, err := opt.Init(ctx, optimizer.InitConfig{NumParams: 100}); err != nil {
		b.Fatal(err)
	}
	rem := opt.(*remote)
	rpcs := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for s := range int64(b.N) {
		t0 := time.Now()
		if _, err := opt.Step(ctx, optimizer.StepRequest{Step: s, LR: 0.01}); err != nil {
			b.Fatal(err)
		}
		rpcs = append(rpcs, time.Since(t0)-rem.lastCompute)
	}
	b.ReportMetric(float64(median(rpcs).Nanoseconds()), "median-rpc-ns/step")
}
