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

// Dense adds a fully connected layer, y = x·w + b, optionally followed by
// ReLU, as one op. x is (B, in), w is (in, out), b is (out); y is (B, out).
// When x is not computed by another op, no gradient with respect to x is
// computed and x cannot be a Grad target.
func Dense(x, w, b *gorgonia.Node, relu bool) (*gorgonia.Node, error) {
	const name = "ops.Dense"
	xs, err := shapeOf(name, "input", x, 2)
	if err != nil {
		return nil, err
	}
	ws, err := shapeOf(name, "weights", w, 2)
	if err != nil {
		return nil, err
	}
	bs, err := shapeOf(name, "bias", b, 1)
	if err != nil {
		return nil, err
	}
	if ws[0] != xs[1] {
		return nil, fmt.Errorf("%s: weights %v have %d input rows, input %v has %d features", name, ws, ws[0], xs, xs[1])
	}
	if bs[0] != ws[1] {
		return nil, fmt.Errorf("%s: bias has %d elements, want one per output (%d)", name, bs[0], ws[1])
	}
	op := &denseOp{nb: xs[0], in: xs[1], out: ws[1], relu: relu, needDx: isComputed(x)}
	op.shapes = [4]tensor.Shape{{op.nb, op.in}, {op.in, op.out}, {op.out}, {op.nb, op.out}}
	return gorgonia.ApplyOp(op, x, w, b)
}

// denseMinRows is the fewest batch rows per SGEMM call of a dense layer's
// forward pass and input gradient: every call packs the whole weight matrix
// again (6 MiB for the MLP's first layer), so 16-row calls spent more time
// packing than multiplying. Batch 128 then runs as two calls.
const denseMinRows = 64

// denseOp is the forward dense layer; it owns the backward buffers too.
type denseOp struct {
	nb, in, out  int
	relu, needDx bool
	shapes       [4]tensor.Shape // x, w, b, y

	workers *pool
	chunks  chunked // scratch of workers.runFixed
	y       *tensor.Dense
	dpre    []float32 // nb×out: gradient before the ReLU
	dW, db  *tensor.Dense
	dx      *tensor.Dense

	phase               int
	cx, cw, cb, cy, cdy []float32
}

const (
	phaseDenseRows   = iota // forward, or backward over batch rows
	phaseDenseBwdRow        // dpre and dx rows
	phaseDenseBwdW          // dW rows (input features) and db columns
)

// Shapes are built once: building them in Do would allocate every step.
func (op *denseOp) xShape() tensor.Shape { return op.shapes[0] }
func (op *denseOp) wShape() tensor.Shape { return op.shapes[1] }
func (op *denseOp) bShape() tensor.Shape { return op.shapes[2] }
func (op *denseOp) yShape() tensor.Shape { return op.shapes[3] }

func (op *denseOp) Arity() int { return 3 }
func (op *denseOp) Type() hm.Type {
	return hm.NewFnType(tensorType(2), tensorType(2), tensorType(1), tensorType(2))
}
func (op *denseOp) InferShape(...gorgonia.DimSizer) (tensor.Shape, error) { return op.yShape(), nil }
func (op *denseOp) ReturnsPtr() bool                                      { return false }
func (op *denseOp) CallsExtern() bool                                     { return false }
func (op *denseOp) OverwritesInput() int                                  { return -1 }
func (op *denseOp) WriteHash(h hash.Hash)                                 { fmt.Fprintf(h, "ops.dense(%p)", op) }
func (op *denseOp) Hashcode() uint32                                      { return hashOp(op) }
func (op *denseOp) String() string {
	return fmt.Sprintf("ops.Dense{%v·%v relu %t}", op.xShape(), op.wShape(), op.relu)
}

func (op *denseOp) Do(inputs ...gorgonia.Value) (gorgonia.Value, error) {
	const name = "ops.Dense"
	if len(inputs) != 3 {
		return nil, fmt.Errorf("%s: %d inputs, want 3", name, len(inputs))
	}
	var err error
	if op.cx, err = float32s(name, "input", inputs[0], op.xShape()); err != nil {
		return nil, err
	}
	if op.cw, err = float32s(name, "weights", inputs[1], op.wShape()); err != nil {
		return nil, err
	}
	if op.cb, err = float32s(name, "bias", inputs[2], op.bShape()); err != nil {
		return nil, err
	}
	if op.workers == nil {
		op.workers = newPool(runtime.GOMAXPROCS(0), op)
		op.y = newDense(make([]float32, op.nb*op.out), op.nb, op.out)
	}
	op.phase = phaseDenseRows
	op.workers.runFixedRows(&op.chunks, op, op.nb, denseMinRows)
	op.cx, op.cw, op.cb = nil, nil, nil
	return owned(op.y, op.yShape()), nil
}

