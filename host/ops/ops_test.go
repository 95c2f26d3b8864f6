package ops

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"time"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// graphRun is one graph evaluated with a tape machine: the output value and
// the gradients of loss = Σ y⊙r with respect to the listed leaves.
type graphRun struct {
	y     []float32
	grads [][]float32
}

func leaf(g *gorgonia.ExprGraph, name string, data []float32, shape ...int) *gorgonia.Node {
	v := tensor.New(tensor.WithShape(shape...), tensor.WithBacking(append([]float32(nil), data...)))
	return gorgonia.NewTensor(g, tensor.Float32, len(shape), gorgonia.WithShape(shape...), gorgonia.WithName(name), gorgonia.WithValue(v))
}

// evalGraph builds x, params and r as leaves, calls build for the output,
// adds loss = Σ y⊙r, and returns y and the gradients of wrt (indices into
// the leaves: 0 is x).
func evalGraph(t *testing.T, leaves []leafSpec, build func(g *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error), r []float32, wrt []int) graphRun {
	t.Helper()
	g := gorgonia.NewGraph()
	nodes := make([]*gorgonia.Node, len(leaves))
	for i, l := range leaves {
		nodes[i] = leaf(g, l.name, l.data, l.shape...)
	}
	y, err := build(g, nodes)
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	ys := y.Shape()
	rn := leaf(g, "r", r, ys...)
	prod, err := gorgonia.HadamardProd(y, rn)
	if err != nil {
		t.Fatal(err)
	}
	loss, err := gorgonia.Sum(prod)
	if err != nil {
		t.Fatal(err)
	}
	var targets gorgonia.Nodes
	for _, i := range wrt {
		targets = append(targets, nodes[i])
	}
	if _, err := gorgonia.Grad(loss, targets...); err != nil {
		t.Fatalf("Grad: %v", err)
	}
	vm := gorgonia.NewTapeMachine(g, gorgonia.BindDualValues(targets...))
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatalf("run: %v", err)
	}
	out := graphRun{y: append([]float32(nil), y.Value().Data().([]float32)...)}
	for _, n := range targets {
		gv, err := n.Grad()
		if err != nil {
			t.Fatalf("grad of %s: %v", n.Name(), err)
		}
		out.grads = append(out.grads, append([]float32(nil), gv.Data().([]float32)...))
	}
	return out
}

type leafSpec struct {
	name  string
	data  []float32
	shape []int
}

func closeTo(t *testing.T, what string, got, want []float32, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	var worst float64
	at := -1
	for i := range got {
		d := math.Abs(float64(got[i]-want[i])) / (1 + math.Abs(float64(want[i])))
		if d > worst || math.IsNaN(float64(got[i])) {
			worst, at = d, i
		}
	}
	if worst > tol || (at >= 0 && math.IsNaN(float64(got[at]))) {
		t.Fatalf("%s: [%d] = %v, want %v (relative error %.3g > %.3g)", what, at, got[at], want[at], worst, tol)
	}
}

type convCase struct {
	b, c, h, w, o, kh, kw, pad int
	relu, pool, dx             bool
}

func (cc convCase) String() string {
	return fmt.Sprintf("x%dx%dx%dx%d_w%dx%dx%d_pad%d_relu%t_pool%t_dx%t", cc.b, cc.c, cc.h, cc.w, cc.o, cc.kh, cc.kw, cc.pad, cc.relu, cc.pool, cc.dx)
}

var convCases = []convCase{
	{b: 1, c: 3, h: 7, w: 9, o: 5, kh: 3, kw: 2, pad: 1, relu: true, pool: true, dx: true},
	{b: 2, c: 3, h: 32, w: 32, o: 6, kh: 5, kw: 5, relu: true, pool: true},
	{b: 3, c: 6, h: 14, w: 14, o: 16, kh: 5, kw: 5, relu: true, pool: true, dx: true},
	{b: 2, c: 5, h: 11, w: 8, o: 7, kh: 3, kw: 3, pad: 2, relu: true, pool: false, dx: true},
	{b: 3, c: 1, h: 6, w: 13, o: 9, kh: 1, kw: 4, pad: 0, relu: false, pool: true, dx: true},
	{b: 1, c: 10, h: 5, w: 5, o: 3, kh: 5, kw: 5, pad: 1, relu: false, pool: false, dx: true},
}

