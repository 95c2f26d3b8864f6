package ops

import (
	"fmt"
	"hash"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// GlobalAvgPool adds the mean over each channel's H×W pixels of x
// (B, C, H, W); the result is (B, C), already flattened for a dense layer
// (ResNet's 4×4 average pool at the end of its last stage). It does not use
// Gorgonia's AveragePool2D or Mean, whose v0.9.18 versions are wrong for
// this (see host/models).
func GlobalAvgPool(x *gorgonia.Node) (*gorgonia.Node, error) {
	const name = "ops.GlobalAvgPool"
	xs, err := shapeOf(name, "input", x, 4)
	if err != nil {
		return nil, err
	}
	op := &avgPoolOp{nb: xs[0], c: xs[1], n: xs[2] * xs[3]}
	op.shapes = [2]tensor.Shape{xs, {xs[0], xs[1]}}
	return gorgonia.ApplyOp(op, x)
}

type avgPoolOp struct {
	nb, c, n int
	shapes   [2]tensor.Shape // x, y
	y, dx    *tensor.Dense
}

func (op *avgPoolOp) xShape() tensor.Shape { return op.shapes[0] }
func (op *avgPoolOp) yShape() tensor.Shape { return op.shapes[1] }

func (op *avgPoolOp) Arity() int    { return 1 }
func (op *avgPoolOp) Type() hm.Type { return hm.NewFnType(tensorType(4), tensorType(2)) }
func (op *avgPoolOp) InferShape(...gorgonia.DimSizer) (tensor.Shape, error) {
	return op.yShape(), nil
}
func (op *avgPoolOp) ReturnsPtr() bool      { return false }
func (op *avgPoolOp) CallsExtern() bool     { return false }
func (op *avgPoolOp) OverwritesInput() int  { return -1 }
func (op *avgPoolOp) WriteHash(h hash.Hash) { fmt.Fprintf(h, "ops.avgpool(%p)", op) }
func (op *avgPoolOp) Hashcode() uint32      { return hashOp(op) }
func (op *avgPoolOp) String() string        { return fmt.Sprintf("ops.GlobalAvgPool{%v}", op.xShape()) }

// Do runs the forward pass: per (sample, channel), the float32 sum of its
// pixels in order, divided by their count.
func (op *avgPoolOp) Do(inputs ...gorgonia.Value) (gorgonia.Value, error) {
	const name = "ops.GlobalAvgPool"
	if len(inputs) != 1 {
		return nil, fmt.Errorf("%s: %d inputs, want 1", name, len(inputs))
	}
	x, err := float32s(name, "input", inputs[0], op.xShape())
	if err != nil {
		return nil, err
	}
	if op.y == nil {
		op.y = newDense(make([]float32, op.nb*op.c), op.nb, op.c)
	}
	y := op.y.Float32s()
	div := float32(op.n)
	for i := range y {
		var s float32
		for _, v := range x[i*op.n : (i+1)*op.n] {
			s += v
		}
		y[i] = s / div
	}
	return owned(op.y, op.yShape()), nil
}

// DiffWRT reports that x gets a gradient.
func (op *avgPoolOp) DiffWRT(int) []bool { return []bool{true} }

// SymDiff adds the backward op: every pixel gets its channel's gradient
// divided by the pixel count.
func (op *avgPoolOp) SymDiff(inputs gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	dx, err := gorgonia.ApplyOp(&avgPoolBwdOp{op}, grad)
	if err != nil {
		return nil, fmt.Errorf("ops.GlobalAvgPool backward: %w", err)
	}
	return gorgonia.Nodes{dx}, nil
}

type avgPoolBwdOp struct{ f *avgPoolOp }

func (op *avgPoolBwdOp) Arity() int    { return 1 }
func (op *avgPoolBwdOp) Type() hm.Type { return hm.NewFnType(tensorType(2), tensorType(4)) }
func (op *avgPoolBwdOp) InferShape(...gorgonia.DimSizer) (tensor.Shape, error) {
	return op.f.xShape(), nil
}
func (op *avgPoolBwdOp) ReturnsPtr() bool      { return false }
func (op *avgPoolBwdOp) CallsExtern() bool     { return false }
func (op *avgPoolBwdOp) OverwritesInput() int  { return -1 }
func (op *avgPoolBwdOp) WriteHash(h hash.Hash) { fmt.Fprintf(h, "ops.avgpoolBwd(%p)", op.f) }
func (op *avgPoolBwdOp) Hashcode() uint32      { return hashOp(op) }
func (op *avgPoolBwdOp) String() string        { return "ops.GlobalAvgPoolBackward" }

func (op *avgPoolBwdOp) Do(inputs ...gorgonia.Value) (gorgonia.Value, error) {
	const name = "ops.GlobalAvgPool backward"
	f := op.f
	if len(inputs) != 1 {
		return nil, fmt.Errorf("%s: %d inputs, want 1", name, len(inputs))
	}
	dy, err := float32s(name, "output gradient", inputs[0], f.yShape())
	if err != nil {
		return nil, err
	}
	if f.dx == nil {
		f.dx = newDense(make([]float32, f.nb*f.c*f.n), f.xShape()...)
	}
	dx := f.dx.Float32s()
	div := float32(f.n)
	for i, g := range dy {
		g /= div
		row := dx[i*f.n : (i+1)*f.n]
		for j := range row {
			row[j] = g
		}
	}
	return owned(f.dx, f.xShape()), nil
}