func (op *denseOp) run(_, lo, hi int) {
	if lo == hi {
		return
	}
	rows := hi - lo
	switch op.phase {
	case phaseDenseRows:
		y := op.y.Float32s()[lo*op.out : hi*op.out]
		blas.Sgemm(false, false, rows, op.out, op.in, 1, op.cx[lo*op.in:hi*op.in], op.in, op.cw, op.out, 0, y, op.out)
		for r := 0; r < rows; r++ {
			row := y[r*op.out : (r+1)*op.out]
			for j, bj := range op.cb {
				v := row[j] + bj
				if op.relu && v < 0 {
					v = 0
				}
				row[j] = v
			}
		}
	case phaseDenseBwdRow:
		d := op.dpre[lo*op.out : hi*op.out]
		dy := op.cdy[lo*op.out : hi*op.out]
		if op.relu {
			y := op.cy[lo*op.out : hi*op.out]
			for i, g := range dy {
				if y[i] <= 0 {
					g = 0
				}
				d[i] = g
			}
		} else {
			copy(d, dy)
		}
		if op.needDx {
			dx := op.dx.Float32s()[lo*op.in : hi*op.in]
			blas.Sgemm(false, true, rows, op.in, op.out, 1, d, op.out, op.cw, op.out, 0, dx, op.in)
		}
	case phaseDenseBwdW:
		// Rows lo..hi of dW = xᵀ·dpre, over the input features.
		dW := op.dW.Float32s()[lo*op.out : hi*op.out]
		blas.Sgemm(true, false, rows, op.out, op.nb, 1, op.cx[lo:], op.in, op.dpre, op.out, 0, dW, op.out)
		if lo == 0 {
			db := op.db.Float32s()
			clear(db)
			for r := 0; r < op.nb; r++ {
				for j, g := range op.dpre[r*op.out : (r+1)*op.out] {
					db[j] += g
				}
			}
		}
	}
}

func (op *denseOp) grad(which int) *tensor.Dense {
	if which == 1 {
		return op.db
	}
	return op.dx
}

func (op *denseOp) DiffWRT(int) []bool { return []bool{op.needDx, true, true} }

func (op *denseOp) SymDiff(inputs gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	return layerSymDiff("ops.Dense", op, &denseBwdOp{op}, inputs, output, grad, op.bShape(), op.xShape(), op.needDx)
}

// denseBwdOp is the backward pass of a denseOp: inputs x, w, y and the
// gradient of y; it returns the weight gradient.
type denseBwdOp struct{ f *denseOp }

func (op *denseBwdOp) Arity() int { return 4 }
func (op *denseBwdOp) Type() hm.Type {
	t := tensorType(2)
	return hm.NewFnType(t, t, t, t, t)
}
func (op *denseBwdOp) InferShape(...gorgonia.DimSizer) (tensor.Shape, error) {
	return op.f.wShape(), nil
}
func (op *denseBwdOp) ReturnsPtr() bool      { return false }
func (op *denseBwdOp) CallsExtern() bool     { return false }
func (op *denseBwdOp) OverwritesInput() int  { return -1 }
func (op *denseBwdOp) WriteHash(h hash.Hash) { fmt.Fprintf(h, "ops.denseBwd(%p)", op.f) }
func (op *denseBwdOp) Hashcode() uint32      { return hashOp(op) }
func (op *denseBwdOp) String() string        { return "ops.DenseBackward" }

func (op *denseBwdOp) Do(inputs ...gorgonia.Value) (gorgonia.Value, error) {
	const name = "ops.Dense backward"
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
	if f.cw, err = float32s(name, "weights", inputs[1], f.wShape()); err != nil {
		return nil, err
	}
	if f.cy, err = float32s(name, "output", inputs[2], f.yShape()); err != nil {
		return nil, err
	}
	if f.cdy, err = float32s(name, "output gradient", inputs[3], f.yShape()); err != nil {
		return nil, err
	}
	if f.dW == nil {
		f.dpre = make([]float32, f.nb*f.out)
		f.dW = newDense(make([]float32, f.in*f.out), f.in, f.out)
		f.db = newDense(make([]float32, f.out), f.out)
		if f.needDx {
			f.dx = newDense(make([]float32, f.nb*f.in), f.nb, f.in)
		}
	}
	f.phase = phaseDenseBwdRow
	f.workers.runFixedRows(&f.chunks, f, f.nb, denseMinRows)
	f.phase = phaseDenseBwdW
	f.workers.runFixed(&f.chunks, f, f.in)
	f.cx, f.cw, f.cy, f.cdy = nil, nil, nil, nil
	return owned(f.dW, f.wShape()), nil
}