func convLeaves(r *rand.Rand, cc convCase) []leafSpec {
	return []leafSpec{
		{"x", randF32(r, cc.b*cc.c*cc.h*cc.w), []int{cc.b, cc.c, cc.h, cc.w}},
		{"w", randF32(r, cc.o*cc.c*cc.kh*cc.kw), []int{cc.o, cc.c, cc.kh, cc.kw}},
		{"b", randF32(r, cc.o), []int{cc.o}},
	}
}

// input returns x itself, or x+0 so that the op sees a computed input and
// produces an input gradient.
func input(x *gorgonia.Node, computed bool) (*gorgonia.Node, error) {
	if !computed {
		return x, nil
	}
	return gorgonia.Add(x, gorgonia.NewConstant(float32(0)))
}

func fastConv(cc convCase) func(*gorgonia.ExprGraph, []*gorgonia.Node) (*gorgonia.Node, error) {
	return func(g *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
		x, err := input(in[0], cc.dx)
		if err != nil {
			return nil, err
		}
		return Conv2D(x, in[1], in[2], cc.pad, cc.relu, cc.pool)
	}
}

// refConv is the same layer from Gorgonia's own ops.
func refConv(cc convCase) func(*gorgonia.ExprGraph, []*gorgonia.Node) (*gorgonia.Node, error) {
	return func(g *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
		x, err := input(in[0], cc.dx)
		if err != nil {
			return nil, err
		}
		y, err := gorgonia.Conv2d(x, in[1], tensor.Shape{cc.kh, cc.kw}, []int{cc.pad, cc.pad}, []int{1, 1}, []int{1, 1})
		if err != nil {
			return nil, err
		}
		b4, err := gorgonia.Reshape(in[2], tensor.Shape{1, cc.o, 1, 1})
		if err != nil {
			return nil, err
		}
		if y, err = gorgonia.BroadcastAdd(y, b4, nil, []byte{0, 2, 3}); err != nil {
			return nil, err
		}
		if cc.relu {
			if y, err = gorgonia.Rectify(y); err != nil {
				return nil, err
			}
		}
		if cc.pool {
			return gorgonia.MaxPool2D(y, tensor.Shape{2, 2}, []int{0, 0}, []int{2, 2})
		}
		return y, nil
	}
}

func wrtFor(dx bool) []int {
	if dx {
		return []int{0, 1, 2}
	}
	return []int{1, 2}
}

// TestConv2DMatchesGorgonia compares output and gradients with Gorgonia's
// Conv2d + BroadcastAdd + Rectify + MaxPool2D, with 1, 2 and 3 workers.
func TestConv2DMatchesGorgonia(t *testing.T) {
	for _, procs := range []int{1, 2, 3} {
		for i, cc := range convCases {
			t.Run(fmt.Sprintf("procs%d/%v", procs, cc), func(t *testing.T) {
				defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
				r := rand.New(rand.NewPCG(uint64(i), 7))
				leaves := convLeaves(r, cc)
				ref := evalGraph(t, leaves, refConv(cc), nil2(r, cc), wrtFor(cc.dx))
				r = rand.New(rand.NewPCG(uint64(i), 7))
				leaves = convLeaves(r, cc)
				got := evalGraph(t, leaves, fastConv(cc), nil2(r, cc), wrtFor(cc.dx))
				closeTo(t, "output", got.y, ref.y, 1e-5)
				for j, name := range wrtNames(cc.dx) {
					closeTo(t, "gradient of "+name, got.grads[j], ref.grads[j], 2e-5)
				}
			})
		}
	}
}

func wrtNames(dx bool) []string {
	if dx {
		return []string{"x", "w", "b"}
	}
	return []string{"w", "b"}
}

