package ops

import (
	"fmt"
	"hash"
	"math"
	"runtime"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// BatchNormConfig is the state and mode of one batch-norm layer.
type BatchNormConfig struct {
	// RunMean and RunVar are the running mean and (unbiased) variance, one
	// value per channel. A training pass moves them toward the batch's
	// statistics, in place; an evaluation pass normalises with them.
	RunMean, RunVar []float32
	// Momentum is the weight of the batch in the running update
	// r ← (1−Momentum)·r + Momentum·batch (PyTorch's 0.1).
	Momentum float64
	// Epsilon is added to the variance (PyTorch's 1e-5).
	Epsilon float64
	// Train selects batch statistics (and the running update); otherwise
	// the running statistics are used and the op has no gradient.
	Train bool
}

// BatchNorm adds y = γ·(x − μ)/√(σ² + ε) + β per channel of x (B, C, H, W),
// as torch.nn.BatchNorm2d, optionally followed by the addition of residual
// (same shape as x; nil for none) and by ReLU, all in one op:
//
//	y = relu(bn(x) + residual)
//
// In training μ and σ² are the batch's (biased variance, computed in
// float64) and the running statistics in cfg move toward them (unbiased
// variance). γ and β are (C). Gradients flow to x, γ, β and, when it is
// computed by another op, residual. Channels are independent, so results do
// not depend on GOMAXPROCS.
func BatchNorm(x, gamma, beta, residual *gorgonia.Node, relu bool, cfg BatchNormConfig) (*gorgonia.Node, error) {
	const name = "ops.BatchNorm"
	xs, err := shapeOf(name, "input", x, 4)
	if err != nil {
		return nil, err
	}
	for _, p := range []struct {
		what string
		n    *gorgonia.Node
	}{{"scale", gamma}, {"shift", beta}} {
		s, err := shapeOf(name, p.what, p.n, 1)
		if err != nil {
			return nil, err
		}
		if s[0] != xs[1] {
			return nil, fmt.Errorf("%s: %s has %d elements, want one per channel (%d)", name, p.what, s[0], xs[1])
		}
	}
	if len(cfg.RunMean) != xs[1] || len(cfg.RunVar) != xs[1] {
		return nil, fmt.Errorf("%s: running statistics of %d and %d values, want %d", name, len(cfg.RunMean), len(cfg.RunVar), xs[1])
	}
	op := &bnOp{nb: xs[0], c: xs[1], n: xs[2] * xs[3], relu: relu, cfg: cfg,
		shapes: [2]tensor.Shape{xs, {xs[1]}}}
	if residual == nil {
		return gorgonia.ApplyOp(op, x, gamma, beta)
	}
	rs, err := shapeOf(name, "residual", residual, 4)
	if err != nil {
		return nil, err
	}
	if !sameShape(rs, xs) {
		return nil, fmt.Errorf("%s: residual has shape %v, input %v; want equal", name, rs, xs)
	}
	op.hasRes, op.needRes = true, isComputed(residual)
	return gorgonia.ApplyOp(op, x, gamma, beta, residual)
}

// bnOp is the forward batch norm; it owns the backward buffers too.
type bnOp struct {
	nb, c, n              int
	relu, hasRes, needRes bool
	cfg                   BatchNormConfig
	shapes                [2]tensor.Shape // x (= y = residual), per channel

	workers      *pool
	y            *tensor.Dense
	mean, invStd []float64 // batch statistics of the last training pass
	dx, dg, db   *tensor.Dense
	dres         *tensor.Dense

	backward                   bool
	cx, cg, cb, cr, cy, cdy    []float32
	dgv, dbv, dresv, dxv, yvec []float32
}

func (op *bnOp) xShape() tensor.Shape { return op.shapes[0] }
func (op *bnOp) cShape() tensor.Shape { return op.shapes[1] }

func (op *bnOp) Arity() int {
	if op.hasRes {
		return 4
	}
	return 3
}
func (op *bnOp) Type() hm.Type {
	if op.hasRes {
		return hm.NewFnType(tensorType(4), tensorType(1), tensorType(1), tensorType(4), tensorType(4))
	}
	return hm.NewFnType(tensorType(4), tensorType(1), tensorType(1), tensorType(4))
}
func (op *bnOp) InferShape(...gorgonia.DimSizer) (tensor.Shape, error) { return op.xShape(), nil }
func (op *bnOp) ReturnsPtr() bool                                      { return false }
func (op *bnOp) CallsExtern() bool                                     { return false }
func (op *bnOp) OverwritesInput() int                                  { return -1 }
func (op *bnOp) WriteHash(h hash.Hash)                                 { fmt.Fprintf(h, "ops.bn(%p)", op) }
func (op *bnOp) Hashcode() uint32                                      { return hashOp(op) }
func (op *bnOp) String() string {
	return fmt.Sprintf("ops.BatchNorm{%v train %t residual %t relu %t}", op.xShape(), op.cfg.Train, op.hasRes, op.relu)
}

// Do runs the forward pass.
func (op *bnOp) Do(inputs ...gorgonia.Value) (gorgonia.Value, error) {
	const name = "ops.BatchNorm"
	if len(inputs) != op.Arity() {
		return nil, fmt.Errorf("%s: %d inputs, want %d", name, len(inputs), op.Arity())
	}
	var err error
	if op.cx, err = float32s(name, "input", inputs[0], op.xShape()); err != nil {
		return nil, err
	}
	if op.cg, err = float32s(name, "scale", inputs[1], op.cShape()); err != nil {
		return nil, err
	}
	if op.cb, err = float32s(name, "shift", inputs[2], op.cShape()); err != nil {
		return nil, err
	}
	op.cr = nil
	if op.hasRes {
		if op.cr, err = float32s(name, "residual", inputs[3], op.xShape()); err != nil {
			return nil, err
		}
	}
	if op.workers == nil {
		op.workers = newPool(runtime.GOMAXPROCS(0), op)
		op.y = newDense(make([]float32, op.nb*op.c*op.n), op.xShape()...)
		op.mean, op.invStd = make([]float64, op.c), make([]float64, op.c)
	}
	op.backward = false
	op.yvec = op.y.Float32s()
	op.workers.runDynamic(op, op.c)
	op.cx, op.cg, op.cb, op.cr, op.yvec = nil, nil, nil, nil, nil
	return owned(op.y, op.xShape()), nil
}

func (op *bnOp) run(_, lo, hi int) {
	for ch := lo; ch < hi; ch++ {
		if op.backward {
			op.backwardChannel(ch)
		} else {
			op.forwardChannel(ch)
		}
	}
}

func (op *bnOp) forwardChannel(ch int) {
	cnt := float64(op.nb * op.n)
	rs := op.c * op.n
	at := ch * op.n
	x := op.cx[at:]
	var mean, invStd float64
	if op.cfg.Train {
		mean = bnMoments(x, op.nb, rs, op.n, 0, false) / cnt
		ss := bnMoments(x, op.nb, rs, op.n, mean, true)
		variance := ss / cnt
		invStd = 1 / math.Sqrt(variance+op.cfg.Epsilon)
		op.mean[ch], op.invStd[ch] = mean, invStd
		unbiased := variance
		if cnt > 1 {
			unbiased = ss / (cnt - 1)
		}
		m := op.cfg.Momentum
		op.cfg.RunMean[ch] = float32((1-m)*float64(op.cfg.RunMean[ch]) + m*mean)
		op.cfg.RunVar[ch] = float32((1-m)*float64(op.cfg.RunVar[ch]) + m*unbiased)
	} else {
		mean = float64(op.cfg.RunMean[ch])
		invStd = 1 / math.Sqrt(float64(op.cfg.RunVar[ch])+op.cfg.Epsilon)
	}
	// y = (x − m32)·scale + shift about m32 = float32(μ), which keeps
	// inputs with a large common offset from cancelling in float32.
	g := float64(op.cg[ch])
	m32 := float32(mean)
	scale := float32(g * invStd)
	shift := float32(float64(op.cb[ch]) - (mean-float64(m32))*g*invStd)
	var res []float32
	if op.hasRes {
		res = op.cr[at:]
	}
	bnApply(x, res, op.yvec[at:], op.nb, rs, op.n, m32, scale, shift, op.relu)
}

// backwardChannel computes channel ch's gradients: with g = dy masked by
// ReLU, dβ = Σg, dγ = Σ g·x̂ and dx = γ·invStd·(g − Σg/n − x̂·Σ(g·x̂)/n).
func (op *bnOp) backwardChannel(ch int) {
	cnt := float64(op.nb * op.n)
	rs := op.c * op.n
	at := ch * op.n
	mean, invStd := op.mean[ch], op.invStd[ch]
	m32 := float32(mean)
	var dres []float32
	switch {
	case op.needRes:
		dres = op.dresv[at:]
	}
	x, y, dy := op.cx[at:], op.cy[at:], op.cdy[at:]
	// Σ g and Σ g·(x − m32), x − m32 taken in float32.
	sumG, sumGX := bnGradSums(x, y, dy, dres, op.nb, rs, op.n, m32, op.relu)
	// Correct Σg·(x−μ) for the rounding of μ to m32.
	sumGX -= sumG * (mean - float64(m32))
	sumGXhat := sumGX * invStd
	op.dgv[ch] = float32(sumGXhat)
	op.dbv[ch] = float32(sumG)
	gamma := float64(op.cg[ch])
	a := float32(gamma * invStd)
	k := gamma * invStd / cnt
	bx := float32(-k * invStd * sumGXhat)
	c0 := float32(-k*sumG + k*invStd*sumGXhat*(mean-float64(m32)))
	bnGradDx(x, y, dy, op.dxv[at:], op.nb, rs, op.n, m32, a, bx, c0, op.relu)
}

func (op *bnOp) grad(which int) *tensor.Dense {
	switch which {
	case 1:
		return op.dg
	case 2:
		return op.db
	}
	return op.dres
}

// DiffWRT reports which inputs get a gradient: the residual only when it
// is computed.
func (op *bnOp) DiffWRT(int) []bool {
	if op.hasRes {
		return []bool{true, true, true, op.needRes}
	}
	return []bool{true, true, true}
}

// SymDiff adds the backward op (input gradient) and picks for the scale,
// shift and residual gradients.
func (op *bnOp) SymDiff(inputs gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	const name = "ops.BatchNorm"
	if !op.cfg.Train {
		return nil, fmt.Errorf("%s: gradient of an evaluation-mode layer", name)
	}
	if len(inputs) != op.Arity() {
		return nil, fmt.Errorf("%s: SymDiff with %d inputs, want %d", name, len(inputs), op.Arity())
	}
	dx, err := gorgonia.ApplyOp(&bnBwdOp{op}, inputs[0], inputs[1], output, grad)
	if err != nil {
		return nil, fmt.Errorf("%s backward: %w", name, err)
	}
	out := gorgonia.Nodes{dx, nil, nil}
	if out[1], err = pick(op, dx, 1, name+".dgamma", op.cShape()); err != nil {
		return nil, fmt.Errorf("%s scale gradient: %w", name, err)
	}
	if out[2], err = pick(op, dx, 2, name+".dbeta", op.cShape()); err != nil {
		return nil, fmt.Errorf("%s shift gradient: %w", name, err)
	}
	if op.hasRes {
		var dr *gorgonia.Node
		if op.needRes {
			if dr, err = pick(op, dx, 3, name+".dresidual", op.xShape()); err != nil {
				return nil, fmt.Errorf("%s residual gradient: %w", name, err)
			}
		}
		out = append(out, dr)
	}
	return out, nil
}

// bnBwdOp is the backward pass of a bnOp: inputs x, γ, y and the gradient
// of y; it returns the input gradient and leaves the others for pickOp.
type bnBwdOp struct{ f *bnOp }

func (op *bnBwdOp) Arity() int { return 4 }
func (op *bnBwdOp) Type() hm.Type {
	return hm.NewFnType(tensorType(4), tensorType(1), tensorType(4), tensorType(4), tensorType(4))
}
func (op *bnBwdOp) InferShape(...gorgonia.DimSizer) (tensor.Shape, error) {
	return op.f.xShape(), nil
}
func (op *bnBwdOp) ReturnsPtr() bool      { return false }
func (op *bnBwdOp) CallsExtern() bool     { return false }
func (op *bnBwdOp) OverwritesInput() int  { return -1 }
func (op *bnBwdOp) WriteHash(h hash.Hash) { fmt.Fprintf(h, "ops.bnBwd(%p)", op.f) }
func (op *bnBwdOp) Hashcode() uint32      { return hashOp(op) }
func (op *bnBwdOp) String() string        { return "ops.BatchNormBackward" }

func (op *bnBwdOp) Do(inputs ...gorgonia.Value) (gorgonia.Value, error) {
	const name = "ops.BatchNorm backward"
	f := op.f
	if len(inputs) != 4 {
		return nil, fmt.Errorf("%s: %d inputs, want 4", name, len(inputs))
	}
	if f.workers == nil {
		return nil, fmt.Errorf("%s: run before the forward pass", name)
	}
	var err error
	if f.cx, err = float32s(name, "input", inputs[0], f.xShape()); err != nil {
		return nil, err
	}
	if f.cg, err = float32s(name, "scale", inputs[1], f.cShape()); err != nil {
		return nil, err
	}
	if f.cy, err = float32s(name, "output", inputs[2], f.xShape()); err != nil {
		return nil, err
	}
	if f.cdy, err = float32s(name, "output gradient", inputs[3], f.xShape()); err != nil {
		return nil, err
	}
	if f.dx == nil {
		size := f.nb * f.c * f.n
		f.dx = newDense(make([]float32, size), f.xShape()...)
		f.dg = newDense(make([]float32, f.c), f.c)
		f.db = newDense(make([]float32, f.c), f.c)
		if f.needRes {
			f.dres = newDense(make([]float32, size), f.xShape()...)
		}
	}
	f.dxv, f.dgv, f.dbv = f.dx.Float32s(), f.dg.Float32s(), f.db.Float32s()
	if f.needRes {
		f.dresv = f.dres.Float32s()
	}
	f.backward = true
	f.workers.runDynamic(f, f.c)
	f.cx, f.cg, f.cy, f.cdy = nil, nil, nil, nil
	return owned(f.dx, f.xShape()), nil
}
