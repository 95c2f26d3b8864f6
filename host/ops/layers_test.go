package ops

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// gemmConvCase is one Conv layer: input b×c×h×w, o filters kh×kw.
type gemmConvCase struct {
	b, c, h, w, o, kh, kw, stride, pad int
	bias, dx                           bool
}

func (cc gemmConvCase) String() string {
	return fmt.Sprintf("x%dx%dx%dx%d_w%dx%dx%d_s%d_p%d_bias%t_dx%t", cc.b, cc.c, cc.h, cc.w, cc.o, cc.kh, cc.kw, cc.stride, cc.pad, cc.bias, cc.dx)
}

func (cc gemmConvCase) outShape() (int, int) {
	return (cc.h+2*cc.pad-cc.kh)/cc.stride + 1, (cc.w+2*cc.pad-cc.kw)/cc.stride + 1
}

// gemmConvCases cover batch 1, non-square inputs and filters, channel
// counts that are not multiples of 8, stride 2 on odd sizes, 1×1 stride-2
// shortcuts, several samples per GEMM block (small outputs) and several
// blocks and groups.
var gemmConvCases = []gemmConvCase{
	{b: 1, c: 3, h: 7, w: 9, o: 5, kh: 3, kw: 3, stride: 1, pad: 1, bias: true, dx: true},
	{b: 2, c: 5, h: 9, w: 7, o: 6, kh: 3, kw: 3, stride: 2, pad: 1, dx: true},
	{b: 3, c: 6, h: 11, w: 11, o: 7, kh: 1, kw: 1, stride: 2, pad: 0, dx: true},
	{b: 5, c: 4, h: 10, w: 10, o: 9, kh: 3, kw: 3, stride: 1, pad: 1, bias: true, dx: true}, // 3 samples per block, 2 blocks
	{b: 2, c: 3, h: 17, w: 16, o: 4, kh: 3, kw: 3, stride: 1, pad: 1},                       // the graph's input: no dx
	{b: 9, c: 10, h: 4, w: 4, o: 12, kh: 3, kw: 3, stride: 1, pad: 1, dx: true},             // one block of 9
	{b: 20, c: 3, h: 8, w: 9, o: 5, kh: 2, kw: 3, stride: 2, pad: 1, bias: true, dx: true},  // 13 per block, 2 groups
	{b: 2, c: 2, h: 6, w: 5, o: 3, kh: 3, kw: 2, stride: 1, pad: 0, bias: true, dx: true},
}

func gemmConvLeaves(r *rand.Rand, cc gemmConvCase) []leafSpec {
	l := []leafSpec{
		{"x", randF32(r, cc.b*cc.c*cc.h*cc.w), []int{cc.b, cc.c, cc.h, cc.w}},
		{"w", randF32(r, cc.o*cc.c*cc.kh*cc.kw), []int{cc.o, cc.c, cc.kh, cc.kw}},
	}
	if cc.bias {
		l = append(l, leafSpec{"b", randF32(r, cc.o), []int{cc.o}})
	}
	return l
}

func (cc gemmConvCase) wrt() ([]int, []string) {
	idx, names := []int{1}, []string{"w"}
	if cc.bias {
		idx, names = append(idx, 2), append(names, "b")
	}
	if cc.dx {
		idx, names = append([]int{0}, idx...), append([]string{"x"}, names...)
	}
	return idx, names
}

func fastGemmConv(cc gemmConvCase, ws *Workspace) func(*gorgonia.ExprGraph, []*gorgonia.Node) (*gorgonia.Node, error) {
	return func(g *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
		x, err := input(in[0], cc.dx)
		if err != nil {
			return nil, err
		}
		var b *gorgonia.Node
		if cc.bias {
			b = in[2]
		}
		return Conv(x, in[1], b, cc.stride, cc.pad, ws)
	}
}