// nil2 draws the loss weights r for a case's output shape.
func nil2(r *rand.Rand, cc convCase) []float32 {
	ho, wo := cc.h+2*cc.pad-cc.kh+1, cc.w+2*cc.pad-cc.kw+1
	if cc.pool {
		ho, wo = ho/2, wo/2
	}
	return randF32(r, cc.b*cc.o*ho*wo)
}

// fdCheck compares analytic gradients with central differences of
// loss(leaves) = Σ y⊙r computed by forward alone, in float64 from float32
// outputs. Coordinates where two step sizes disagree (a ReLU or max-pool
// kink inside the step) are skipped; at most a quarter may be (the inputs
// are fixed by seeds, so the count is too).
func fdCheck(t *testing.T, leaves []leafSpec, wrt []int, analytic [][]float32, forward func([]leafSpec) []float32, r []float32) {
	t.Helper()
	loss := func() float64 {
		y := forward(leaves)
		var s float64
		for i, v := range y {
			s += float64(v) * float64(r[i])
		}
		return s
	}
	fd := func(data []float32, i int, eps float32) float64 {
		old := data[i]
		data[i] = old + eps
		lp := loss()
		data[i] = old - eps
		lm := loss()
		data[i] = old
		return (lp - lm) / (2 * float64(eps))
	}
	checked, skipped := 0, 0
	for gi, li := range wrt {
		data := leaves[li].data
		// Every coordinate of small tensors, a spread of them otherwise.
		step := max(1, len(data)/40)
		for i := 0; i < len(data); i += step {
			a := float64(analytic[gi][i])
			d1, d2 := fd(data, i, 1e-2), fd(data, i, 5e-3)
			if math.Abs(d1-d2) > 2e-3*(1+math.Abs(d1)) {
				skipped++
				continue
			}
			checked++
			if math.Abs(a-d2) > 5e-3*(1+math.Abs(d2)) {
				t.Fatalf("d loss/d %s[%d]: analytic %v, finite difference %v", leaves[li].name, i, a, d2)
			}
		}
	}
	if skipped*4 > checked+skipped {
		t.Fatalf("finite differences: %d of %d coordinates skipped as non-smooth", skipped, checked+skipped)
	}
}

// forwardOnly evaluates build's output without gradients.
func forwardOnly(t *testing.T, build func(*gorgonia.ExprGraph, []*gorgonia.Node) (*gorgonia.Node, error)) func([]leafSpec) []float32 {
	return func(leaves []leafSpec) []float32 {
		g := gorgonia.NewGraph()
		nodes := make([]*gorgonia.Node, len(leaves))
		for i, l := range leaves {
			nodes[i] = leaf(g, l.name, l.data, l.shape...)
		}
		y, err := build(g, nodes)
		if err != nil {
			t.Fatal(err)
		}
		vm := gorgonia.NewTapeMachine(g)
		defer vm.Close()
		if err := vm.RunAll(); err != nil {
			t.Fatal(err)
		}
		return append([]float32(nil), y.Value().Data().([]float32)...)
	}
}

func TestConv2DFiniteDifferences(t *testing.T) {
	for i, cc := range []convCase{
		{b: 1, c: 3, h: 7, w: 9, o: 5, kh: 3, kw: 2, pad: 1, relu: true, pool: true, dx: true},
		{b: 2, c: 5, h: 6, w: 5, o: 3, kh: 3, kw: 3, pad: 2, relu: true, pool: false, dx: true},
		{b: 2, c: 2, h: 5, w: 7, o: 4, kh: 2, kw: 3, pad: 0, relu: false, pool: true, dx: true},
	} {
		t.Run(cc.String(), func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(i), 11))
			leaves := convLeaves(r, cc)
			rr := nil2(r, cc)
			got := evalGraph(t, leaves, fastConv(cc), rr, wrtFor(true))
			fdCheck(t, leaves, wrtFor(true), got.grads, forwardOnly(t, fastConv(cc)), rr)
		})
	}
}

type denseCase struct {
	b, in, out int
	relu, dx   bool
}

