package stability

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/lrsgd-lab/lrsgd/host/data"
	"github.com/lrsgd-lab/lrsgd/host/train"
	"github.com/lrsgd-lab/lrsgd/plugins/blocks"
	"github.com/lrsgd-lab/lrsgd/plugins/optimizer"
)

// softmaxRun is a small Runner for testing the probe's machinery: linear
// softmax regression in float32 on a data.Set, trained by SGD on minibatches
// from a data.Stream, evaluated every evalEvery steps.
type softmaxRun struct {
	set, test  *data.Set
	stream     *data.Stream
	w          []float32 // classes × (d+1), last column the bias
	d, classes int
	lr         float32
	steps      int64
	total      int64
	evalEvery  int64
	x          []float32
	y, idx     []int
	logits     []float64
	closed     bool
	opt        optimizer.Optimizer // nil: plain SGD in the runner
	buf        optimizer.Buffers
	outer      int64
}

type softmaxOpts struct {
	batch, steps, evalEvery int
	seed                    uint64
	leak                    bool // seed the init from the data: an uncoupled source of randomness
	failAt                  int64
	opt                     func() optimizer.Optimizer // nil: plain SGD
}

func openSoftmax(test *data.Set, o softmaxOpts, opened *[]*softmaxRun, mu *sync.Mutex) OpenFunc {
	return func(ctx context.Context, set *data.Set) (Runner, error) {
		d := set.ImageSize()
		r := &softmaxRun{set: set, test: test, d: d, classes: set.Classes, lr: 0.05,
			total: int64(o.steps), evalEvery: int64(o.evalEvery),
			stream: data.NewStream(set, o.batch, o.seed, true),
			x:      make([]float32, o.batch*d), y: make([]int, o.batch), idx: make([]int, o.batch),
			logits: make([]float64, set.Classes)}
		r.w = make([]float32, set.Classes*(d+1))
		if o.opt != nil {
			r.opt = o.opt()
			buf, err := r.opt.Init(ctx, optimizer.InitConfig{NumParams: len(r.w), Seed: o.seed})
			if err != nil {
				return nil, err
			}
			r.buf, r.w = buf, buf.Params
		}
		initSeed := o.seed
		if o.leak {
			for _, c := range set.Checksum {
				initSeed = initSeed*31 + uint64(c)
			}
		}
		g := rand.New(rand.NewPCG(initSeed, 1))
		for i := range r.w {
			r.w[i] = float32(g.NormFloat64() * 0.01)
		}
		if mu != nil {
			mu.Lock()
			*opened = append(*opened, r)
			mu.Unlock()
		}
		if o.failAt > 0 {
			return &failing{softmaxRun: r, at: o.failAt}, nil
		}
		return r, nil
	}
}

type failing struct {
	*softmaxRun
	at int64
}

func (f *failing) Step(ctx context.Context) (StepInfo, error) {
	if f.steps+1 == f.at {
		return StepInfo{}, errors.New("boom")
	}
	return f.softmaxRun.Step(ctx)
}

// forward fills r.logits with the softmax probabilities of image x and
// returns the loss of label y.
func (r *softmaxRun) forward(x []float32, y int) float64 {
	mx := math.Inf(-1)
	for c := 0; c < r.classes; c++ {
		row := r.w[c*(r.d+1) : (c+1)*(r.d+1)]
		s := float64(row[r.d])
		for i, v := range x {
			s += float64(row[i]) * float64(v)
		}
		r.logits[c] = s
		mx = math.Max(mx, s)
	}
	var z float64
	for c := range r.logits {
		r.logits[c] = math.Exp(r.logits[c] - mx)
		z += r.logits[c]
	}
	for c := range r.logits {
		r.logits[c] /= z
	}
	return -math.Log(r.logits[y])
}

func (r *softmaxRun) Step(ctx context.Context) (StepInfo, error) {
	if r.steps >= r.total {
		return StepInfo{}, errors.New("step after done")
	}
	r.stream.Next(r.x, r.y, r.idx)
	b := len(r.y)
	grad := make([]float32, len(r.w))
	for n := 0; n < b; n++ {
		x := r.x[n*r.d : (n+1)*r.d]
		r.forward(x, r.y[n])
		for c := 0; c < r.classes; c++ {
			gc := r.logits[c]
			if c == r.y[n] {
				gc--
			}
			row := grad[c*(r.d+1) : (c+1)*(r.d+1)]
			for i, v := range x {
				row[i] += float32(gc) * v
			}
			row[r.d] += float32(gc)
		}
	}
	if r.opt == nil {
		for i := range r.w {
			r.w[i] -= r.lr / float32(b) * grad[i]
		}
		r.outer++
	} else {
		for i, g := range grad {
			r.buf.Grads[i] = g / float32(b)
		}
		sr, err := r.opt.Step(ctx, optimizer.StepRequest{Step: r.steps, LR: float64(r.lr)})
		if err != nil {
			return StepInfo{}, err
		}
		if sr.OuterEnded {
			r.outer++
		}
	}
	r.steps++
	info := StepInfo{GradEvals: r.steps, OuterSteps: r.outer, Drawn: r.idx, Done: r.steps == r.total}
	if r.steps%r.evalEvery == 0 || info.Done {
		info.Eval = &train.EvalPoint{GradEvals: r.steps, OuterSteps: r.steps,
			TrainLoss: r.meanLoss(r.set), TestLoss: r.meanLoss(r.test)}
	}
	return info, nil
}