func refGemmConv(cc gemmConvCase) func(*gorgonia.ExprGraph, []*gorgonia.Node) (*gorgonia.Node, error) {
	return func(g *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
		x, err := input(in[0], cc.dx)
		if err != nil {
			return nil, err
		}
		y, err := gorgonia.Conv2d(x, in[1], tensor.Shape{cc.kh, cc.kw}, []int{cc.pad, cc.pad}, []int{cc.stride, cc.stride}, []int{1, 1})
		if err != nil || !cc.bias {
			return y, err
		}
		b4, err := gorgonia.Reshape(in[2], tensor.Shape{1, cc.o, 1, 1})
		if err != nil {
			return nil, err
		}
		return gorgonia.BroadcastAdd(y, b4, nil, []byte{0, 2, 3})
	}
}

// TestConvMatchesGorgonia compares Conv's output and gradients with
// Gorgonia's Conv2d (+ BroadcastAdd for the bias), with 1, 2 and 3 workers.
func TestConvMatchesGorgonia(t *testing.T) {
	for _, procs := range []int{1, 2, 3} {
		for i, cc := range gemmConvCases {
			t.Run(fmt.Sprintf("procs%d/%v", procs, cc), func(t *testing.T) {
				defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
				r := rand.New(rand.NewPCG(uint64(i), 17))
				leaves := gemmConvLeaves(r, cc)
				ho, wo := cc.outShape()
				rr := randF32(r, cc.b*cc.o*ho*wo)
				wrt, names := cc.wrt()
				ref := evalGraph(t, leaves, refGemmConv(cc), rr, wrt)
				got := evalGraph(t, leaves, fastGemmConv(cc, nil), rr, wrt)
				closeTo(t, "output", got.y, ref.y, 1e-5)
				for j, name := range names {
					closeTo(t, "gradient of "+name, got.grads[j], ref.grads[j], 2e-5)
				}
			})
		}
	}
}

func TestConvFiniteDifferences(t *testing.T) {
	for i, cc := range []gemmConvCase{
		{b: 1, c: 3, h: 7, w: 6, o: 4, kh: 3, kw: 3, stride: 2, pad: 1, bias: true, dx: true},
		{b: 3, c: 2, h: 5, w: 5, o: 3, kh: 1, kw: 1, stride: 2, dx: true},
		{b: 2, c: 3, h: 6, w: 7, o: 2, kh: 3, kw: 3, stride: 1, pad: 1, bias: true, dx: true},
	} {
		t.Run(cc.String(), func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(i), 19))
			leaves := gemmConvLeaves(r, cc)
			ho, wo := cc.outShape()
			rr := randF32(r, cc.b*cc.o*ho*wo)
			wrt, _ := cc.wrt()
			got := evalGraph(t, leaves, fastGemmConv(cc, nil), rr, wrt)
			fdCheck(t, leaves, wrt, got.grads, forwardOnly(t, fastGemmConv(cc, nil)), rr)
		})
	}
}

// TestConvSameBitsAnyWorkerCount: Conv's output and gradients do not depend
// on GOMAXPROCS, bit for bit, including layers with several samples per
// block and several gradient groups.
func TestConvSameBitsAnyWorkerCount(t *testing.T) {
	for _, cc := range []gemmConvCase{gemmConvCases[3], gemmConvCases[6], {b: 19, c: 4, h: 6, w: 6, o: 5, kh: 3, kw: 3, stride: 1, pad: 1, bias: true, dx: true}} {
		var first graphRun
		for i, procs := range []int{1, 2, 3, 5} {
			func() {
				defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
				r := rand.New(rand.NewPCG(8, 8))
				leaves := gemmConvLeaves(r, cc)
				ho, wo := cc.outShape()
				wrt, names := cc.wrt()
				got := evalGraph(t, leaves, fastGemmConv(cc, NewWorkspace()), randF32(r, cc.b*cc.o*ho*wo), wrt)
				if i == 0 {
					first = got
					return
				}
				sameBits(t, fmt.Sprintf("%v GOMAXPROCS %d: output", cc, procs), got.y, first.y)
				for j, name := range names {
					sameBits(t, fmt.Sprintf("%v GOMAXPROCS %d: gradient of %s", cc, procs, name), got.grads[j], first.grads[j])
				}
			}()
		}
	}
}

