package ops

import (
	"fmt"
	"hash"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Dropout adds y = x ⊙ mask, where mask (same shape as x) is a graph input
// that the caller redraws every step: 0 with probability p and 1/(1−p)
// otherwise. The gradient flows to x only: dx = dy ⊙ mask.
func Dropout(x, mask *gorgonia.Node) (*gorgonia.Node, error) {
	const name = "ops.Dropout"
	if x == nil || mask == nil {
		return nil, fmt.Errorf("%s: nil input or mask", name)
	}
	xs, err := shapeOf(name, "input", x, x.Shape().Dims())
	if err != nil {
		return nil, err
	}
	ms, err := shapeOf(name, "mask", mask, xs.Dims())
	if err != nil {
		return nil, err
	}
	if !sameShape(xs, ms) {
		return nil, fmt.Errorf("%s: mask has shape %v, input %v; want equal", name, ms, xs)
	}
	op := &dropoutOp{shape: xs}
	return gorgonia.ApplyOp(op, x, mask)
}

type dropoutOp struct {
	shape tensor.Shape
	y, dx *tensor.Dense
}

func (op *dropoutOp) Arity() int { return 2 }
func (op *dropoutOp) Type() hm.Type {
	t := tensorType(op.shape.Dims())
	return hm.NewFnType(t, t, t)
}
func (op *dropoutOp) InferShape(...gorgonia.DimSizer) (tensor.Shape, error) {
	return op.shape.Clone(), nil
}
func (op *dropoutOp) ReturnsPtr() bool      { return false }
func (op *dropoutOp) CallsExtern() bool     { return false }
func (op *dropoutOp) OverwritesInput() int  { return -1 }
func (op *dropoutOp) WriteHash(h hash.Hash) { fmt.Fprintf(h, "ops.dropout(%p)", op) }
func (op *dropoutOp) Hashcode() uint32      { return hashOp(op) }
func (op *dropoutOp) String() string        { return fmt.Sprintf("ops.Dropout{%v}", op.shape) }

// mulInto sets *out (allocated on first use) to a ⊙ b after checking both inputs.
func mulInto(name string, out **tensor.Dense, shape tensor.Shape, a, b gorgonia.Value, aWhat string) (*tensor.Dense, error) {
	av, err := float32s(name, aWhat, a, shape)
	if err != nil {
		return nil, err
	}
	bv, err := float32s(name, "mask", b, shape)
	if err != nil {
		return nil, err
	}
	if *out == nil {
		*out = newDense(make([]float32, shape.TotalSize()), shape...)
	}
	o := (*out).Float32s()
	for i, v := range av {
		o[i] = v * bv[i]
	}
	return owned(*out, shape), nil
}

// Do runs the forward pass.
func (op *dropoutOp) Do(inputs ...gorgonia.Value) (gorgonia.Value, error) {
	const name = "ops.Dropout"
	if len(inputs) != 2 {
		return nil, fmt.Errorf("%s: %d inputs, want 2", name, len(inputs))
	}
	return mulInto(name, &op.y, op.shape, inputs[0], inputs[1], "input")
}

// DiffWRT reports that x gets a gradient and the mask does not.
func (op *dropoutOp) DiffWRT(int) []bool { return []bool{true, false} }

// SymDiff adds the backward op dx = dy ⊙ mask.
func (op *dropoutOp) SymDiff(inputs gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if len(inputs) != 2 {
		return nil, fmt.Errorf("ops.Dropout: SymDiff with %d inputs, want 2", len(inputs))
	}
	dx, err := gorgonia.ApplyOp(&dropoutBwdOp{op}, grad, inputs[1])
	if err != nil {
		return nil, fmt.Errorf("ops.Dropout backward: %w", err)
	}
	return gorgonia.Nodes{dx, nil}, nil
}

type dropoutBwdOp struct{ f *dropoutOp }

func (op *dropoutBwdOp) Arity() int { return 2 }
func (op *dropoutBwdOp) Type() hm.Type {
	t := tensorType(op.f.shape.Dims())
	return hm.NewFnType(t, t, t)
}
func (op *dropoutBwdOp) InferShape(...gorgonia.DimSizer) (tensor.Shape, error) {
	return op.f.shape.Clone(), nil
}
func (op *dropoutBwdOp) ReturnsPtr() bool      { return false }
func (op *dropoutBwdOp) CallsExtern() bool     { return false }
func (op *dropoutBwdOp) OverwritesInput() int  { return -1 }
func (op *dropoutBwdOp) WriteHash(h hash.Hash) { fmt.Fprintf(h, "ops.dropoutBwd(%p)", op.f) }
func (op *dropoutBwdOp) Hashcode() uint32      { return hashOp(op) }
func (op *dropoutBwdOp) String() string        { return "ops.DropoutBackward" }

func (op *dropoutBwdOp) Do(inputs ...gorgonia.Value) (gorgonia.Value, error) {
	const name = "ops.Dropout backward"
	if len(inputs) != 2 {
		return nil, fmt.Errorf("%s: %d inputs, want 2", name, len(inputs))
	}
	return mulInto(name, &op.f.dx, op.f.shape, inputs[0], inputs[1], "output gradient")
}
