package models

import (
	"fmt"
	"hash"
	"hash/fnv"
	"math"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// bnState is one batch-norm layer's state shared by its forward and
// gradient operators: the running statistics (views of the model's stats
// vector) and the batch statistics of the last training forward pass.
type bnState struct {
	id          int       // layer index, part of every hash
	train       bool      // batch statistics (and running update) or running statistics
	runMean     []float32 // running mean, a view of the stats vector
	runVar      []float32 // running (unbiased) variance, a view of the stats vector
	mean        []float64 // batch mean of the last training pass
	invStd      []float64 // 1/√(batch variance + ε) of the last training pass
	momentum, ε float64
}

// batchNormOp is y = γ·(x − μ)/√(σ² + ε) + β over (B, C, H, W), per
// channel, as torch.nn.BatchNorm2d: in training μ and σ² are the batch's
// (biased variance) and the running statistics move by momentum toward
// them (the unbiased variance); in evaluation the running statistics are
// used. It replaces Gorgonia's BatchNormOp, whose running statistics live
// in unexported tensors that SetTraining(true) resets, and whose gradient
// in the ResNet graph failed the finite-difference check.
type batchNormOp struct{ s *bnState }

func newBNState(id, c int, train bool, runMean, runVar []float32) *bnState {
	return &bnState{id: id, train: train, runMean: runMean, runVar: runVar,
		mean: make([]float64, c), invStd: make([]float64, c), momentum: bnMomentum, ε: bnEpsilon}
}

var t4 = G.TensorType{Dims: 4, Of: hm.TypeVariable('a')}
var t1 = G.TensorType{Dims: 1, Of: hm.TypeVariable('a')}

func (op batchNormOp) Arity() int        { return 3 }
func (op batchNormOp) Type() hm.Type     { return hm.NewFnType(t4, t1, t1, t4) }
func (op batchNormOp) ReturnsPtr() bool  { return false }
func (op batchNormOp) CallsExtern() bool { return false }
func (op batchNormOp) OverwritesInput() int {
	return -1
}
func (op batchNormOp) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "lrsgd.batchnorm.%d.%v", op.s.id, op.s.train)
}
func (op batchNormOp) Hashcode() uint32 { return hashOf(op) }
func (op batchNormOp) String() string   { return fmt.Sprintf("BatchNorm%d", op.s.id) }

func (op batchNormOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s, ok := in[0].(tensor.Shape)
	if !ok || s.Dims() != 4 {
		return nil, fmt.Errorf("batchnorm: input shape %v is not (B, C, H, W)", in[0])
	}
	return s.Clone(), nil
}

func (op batchNormOp) Do(in ...G.Value) (G.Value, error) {
	out := tensor.New(tensor.WithShape(in[0].Shape().Clone()...), tensor.Of(tensor.Float32))
	return op.UsePreallocDo(out, in...)
}

func f32(v G.Value) []float32 { return v.Data().([]float32) }

func (op batchNormOp) UsePreallocDo(prealloc G.Value, in ...G.Value) (G.Value, error) {
	if len(in) != 3 {
		return nil, fmt.Errorf("batchnorm: %d inputs, want 3", len(in))
	}
	x, gamma, beta, y := f32(in[0]), f32(in[1]), f32(in[2]), f32(prealloc)
	sh := in[0].Shape()
	bs, c, hw := sh[0], sh[1], sh[2]*sh[3]
	s := op.s
	n := float64(bs * hw)
	for ch := 0; ch < c; ch++ {
		var mean, invStd float64
		if s.train {
			var sum float64
			for b := 0; b < bs; b++ {
				for _, v := range x[(b*c+ch)*hw : (b*c+ch+1)*hw] {
					sum += float64(v)
				}
			}
			mean = sum / n
			var ss float64
			for b := 0; b < bs; b++ {
				for _, v := range x[(b*c+ch)*hw : (b*c+ch+1)*hw] {
					d := float64(v) - mean
					ss += d * d
				}
			}
			variance := ss / n
			invStd = 1 / math.Sqrt(variance+s.ε)
			s.mean[ch], s.invStd[ch] = mean, invStd
			unbiased := variance
			if n > 1 {
				unbiased = ss / (n - 1)
			}
			s.runMean[ch] = float32((1-s.momentum)*float64(s.runMean[ch]) + s.momentum*mean)
			s.runVar[ch] = float32((1-s.momentum)*float64(s.runVar[ch]) + s.momentum*unbiased)
		} else {
			mean = float64(s.runMean[ch])
			invStd = 1 / math.Sqrt(float64(s.runVar[ch])+s.ε)
		}
		scale := float32(float64(gamma[ch]) * invStd)
		shift := float32(float64(beta[ch]) - mean*float64(gamma[ch])*invStd)
		for b := 0; b < bs; b++ {
			lo := (b*c + ch) * hw
			xs, ys := x[lo:lo+hw], y[lo:lo+hw]
			for i, v := range xs {
				ys[i] = v*scale + shift
			}
		}
	}
	return prealloc, nil
}