func sameBits(t *testing.T, what string, got, want []float32) {
	t.Helper()
	for k := range got {
		if math.Float32bits(got[k]) != math.Float32bits(want[k]) {
			t.Fatalf("%s[%d] = %v, with 1 worker %v", what, k, got[k], want[k])
		}
	}
}

// bnCase is one BatchNorm layer on a b×c×h×w input.
type bnCase struct {
	b, c, h, w    int
	residual      bool // add a computed residual
	relu, shifted bool // shifted: inputs with a large common offset
}

func (bc bnCase) leaves(r *rand.Rand) []leafSpec {
	n := bc.b * bc.c * bc.h * bc.w
	x := randF32(r, n)
	for i := range x {
		x[i] = 1.5*x[i] + 0.3
		if bc.shifted {
			x[i] += 40
		}
	}
	l := []leafSpec{
		{"x", x, []int{bc.b, bc.c, bc.h, bc.w}},
		{"gamma", randF32(r, bc.c), []int{bc.c}},
		{"beta", randF32(r, bc.c), []int{bc.c}},
	}
	if bc.residual {
		l = append(l, leafSpec{"res", randF32(r, n), []int{bc.b, bc.c, bc.h, bc.w}})
	}
	return l
}

func (bc bnCase) wrt() []int {
	if bc.residual {
		return []int{0, 1, 2, 3}
	}
	return []int{0, 1, 2}
}

func fastBN(bc bnCase, cfg BatchNormConfig) func(*gorgonia.ExprGraph, []*gorgonia.Node) (*gorgonia.Node, error) {
	return func(g *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
		x, err := input(in[0], true)
		if err != nil {
			return nil, err
		}
		var res *gorgonia.Node
		if bc.residual {
			if res, err = input(in[3], true); err != nil {
				return nil, err
			}
		}
		return BatchNorm(x, in[1], in[2], res, bc.relu, cfg)
	}
}

// refBN is batch norm by hand in float64: the output, and the running
// statistics after one update from (m0, v0).
func refBN(bc bnCase, l []leafSpec, train bool, m0, v0 []float32) (y []float64, rm, rv []float64) {
	x, gamma, beta := l[0].data, l[1].data, l[2].data
	hw := bc.h * bc.w
	cnt := float64(bc.b * hw)
	y = make([]float64, len(x))
	rm, rv = make([]float64, bc.c), make([]float64, bc.c)
	for ch := 0; ch < bc.c; ch++ {
		var sum, ss float64
		for b := 0; b < bc.b; b++ {
			for _, v := range x[(b*bc.c+ch)*hw : (b*bc.c+ch+1)*hw] {
				sum += float64(v)
			}
		}
		mean := sum / cnt
		for b := 0; b < bc.b; b++ {
			for _, v := range x[(b*bc.c+ch)*hw : (b*bc.c+ch+1)*hw] {
				ss += (float64(v) - mean) * (float64(v) - mean)
			}
		}
		variance := ss / cnt
		rm[ch] = 0.9*float64(m0[ch]) + 0.1*mean
		rv[ch] = 0.9*float64(v0[ch]) + 0.1*ss/(cnt-1)
		if !train {
			mean, variance = float64(m0[ch]), float64(v0[ch])
		}
		for b := 0; b < bc.b; b++ {
			for i := (b*bc.c + ch) * hw; i < (b*bc.c+ch+1)*hw; i++ {
				u := float64(gamma[ch])*(float64(x[i])-mean)/math.Sqrt(variance+1e-5) + float64(beta[ch])
				if bc.residual {
					u += float64(l[3].data[i])
				}
				if bc.relu {
					u = math.Max(u, 0)
				}
				y[i] = u
			}
		}
	}
	return y, rm, rv
}

