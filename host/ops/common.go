package ops

import (
	"fmt"
	"hash"
	"hash/fnv"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

func tensorType(dims int) hm.Type {
	return &gorgonia.TensorType{Dims: dims, Of: hm.TypeVariable('a')}
}

func hashOp(op interface{ WriteHash(hash.Hash) }) uint32 {
	h := fnv.New32a()
	op.WriteHash(h)
	return h.Sum32()
}

// float32s returns v's backing slice after checking that v is a dense
// float32 tensor of shape want. It does not allocate on success.
func float32s(op, what string, v gorgonia.Value, want tensor.Shape) ([]float32, error) {
	d, ok := v.(*tensor.Dense)
	if !ok {
		return nil, fmt.Errorf("%s: %s is %T, want a dense float32 tensor", op, what, v)
	}
	if d.Dtype() != tensor.Float32 {
		return nil, fmt.Errorf("%s: %s has dtype %v, want float32", op, what, d.Dtype())
	}
	if !sameShape(d.Shape(), want) {
		return nil, fmt.Errorf("%s: %s has shape %v, want %v", op, what, d.Shape(), want)
	}
	if !d.IsNativelyAccessible() || d.RequiresIterator() {
		return nil, fmt.Errorf("%s: %s is a view; want contiguous memory", op, what)
	}
	return d.Float32s(), nil
}

func sameShape(a, b tensor.Shape) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// scalarOf reads a float32 scalar value (Gorgonia's *F32 or a 0-d tensor).
func scalarOf(op, what string, v gorgonia.Value) (float32, error) {
	switch s := v.(type) {
	case *gorgonia.F32:
		return float32(*s), nil
	case *tensor.Dense:
		if s.Dtype() == tensor.Float32 && s.Shape().IsScalarEquiv() && s.Size() == 1 {
			return s.Float32s()[0], nil
		}
	}
	return 0, fmt.Errorf("%s: %s is %v (%T), want a float32 scalar", op, what, v, v)
}

// shapeOf returns a node's shape after checking that it is a float32 tensor
// with the given number of dimensions.
func shapeOf(op, what string, n *gorgonia.Node, dims int) (tensor.Shape, error) {
	if n == nil {
		return nil, fmt.Errorf("%s: %s is nil", op, what)
	}
	if n.Dtype() != tensor.Float32 {
		return nil, fmt.Errorf("%s: %s %q has dtype %v, want float32", op, what, n.Name(), n.Dtype())
	}
	s := n.Shape()
	if s.Dims() != dims {
		return nil, fmt.Errorf("%s: %s %q has shape %v, want %d dimensions", op, what, n.Name(), s, dims)
	}
	for _, d := range s {
		if d <= 0 {
			return nil, fmt.Errorf("%s: %s %q has shape %v, want all sizes positive", op, what, n.Name(), s)
		}
	}
	return s.Clone(), nil
}

// isComputed reports whether n is the output of an op (so a gradient with
// respect to it can flow further back) rather than an input or parameter leaf.
func isComputed(n *gorgonia.Node) bool { return n.Op() != nil }

// gradSource is a backward op that computes several gradients in one pass;
// pickOp hands out the ones beyond its own output.
type gradSource interface {
	grad(which int) *tensor.Dense
}

// layerSymDiff is the SymDiff of a fused layer with inputs (x, w, b): bwd,
// applied to (x, w, output, grad), computes the weight gradient and leaves
// the bias gradient (1) and, when needDx, the input gradient (2) in src for
// pickOp. layer names the op in errors and node names ("ops.Conv2D").
func layerSymDiff(layer string, src gradSource, bwd gorgonia.Op, inputs gorgonia.Nodes, output, grad *gorgonia.Node, bShape, xShape tensor.Shape, needDx bool) (gorgonia.Nodes, error) {
	if len(inputs) != 3 {
		return nil, fmt.Errorf("%s: SymDiff with %d inputs, want 3", layer, len(inputs))
	}
	dw, err := gorgonia.ApplyOp(bwd, inputs[0], inputs[1], output, grad)
	if err != nil {
		return nil, fmt.Errorf("%s backward: %w", layer, err)
	}
	db, err := pick(src, dw, 1, layer+".db", bShape)
	if err != nil {
		return nil, fmt.Errorf("%s bias gradient: %w", layer, err)
	}
	var dx *gorgonia.Node
	if needDx {
		if dx, err = pick(src, dw, 2, layer+".dx", xShape); err != nil {
			return nil, fmt.Errorf("%s input gradient: %w", layer, err)
		}
	}
	return gorgonia.Nodes{dx, dw, db}, nil
}

// pickOp returns gradient `which` of a gradSource. It reads the source's
// node, so it runs after it.
type pickOp struct {
	src    gradSource
	which  int
	name   string
	inDims int
	shape  tensor.Shape
}

func pick(src gradSource, from *gorgonia.Node, which int, name string, shape tensor.Shape) (*gorgonia.Node, error) {
	op := &pickOp{src: src, which: which, name: name, inDims: from.Shape().Dims(), shape: shape.Clone()}
	return gorgonia.ApplyOp(op, from)
}

func (op *pickOp) Arity() int { return 1 }
func (op *pickOp) Type() hm.Type {
	return hm.NewFnType(tensorType(op.inDims), tensorType(op.shape.Dims()))
}
func (op *pickOp) InferShape(...gorgonia.DimSizer) (tensor.Shape, error) {
	return op.shape.Clone(), nil
}
func (op *pickOp) Do(...gorgonia.Value) (gorgonia.Value, error) {
	return owned(op.src.grad(op.which), op.shape), nil
}
func (op *pickOp) ReturnsPtr() bool      { return false }
func (op *pickOp) CallsExtern() bool     { return false }
func (op *pickOp) OverwritesInput() int  { return -1 }
func (op *pickOp) WriteHash(h hash.Hash) { fmt.Fprintf(h, "pick%d(%p)", op.which, op.src) }
func (op *pickOp) Hashcode() uint32      { return hashOp(op) }
func (op *pickOp) String() string        { return op.name }

// owned returns an op-owned output after undoing any in-place Reshape a
// downstream Gorgonia op (reshapeOp.UnsafeDo) applied to it last step.
func owned(t *tensor.Dense, shape tensor.Shape) *tensor.Dense {
	if !sameShape(t.Shape(), shape) {
		if err := t.Reshape(shape...); err != nil {
			panic(fmt.Sprintf("ops: restoring shape %v of an owned tensor: %v", shape, err))
		}
	}
	return t
}

// newDense wraps buf as a tensor of the given shape.
func newDense(buf []float32, shape ...int) *tensor.Dense {
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(buf))
}