func (op batchNormOp) DiffWRT(inputs int) []bool { return []bool{true, true, true} }

func (op batchNormOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	if !op.s.train {
		return nil, fmt.Errorf("batchnorm %d: gradient of an evaluation-mode layer", op.s.id)
	}
	x, gamma := inputs[0], inputs[1]
	dx, err := G.ApplyOp(bnGradOp{s: op.s, which: 0}, x, gamma, grad)
	if err != nil {
		return nil, err
	}
	dg, err := G.ApplyOp(bnGradOp{s: op.s, which: 1}, x, grad)
	if err != nil {
		return nil, err
	}
	db, err := G.ApplyOp(bnGradOp{s: op.s, which: 2}, grad)
	if err != nil {
		return nil, err
	}
	return G.Nodes{dx, dg, db}, nil
}

// bnGradOp is one of batch norm's three gradients in training mode, with
// x̂ = (x − μ)·invStd from the forward pass's batch statistics:
// which 0: dx = γ·invStd/n · (n·dy − Σdy − x̂·Σ(dy·x̂)) from (x, γ, dy);
// which 1: dγ = Σ dy·x̂ from (x, dy); which 2: dβ = Σ dy from (dy).
type bnGradOp struct {
	s     *bnState
	which int
}

func (op bnGradOp) Arity() int { return [...]int{3, 2, 1}[op.which] }
func (op bnGradOp) Type() hm.Type {
	switch op.which {
	case 0:
		return hm.NewFnType(t4, t1, t4, t4)
	case 1:
		return hm.NewFnType(t4, t4, t1)
	}
	return hm.NewFnType(t4, t1)
}
func (op bnGradOp) ReturnsPtr() bool     { return false }
func (op bnGradOp) CallsExtern() bool    { return false }
func (op bnGradOp) OverwritesInput() int { return -1 }
func (op bnGradOp) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "lrsgd.batchnorm.grad%d.%d", op.which, op.s.id)
}
func (op bnGradOp) Hashcode() uint32 { return hashOf(op) }
func (op bnGradOp) String() string   { return fmt.Sprintf("BatchNorm%dGrad%d", op.s.id, op.which) }

func (op bnGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s, ok := in[0].(tensor.Shape)
	if !ok || s.Dims() != 4 {
		return nil, fmt.Errorf("batchnorm grad: input shape %v is not (B, C, H, W)", in[0])
	}
	if op.which == 0 {
		return s.Clone(), nil
	}
	return tensor.Shape{s[1]}, nil
}

func (op bnGradOp) Do(in ...G.Value) (G.Value, error) {
	var shape tensor.Shape
	if op.which == 0 {
		shape = in[0].Shape().Clone()
	} else {
		shape = tensor.Shape{in[0].Shape()[1]}
	}
	out := tensor.New(tensor.WithShape(shape...), tensor.Of(tensor.Float32))
	return op.UsePreallocDo(out, in...)
}

func (op bnGradOp) UsePreallocDo(prealloc G.Value, in ...G.Value) (G.Value, error) {
	dyv := in[len(in)-1]
	sh := dyv.Shape()
	bs, c, hw := sh[0], sh[1], sh[2]*sh[3]
	dy, out := f32(dyv), f32(prealloc)
	n := float64(bs * hw)
	s := op.s
	for ch := 0; ch < c; ch++ {
		var sumDy float64
		for b := 0; b < bs; b++ {
			for _, v := range dy[(b*c+ch)*hw : (b*c+ch+1)*hw] {
				sumDy += float64(v)
			}
		}
		if op.which == 2 {
			out[ch] = float32(sumDy)
			continue
		}
		x := f32(in[0])
		mean, invStd := s.mean[ch], s.invStd[ch]
		var sumDyXhat float64
		for b := 0; b < bs; b++ {
			lo := (b*c + ch) * hw
			for i, v := range x[lo : lo+hw] {
				sumDyXhat += float64(dy[lo+i]) * (float64(v) - mean) * invStd
			}
		}
		if op.which == 1 {
			out[ch] = float32(sumDyXhat)
			continue
		}
		gamma := f32(in[1])
		k := float64(gamma[ch]) * invStd / n
		for b := 0; b < bs; b++ {
			lo := (b*c + ch) * hw
			for i, v := range x[lo : lo+hw] {
				xhat := (float64(v) - mean) * invStd
				out[lo+i] = float32(k * (n*float64(dy[lo+i]) - sumDy - xhat*sumDyXhat))
			}
		}
	}
	return prealloc, nil
}

// hashOf hashes an op's WriteHash output (FNV-1a).
func hashOf(op interface{ WriteHash(hash.Hash) }) uint32 {
	h := fnv.New32a()
	op.WriteHash(h)
	return h.Sum32()
}