var bnCases = []bnCase{
	{b: 1, c: 3, h: 5, w: 4, relu: true},
	{b: 3, c: 5, h: 3, w: 7},
	{b: 2, c: 7, h: 4, w: 4, residual: true, relu: true},
	{b: 4, c: 2, h: 1, w: 3, residual: true},
	{b: 2, c: 3, h: 3, w: 3, relu: true, shifted: true},
}

func bnStats(c int) (m, v []float32) {
	m, v = make([]float32, c), make([]float32, c)
	for i := range m {
		m[i], v[i] = 0.1*float32(i), 1+0.5*float32(i)
	}
	return m, v
}

// TestBatchNormForward compares the output and the running statistics with
// a float64 computation by hand, in training and evaluation mode.
func TestBatchNormForward(t *testing.T) {
	for i, bc := range bnCases {
		for _, train := range []bool{true, false} {
			t.Run(fmt.Sprintf("%+v/train%t", bc, train), func(t *testing.T) {
				r := rand.New(rand.NewPCG(uint64(i), 23))
				l := bc.leaves(r)
				m0, v0 := bnStats(bc.c)
				cfg := BatchNormConfig{RunMean: append([]float32(nil), m0...), RunVar: append([]float32(nil), v0...), Momentum: 0.1, Epsilon: 1e-5, Train: train}
				got := forwardOnly(t, fastBN(bc, cfg))(l)
				want, rm, rv := refBN(bc, l, train, m0, v0)
				w32 := make([]float32, len(want))
				for k, v := range want {
					w32[k] = float32(v)
				}
				closeTo(t, "output", got, w32, 2e-6)
				if !train {
					rm, rv = make([]float64, bc.c), make([]float64, bc.c)
					for k := range rm {
						rm[k], rv[k] = float64(m0[k]), float64(v0[k])
					}
				}
				for k := range rm {
					if math.Abs(float64(cfg.RunMean[k])-rm[k]) > 1e-6*(1+math.Abs(rm[k])) || math.Abs(float64(cfg.RunVar[k])-rv[k]) > 1e-6*(1+rv[k]) {
						t.Fatalf("running statistics of channel %d: %v, %v, want %v, %v", k, cfg.RunMean[k], cfg.RunVar[k], rm[k], rv[k])
					}
				}
			})
		}
	}
}

func TestBatchNormFiniteDifferences(t *testing.T) {
	for i, bc := range bnCases {
		t.Run(fmt.Sprintf("%+v", bc), func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(i), 29))
			l := bc.leaves(r)
			m0, v0 := bnStats(bc.c)
			cfg := BatchNormConfig{RunMean: m0, RunVar: v0, Momentum: 0.1, Epsilon: 1e-5, Train: true}
			rr := randF32(r, bc.b*bc.c*bc.h*bc.w)
			got := evalGraph(t, l, fastBN(bc, cfg), rr, bc.wrt())
			fdCheck(t, l, bc.wrt(), got.grads, forwardOnly(t, fastBN(bc, cfg)), rr)
		})
	}
}

func TestBatchNormEvalHasNoGradient(t *testing.T) {
	g := gorgonia.NewGraph()
	x := leaf(g, "x", randF32(rand.New(rand.NewPCG(1, 1)), 2*3*2*2), 2, 3, 2, 2)
	xc, _ := input(x, true)
	gm := leaf(g, "g", []float32{1, 1, 1}, 3)
	bt := leaf(g, "b", []float32{0, 0, 0}, 3)
	m, v := bnStats(3)
	y, err := BatchNorm(xc, gm, bt, nil, true, BatchNormConfig{RunMean: m, RunVar: v, Momentum: 0.1, Epsilon: 1e-5})
	if err != nil {
		t.Fatal(err)
	}
	s, _ := gorgonia.Sum(y)
	if _, err := gorgonia.Grad(s, gm); err == nil {
		t.Fatal("gradient of an evaluation-mode batch norm: no error")
	}
}

