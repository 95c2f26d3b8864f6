// Command speedbench measures training-step time of the trainer's models
// (host/models: LeNet, MLP, VGG16-BN, ResNet18) with stock Gorgonia ops,
// with host/ops, and of the same networks in PyTorch (bench/torch_lenet.py
// under Debian's python3-torch), interleaving several repeats of each in
// one run, measures each side's peak RSS in a fresh process, and writes a
// Markdown report to bench/results/<date>.md.
//
//	go run ./bench/cmd/speedbench [-configs lenet/128,resnet18/32] [-repeats 5] [-steps 20] [-threads 2,1] [-stock] [-rss] [-throughput]
//
// With -throughput it also measures steps per second across the machine for
// one training on all cores versus one training per core (GOMAXPROCS=1
// each), the question behind `tune --workers`.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lrsgd-lab/lrsgd/bench"
	"github.com/lrsgd-lab/lrsgd/host/blas"
	"github.com/lrsgd-lab/lrsgd/host/models"
	"github.com/lrsgd-lab/lrsgd/host/ops"
)

type config struct {
	model string
	batch int
}

func (c config) String() string { return fmt.Sprintf("%s b%d", c.model, c.batch) }

// goSteps builds the trainer's model, runs warmup steps, then times steps
// one by one.
func goSteps(ctx context.Context, c config, fast bool, steps, warmup int) ([]float64, float64, error) {
	net, err := bench.New(c.model, c.batch, fast, 1)
	if err != nil {
		return nil, 0, err
	}
	defer net.Close()
	x, labels := bench.SyntheticBatch(rand.New(rand.NewPCG(1, 2)), net.InputSize(), c.batch)
	if err := net.SetBatch(x, labels); err != nil {
		return nil, 0, err
	}
	var ms []float64
	for i := 0; i < warmup+steps; i++ {
		if err := ctx.Err(); err != nil {
			return nil, 0, err
		}
		t0 := time.Now()
		if _, err := net.Step(0.01, 0.9); err != nil {
			return nil, 0, err
		}
		if i >= warmup {
			ms = append(ms, float64(time.Since(t0).Microseconds())/1e3)
		}
	}
	return ms, net.FLOPs, nil
}

// torch talks to torch_lenet.py --serve.
type torch struct {
	cmd     *exec.Cmd
	in      io.WriteCloser
	out     *bufio.Scanner
	version string
}

type torchResult struct {
	Ready    bool      `json:"ready"`
	Torch    string    `json:"torch"`
	Threads  int       `json:"threads"`
	MedianMS float64   `json:"median_ms"`
	MS       []float64 `json:"ms"`
	Error    string    `json:"error"`
}

// startTorch starts a PyTorch server whose thread pools all have the given
// size: torch.set_num_threads (intra-op, OpenMP) and, through the
// environment, the OpenBLAS and OpenMP pools of the libraries it links
// (Debian's torch calls a pthread OpenBLAS that otherwise starts one thread
// per core whatever set_num_threads says).
func startTorch(ctx context.Context, python, script string, threads int) (*torch, error) {
	cmd := exec.CommandContext(ctx, python, script, "--serve", "--threads", strconv.Itoa(threads))
	n := strconv.Itoa(threads)
	cmd.Env = append(os.Environ(), "OMP_NUM_THREADS="+n, "OPENBLAS_NUM_THREADS="+n, "MKL_NUM_THREADS="+n)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s %s: %w", python, script, err)
	}
	t := &torch{cmd: cmd, in: in, out: bufio.NewScanner(out)}
	t.out.Buffer(make([]byte, 1<<20), 1<<20)
	r, err := t.read()
	if err != nil || !r.Ready {
		t.close()
		return nil, fmt.Errorf("%s %s did not start (is python3-torch installed?): %v", python, script, err)
	}
	t.version = r.Torch
	return t, nil
}

func (t *torch) read() (torchResult, error) {
	var r torchResult
	if !t.out.Scan() {
		if err := t.out.Err(); err != nil {
			return r, err
		}
		return r, io.ErrUnexpectedEOF
	}
	if err := json.Unmarshal(t.out.Bytes(), &r); err != nil {
		return r, fmt.Errorf("torch answer %q: %w", t.out.Text(), err)
	}
	if r.Error != "" {
		return r, errors.New(r.Error)
	}
	return r, nil
}

