package ops

import (
	"fmt"
	"hash"
	"math"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// SoftmaxCrossEntropy adds the mean cross-entropy of softmax(logits)
// against target rows (one-hot, or any rows of probabilities):
//
//	L = −(1/B) Σ_b Σ_k t[b,k] · log softmax(z[b])_k
//
// logits and targets are (B, K); the result is a float32 scalar. This is the
// usual loss, not the mean over all B·K entries. Gradients flow to logits
// only.
func SoftmaxCrossEntropy(logits, onehot *gorgonia.Node) (*gorgonia.Node, error) {
	const name = "ops.SoftmaxCrossEntropy"
	zs, err := shapeOf(name, "logits", logits, 2)
	if err != nil {
		return nil, err
	}
	ts, err := shapeOf(name, "targets", onehot, 2)
	if err != nil {
		return nil, err
	}
	if !zs.Eq(ts) {
		return nil, fmt.Errorf("%s: targets have shape %v, logits %v; want equal", name, ts, zs)
	}
	op := &sceOp{nb: zs[0], k: zs[1], shp: tensor.Shape{zs[0], zs[1]}}
	return gorgonia.ApplyOp(op, logits, onehot)
}

type sceOp struct {
	nb, k int
	shp   tensor.Shape
	prob  []float32 // softmax rows of the last forward pass
	tgt   []float32 // targets of the last forward pass
	loss  *gorgonia.F32
	dz    *tensor.Dense
}

func (op *sceOp) shape() tensor.Shape { return op.shp }

func (op *sceOp) Arity() int { return 2 }
func (op *sceOp) Type() hm.Type {
	return hm.NewFnType(tensorType(2), tensorType(2), hm.TypeVariable('a'))
}
func (op *sceOp) InferShape(...gorgonia.DimSizer) (tensor.Shape, error) {
	return tensor.ScalarShape(), nil
}
func (op *sceOp) ReturnsPtr() bool      { return false }
func (op *sceOp) CallsExtern() bool     { return false }
func (op *sceOp) OverwritesInput() int  { return -1 }
func (op *sceOp) WriteHash(h hash.Hash) { fmt.Fprintf(h, "ops.sce(%p)", op) }
func (op *sceOp) Hashcode() uint32      { return hashOp(op) }
func (op *sceOp) String() string        { return fmt.Sprintf("ops.SoftmaxCrossEntropy{%v}", op.shape()) }

func (op *sceOp) Do(inputs ...gorgonia.Value) (gorgonia.Value, error) {
	const name = "ops.SoftmaxCrossEntropy"
	if len(inputs) != 2 {
		return nil, fmt.Errorf("%s: %d inputs, want 2", name, len(inputs))
	}
	z, err := float32s(name, "logits", inputs[0], op.shape())
	if err != nil {
		return nil, err
	}
	t, err := float32s(name, "targets", inputs[1], op.shape())
	if err != nil {
		return nil, err
	}
	if op.prob == nil {
		op.prob = make([]float32, op.nb*op.k)
		op.tgt = make([]float32, op.nb*op.k)
		op.loss = new(gorgonia.F32)
	}
	copy(op.tgt, t)
	var total float64
	for b := 0; b < op.nb; b++ {
		zr := z[b*op.k : (b+1)*op.k]
		m := zr[0]
		for _, v := range zr[1:] {
			m = max(m, v)
		}
		var sum float64
		for _, v := range zr {
			sum += math.Exp(float64(v - m))
		}
		lse := float64(m) + math.Log(sum)
		pr := op.prob[b*op.k : (b+1)*op.k]
		for j, v := range zr {
			pr[j] = float32(math.Exp(float64(v) - lse))
			if tj := t[b*op.k+j]; tj != 0 {
				total += float64(tj) * (lse - float64(v))
			}
		}
	}
	*op.loss = gorgonia.F32(total / float64(op.nb))
	return op.loss, nil
}

func (op *sceOp) DiffWRT(int) []bool { return []bool{true, false} }

func (op *sceOp) SymDiff(inputs gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if len(inputs) != 2 {
		return nil, fmt.Errorf("ops.SoftmaxCrossEntropy: SymDiff with %d inputs, want 2", len(inputs))
	}
	dz, err := gorgonia.ApplyOp(&sceBwdOp{op}, inputs[0], output, grad)
	if err != nil {
		return nil, fmt.Errorf("ops.SoftmaxCrossEntropy backward: %w", err)
	}
	return gorgonia.Nodes{dz, nil}, nil
}

// sceBwdOp computes d loss/d logits = (softmax − t)·g/B from the forward
// pass's stored rows. Its inputs (logits, loss, g) order it after the forward.
type sceBwdOp struct{ f *sceOp }

func (op *sceBwdOp) Arity() int { return 3 }
func (op *sceBwdOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	return hm.NewFnType(tensorType(2), a, a, tensorType(2))
}
func (op *sceBwdOp) InferShape(...gorgonia.DimSizer) (tensor.Shape, error) { return op.f.shape(), nil }
func (op *sceBwdOp) ReturnsPtr() bool                                      { return false }
func (op *sceBwdOp) CallsExtern() bool                                     { return false }
func (op *sceBwdOp) OverwritesInput() int                                  { return -1 }
func (op *sceBwdOp) WriteHash(h hash.Hash)                                 { fmt.Fprintf(h, "ops.sceBwd(%p)", op.f) }
func (op *sceBwdOp) Hashcode() uint32                                      { return hashOp(op) }
func (op *sceBwdOp) String() string                                        { return "ops.SoftmaxCrossEntropyBackward" }

func (op *sceBwdOp) Do(inputs ...gorgonia.Value) (gorgonia.Value, error) {
	const name = "ops.SoftmaxCrossEntropy backward"
	f := op.f
	if len(inputs) != 3 {
		return nil, fmt.Errorf("%s: %d inputs, want 3", name, len(inputs))
	}
	if f.prob == nil {
		return nil, fmt.Errorf("%s: run before the forward pass", name)
	}
	g, err := scalarOf(name, "loss gradient", inputs[2])
	if err != nil {
		return nil, err
	}
	if f.dz == nil {
		f.dz = newDense(make([]float32, f.nb*f.k), f.nb, f.k)
	}
	scale := g / float32(f.nb)
	dz := f.dz.Float32s()
	for i, p := range f.prob {
		dz[i] = (p - f.tgt[i]) * scale
	}
	return owned(f.dz, f.shape()), nil
}