func denseLeaves(r *rand.Rand, dc denseCase) []leafSpec {
	return []leafSpec{
		{"x", randF32(r, dc.b*dc.in), []int{dc.b, dc.in}},
		{"w", randF32(r, dc.in*dc.out), []int{dc.in, dc.out}},
		{"b", randF32(r, dc.out), []int{dc.out}},
	}
}

func fastDense(dc denseCase) func(*gorgonia.ExprGraph, []*gorgonia.Node) (*gorgonia.Node, error) {
	return func(g *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
		x, err := input(in[0], dc.dx)
		if err != nil {
			return nil, err
		}
		return Dense(x, in[1], in[2], dc.relu)
	}
}

func refDense(dc denseCase) func(*gorgonia.ExprGraph, []*gorgonia.Node) (*gorgonia.Node, error) {
	return func(g *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
		x, err := input(in[0], dc.dx)
		if err != nil {
			return nil, err
		}
		y, err := gorgonia.Mul(x, in[1])
		if err != nil {
			return nil, err
		}
		if y, err = gorgonia.BroadcastAdd(y, in[2], nil, []byte{0}); err != nil {
			return nil, err
		}
		if dc.relu {
			return gorgonia.Rectify(y)
		}
		return y, nil
	}
}

var denseCases = []denseCase{
	{b: 1, in: 7, out: 3, relu: true, dx: true},
	{b: 5, in: 400, out: 120, relu: true},
	{b: 9, in: 84, out: 10, relu: false, dx: true},
	{b: 2, in: 13, out: 17, relu: false},
}

func TestDenseMatchesGorgonia(t *testing.T) {
	for _, procs := range []int{1, 2, 3} {
		for i, dc := range denseCases {
			t.Run(fmt.Sprintf("procs%d/%+v", procs, dc), func(t *testing.T) {
				defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
				r := rand.New(rand.NewPCG(uint64(i), 5))
				leaves := denseLeaves(r, dc)
				rr := randF32(r, dc.b*dc.out)
				ref := evalGraph(t, leaves, refDense(dc), rr, wrtFor(dc.dx))
				got := evalGraph(t, leaves, fastDense(dc), rr, wrtFor(dc.dx))
				closeTo(t, "output", got.y, ref.y, 1e-5)
				for j, name := range wrtNames(dc.dx) {
					closeTo(t, "gradient of "+name, got.grads[j], ref.grads[j], 1e-5)
				}
			})
		}
	}
}

func TestDenseFiniteDifferences(t *testing.T) {
	for i, dc := range []denseCase{{b: 3, in: 7, out: 5, relu: true, dx: true}, {b: 1, in: 4, out: 9, dx: true}} {
		r := rand.New(rand.NewPCG(uint64(i), 13))
		leaves := denseLeaves(r, dc)
		rr := randF32(r, dc.b*dc.out)
		got := evalGraph(t, leaves, fastDense(dc), rr, wrtFor(true))
		fdCheck(t, leaves, wrtFor(true), got.grads, forwardOnly(t, fastDense(dc)), rr)
	}
}

// oneHotLeaves returns logits and one-hot targets (class b·3 mod k for row b).
func sceLeaves(r *rand.Rand, b, k int) []leafSpec {
	z := randF32(r, b*k)
	for i := range z {
		z[i] *= 3
	}
	t := make([]float32, b*k)
	for i := 0; i < b; i++ {
		t[i*k+(i*3)%k] = 1
	}
	return []leafSpec{{"z", z, []int{b, k}}, {"t", t, []int{b, k}}}
}

func refSCE(g *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
	sm, err := gorgonia.SoftMax(in[0])
	if err != nil {
		return nil, err
	}
	lg, err := gorgonia.Log(sm)
	if err != nil {
		return nil, err
	}
	p, err := gorgonia.HadamardProd(in[1], lg)
	if err != nil {
		return nil, err
	}
	s, err := gorgonia.Sum(p, 1)
	if err != nil {
		return nil, err
	}
	m, err := gorgonia.Mean(s)
	if err != nil {
		return nil, err
	}
	return gorgonia.Neg(m)
}

func fastSCE(g *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
	return SoftmaxCrossEntropy(in[0], in[1])
}

