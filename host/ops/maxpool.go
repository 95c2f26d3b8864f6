package ops

import (
	"fmt"
	"hash"
	"runtime"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// MaxPool2 adds a 2×2 max-pool with stride 2 over x (B, C, H, W): the
// result is (B, C, H/2, W/2), an odd last row or column dropped, and ties
// go to the first of (0,0), (0,1), (1,0), (1,1), as gorgonia.MaxPool2D
// does. Work is split over samples.
func MaxPool2(x *gorgonia.Node) (*gorgonia.Node, error) {
	const name = "ops.MaxPool2"
	xs, err := shapeOf(name, "input", x, 4)
	if err != nil {
		return nil, err
	}
	if xs[2] < 2 || xs[3] < 2 {
		return nil, fmt.Errorf("%s: input %v is smaller than 2×2", name, xs)
	}
	op := &maxPoolOp{nb: xs[0], c: xs[1], h: xs[2], w: xs[3], hy: xs[2] / 2, wy: xs[3] / 2}
	op.shapes = [2]tensor.Shape{xs, {op.nb, op.c, op.hy, op.wy}}
	return gorgonia.ApplyOp(op, x)
}

type maxPoolOp struct {
	nb, c, h, w, hy, wy int
	shapes              [2]tensor.Shape // x, y

	workers  *pool
	zeros    []float32 // the kernel's bias, all zero
	y, dx    *tensor.Dense
	arg      []int32 // per output: index of its maximum in the sample's input
	backward bool
	cx, cdy  []float32
}

func (op *maxPoolOp) xShape() tensor.Shape { return op.shapes[0] }
func (op *maxPoolOp) yShape() tensor.Shape { return op.shapes[1] }

func (op *maxPoolOp) Arity() int    { return 1 }
func (op *maxPoolOp) Type() hm.Type { return hm.NewFnType(tensorType(4), tensorType(4)) }
func (op *maxPoolOp) InferShape(...gorgonia.DimSizer) (tensor.Shape, error) {
	return op.yShape(), nil
}
func (op *maxPoolOp) ReturnsPtr() bool      { return false }
func (op *maxPoolOp) CallsExtern() bool     { return false }
func (op *maxPoolOp) OverwritesInput() int  { return -1 }
func (op *maxPoolOp) WriteHash(h hash.Hash) { fmt.Fprintf(h, "ops.maxpool(%p)", op) }
func (op *maxPoolOp) Hashcode() uint32      { return hashOp(op) }
func (op *maxPoolOp) String() string        { return fmt.Sprintf("ops.MaxPool2{%v}", op.xShape()) }

// Do runs the forward pass.
func (op *maxPoolOp) Do(inputs ...gorgonia.Value) (gorgonia.Value, error) {
	const name = "ops.MaxPool2"
	if len(inputs) != 1 {
		return nil, fmt.Errorf("%s: %d inputs, want 1", name, len(inputs))
	}
	var err error
	if op.cx, err = float32s(name, "input", inputs[0], op.xShape()); err != nil {
		return nil, err
	}
	if op.workers == nil {
		op.workers = newPool(runtime.GOMAXPROCS(0), op)
		op.zeros = make([]float32, op.c)
		op.y = newDense(make([]float32, op.yShape().TotalSize()), op.yShape()...)
		op.arg = make([]int32, op.yShape().TotalSize())
	}
	op.backward = false
	op.workers.runDynamic(op, op.nb)
	op.cx = nil
	return owned(op.y, op.yShape()), nil
}

func (op *maxPoolOp) run(_, lo, hi int) {
	in, out := op.c*op.h*op.w, op.c*op.hy*op.wy
	for s := lo; s < hi; s++ {
		arg := op.arg[s*out : (s+1)*out]
		if op.backward {
			dx := op.dx.Float32s()[s*in : (s+1)*in]
			clear(dx)
			for i, g := range op.cdy[s*out : (s+1)*out] {
				dx[arg[i]] += g
			}
			continue
		}
		pool2(op.cx[s*in:(s+1)*in], op.c, op.h*op.w, op.w, op.hy, op.wy, op.zeros, false, op.y.Float32s()[s*out:(s+1)*out], arg)
	}
}

// DiffWRT reports that x gets a gradient.
func (op *maxPoolOp) DiffWRT(int) []bool { return []bool{true} }

// SymDiff adds the backward op, which scatters the gradient to the maxima.
func (op *maxPoolOp) SymDiff(inputs gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	dx, err := gorgonia.ApplyOp(&maxPoolBwdOp{op}, grad)
	if err != nil {
		return nil, fmt.Errorf("ops.MaxPool2 backward: %w", err)
	}
	return gorgonia.Nodes{dx}, nil
}

// maxPoolBwdOp is the backward pass of a maxPoolOp, from the output
// gradient and the maxima the forward pass recorded.
type maxPoolBwdOp struct{ f *maxPoolOp }

func (op *maxPoolBwdOp) Arity() int    { return 1 }
func (op *maxPoolBwdOp) Type() hm.Type { return hm.NewFnType(tensorType(4), tensorType(4)) }
func (op *maxPoolBwdOp) InferShape(...gorgonia.DimSizer) (tensor.Shape, error) {
	return op.f.xShape(), nil
}
func (op *maxPoolBwdOp) ReturnsPtr() bool      { return false }
func (op *maxPoolBwdOp) CallsExtern() bool     { return false }
func (op *maxPoolBwdOp) OverwritesInput() int  { return -1 }
func (op *maxPoolBwdOp) WriteHash(h hash.Hash) { fmt.Fprintf(h, "ops.maxpoolBwd(%p)", op.f) }
func (op *maxPoolBwdOp) Hashcode() uint32      { return hashOp(op) }
func (op *maxPoolBwdOp) String() string        { return "ops.MaxPool2Backward" }

func (op *maxPoolBwdOp) Do(inputs ...gorgonia.Value) (gorgonia.Value, error) {
	const name = "ops.MaxPool2 backward"
	f := op.f
	if len(inputs) != 1 {
		return nil, fmt.Errorf("%s: %d inputs, want 1", name, len(inputs))
	}
	if f.workers == nil {
		return nil, fmt.Errorf("%s: run before the forward pass", name)
	}
	var err error
	if f.cdy, err = float32s(name, "output gradient", inputs[0], f.yShape()); err != nil {
		return nil, err
	}
	if f.dx == nil {
		f.dx = newDense(make([]float32, f.xShape().TotalSize()), f.xShape()...)
	}
	f.backward = true
	f.workers.runDynamic(f, f.nb)
	f.cdy = nil
	return owned(f.dx, f.xShape()), nil
}