func TestMaxPool2MatchesGorgonia(t *testing.T) {
	for i, s := range [][4]int{{1, 3, 7, 9}, {3, 5, 4, 6}, {2, 9, 5, 2}, {4, 16, 8, 8}} {
		for _, procs := range []int{1, 3} {
			t.Run(fmt.Sprintf("procs%d/%v", procs, s), func(t *testing.T) {
				defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
				r := rand.New(rand.NewPCG(uint64(i), 31))
				l := []leafSpec{{"x", randF32(r, s[0]*s[1]*s[2]*s[3]), s[:]}}
				rr := randF32(r, s[0]*s[1]*(s[2]/2)*(s[3]/2))
				build := func(fast bool) func(*gorgonia.ExprGraph, []*gorgonia.Node) (*gorgonia.Node, error) {
					return func(g *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
						x, err := input(in[0], true)
						if err != nil {
							return nil, err
						}
						if fast {
							return MaxPool2(x)
						}
						return gorgonia.MaxPool2D(x, tensor.Shape{2, 2}, []int{0, 0}, []int{2, 2})
					}
				}
				ref := evalGraph(t, l, build(false), rr, []int{0})
				got := evalGraph(t, l, build(true), rr, []int{0})
				closeTo(t, "output", got.y, ref.y, 0)
				closeTo(t, "gradient", got.grads[0], ref.grads[0], 0)
			})
		}
	}
}

// TestGlobalAvgPool checks the output by hand and the gradient by finite
// differences (Gorgonia's own average pool and two-axis mean are wrong in
// v0.9.18, so they are no reference).
func TestGlobalAvgPool(t *testing.T) {
	for i, s := range [][4]int{{1, 3, 4, 4}, {3, 5, 2, 3}, {2, 1, 1, 1}} {
		t.Run(fmt.Sprint(s), func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(i), 37))
			l := []leafSpec{{"x", randF32(r, s[0]*s[1]*s[2]*s[3]), s[:]}}
			build := func(g *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
				x, err := input(in[0], true)
				if err != nil {
					return nil, err
				}
				return GlobalAvgPool(x)
			}
			rr := randF32(r, s[0]*s[1])
			got := evalGraph(t, l, build, rr, []int{0})
			hw := s[2] * s[3]
			want := make([]float32, s[0]*s[1])
			for k := range want {
				var sum float64
				for _, v := range l[0].data[k*hw : (k+1)*hw] {
					sum += float64(v)
				}
				want[k] = float32(sum / float64(hw))
			}
			closeTo(t, "output", got.y, want, 1e-6)
			fdCheck(t, l, []int{0}, got.grads, forwardOnly(t, build), rr)
		})
	}
}

func TestDropoutMatchesGorgonia(t *testing.T) {
	r := rand.New(rand.NewPCG(41, 41))
	mask := make([]float32, 7*5)
	for i := range mask {
		if r.IntN(2) == 1 {
			mask[i] = 2
		}
	}
	l := []leafSpec{{"x", randF32(r, 7*5), []int{7, 5}}, {"m", mask, []int{7, 5}}}
	rr := randF32(r, 7*5)
	build := func(fast bool) func(*gorgonia.ExprGraph, []*gorgonia.Node) (*gorgonia.Node, error) {
		return func(g *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
			x, err := input(in[0], true)
			if err != nil {
				return nil, err
			}
			if fast {
				return Dropout(x, in[1])
			}
			return gorgonia.HadamardProd(x, in[1])
		}
	}
	ref := evalGraph(t, l, build(false), rr, []int{0})
	got := evalGraph(t, l, build(true), rr, []int{0})
	closeTo(t, "output", got.y, ref.y, 0)
	closeTo(t, "gradient", got.grads[0], ref.grads[0], 0)
}