func (t *torch) steps(c config, steps, warmup, threads int) ([]float64, error) {
	if _, err := fmt.Fprintf(t.in, "%s %d %d %d %d\n", c.model, c.batch, steps, warmup, threads); err != nil {
		return nil, err
	}
	r, err := t.read()
	return r.MS, err
}

func (t *torch) close() {
	t.in.Close()
	t.cmd.Wait()
}

func median(x []float64) float64 {
	s := slices.Clone(x)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func cpuModel() string {
	out, err := exec.Command("lscpu").Output()
	if err != nil {
		return "unknown (lscpu failed)"
	}
	for _, l := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "Model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

type row struct {
	cfg                config
	threads            int
	flops              float64
	stock, fast, torch []float64 // per-repeat medians, ms
	goRSS, torchRSS    float64   // peak RSS in MiB (first thread count only)
}

func main() {
	repeats := flag.Int("repeats", 5, "repeats of every measurement, interleaved")
	steps := flag.Int("steps", 20, "timed steps per repeat (stock Gorgonia gets a quarter, at least 3)")
	warmup := flag.Int("warmup", 3, "untimed steps before each repeat")
	configs := flag.String("configs", "lenet/128,lenet/512,mlp/128", "model/batch list (models: "+strings.Join(models.Names(), ", ")+")")
	threadList := flag.String("threads", strconv.Itoa(runtime.NumCPU()), "comma-separated thread counts, one table each: GOMAXPROCS for Go, torch.set_num_threads for PyTorch")
	stock := flag.Bool("stock", true, "also time stock Gorgonia ops (at the first thread count)")
	python := flag.String("python", "/usr/bin/python3", "python with torch (Debian's python3-torch)")
	script := flag.String("torch", "bench/torch_lenet.py", "PyTorch reference script; empty to skip")
	outDir := flag.String("out", "bench/results", "folder for the Markdown report; empty to skip")
	throughput := flag.Bool("throughput", false, "also compare 1 process on all cores with 1 process per core")
	tpSteps := flag.Int("throughput-steps", 150, "steps per process in the throughput test")
	child := flag.String("child", "", "internal: run MODEL/BATCH for -throughput-steps steps and exit")
	childRSS := flag.String("child-rss", "", "internal: run 3 steps of MODEL/BATCH and print the peak RSS in MiB")
	rss := flag.Bool("rss", true, "also measure each config's peak RSS (a fresh process per side, at the first thread count)")
	peak := flag.Float64("peak", bench.PeakGFLOPS, "fp32 peak of all cores in GFLOP/s, for the share column")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if *childRSS != "" {
		c, err := parseConfig(*childRSS)
		if err == nil {
			_, _, err = goSteps(ctx, c, true, 3, 0)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "speedbench child-rss:", err)
			os.Exit(1)
		}
		fmt.Printf("%.1f\n", peakRSS())
		return
	}
	if *child != "" {
		c, err := parseConfig(*child)
		if err == nil {
			_, _, err = goSteps(ctx, c, true, *tpSteps, 0)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "speedbench child:", err)
			os.Exit(1)
		}
		return
	}
	var threads []int
	for _, f := range strings.Split(*threadList, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > runtime.NumCPU() {
			fmt.Fprintf(os.Stderr, "speedbench: -threads %q, want counts in 1..%d\n", *threadList, runtime.NumCPU())
			os.Exit(2)
		}
		threads = append(threads, n)
	}
	if err := run(ctx, *repeats, *steps, *warmup, *configs, threads, *stock, *python, *script, *outDir, *throughput, *tpSteps, *peak, *rss); err != nil {
		fmt.Fprintln(os.Stderr, "speedbench:", err)
		os.Exit(1)
	}
}

func parseConfig(s string) (config, error) {
	m, b, ok := strings.Cut(strings.TrimSpace(s), "/")
	n, err := strconv.Atoi(b)
	if !ok || err != nil || n < 1 || !slices.Contains(models.Names(), m) {
		return config{}, fmt.Errorf("config %q, want MODEL/BATCH with MODEL one of %s", s, strings.Join(models.Names(), ", "))
	}
	return config{m, n}, nil
}