// scalarGraph evaluates a scalar loss and its gradient with respect to leaf 0.
func scalarGraph(t *testing.T, leaves []leafSpec, build func(*gorgonia.ExprGraph, []*gorgonia.Node) (*gorgonia.Node, error)) (float32, []float32) {
	t.Helper()
	g := gorgonia.NewGraph()
	nodes := make([]*gorgonia.Node, len(leaves))
	for i, l := range leaves {
		nodes[i] = leaf(g, l.name, l.data, l.shape...)
	}
	loss, err := build(g, nodes)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gorgonia.Grad(loss, nodes[0]); err != nil {
		t.Fatalf("Grad: %v", err)
	}
	vm := gorgonia.NewTapeMachine(g, gorgonia.BindDualValues(nodes[0]))
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	gv, err := nodes[0].Grad()
	if err != nil {
		t.Fatal(err)
	}
	return loss.Value().Data().(float32), append([]float32(nil), gv.Data().([]float32)...)
}

func TestSoftmaxCrossEntropy(t *testing.T) {
	for _, s := range []struct{ b, k int }{{1, 10}, {7, 3}, {128, 10}} {
		r := rand.New(rand.NewPCG(uint64(s.b), uint64(s.k)))
		leaves := sceLeaves(r, s.b, s.k)
		refLoss, refGrad := scalarGraph(t, leaves, refSCE)
		loss, grad := scalarGraph(t, leaves, fastSCE)
		closeTo(t, "loss", []float32{loss}, []float32{refLoss}, 1e-5)
		closeTo(t, "gradient", grad, refGrad, 1e-5)

		// By hand: −log softmax of the target class, averaged.
		var want float64
		z := leaves[0].data
		for i := 0; i < s.b; i++ {
			row := z[i*s.k : (i+1)*s.k]
			var sum float64
			for _, v := range row {
				sum += math.Exp(float64(v))
			}
			want += math.Log(sum) - float64(row[(i*3)%s.k])
		}
		want /= float64(s.b)
		if math.Abs(float64(loss)-want) > 1e-5*(1+want) {
			t.Fatalf("b=%d k=%d: loss %v, want %v", s.b, s.k, loss, want)
		}

		// Central differences of the loss itself.
		for i := 0; i < len(z); i += max(1, len(z)/30) {
			old := z[i]
			z[i] = old + 1e-2
			lp, _ := scalarGraph(t, leaves, fastSCE)
			z[i] = old - 1e-2
			lm, _ := scalarGraph(t, leaves, fastSCE)
			z[i] = old
			fd := (float64(lp) - float64(lm)) / 2e-2
			if math.Abs(fd-float64(grad[i])) > 2e-3*(1+math.Abs(fd)) {
				t.Fatalf("b=%d k=%d: d loss/d z[%d] = %v, finite difference %v", s.b, s.k, i, grad[i], fd)
			}
		}
	}
}

func TestOpsHashUniquely(t *testing.T) {
	g := gorgonia.NewGraph()
	x := leaf(g, "x", make([]float32, 2*3*8*8), 2, 3, 8, 8)
	w := leaf(g, "w", make([]float32, 4*3*3*3), 4, 3, 3, 3)
	b := leaf(g, "b", make([]float32, 4), 4)
	y1, err := Conv2D(x, w, b, 0, true, true)
	if err != nil {
		t.Fatal(err)
	}
	y2, err := Conv2D(x, w, b, 0, true, true)
	if err != nil {
		t.Fatal(err)
	}
	if y1 == y2 || y1.Op().Hashcode() == y2.Op().Hashcode() {
		t.Fatalf("two identical Conv2D layers share a node or a hash: %p %p", y1, y2)
	}
}