// TestLayerOpsDoNotAllocate runs the forward and backward Do of Conv,
// BatchNorm, MaxPool2, GlobalAvgPool and Dropout directly and counts
// allocations after the first (buffer-allocating) call.
func TestLayerOpsDoNotAllocate(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 2))
	g := gorgonia.NewGraph()
	val := func(shape ...int) *tensor.Dense {
		return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(randF32(r, tensor.Shape(shape).TotalSize())))
	}
	x := leaf(g, "x", randF32(r, 6*4*8*8), 6, 4, 8, 8)
	xc, _ := input(x, true)
	w := leaf(g, "w", randF32(r, 5*4*3*3), 5, 4, 3, 3)
	b := leaf(g, "b", randF32(r, 5), 5)
	y, err := Conv(xc, w, b, 2, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	conv := y.Op().(*gemmConvOp)
	xv, dy := val(6, 4, 8, 8), val(6, 5, 4, 4)
	cbwd := &gemmConvBwdOp{conv}
	steps := map[string]func() error{
		"Conv": func() error {
			if _, err := conv.Do(xv, w.Value(), b.Value()); err != nil {
				return err
			}
			_, err := cbwd.Do(xv, w.Value(), dy)
			return err
		},
	}
	m, v := bnStats(4)
	gm, bt := leaf(g, "gm", randF32(r, 4), 4), leaf(g, "bt", randF32(r, 4), 4)
	bny, err := BatchNorm(xc, gm, bt, xc, true, BatchNormConfig{RunMean: m, RunVar: v, Momentum: 0.1, Epsilon: 1e-5, Train: true})
	if err != nil {
		t.Fatal(err)
	}
	bn := bny.Op().(*bnOp)
	bbwd := &bnBwdOp{bn}
	bdy := val(6, 4, 8, 8)
	steps["BatchNorm"] = func() error {
		yv, err := bn.Do(xv, gm.Value(), bt.Value(), xv)
		if err != nil {
			return err
		}
		_, err = bbwd.Do(xv, gm.Value(), yv, bdy)
		return err
	}
	mp, err := MaxPool2(xc)
	if err != nil {
		t.Fatal(err)
	}
	mpo := mp.Op().(*maxPoolOp)
	mdy := val(6, 4, 4, 4)
	steps["MaxPool2"] = func() error {
		if _, err := mpo.Do(xv); err != nil {
			return err
		}
		_, err := (&maxPoolBwdOp{mpo}).Do(mdy)
		return err
	}
	ap, err := GlobalAvgPool(xc)
	if err != nil {
		t.Fatal(err)
	}
	apo := ap.Op().(*avgPoolOp)
	ady := val(6, 4)
	steps["GlobalAvgPool"] = func() error {
		if _, err := apo.Do(xv); err != nil {
			return err
		}
		_, err := (&avgPoolBwdOp{apo}).Do(ady)
		return err
	}
	dm := leaf(g, "mask", randF32(r, 6*4), 6, 4)
	dx := leaf(g, "dx", randF32(r, 6*4), 6, 4)
	dxc, _ := input(dx, true)
	do, err := Dropout(dxc, dm)
	if err != nil {
		t.Fatal(err)
	}
	dop := do.Op().(*dropoutOp)
	steps["Dropout"] = func() error {
		if _, err := dop.Do(dx.Value(), dm.Value()); err != nil {
			return err
		}
		_, err := (&dropoutBwdOp{dop}).Do(ady, dm.Value())
		return err
	}
	for name, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if n := testing.AllocsPerRun(10, func() {
			if err := step(); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		}); n != 0 {
			t.Errorf("%s forward+backward: %v allocations per step, want 0", name, n)
		}
	}
}