// peakRSS is this process's peak resident set in MiB: VmHWM of
// /proc/self/status, the high-water mark of this program's own memory.
// (ru_maxrss would not do: Linux keeps it across execve, so a child of a
// large parent reports the parent's peak.)
func peakRSS() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			if err != nil {
				return 0
			}
			return kb / 1024
		}
	}
	return 0
}

// measureRSS runs a few steps of c in a fresh process of each side and
// returns their peak resident sets in MiB (0 where not measured): Go in a
// -child-rss child of this binary, PyTorch in a one-shot run of the script.
func measureRSS(ctx context.Context, c config, python, script string, threads int) (goMiB, torchMiB float64, err error) {
	self, err := os.Executable()
	if err != nil {
		return 0, 0, err
	}
	cmd := exec.CommandContext(ctx, self, "-child-rss", c.model+"/"+strconv.Itoa(c.batch))
	cmd.Env = append(os.Environ(), "GOMAXPROCS="+strconv.Itoa(threads))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return 0, 0, fmt.Errorf("rss child %v: %w", c, err)
	}
	if goMiB, err = strconv.ParseFloat(strings.TrimSpace(string(out)), 64); err != nil {
		return 0, 0, fmt.Errorf("rss child %v answered %q: %w", c, out, err)
	}
	if script == "" {
		return goMiB, 0, nil
	}
	n := strconv.Itoa(threads)
	tc := exec.CommandContext(ctx, python, script, "--model", c.model, "--batch", strconv.Itoa(c.batch), "--steps", "3", "--warmup", "1", "--threads", n)
	tc.Env = append(os.Environ(), "OMP_NUM_THREADS="+n, "OPENBLAS_NUM_THREADS="+n, "MKL_NUM_THREADS="+n)
	tc.Stderr = os.Stderr
	tout, err := tc.Output()
	if err != nil {
		return goMiB, 0, fmt.Errorf("torch rss %v: %w", c, err)
	}
	var r struct {
		PeakRSS float64 `json:"peak_rss_mib"`
	}
	if err := json.Unmarshal(tout, &r); err != nil {
		return goMiB, 0, fmt.Errorf("torch rss %v answered %q: %w", c, tout, err)
	}
	return goMiB, r.PeakRSS, nil
}

