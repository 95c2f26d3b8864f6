package ops

import (
	"fmt"
	"hash"
	"runtime"

	"github.com/chewxy/hm"
	"github.com/lrsgd-lab/lrsgd/host/blas"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// convMinCols is the number of output columns (samples × output pixels) a
// GEMM of Conv aims for: layers with small feature maps stack several
// samples side by side in one product so that OpenBLAS gets a wide enough
// matrix.
const convMinCols = 256

// Conv adds a 2-D convolution to x's graph, computed by im2col and
// OpenBLAS SGEMM (host/blas): filters w of any size, the given stride,
// zero padding pad on every side, and an optional bias b (nil for none).
//
// x is (B, C, H, W), w is (O, C, kh, kw), b is (O); the result is
// (B, O, H', W') with H' = (H+2·pad−kh)/stride+1 and likewise W'. When x is
// not computed by another op (it is the graph's input), no gradient with
// respect to x is computed and x cannot be a Grad target.
//
// Samples are grouped into blocks of ⌈256/(H'·W')⌉ (so that every product
// has at least 256 columns), blocks are handed out to the workers, and the
// filter gradient is accumulated per fixed group of blocks and the groups
// summed in order: results are bit-identical for any GOMAXPROCS. ws holds
// the scratch memory and may be shared by all Conv ops of one graph; nil
// gives the op its own.
func Conv(x, w, b *gorgonia.Node, stride, pad int, ws *Workspace) (*gorgonia.Node, error) {
	const name = "ops.Conv"
	xs, err := shapeOf(name, "input", x, 4)
	if err != nil {
		return nil, err
	}
	wsh, err := shapeOf(name, "filter", w, 4)
	if err != nil {
		return nil, err
	}
	if wsh[1] != xs[1] {
		return nil, fmt.Errorf("%s: filter %v has %d input channels, input %v has %d", name, wsh, wsh[1], xs, xs[1])
	}
	if b != nil {
		bs, err := shapeOf(name, "bias", b, 1)
		if err != nil {
			return nil, err
		}
		if bs[0] != wsh[0] {
			return nil, fmt.Errorf("%s: bias has %d elements, want one per output channel (%d)", name, bs[0], wsh[0])
		}
	}
	if stride < 1 {
		return nil, fmt.Errorf("%s: stride %d, want ≥ 1", name, stride)
	}
	if pad < 0 {
		return nil, fmt.Errorf("%s: padding %d, want ≥ 0", name, pad)
	}
	op := &gemmConvOp{
		nb: xs[0], c: xs[1], h: xs[2], w: xs[3], o: wsh[0], kh: wsh[2], kw: wsh[3],
		stride: stride, pad: pad, hasBias: b != nil, needDx: isComputed(x), ws: ws,
	}
	if op.h+2*pad < op.kh || op.w+2*pad < op.kw {
		return nil, fmt.Errorf("%s: filter %d×%d does not fit input %d×%d padded by %d", name, op.kh, op.kw, op.h, op.w, pad)
	}
	op.layout()
	if b == nil {
		return gorgonia.ApplyOp(op, x, w)
	}
	return gorgonia.ApplyOp(op, x, w, b)
}

// gemmConvOp is the forward convolution; it owns the backward buffers too.
type gemmConvOp struct {
	nb, c, h, w, o, kh, kw, stride, pad int
	hasBias, needDx                     bool

	ho, wo, n, k int             // output size, output pixels, taps c·kh·kw
	bs, nblk     int             // samples per block, blocks
	groups       int             // filter-gradient partial sums
	colLo, colHi []int           // per kj: the output columns that read inside the image
	shapes       [4]tensor.Shape // x, w, b, y

	ws      *Workspace
	workers *pool
	y       *tensor.Dense
	dW, db  *tensor.Dense
	dx      *tensor.Dense

	phase            int
	cx, cw, cb, cdy  []float32
	colOff, stageOff int // offsets of the col/dcol and staging buffers in a worker buffer
}

const (
	phaseConvForward = iota
	phaseConvBackward
	phaseConvReduce
)

func (op *gemmConvOp) layout() {
	op.ho = (op.h+2*op.pad-op.kh)/op.stride + 1
	op.wo = (op.w+2*op.pad-op.kw)/op.stride + 1
	op.n = op.ho * op.wo
	op.k = op.c * op.kh * op.kw
	op.bs = min(max((convMinCols+op.n-1)/op.n, 1), op.nb)
	op.nblk = (op.nb + op.bs - 1) / op.bs
	op.groups = min(op.nblk, fixedChunks)
	op.shapes = [4]tensor.Shape{{op.nb, op.c, op.h, op.w}, {op.o, op.c, op.kh, op.kw}, {op.o}, {op.nb, op.o, op.ho, op.wo}}
	op.colLo, op.colHi = make([]int, op.kw), make([]int, op.kw)
	for kj := 0; kj < op.kw; kj++ {
		// Output column ow reads input column ow·stride + kj − pad.
		lo := 0
		if d := op.pad - kj; d > 0 {
			lo = (d + op.stride - 1) / op.stride
		}
		hi := 0
		if d := op.w - 1 + op.pad - kj; d >= 0 {
			hi = d/op.stride + 1
		}
		op.colLo[kj], op.colHi[kj] = min(lo, op.wo), max(min(hi, op.wo), min(lo, op.wo))
	}
	cols := op.bs * op.n
	op.colOff = op.k * cols
	op.stageOff = 2 * op.k * cols
	if op.ws == nil {
		op.ws = NewWorkspace()
	}
	op.ws.reserve(2*op.k*cols+op.o*cols, (op.groups-1)*(op.o*op.k+op.o))
}

func (op *gemmConvOp) xShape() tensor.Shape { return op.shapes[0] }
func (op *gemmConvOp) wShape() tensor.Shape { return op.shapes[1] }
func (op *gemmConvOp) bShape() tensor.Shape { return op.shapes[2] }
func (op *gemmConvOp) yShape() tensor.Shape { return op.shapes[3] }

func (op *gemmConvOp) Arity() int {
	if op.hasBias {
		return 3
	}
	return 2
}
func (op *gemmConvOp) Type() hm.Type {
	if op.hasBias {
		return hm.NewFnType(tensorType(4), tensorType(4), tensorType(1), tensorType(4))
	}
	return hm.NewFnType(tensorType(4), tensorType(4), tensorType(4))
}
func (op *gemmConvOp) InferShape(...gorgonia.DimSizer) (tensor.Shape, error) {
	return op.yShape(), nil
}
func (op *gemmConvOp) ReturnsPtr() bool      { return false }
func (op *gemmConvOp) CallsExtern() bool     { return false }
func (op *gemmConvOp) OverwritesInput() int  { return -1 }
func (op *gemmConvOp) WriteHash(h hash.Hash) { fmt.Fprintf(h, "ops.gemmconv(%p)", op) }
func (op *gemmConvOp) Hashcode() uint32      { return hashOp(op) }
func (op *gemmConvOp) String() string {
	return fmt.Sprintf("ops.Conv{%v*%v stride %d pad %d bias %t}", op.xShape(), op.wShape(), op.stride, op.pad, op.hasBias)
}

func (op *gemmConvOp) ensure() {
	if op.workers != nil {
		return
	}
	op.workers = newPool(runtime.GOMAXPROCS(0), op)
	op.y = newDense(make([]float32, op.nb*op.o*op.n), op.nb, op.o, op.ho, op.wo)
}

func (op *gemmConvOp) ensureBackward() {
	if op.dW != nil {
		return
	}
	op.dW = newDense(make([]float32, op.o*op.k), op.o, op.c, op.kh, op.kw)
	op.db = newDense(make([]float32, op.o), op.o)
	if op.needDx {
		op.dx = newDense(make([]float32, op.nb*op.c*op.h*op.w), op.nb, op.c, op.h, op.w)
	}
}

// Do runs the forward pass.
func (op *gemmConvOp) Do(inputs ...gorgonia.Value) (gorgonia.Value, error) {
	const name = "ops.Conv"
	if len(inputs) != op.Arity() {
		return nil, fmt.Errorf("%s: %d inputs, want %d", name, len(inputs), op.Arity())
	}
	var err error
	if op.cx, err = float32s(name, "input", inputs[0], op.xShape()); err != nil {
		return nil, err
	}
	if op.cw, err = float32s(name, "filter", inputs[1], op.wShape()); err != nil {
		return nil, err
	}
	op.cb = nil
	if op.hasBias {
		if op.cb, err = float32s(name, "bias", inputs[2], op.bShape()); err != nil {
			return nil, err
		}
	}
	op.ensure()
	op.ws.ensure(op.workers.n)
	op.phase = phaseConvForward
	op.workers.runDynamic(op, op.nblk)
	op.cx, op.cw, op.cb = nil, nil, nil
	return owned(op.y, op.yShape()), nil
}

func (op *gemmConvOp) run(worker, lo, hi int) {
	switch op.phase {
	case phaseConvForward:
		for blk := lo; blk < hi; blk++ {
			op.forward(worker, blk)
		}
	case phaseConvBackward:
		for g := lo; g < hi; g++ {
			op.backward(worker, g)
		}
	case phaseConvReduce:
		op.reduce(lo, hi)
	}
}

// block returns the samples [s0, s1) of block blk.
func (op *gemmConvOp) block(blk int) (s0, s1 int) {
	s0 = blk * op.bs
	return s0, min(s0+op.bs, op.nb)
}

func (op *gemmConvOp) forward(worker, blk int) {
	s0, s1 := op.block(blk)
	cols := (s1 - s0) * op.n
	buf := op.ws.bufs[worker]
	col := buf[:op.k*cols]
	plane := op.c * op.h * op.w
	for s := s0; s < s1; s++ {
		op.im2col(op.cx[s*plane:(s+1)*plane], col, cols, (s-s0)*op.n)
	}
	on := op.o * op.n
	y := op.y.Float32s()
	if s1-s0 == 1 {
		out := y[s0*on : (s0+1)*on]
		blas.Sgemm(false, false, op.o, op.n, op.k, 1, op.cw, op.k, col, op.n, 0, out, op.n)
		if op.hasBias {
			for o, bo := range op.cb {
				row := out[o*op.n : (o+1)*op.n]
				for i := range row {
					row[i] += bo
				}
			}
		}
		return
	}
	stage := buf[op.stageOff : op.stageOff+op.o*cols]
	blas.Sgemm(false, false, op.o, cols, op.k, 1, op.cw, op.k, col, cols, 0, stage, cols)
	for s := s0; s < s1; s++ {
		for o := 0; o < op.o; o++ {
			src := stage[o*cols+(s-s0)*op.n : o*cols+(s-s0+1)*op.n]
			dst := y[s*on+o*op.n : s*on+(o+1)*op.n]
			if !op.hasBias {
				copy(dst, src)
				continue
			}
			bo := op.cb[o]
			for i, v := range src {
				dst[i] = v + bo
			}
		}
	}
}

// backward runs group g's blocks in order: their filter and bias gradients
// go to dW and db (group 0) or to the group's partial sums, their input
// gradients to dx.
func (op *gemmConvOp) backward(worker, g int) {
	ok := op.o * op.k
	var dw, db []float32
	if g == 0 {
		dw, db = op.dW.Float32s(), op.db.Float32s()
	} else {
		part := op.ws.part[(g-1)*(ok+op.o) : g*(ok+op.o)]
		dw, db = part[:ok], part[ok:]
	}
	buf := op.ws.bufs[worker]
	plane := op.c * op.h * op.w
	on := op.o * op.n
	first, last := g*op.nblk/op.groups, (g+1)*op.nblk/op.groups
	for blk := first; blk < last; blk++ {
		s0, s1 := op.block(blk)
		cols := (s1 - s0) * op.n
		var dy []float32
		if s1-s0 == 1 {
			dy = op.cdy[s0*on : (s0+1)*on]
		} else {
			dy = buf[op.stageOff : op.stageOff+op.o*cols]
			for s := s0; s < s1; s++ {
				for o := 0; o < op.o; o++ {
					copy(dy[o*cols+(s-s0)*op.n:o*cols+(s-s0+1)*op.n], op.cdy[s*on+o*op.n:s*on+(o+1)*op.n])
				}
			}
		}
		col := buf[:op.k*cols]
		for s := s0; s < s1; s++ {
			op.im2col(op.cx[s*plane:(s+1)*plane], col, cols, (s-s0)*op.n)
		}
		beta := float32(1)
		if blk == first {
			beta = 0
		}
		blas.Sgemm(false, true, op.o, op.k, cols, 1, dy, cols, col, cols, beta, dw, op.k)
		if op.hasBias {
			for o := 0; o < op.o; o++ {
				var sum float32
				for _, v := range dy[o*cols : (o+1)*cols] {
					sum += v
				}
				if blk == first {
					db[o] = sum
				} else {
					db[o] += sum
				}
			}
		}
		if !op.needDx {
			continue
		}
		dcol := buf[op.colOff : op.colOff+op.k*cols]
		blas.Sgemm(true, false, op.k, cols, op.o, 1, op.cw, op.k, dy, cols, 0, dcol, cols)
		dx := op.dx.Float32s()
		for s := s0; s < s1; s++ {
			op.col2im(dcol, cols, (s-s0)*op.n, dx[s*plane:(s+1)*plane])
		}
	}
}

// reduce adds the groups' partial sums to elements [lo, hi) of dW then db,
// in group order.
func (op *gemmConvOp) reduce(lo, hi int) {
	ok := op.o * op.k
	stride := ok + op.o
	dW, db := op.dW.Float32s(), op.db.Float32s()
	add := func(dst []float32, from int) {
		for g := 1; g < op.groups; g++ {
			part := op.ws.part[(g-1)*stride+from : (g-1)*stride+from+len(dst)]
			for i, v := range part {
				dst[i] += v
			}
		}
	}
	if wlo, whi := min(lo, ok), min(hi, ok); wlo < whi {
		add(dW[wlo:whi], wlo)
	}
	if blo, bhi := max(lo, ok)-ok, max(hi, ok)-ok; blo < bhi && op.hasBias {
		add(db[blo:bhi], ok+blo)
	}
}

// im2col writes one sample x (C×H×W) into columns [at, at+H'·W') of col,
// whose rows, one per tap (c, ki, kj), are ld apart.
func (op *gemmConvOp) im2col(x, col []float32, ld, at int) {
	op.checkCols("im2col", x, col, ld, at)
	if useAVX2 {
		im2colAVX2(op, x, col, ld, at)
		return
	}
	op.im2colGo(x, col, ld, at)
}

// checkCols guards the unchecked C kernels: a sample of x and the columns
// [at, at+H'·W') of every row of col must lie inside their slices.
func (op *gemmConvOp) checkCols(name string, x, col []float32, ld, at int) {
	if len(x) < op.c*op.h*op.w || at+op.n > ld || len(col) < (op.k-1)*ld+at+op.n {
		panic(fmt.Sprintf("ops: %s: sample of %d (need %d), %d columns at %d of %d in %d (need %d)",
			name, len(x), op.c*op.h*op.w, op.n, at, ld, len(col), (op.k-1)*ld+at+op.n))
	}
}

func (op *gemmConvOp) im2colGo(x, col []float32, ld, at int) {
	plane := op.h * op.w
	for c := 0; c < op.c; c++ {
		xc := x[c*plane : (c+1)*plane]
		for ki := 0; ki < op.kh; ki++ {
			for kj := 0; kj < op.kw; kj++ {
				k := (c*op.kh+ki)*op.kw + kj
				row := col[k*ld+at : k*ld+at+op.n]
				lo, hi := op.colLo[kj], op.colHi[kj]
				for oh := 0; oh < op.ho; oh++ {
					dst := row[oh*op.wo : (oh+1)*op.wo]
					ih := oh*op.stride + ki - op.pad
					if ih < 0 || ih >= op.h {
						clear(dst)
						continue
					}
					src := xc[ih*op.w : (ih+1)*op.w]
					clear(dst[:lo])
					clear(dst[hi:])
					if op.stride == 1 {
						copy(dst[lo:hi], src[lo+kj-op.pad:])
						continue
					}
					iw := lo*op.stride + kj - op.pad
					for ow := lo; ow < hi; ow++ {
						dst[ow] = src[iw]
						iw += op.stride
					}
				}
			}
		}
	}
}

// col2im sets dx (one sample, C×H×W) to the sum of columns [at, at+H'·W')
// of dcol (rows ld apart) scattered back to the pixels they were read from.
func (op *gemmConvOp) col2im(dcol []float32, ld, at int, dx []float32) {
	op.checkCols("col2im", dx, dcol, ld, at)
	if useAVX2 {
		col2imAVX2(op, dcol, ld, at, dx)
		return
	}
	op.col2imGo(dcol, ld, at, dx)
}

func (op *gemmConvOp) col2imGo(dcol []float32, ld, at int, dx []float32) {
	clear(dx)
	plane := op.h * op.w
	for c := 0; c < op.c; c++ {
		dc := dx[c*plane : (c+1)*plane]
		for ki := 0; ki < op.kh; ki++ {
			for kj := 0; kj < op.kw; kj++ {
				k := (c*op.kh+ki)*op.kw + kj
				row := dcol[k*ld+at : k*ld+at+op.n]
				lo, hi := op.colLo[kj], op.colHi[kj]
				if lo >= hi {
					continue
				}
				for oh := 0; oh < op.ho; oh++ {
					ih := oh*op.stride + ki - op.pad
					if ih < 0 || ih >= op.h {
						continue
					}
					src := row[oh*op.wo+lo : oh*op.wo+hi]
					dst := dc[ih*op.w : (ih+1)*op.w]
					iw := lo*op.stride + kj - op.pad
					if op.stride == 1 {
						d := dst[iw : iw+len(src)]
						for i, v := range src {
							d[i] += v
						}
						continue
					}
					for _, v := range src {
						dst[iw] += v
						iw += op.stride
					}
				}
			}
		}
	}
}

func (op *gemmConvOp) grad(which int) *tensor.Dense {
	if which == 1 {
		return op.db
	}
	return op.dx
}

// DiffWRT reports which inputs get a gradient: x only when it is computed.
func (op *gemmConvOp) DiffWRT(int) []bool {
	if op.hasBias {
		return []bool{op.needDx, true, true}
	}
	return []bool{op.needDx, true}
}

// SymDiff adds the backward op (filter gradient) and picks for the bias and
// input gradients.
func (op *gemmConvOp) SymDiff(inputs gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	const name = "ops.Conv"
	if len(inputs) != op.Arity() {
		return nil, fmt.Errorf("%s: SymDiff with %d inputs, want %d", name, len(inputs), op.Arity())
	}
	dw, err := gorgonia.ApplyOp(&gemmConvBwdOp{op}, inputs[0], inputs[1], grad)
	if err != nil {
		return nil, fmt.Errorf("%s backward: %w", name, err)
	}
	out := gorgonia.Nodes{nil, dw}
	if op.hasBias {
		db, err := pick(op, dw, 1, name+".db", op.bShape())
		if err != nil {
			return nil, fmt.Errorf("%s bias gradient: %w", name, err)
		}
		out = append(out, db)
	}
	if op.needDx {
		if out[0], err = pick(op, dw, 2, name+".dx", op.xShape()); err != nil {
			return nil, fmt.Errorf("%s input gradient: %w", name, err)
		}
	}
	return out, nil
}

// gemmConvBwdOp is the backward pass of a gemmConvOp: inputs x, w and the
// gradient of the output; it returns the filter gradient and leaves the bias
// and input gradients for pickOp.
type gemmConvBwdOp struct{ f *gemmConvOp }

func (op *gemmConvBwdOp) Arity() int { return 3 }
func (op *gemmConvBwdOp) Type() hm.Type {
	t := tensorType(4)
	return hm.NewFnType(t, t, t, t)
}
func (op *gemmConvBwdOp) InferShape(...gorgonia.DimSizer) (tensor.Shape, error) {
	return op.f.wShape(), nil
}
func (op *gemmConvBwdOp) ReturnsPtr() bool      { return false }
func (op *gemmConvBwdOp) CallsExtern() bool     { return false }
func (op *gemmConvBwdOp) OverwritesInput() int  { return -1 }
func (op *gemmConvBwdOp) WriteHash(h hash.Hash) { fmt.Fprintf(h, "ops.gemmconvBwd(%p)", op.f) }
func (op *gemmConvBwdOp) Hashcode() uint32      { return hashOp(op) }
func (op *gemmConvBwdOp) String() string        { return "ops.ConvBackward" }

func (op *gemmConvBwdOp) Do(inputs ...gorgonia.Value) (gorgonia.Value, error) {
	const name = "ops.Conv backward"
	f := op.f
	if len(inputs) != 3 {
		return nil, fmt.Errorf("%s: %d inputs, want 3", name, len(inputs))
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
	if f.cdy, err = float32s(name, "output gradient", inputs[2], f.yShape()); err != nil {
		return nil, err
	}
	f.ensureBackward()
	f.ws.ensure(f.workers.n)
	f.phase = phaseConvBackward
	f.workers.runDynamic(f, f.groups)
	if f.groups > 1 {
		f.phase = phaseConvReduce
		f.workers.run(f, f.o*f.k+f.o)
	}
	f.cx, f.cw, f.cdy = nil, nil, nil
	return owned(f.dW, f.wShape()), nil
}
