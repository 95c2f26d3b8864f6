package ops

import (
	"fmt"
	"hash"
	"runtime"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Conv2D adds a convolution layer to x's graph: stride 1, zero padding pad
// on every side, bias added, then optionally ReLU and optionally a 2×2
// stride-2 max-pool (an odd last row or column is dropped, as
// gorgonia.MaxPool2D does), all in one op.
//
// x is (B, C, H, W), w is (O, C, kh, kw), b is (O); the result is
// (B, O, H', W') with H' = H+2·pad−kh+1, halved (rounding down) when pool is
// set. When x is not computed by another op (it is the graph's input), no
// gradient with respect to x is computed and x cannot be a Grad target.
func Conv2D(x, w, b *gorgonia.Node, pad int, relu, pool bool) (*gorgonia.Node, error) {
	const name = "ops.Conv2D"
	xs, err := shapeOf(name, "input", x, 4)
	if err != nil {
		return nil, err
	}
	ws, err := shapeOf(name, "filter", w, 4)
	if err != nil {
		return nil, err
	}
	bs, err := shapeOf(name, "bias", b, 1)
	if err != nil {
		return nil, err
	}
	if ws[1] != xs[1] {
		return nil, fmt.Errorf("%s: filter %v has %d input channels, input %v has %d", name, ws, ws[1], xs, xs[1])
	}
	if bs[0] != ws[0] {
		return nil, fmt.Errorf("%s: bias has %d elements, want one per output channel (%d)", name, bs[0], ws[0])
	}
	if pad < 0 {
		return nil, fmt.Errorf("%s: padding %d, want ≥ 0", name, pad)
	}
	op := &convOp{
		nb: xs[0], c: xs[1], h: xs[2], w: xs[3],
		o: ws[0], kh: ws[2], kw: ws[3], pad: pad,
		relu: relu, pool: pool, needDx: isComputed(x),
	}
	op.hp, op.wp = op.h+2*pad, op.w+2*pad
	op.ho, op.wo = op.hp-op.kh+1, op.wp-op.kw+1
	if op.ho < 1 || op.wo < 1 {
		return nil, fmt.Errorf("%s: filter %d×%d does not fit input %d×%d padded by %d", name, op.kh, op.kw, op.h, op.w, pad)
	}
	op.hy, op.wy = op.ho, op.wo
	if pool {
		if op.ho < 2 || op.wo < 2 {
			return nil, fmt.Errorf("%s: 2×2 pooling needs at least 2×2 outputs, have %d×%d", name, op.ho, op.wo)
		}
		op.hy, op.wy = op.ho/2, op.wo/2
	}
	op.layout()
	return gorgonia.ApplyOp(op, x, w, b)
}

// convOp is the forward convolution. It also owns every buffer of the
// backward pass, which convBwdOp and pickOp run and read.
type convOp struct {
	nb, c, h, w, o, kh, kw, pad int
	relu, pool, needDx          bool

	hp, wp, ho, wo, hy, wy int             // padded input, convolution output, layer output
	img                    int             // c·hp·wp, one padded sample
	nw                     int             // wide output row-major length: (ho−1)·wp + wo
	k                      int             // c·kh·kw taps
	shapes                 [4]tensor.Shape // x, w, b, y
	off                    []int32
	maxOff                 int
	// Input gradient as a full correlation over dpre (see layout).
	lead, stride int // zeros before channel 0 of dpre (≥ reach, 64-byte multiple); channel stride
	offT         []int32
	maxOffT      int

	workers *pool
	xpad    []float32   // nb·img, padded copies of x (pad > 0)
	pre     [][]float32 // per worker: o·nw pre-activations
	arg     []int32     // per pooled output: wide index o·nw+i of its max, −1 if ReLU zeroed it
	y       *tensor.Dense

	dpre   [][]float32 // per worker: lead, then o channels of nw values each followed by lead zeros
	dwPart []float32   // per sample: o·k filter gradient, summed in sample order after the pass
	dbPart []float32   // per sample: o bias gradient
	wT     []float32   // c × (o·kh·kw), flipped and transposed filters
	dxpad  [][]float32
	dW, db *tensor.Dense
	dx     *tensor.Dense

	// Current step's inputs, set before a parallel phase.
	phase          int
	cx, cw, cb, cy []float32
	cdy            []float32
}

const (
	phaseForward = iota
	phaseBackward
	phaseReduce // sum the per-sample filter and bias gradients, by element ranges
)

func (op *convOp) layout() {
	op.shapes = [4]tensor.Shape{{op.nb, op.c, op.h, op.w}, {op.o, op.c, op.kh, op.kw}, {op.o}, {op.nb, op.o, op.hy, op.wy}}
	op.img = op.c * op.hp * op.wp
	op.nw = (op.ho-1)*op.wp + op.wo
	op.k = op.c * op.kh * op.kw
	op.off = make([]int32, 0, op.k)
	for c := 0; c < op.c; c++ {
		for i := 0; i < op.kh; i++ {
			for j := 0; j < op.kw; j++ {
				op.off = append(op.off, int32(c*op.hp*op.wp+i*op.wp+j))
			}
		}
	}
	op.maxOff = int(op.off[len(op.off)-1])
	// The full correlation for dx reads up to reach = (kh−1)·wp + kw−1
	// elements before and after each channel of dpre, which must be zeros.
	// lead and stride are rounded up to 16 floats so that rows start on
	// 64-byte lines, and stride avoids multiples of 4 KiB, which would put
	// every channel's row in the same L1 set (LeNet's conv1: 892+132 = 1024).
	reach := (op.kh-1)*op.wp + op.kw - 1
	op.lead = (reach + 15) &^ 15
	op.stride = (op.nw + reach + 15) &^ 15
	if op.stride%1024 == 0 {
		op.stride += 16
	}
	op.offT = make([]int32, 0, op.o*op.kh*op.kw)
	for o := 0; o < op.o; o++ {
		for i := 0; i < op.kh; i++ {
			for j := 0; j < op.kw; j++ {
				op.offT = append(op.offT, int32(o*op.stride+op.lead-reach+i*op.wp+j))
			}
		}
	}
	op.maxOffT = int(op.offT[len(op.offT)-1])
}

// ensure allocates the forward buffers on first use.
func (op *convOp) ensure() {
	if op.workers != nil {
		return
	}
	op.workers = newPool(runtime.GOMAXPROCS(0), op)
	n := op.workers.n
	if op.pad > 0 {
		op.xpad = make([]float32, op.nb*op.img)
	}
	op.pre = make([][]float32, n)
	for i := range op.pre {
		op.pre[i] = make([]float32, op.o*op.nw)
	}
	if op.pool {
		op.arg = make([]int32, op.nb*op.o*op.hy*op.wy)
	}
	op.y = newDense(make([]float32, op.nb*op.o*op.hy*op.wy), op.nb, op.o, op.hy, op.wy)
}

func (op *convOp) ensureBackward() {
	if op.dW != nil {
		return
	}
	n := op.workers.n
	op.dpre = make([][]float32, n)
	for i := 0; i < n; i++ {
		op.dpre[i] = make([]float32, op.o*op.stride+op.lead)
	}
	op.dwPart = make([]float32, op.nb*op.o*op.k)
	op.dbPart = make([]float32, op.nb*op.o)
	op.dW = newDense(make([]float32, op.o*op.k), op.o, op.c, op.kh, op.kw)
	op.db = newDense(make([]float32, op.o), op.o)
	if op.needDx {
		op.wT = make([]float32, op.c*op.o*op.kh*op.kw)
		op.dx = newDense(make([]float32, op.nb*op.c*op.h*op.w), op.nb, op.c, op.h, op.w)
		if op.pad > 0 {
			op.dxpad = make([][]float32, n)
			for i := range op.dxpad {
				op.dxpad[i] = make([]float32, op.img)
			}
		}
	}
}

// Shapes are built once: building them in Do would allocate every step.
func (op *convOp) xShape() tensor.Shape { return op.shapes[0] }
func (op *convOp) wShape() tensor.Shape { return op.shapes[1] }
func (op *convOp) bShape() tensor.Shape { return op.shapes[2] }
func (op *convOp) yShape() tensor.Shape { return op.shapes[3] }

func (op *convOp) Arity() int { return 3 }
func (op *convOp) Type() hm.Type {
	return hm.NewFnType(tensorType(4), tensorType(4), tensorType(1), tensorType(4))
}
func (op *convOp) InferShape(...gorgonia.DimSizer) (tensor.Shape, error) { return op.yShape(), nil }
func (op *convOp) ReturnsPtr() bool                                      { return false }
func (op *convOp) CallsExtern() bool                                     { return false }
func (op *convOp) OverwritesInput() int                                  { return -1 }
func (op *convOp) WriteHash(h hash.Hash)                                 { fmt.Fprintf(h, "ops.conv(%p)", op) }
func (op *convOp) Hashcode() uint32                                      { return hashOp(op) }
func (op *convOp) String() string {
	return fmt.Sprintf("ops.Conv2D{%v*%v pad %d relu %t pool %t}", op.xShape(), op.wShape(), op.pad, op.relu, op.pool)
}

// Do runs the forward pass.
func (op *convOp) Do(inputs ...gorgonia.Value) (gorgonia.Value, error) {
	const name = "ops.Conv2D"
	if len(inputs) != 3 {
		return nil, fmt.Errorf("%s: %d inputs, want 3", name, len(inputs))
	}
	var err error
	if op.cx, err = float32s(name, "input", inputs[0], op.xShape()); err != nil {
		return nil, err
	}
	if op.cw, err = float32s(name, "filter", inputs[1], op.wShape()); err != nil {
		return nil, err
	}
	if op.cb, err = float32s(name, "bias", inputs[2], op.bShape()); err != nil {
		return nil, err
	}
	op.ensure()
	op.phase = phaseForward
	op.workers.runDynamic(op, op.nb)
	op.cx, op.cw, op.cb = nil, nil, nil
	return owned(op.y, op.yShape()), nil
}

func (op *convOp) run(worker, lo, hi int) {
	switch op.phase {
	case phaseForward:
		for s := lo; s < hi; s++ {
			op.forward(worker, s)
		}
	case phaseBackward:
		for s := lo; s < hi; s++ {
			op.backward(worker, s)
		}
	case phaseReduce:
		// Elements [lo, hi) of dW then db, each summed over the samples in
		// order, so the result does not depend on the worker count.
		nw, nbias := op.o*op.k, op.o
		dW, db := op.dW.Float32s(), op.db.Float32s()
		if wlo, whi := min(lo, nw), min(hi, nw); wlo < whi {
			sum := dW[wlo:whi]
			copy(sum, op.dwPart[wlo:whi])
			for smp := 1; smp < op.nb; smp++ {
				part := op.dwPart[smp*nw+wlo : smp*nw+whi]
				for i, v := range part {
					sum[i] += v
				}
			}
		}
		if blo, bhi := max(lo, nw)-nw, max(hi, nw)-nw; blo < bhi {
			sum := db[blo:bhi]
			copy(sum, op.dbPart[blo:bhi])
			for smp := 1; smp < op.nb; smp++ {
				part := op.dbPart[smp*nbias+blo : smp*nbias+bhi]
				for i, v := range part {
					sum[i] += v
				}
			}
		}
	}
}

// source returns sample s's padded image, copying x into xpad when padding.
func (op *convOp) source(s int, fill bool) []float32 {
	plane := op.h * op.w
	x := op.cx[s*op.c*plane : (s+1)*op.c*plane]
	if op.pad == 0 {
		return x
	}
	dst := op.xpad[s*op.img : (s+1)*op.img]
	if fill {
		// The border was zeroed at allocation and is never written.
		for c := 0; c < op.c; c++ {
			for i := 0; i < op.h; i++ {
				at := c*op.hp*op.wp + (i+op.pad)*op.wp + op.pad
				copy(dst[at:at+op.w], x[c*plane+i*op.w:c*plane+(i+1)*op.w])
			}
		}
	}
	return dst
}

func (op *convOp) forward(worker, s int) {
	src := op.source(s, true)
	pre := op.pre[worker]
	gatherGemm(op.o, op.nw, op.k, op.cw, src, op.off, op.maxOff, pre, op.nw)
	outN := op.hy * op.wy
	y := op.y.Float32s()[s*op.o*outN : (s+1)*op.o*outN]
	if op.pool {
		pool2(pre, op.o, op.nw, op.wp, op.hy, op.wy, op.cb, op.relu, y, op.arg[s*op.o*outN:(s+1)*op.o*outN])
		return
	}
	for o := 0; o < op.o; o++ {
		bo := op.cb[o]
		po := pre[o*op.nw : (o+1)*op.nw]
		yo := y[o*outN : (o+1)*outN]
		for i := 0; i < op.ho; i++ {
			row := po[i*op.wp : i*op.wp+op.wo]
			out := yo[i*op.wo : (i+1)*op.wo]
			for j, v := range row {
				v += bo
				if op.relu && v < 0 {
					v = 0
				}
				out[j] = v
			}
		}
	}
}

func (op *convOp) backward(worker, s int) {
	dp := op.dpre[worker]
	clear(dp)
	db := op.dbPart[s*op.o : (s+1)*op.o]
	dw := op.dwPart[s*op.o*op.k : (s+1)*op.o*op.k]
	clear(dw)
	outN := op.hy * op.wy
	dy := op.cdy[s*op.o*outN : (s+1)*op.o*outN]
	for o := 0; o < op.o; o++ {
		dpo := dp[op.lead+o*op.stride : op.lead+o*op.stride+op.nw]
		dyo := dy[o*outN : (o+1)*outN]
		var sum float32
		if op.pool {
			arg := op.arg[(s*op.o+o)*outN : (s*op.o+o+1)*outN]
			base := int32(o * op.nw)
			for j, a := range arg {
				if a >= 0 {
					dpo[a-base] = dyo[j]
					sum += dyo[j]
				}
			}
		} else {
			var yo []float32
			if op.relu {
				yo = op.cy[(s*op.o+o)*outN : (s*op.o+o+1)*outN]
			}
			for i := 0; i < op.ho; i++ {
				row := dpo[i*op.wp : i*op.wp+op.wo]
				for j := range row {
					g := dyo[i*op.wo+j]
					if op.relu && yo[i*op.wo+j] <= 0 {
						g = 0
					}
					row[j] = g
					sum += g
				}
			}
		}
		db[o] = sum
	}
	src := op.source(s, false)
	gatherWgrad(op.o, op.nw, op.k, dp[op.lead:], op.stride, src, op.off, op.maxOff, dw)
	if !op.needDx {
		return
	}
	plane := op.h * op.w
	dx := op.dx.Float32s()[s*op.c*plane : (s+1)*op.c*plane]
	if op.pad == 0 {
		gatherGemm(op.c, plane, op.o*op.kh*op.kw, op.wT, dp, op.offT, op.maxOffT, dx, plane)
		return
	}
	dxp := op.dxpad[worker]
	pp := op.hp * op.wp
	gatherGemm(op.c, pp, op.o*op.kh*op.kw, op.wT, dp, op.offT, op.maxOffT, dxp, pp)
	for c := 0; c < op.c; c++ {
		for i := 0; i < op.h; i++ {
			at := c*pp + (i+op.pad)*op.wp + op.pad
			copy(dx[c*plane+i*op.w:c*plane+(i+1)*op.w], dxp[at:at+op.w])
		}
	}
}

// grad hands the bias (1) and input (2) gradients to pickOp.
func (op *convOp) grad(which int) *tensor.Dense {
	if which == 1 {
		return op.db
	}
	return op.dx
}

func (op *convOp) DiffWRT(int) []bool { return []bool{op.needDx, true, true} }

func (op *convOp) SymDiff(inputs gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	return layerSymDiff("ops.Conv2D", op, &convBwdOp{op}, inputs, output, grad, op.bShape(), op.xShape(), op.needDx)
}

// convBwdOp runs the backward pass of its convOp: inputs x, w, y and the
// gradient of y; it returns the filter gradient and leaves the bias and
// input gradients for pickOp.
type convBwdOp struct{ f *convOp }

func (op *convBwdOp) Arity() int { return 4 }
func (op *convBwdOp) Type() hm.Type {
	t := tensorType(4)
	return hm.NewFnType(t, t, t, t, t)
}
func (op *convBwdOp) InferShape(...gorgonia.DimSizer) (tensor.Shape, error) {
	return op.f.wShape(), nil
}
func (op *convBwdOp) ReturnsPtr() bool      { return false }
func (op *convBwdOp) CallsExtern() bool     { return false }
func (op *convBwdOp) OverwritesInput() int  { return -1 }
func (op *convBwdOp) WriteHash(h hash.Hash) { fmt.Fprintf(h, "ops.convBwd(%p)", op.f) }
func (op *convBwdOp) Hashcode() uint32      { return hashOp(op) }
func (op *convBwdOp) String() string        { return "ops.Conv2DBackward" }

func (op *convBwdOp) Do(inputs ...gorgonia.Value) (gorgonia.Value, error) {
	const name = "ops.Conv2D backward"
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
	if f.cw, err = float32s(name, "filter", inputs[1], f.wShape()); err != nil {
		return nil, err
	}
	if f.cy, err = float32s(name, "output", inputs[2], f.yShape()); err != nil {
		return nil, err
	}
	if f.cdy, err = float32s(name, "output gradient", inputs[3], f.yShape()); err != nil {
		return nil, err
	}
	f.ensureBackward()
	if f.needDx {
		per := f.kh * f.kw
		for o := 0; o < f.o; o++ {
			for c := 0; c < f.c; c++ {
				src := f.cw[(o*f.c+c)*per : (o*f.c+c+1)*per]
				dst := f.wT[(c*f.o+o)*per : (c*f.o+o+1)*per]
				for i := range dst {
					dst[i] = src[per-1-i] // flips both kernel axes
				}
			}
		}
	}
	f.phase = phaseBackward
	f.workers.runDynamic(f, f.nb)
	f.phase = phaseReduce
	f.workers.run(f, f.o*f.k+f.o)
	f.cx, f.cw, f.cy, f.cdy = nil, nil, nil, nil
	return owned(f.dW, f.wShape()), nil
}