func run(ctx context.Context, repeats, steps, warmup int, configs string, threads []int, stock bool, python, script, outDir string, throughput bool, tpSteps int, peak float64, rss bool) error {
	var cfgs []config
	for _, s := range strings.Split(configs, ",") {
		c, err := parseConfig(s)
		if err != nil {
			return err
		}
		cfgs = append(cfgs, c)
	}
	var rows []*row
	for _, t := range threads {
		for _, c := range cfgs {
			rows = append(rows, &row{cfg: c, threads: t})
		}
	}
	loadBefore := loadavg()
	start := time.Now()
	torchs := map[int]*torch{} // one server per thread count
	torchInfo := "PyTorch not run"
	if script != "" {
		for _, t := range threads {
			if torchs[t] != nil {
				continue
			}
			th, err := startTorch(ctx, python, script, t)
			if err != nil {
				return err
			}
			defer th.close()
			torchs[t] = th
			torchInfo = "PyTorch " + th.version + " (torch.set_num_threads, OMP_NUM_THREADS and OPENBLAS_NUM_THREADS = threads)"
		}
	}
	stockSteps := max(3, steps/4)
	for r := 0; r < repeats; r++ {
		for _, rw := range rows {
			runtime.GOMAXPROCS(rw.threads) // each repeat builds fresh nets, whose ops size their pools from this
			fmt.Fprintf(os.Stderr, "repeat %d/%d %v, %d threads: ", r+1, repeats, rw.cfg, rw.threads)
			ms, flops, err := goSteps(ctx, rw.cfg, true, steps, warmup)
			if err != nil {
				return fmt.Errorf("%v fast: %w", rw.cfg, err)
			}
			rw.flops = flops
			rw.fast = append(rw.fast, median(ms))
			fmt.Fprintf(os.Stderr, "fast %.1f ms", median(ms))
			if th := torchs[rw.threads]; th != nil {
				ms, err := th.steps(rw.cfg, steps, warmup, rw.threads)
				if err != nil {
					return fmt.Errorf("%v torch: %w", rw.cfg, err)
				}
				rw.torch = append(rw.torch, median(ms))
				fmt.Fprintf(os.Stderr, ", torch %.1f ms", median(ms))
			}
			if stock && rw.threads == threads[0] {
				ms, _, err := goSteps(ctx, rw.cfg, false, stockSteps, 1)
				if err != nil {
					return fmt.Errorf("%v stock: %w", rw.cfg, err)
				}
				rw.stock = append(rw.stock, median(ms))
				fmt.Fprintf(os.Stderr, ", stock %.1f ms", median(ms))
			}
			fmt.Fprintln(os.Stderr)
		}
	}
	runtime.GOMAXPROCS(runtime.NumCPU())
	if rss {
		for _, rw := range rows {
			if rw.threads != threads[0] {
				continue
			}
			var err error
			if rw.goRSS, rw.torchRSS, err = measureRSS(ctx, rw.cfg, python, script, rw.threads); err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "peak RSS %v: host/ops %.0f MiB, PyTorch %.0f MiB\n", rw.cfg, rw.goRSS, rw.torchRSS)
		}
	}
	var tp string
	if throughput {
		var err error
		if tp, err = measureThroughput(ctx, tpSteps); err != nil {
			return err
		}
	}
	loadAfter := loadavg()

	var b strings.Builder
	fmt.Fprintf(&b, "# Training-step benchmark, %s\n\n", start.Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "- Machine: %s, nproc %d; load average (1, 5, 15 min) %s before, %s after\n",
		cpuModel(), runtime.NumCPU(), loadBefore, loadAfter)
	fmt.Fprintf(&b, "- Go %s; GEMM %s (OPENBLAS_NUM_THREADS=1: %t); convolution kernels %s; %s\n", runtime.Version(), blas.Impl(), blas.EnvPinned(), ops.Kernels(), torchInfo)
	fmt.Fprintf(&b, "- Command: `%s`\n", strings.Join(os.Args, " "))
	fmt.Fprintf(&b, "- One step = forward + backward (the trainer's host/models graphs) + SGD-momentum update on a fixed synthetic batch. Each cell is the median over %d repeats of the median of %d timed steps (stock Gorgonia: %d) after %d warm-up steps; repeats of Go and PyTorch are interleaved.\n",
		repeats, steps, stockSteps, warmup)
	fmt.Fprintf(&b, "- Threads = GOMAXPROCS for Go, torch.set_num_threads for PyTorch. GFLOP/s counts convolutions and matrix products only (forward, weight gradients, input gradients except the first layer's); peak = %.1f GFLOP/s per core (2 FMA pipes × 8 fp32 lanes × 2 FLOP × 2.445 GHz) × threads.\n\n", peak/float64(runtime.NumCPU()))
	fmt.Fprintf(&b, "- Peak RSS: VmHWM (/proc/self/status) of a fresh process that builds the net and runs 3 steps (Go: this binary with -child-rss; PyTorch: a one-shot run of the script).\n\n")
	fmt.Fprintf(&b, "| model | batch | threads | GFLOP/step | host/ops ms | PyTorch ms | stock Gorgonia ms | host/ops ÷ PyTorch | stock ÷ PyTorch | host/ops GFLOP/s (%% peak) | PyTorch GFLOP/s (%% peak) | host/ops peak RSS MiB | PyTorch peak RSS MiB |\n")
	fmt.Fprintf(&b, "|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	cell := func(x []float64) string {
		if len(x) == 0 {
			return "–"
		}
		return fmt.Sprintf("%.1f", median(x))
	}
	ratio := func(a, b []float64) string {
		if len(a) == 0 || len(b) == 0 {
			return "–"
		}
		return fmt.Sprintf("%.2f×", median(a)/median(b))
	}
	for _, rw := range rows {
		pk := peak * float64(rw.threads) / float64(runtime.NumCPU())
		rate := func(x []float64) string {
			if len(x) == 0 {
				return "–"
			}
			g := rw.flops / (median(x) / 1e3) / 1e9
			return fmt.Sprintf("%.1f (%.0f%%)", g, 100*g/pk)
		}
		mib := func(v float64) string {
			if v == 0 {
				return "–"
			}
			return fmt.Sprintf("%.0f", v)
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %.3f | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", rw.cfg.model, rw.cfg.batch, rw.threads, rw.flops/1e9,
			cell(rw.fast), cell(rw.torch), cell(rw.stock), ratio(rw.fast, rw.torch), ratio(rw.stock, rw.torch),
			rate(rw.fast), rate(rw.torch), mib(rw.goRSS), mib(rw.torchRSS))
	}
	fmt.Fprintf(&b, "\nPer-repeat medians (ms):\n\n")
	for _, rw := range rows {
		fmt.Fprintf(&b, "- %v, %d threads: host/ops %s; PyTorch %s; stock %s\n", rw.cfg, rw.threads, list(rw.fast), list(rw.torch), list(rw.stock))
	}
	if tp != "" {
		b.WriteString("\n" + tp)
	}
	fmt.Print(b.String())
	if outDir == "" {
		return nil
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	path := filepath.Join(outDir, start.Format("2006-01-02T1504")+".md")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	fmt.Fprintln(os.Stderr, "wrote", path)
	return nil
}