func TestBadInputsNamed(t *testing.T) {
	g := gorgonia.NewGraph()
	x := leaf(g, "x", make([]float32, 2*3*8*8), 2, 3, 8, 8)
	w := leaf(g, "w", make([]float32, 4*2*3*3), 4, 2, 3, 3)
	w9 := leaf(g, "w9", make([]float32, 4*3*9*9), 4, 3, 9, 9)
	b := leaf(g, "b", make([]float32, 4), 4)
	b5 := leaf(g, "b5", make([]float32, 5), 5)
	m := leaf(g, "m", make([]float32, 2*7), 2, 7)
	mw := leaf(g, "mw", make([]float32, 6*4), 6, 4)
	l := leaf(g, "l", make([]float32, 2*3), 2, 3)
	for _, c := range []struct {
		err  error
		want string
	}{
		{second(Conv2D(x, w, b, 0, true, true)), "2 input channels"},
		{second(Conv2D(x, w9, b, 0, true, true)), "does not fit"},
		{second(Conv2D(m, w, b, 0, true, true)), "want 4 dimensions"},
		{second(Conv2D(x, w9, b, -1, true, true)), "padding -1"},
		{second(Dense(m, mw, b, true)), "7 features"},
		{second(Dense(l, leaf(g, "w3", make([]float32, 12), 3, 4), b5, true)), "bias has 5"},
		{second(SoftmaxCrossEntropy(m, l)), "targets have shape"},
	} {
		if c.err == nil || !strings.Contains(c.err.Error(), c.want) {
			t.Errorf("error %v, want one containing %q", c.err, c.want)
		}
	}
}

func second[T any](_ T, err error) error { return err }

// TestStepDoesNotAllocate runs each op's forward and backward Do directly
// and counts allocations after the first (buffer-allocating) call.
func TestStepDoesNotAllocate(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	g := gorgonia.NewGraph()
	x := leaf(g, "x", randF32(r, 4*3*12*12), 4, 3, 12, 12)
	xc, _ := input(x, true)
	w := leaf(g, "w", randF32(r, 6*3*5*5), 6, 3, 5, 5)
	b := leaf(g, "b", randF32(r, 6), 6)
	y, err := Conv2D(xc, w, b, 1, true, true)
	if err != nil {
		t.Fatal(err)
	}
	conv := y.Op().(*convOp)
	xv := tensor.New(tensor.WithShape(4, 3, 12, 12), tensor.WithBacking(randF32(r, 4*3*12*12)))
	dy := tensor.New(tensor.WithShape(4, 6, 5, 5), tensor.WithBacking(randF32(r, 4*6*5*5)))
	bwd := &convBwdOp{conv}
	step := func() {
		yv, err := conv.Do(xv, w.Value(), b.Value())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := bwd.Do(xv, w.Value(), yv, dy); err != nil {
			t.Fatal(err)
		}
	}
	if n := testing.AllocsPerRun(20, step); n != 0 {
		t.Errorf("Conv2D forward+backward: %v allocations per step, want 0", n)
	}

	dx := leaf(g, "dx", randF32(r, 8*20), 8, 20)
	dw := leaf(g, "dw", randF32(r, 20*10), 20, 10)
	dbias := leaf(g, "db", randF32(r, 10), 10)
	dxc, _ := input(dx, true)
	dyn, err := Dense(dxc, dw, dbias, true)
	if err != nil {
		t.Fatal(err)
	}
	dense := dyn.Op().(*denseOp)
	dbwd := &denseBwdOp{dense}
	ddy := tensor.New(tensor.WithShape(8, 10), tensor.WithBacking(randF32(r, 80)))
	dstep := func() {
		yv, err := dense.Do(dx.Value(), dw.Value(), dbias.Value())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := dbwd.Do(dx.Value(), dw.Value(), yv, ddy); err != nil {
			t.Fatal(err)
		}
	}
	if n := testing.AllocsPerRun(20, dstep); n != 0 {
		t.Errorf("Dense forward+backward: %v allocations per step, want 0", n)
	}

	z := leaf(g, "z", randF32(r, 8*10), 8, 10)
	tg := leaf(g, "t", make([]float32, 80), 8, 10)
	ln, err := SoftmaxCrossEntropy(z, tg)
	if err != nil {
		t.Fatal(err)
	}
	sce := ln.Op().(*sceOp)
	sbwd := &sceBwdOp{sce}
	one := gorgonia.NewF32(1)
	sstep := func() {
		lv, err := sce.Do(z.Value(), tg.Value())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sbwd.Do(z.Value(), lv, one); err != nil {
			t.Fatal(err)
		}
	}
	if n := testing.AllocsPerRun(20, sstep); n != 0 {
		t.Errorf("SoftmaxCrossEntropy forward+backward: %v allocations per step, want 0", n)
	}
}