func (r *softmaxRun) meanLoss(s *data.Set) float64 {
	x := make([]float32, s.ImageSize())
	y := make([]int, 1)
	var sum float64
	for i := 0; i < s.N; i++ {
		s.Batch(i, 1, x, y)
		sum += r.forward(x, y[0])
	}
	return sum / float64(s.N)
}

func (r *softmaxRun) Params() []float32 { return r.w }

func (r *softmaxRun) TestLosses(ctx context.Context, dst []float64) error {
	x := make([]float32, r.test.ImageSize())
	y := make([]int, 1)
	for i := 0; i < r.test.N; i++ {
		r.test.Batch(i, 1, x, y)
		dst[i] = r.forward(x, y[0])
	}
	return nil
}

func (r *softmaxRun) Close() error {
	r.closed = true
	if r.opt != nil {
		return r.opt.Close()
	}
	return nil
}

func smallSets(t *testing.T) (trainSet, testSet *data.Set) {
	t.Helper()
	tr, te, err := data.Load(context.Background(), data.Source{Dataset: data.Synthetic, TrainSize: 64, TestSize: 20, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	return tr, te
}

// TestControlTwinsBitIdentical: with no replacement the twins must agree
// in every bit at every step.
func TestControlTwinsBitIdentical(t *testing.T) {
	tr, te := smallSets(t)
	var opened []*softmaxRun
	var mu sync.Mutex
	o := softmaxOpts{batch: 8, steps: 24, evalEvery: 4, seed: 11}
	var points []Point
	res, err := Run(context.Background(), Config{Train: tr, Test: te, Replace: 0, Seed: 5},
		openSoftmax(te, o, &opened, &mu), Hooks{OnPoint: func(p Point) error { points = append(points, p); return nil }})
	if err != nil {
		t.Fatal(err)
	}
	if res.Runs != 2 || len(res.Twins) != 1 || res.Twins[0].Index != -1 {
		t.Fatalf("control: runs %d, twins %+v; want 2 runs and one twin with index -1", res.Runs, res.Twins)
	}
	if tw := res.Twins[0]; tw.FirstDiverged != -1 || tw.FirstDrawn != -1 {
		t.Errorf("control diverged at %d (drawn %d), want never", tw.FirstDiverged, tw.FirstDrawn)
	}
	if len(res.Curve) != 6 || len(points) != 6 {
		t.Fatalf("%d curve points and %d hook points, want 6 (24 steps, eval every 4)", len(res.Curve), len(points))
	}
	for _, p := range res.Curve {
		if p.ParamDivergence != 0 || p.EpsilonMean != 0 || p.EpsilonMax != 0 || p.GapS != p.GapSPrime {
			t.Errorf("control point %+v, want zero divergence and equal gaps", p)
		}
	}
	if res.GradEvals != 24 || res.Curve[5].GradEvals != 24 {
		t.Errorf("grad evals %d, want 24", res.GradEvals)
	}
	for _, r := range opened {
		if !r.closed {
			t.Error("a run was not closed")
		}
	}
}

// TestControlCatchesUncoupledRandomness: a run whose initialisation
// depends on the data (not only on the seed) must show up in the control.
func TestControlCatchesUncoupledRandomness(t *testing.T) {
	tr, te := smallSets(t)
	o := softmaxOpts{batch: 8, steps: 4, evalEvery: 4, seed: 11, leak: true}
	// With K = 1 the leak makes the S' run differ from initialisation on,
	// before the replaced index can have been drawn.
	res, err := Run(context.Background(), Config{Train: tr, Test: te, Replace: 1, Seed: 5}, openSoftmax(te, o, nil, nil), Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	tw := res.Twins[0]
	if tw.FirstDiverged != 0 {
		t.Errorf("leaky runs: first diverged %d, want 0 (at initialisation)", tw.FirstDiverged)
	}
}

// TestOneReplacementDivergesAtFirstDraw: the twins agree bit for bit until
// the first minibatch that holds the replaced index and differ after it.
func TestOneReplacementDivergesAtFirstDraw(t *testing.T) {
	tr, te := smallSets(t)
	for _, par := range []int{1, 2} {
		o := softmaxOpts{batch: 8, steps: 24, evalEvery: 1, seed: 11}
		checkDivergesAtFirstDraw(t, tr, te, o, par)
	}
}

// TestOptimizersCoupled runs the control and the one-replacement checks
// with the in-process optimizers, whose M_t draws must come from the seed.
func TestOptimizersCoupled(t *testing.T) {
	tr, te := smallSets(t)
	for _, c := range []struct {
		name string
		open func() optimizer.Optimizer
	}{{"sgd", blocks.NewSGD}, {"lrsgd-r", blocks.NewLRSGDR}, {"lrsgd-c", blocks.NewLRSGDC}} {
		t.Run(c.name, func(t *testing.T) {
			o := softmaxOpts{batch: 8, steps: 24, evalEvery: 4, seed: 11, opt: c.open}
			res, err := Run(context.Background(), Config{Train: tr, Test: te, Replace: 0}, openSoftmax(te, o, nil, nil), Hooks{})
			if err != nil {
				t.Fatal(err)
			}
			if res.Twins[0].FirstDiverged != -1 || res.ParamDivergence != 0 || res.EpsilonMax != 0 {
				t.Errorf("control diverged: first %d, final %+v", res.Twins[0].FirstDiverged, res.Curve[len(res.Curve)-1])
			}
			if c.name != "sgd" && res.OuterSteps >= 24 {
				t.Errorf("%s made %d outer steps in 24 inner steps, want fewer", c.name, res.OuterSteps)
			}
			o.evalEvery = 1
			checkDivergesAtFirstDraw(t, tr, te, o, 2)
		})
	}
}

func checkDivergesAtFirstDraw(t *testing.T, tr, te *data.Set, o softmaxOpts, par int) {
	t.Helper()
	{
		res, err := Run(context.Background(), Config{Train: tr, Test: te, Replace: 3, Seed: 9, Parallel: par},
			openSoftmax(te, o, nil, nil), Hooks{})
		if err != nil {
			t.Fatal(err)
		}
		if res.Runs != 4 || len(res.Twins) != 3 {
			t.Fatalf("runs %d, twins %d; want 4 and 3", res.Runs, len(res.Twins))
		}
		// The stream's draws, independently: the first step whose batch holds i.
		for _, tw := range res.Twins {
			st := data.NewStream(tr, o.batch, o.seed, true)
			x, y, idx := make([]float32, 8*tr.ImageSize()), make([]int, 8), make([]int, 8)
			want := int64(-1)
			for s := int64(1); s <= int64(o.steps) && want < 0; s++ {
				st.Next(x, y, idx)
				if contains(idx, tw.Index) {
					want = s
				}
			}
			if want < 0 {
				t.Fatalf("index %d never drawn in %d steps of %d from %d", tw.Index, o.steps, o.batch, tr.N)
			}
			if tw.FirstDrawn != want || tw.FirstDiverged != want {
				t.Errorf("parallel %d, index %d: first drawn %d, first diverged %d; want both %d", par, tw.Index, tw.FirstDrawn, tw.FirstDiverged, want)
			}
			if len(tw.Curve) != o.steps {
				t.Fatalf("%d curve points, want %d", len(tw.Curve), o.steps)
			}
			for _, p := range tw.Curve {
				switch {
				case p.GradEvals < want && (p.ParamDivergence != 0 || p.EpsilonMax != 0):
					t.Errorf("index %d step %d (before the first draw at %d): %+v, want zeros", tw.Index, p.GradEvals, want, p.Measure)
				case p.GradEvals >= want && !(p.ParamDivergence > 0 && p.EpsilonMean > 0 && p.EpsilonMax >= p.EpsilonMean):
					t.Errorf("index %d step %d (after the first draw at %d): %+v, want positive", tw.Index, p.GradEvals, want, p.Measure)
				}
			}
			if tw.TestIndex < 0 || tw.TestIndex >= te.N {
				t.Errorf("test index %d out of range", tw.TestIndex)
			}
		}
		// Aggregates: mean and max over the twins of the final values.
		var sum, mx, eps, epsMax float64
		for _, tw := range res.Twins {
			sum += tw.Final.ParamDivergence
			mx = math.Max(mx, tw.Final.ParamDivergence)
			eps += tw.Final.EpsilonMean
			epsMax = math.Max(epsMax, tw.Final.EpsilonMax)
		}
		if !close(res.ParamDivergence, sum/3) || res.ParamDivergenceMax != mx || !close(res.EpsilonMean, eps/3) || res.EpsilonMax != epsMax {
			t.Errorf("aggregates %+v, want divergence %v (max %v), ε mean %v, ε max %v", res, sum/3, mx, eps/3, epsMax)
		}
	}
}

func close(a, b float64) bool { return math.Abs(a-b) <= 1e-12*math.Max(1, math.Abs(b)) }

// TestParallelEqualsSerial: stepping the runs at once changes nothing.
func TestParallelEqualsSerial(t *testing.T) {
	tr, te := smallSets(t)
	o := softmaxOpts{batch: 8, steps: 12, evalEvery: 3, seed: 2}
	var out [2]Result
	for k, par := range []int{1, 2} {
		var err error
		out[k], err = Run(context.Background(), Config{Train: tr, Test: te, Replace: 2, Seed: 1, Parallel: par}, openSoftmax(te, o, nil, nil), Hooks{})
		if err != nil {
			t.Fatal(err)
		}
	}
	for i := range out[0].Curve {
		if out[0].Curve[i] != out[1].Curve[i] {
			t.Errorf("point %d: serial %+v, parallel %+v", i, out[0].Curve[i], out[1].Curve[i])
		}
	}
}

func TestLossGapExcept(t *testing.T) {
	a := []float64{1, 2, 3, 4}
	b := []float64{1, 2, 13, 5}
	m, mx := lossGapExcept(a, b, 2)
	if m != 1.0/3 || mx != 1 {
		t.Errorf("lossGapExcept skipping the outlier = %v, %v; want 1/3, 1", m, mx)
	}
	m, mx = lossGapExcept(a, b, -1)
	if m != 11.0/4 || mx != 10 {
		t.Errorf("lossGapExcept skipping none = %v, %v; want 11/4, 10", m, mx)
	}
}

func TestChoose(t *testing.T) {
	tr, te, err := Choose(4, 100, 30, 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(tr) != 5 || len(te) != 5 {
		t.Fatalf("lengths %d, %d; want 5", len(tr), len(te))
	}
	seen := map[int]bool{}
	for k := range tr {
		if tr[k] < 0 || tr[k] >= 100 || te[k] < 0 || te[k] >= 30 || seen[tr[k]] {
			t.Errorf("bad or repeated pick %d/%d", tr[k], te[k])
		}
		seen[tr[k]] = true
	}
	tr2, te2, _ := Choose(4, 100, 30, 5)
	for k := range tr {
		if tr[k] != tr2[k] || te[k] != te2[k] {
			t.Error("same seed, different picks")
		}
	}
	for _, c := range []struct {
		k, nTrain, nTest int
		want             string
	}{
		{-1, 10, 10, "replace = -1"},
		{11, 10, 20, "training-set size 10"},
		{11, 20, 10, "test-set size 10"},
	} {
		if _, _, err := Choose(1, c.nTrain, c.nTest, c.k); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Choose(k=%d): error %v, want one containing %q", c.k, err, c.want)
		}
	}
}

func TestRunErrors(t *testing.T) {
	tr, te := smallSets(t)
	o := softmaxOpts{batch: 8, steps: 12, evalEvery: 3, seed: 2}
	if _, err := Run(context.Background(), Config{Train: tr}, openSoftmax(te, o, nil, nil), Hooks{}); err == nil || !strings.Contains(err.Error(), "test set") {
		t.Errorf("missing test set: error %v", err)
	}
	var opened []*softmaxRun
	var mu sync.Mutex
	of := o
	of.failAt = 5
	_, err := Run(context.Background(), Config{Train: tr, Test: te, Replace: 1}, openSoftmax(te, of, &opened, &mu), Hooks{})
	if err == nil || !strings.Contains(err.Error(), "step of the run on S") || !strings.Contains(err.Error(), "boom") {
		t.Errorf("failing step: error %v, want one naming the run and the cause", err)
	}
	for _, r := range opened {
		if !r.closed {
			t.Error("a run was not closed after an error")
		}
	}
	stop := errors.New("pruned")
	_, err = Run(context.Background(), Config{Train: tr, Test: te, Replace: 1}, openSoftmax(te, o, nil, nil),
		Hooks{OnPoint: func(Point) error { return stop }})
	if !errors.Is(err, stop) {
		t.Errorf("hook error: got %v, want %v", err, stop)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err = Run(ctx, Config{Train: tr, Test: te, Replace: 1}, openSoftmax(te, o, nil, nil), Hooks{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: got %v", err)
	}
}

func TestBitEqual(t *testing.T) {
	nan1 := math.Float32frombits(0x7fc00001)
	for _, c := range []struct {
		a, b []float32
		want bool
	}{
		{nil, nil, true},
		{[]float32{1, 2}, []float32{1, 2}, true},
		{[]float32{1, 2}, []float32{1, 2.0000002}, false},
		{[]float32{0}, []float32{float32(math.Copysign(0, -1))}, false},
		{[]float32{nan1}, []float32{nan1}, true},
		{[]float32{1}, []float32{1, 1}, false},
	} {
		if got := bitEqual(c.a, c.b); got != c.want {
			t.Errorf("bitEqual(%v, %v) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
}