func list(x []float64) string {
	if len(x) == 0 {
		return "–"
	}
	s := make([]string, len(x))
	for i, v := range x {
		s[i] = fmt.Sprintf("%.1f", v)
	}
	return strings.Join(s, ", ")
}

// measureThroughput runs LeNet batch 128 with host/ops as child processes:
// one with GOMAXPROCS = all cores, then one per core with GOMAXPROCS=1 at
// the same time, and compares steps per second across the machine.
func measureThroughput(ctx context.Context, steps int) (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", err
	}
	ncpu := runtime.NumCPU()
	runMany := func(n, procs int) (time.Duration, error) {
		t0 := time.Now()
		var cmds []*exec.Cmd
		for i := 0; i < n; i++ {
			cmd := exec.CommandContext(ctx, self, "-child", "lenet/128", "-throughput-steps", strconv.Itoa(steps))
			cmd.Env = append(os.Environ(), "GOMAXPROCS="+strconv.Itoa(procs))
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				return 0, err
			}
			cmds = append(cmds, cmd)
		}
		for _, c := range cmds {
			if err := c.Wait(); err != nil {
				return 0, fmt.Errorf("throughput child: %w", err)
			}
		}
		return time.Since(t0), nil
	}
	var one, many []float64
	for r := 0; r < 3; r++ {
		d1, err := runMany(1, ncpu)
		if err != nil {
			return "", err
		}
		dn, err := runMany(ncpu, 1)
		if err != nil {
			return "", err
		}
		one = append(one, float64(steps)/d1.Seconds())
		many = append(many, float64(ncpu*steps)/dn.Seconds())
		fmt.Fprintf(os.Stderr, "throughput repeat %d: 1×GOMAXPROCS=%d %.1f steps/s, %d×GOMAXPROCS=1 %.1f steps/s\n", r+1, ncpu, one[r], ncpu, many[r])
	}
	var b strings.Builder
	fmt.Fprintf(&b, "## Throughput for studies (LeNet, batch 128, host/ops, %d steps per process incl. graph build)\n\n", steps)
	fmt.Fprintf(&b, "| layout | steps/s across the machine (median of 3) | per repeat |\n|---|---|---|\n")
	fmt.Fprintf(&b, "| 1 process, GOMAXPROCS=%d | %.1f | %s |\n", ncpu, median(one), list(one))
	fmt.Fprintf(&b, "| %d processes, GOMAXPROCS=1 each | %.1f | %s |\n", ncpu, median(many), list(many))
	fmt.Fprintf(&b, "\nRatio (one per core ÷ one on all cores): %.2f×\n", median(many)/median(one))
	return b.String(), nil
}