// TestWorkersExitWithTheirOp checks that an op's worker goroutines end once
// the graph holding it is garbage, so a process that builds a graph per
// trial does not collect parked goroutines.
func TestWorkersExitWithTheirOp(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	before := runtime.NumGoroutine()
	func() {
		for range 5 {
			cc := convCases[0]
			r := rand.New(rand.NewPCG(1, 2))
			evalGraph(t, convLeaves(r, cc), fastConv(cc), nil2(r, cc), wrtFor(cc.dx))
		}
	}()
	// Each conv op parks GOMAXPROCS−1 = 3 workers; a GC during the loop may
	// already have ended earlier graphs', but not the last one's.
	if started := runtime.NumGoroutine() - before; started < 3 {
		t.Fatalf("%d goroutines above the baseline after the runs, want at least 3", started)
	}
	for i := 0; i < 50 && runtime.NumGoroutine() > before; i++ {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Fatalf("%d goroutines after the graphs were dropped, %d before", n, before)
	}
}

// TestConv2DSameBitsAnyWorkerCount: the convolution's output and gradients
// do not depend on GOMAXPROCS, bit for bit.
func TestConv2DSameBitsAnyWorkerCount(t *testing.T) {
	cc := convCases[2]
	var first graphRun
	for i, procs := range []int{1, 2, 3, 5} {
		func() {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
			r := rand.New(rand.NewPCG(8, 8))
			got := evalGraph(t, convLeaves(r, cc), fastConv(cc), nil2(r, cc), wrtFor(cc.dx))
			if i == 0 {
				first = got
				return
			}
			for j, name := range wrtNames(cc.dx) {
				for k := range got.grads[j] {
					if math.Float32bits(got.grads[j][k]) != math.Float32bits(first.grads[j][k]) {
						t.Fatalf("GOMAXPROCS %d: gradient of %s[%d] = %v, with 1 worker %v", procs, name, k, got.grads[j][k], first.grads[j][k])
					}
				}
			}
		}()
	}
}

// TestDenseSameBitsAnyWorkerCount: the dense layer's output and gradients do
// not depend on GOMAXPROCS, bit for bit, so a training run reproduces its
// curve on any machine size (and `tune --workers` does not change results).
func TestDenseSameBitsAnyWorkerCount(t *testing.T) {
	for _, dc := range []denseCase{
		{b: 128, in: 400, out: 120, relu: true, dx: true},
		{b: 37, in: 3072, out: 64, relu: true},
		{b: 3, in: 5, out: 2, dx: true},
	} {
		var first graphRun
		for i, procs := range []int{1, 2, 3, 5} {
			func() {
				defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
				r := rand.New(rand.NewPCG(9, 9))
				leaves := denseLeaves(r, dc)
				got := evalGraph(t, leaves, fastDense(dc), randF32(r, dc.b*dc.out), wrtFor(dc.dx))
				if i == 0 {
					first = got
					return
				}
				for k := range got.y {
					if math.Float32bits(got.y[k]) != math.Float32bits(first.y[k]) {
						t.Fatalf("%+v GOMAXPROCS %d: output[%d] = %v, with 1 worker %v", dc, procs, k, got.y[k], first.y[k])
					}
				}
				for j, name := range wrtNames(dc.dx) {
					for k := range got.grads[j] {
						if math.Float32bits(got.grads[j][k]) != math.Float32bits(first.grads[j][k]) {
							t.Fatalf("%+v GOMAXPROCS %d: gradient of %s[%d] = %v, with 1 worker %v", dc, procs, name, k, got.grads[j][k], first.grads[j][k])
						}
					}
				}
			}()
		}
	}
}
