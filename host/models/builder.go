package models

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/lrsgd-lab/lrsgd/host/ops"
)

// value is an activation while a model is defined: its shape, and its
// node when a graph is being built (nil while only the layout is taken).
type value struct {
	n     *G.Node
	shape []int // (B, C, H, W) or (B, F)
}

// builder runs an architecture definition in one of two modes: layout
// (shapes only; registers the parameter and statistics tensors) and build
// (creates the Gorgonia graph over a given parameter slice). The
// definitions call the layer methods in a fixed order, so the i-th
// parameter requested while building is the i-th tensor of the layout.
type builder struct {
	m      *Model
	layout bool
	err    error

	// build mode
	g      *G.ExprGraph
	batch  int
	train  bool
	params []float32
	stats  []float32
	fast   bool

	pi, si int
	nodes  []*G.Node
	masks  []dropMask
	ws     *ops.Workspace // scratch shared by the graph's host/ops convolutions
}

// dropMask is a dropout mask fed to the graph as an input: each element
// is 0 with probability p and 1/(1−p) otherwise, redrawn every step.
type dropMask struct {
	data []float32
	p    float64
}

func (b *builder) fail(format string, args ...any) value {
	if b.err == nil {
		b.err = fmt.Errorf(format, args...)
	}
	return value{}
}

// run defines the model on its input and checks the output shape.
func (b *builder) run() value {
	in := b.m.input
	batch := 1
	var x value
	if b.layout {
		x = value{shape: []int{batch, in.C, in.H, in.W}}
	} else {
		batch = b.batch
		x = value{shape: []int{batch, in.C, in.H, in.W}}
		x.n = G.NewTensor(b.g, G.Float32, 4, G.WithShape(x.shape...), G.WithName("x"),
			G.WithValue(tensor.New(tensor.WithShape(x.shape...), tensor.Of(tensor.Float32))))
	}
	out := b.m.def(b, x)
	if b.err != nil {
		return value{}
	}
	if len(out.shape) != 2 || out.shape[0] != batch || out.shape[1] != in.Classes {
		b.fail("output shape %v, want (%d, %d)", out.shape, batch, in.Classes)
		return value{}
	}
	return out
}

func prod(s []int) int {
	p := 1
	for _, v := range s {
		p *= v
	}
	return p
}

// param registers (layout) or binds (build) the next parameter tensor.
// nodeShape is the shape of the graph node viewing it (it may add unit
// axes for broadcasting); it must have the same number of elements.
func (b *builder) param(name string, shape []int, init InitKind, fanIn int, nodeShape []int) *G.Node {
	if b.err != nil {
		return nil
	}
	if b.layout {
		size := prod(shape)
		b.m.params = append(b.m.params, Tensor{Name: name, Shape: append([]int(nil), shape...),
			Offset: b.m.nParam, Size: size, Init: init, FanIn: fanIn})
		b.m.nParam += size
		return nil
	}
	if b.pi >= len(b.m.params) || b.m.params[b.pi].Name != name {
		b.fail("internal: parameter %d is %q in the build but not in the layout", b.pi, name)
		return nil
	}
	t := b.m.params[b.pi]
	b.pi++
	if prod(nodeShape) != t.Size {
		b.fail("internal: node shape %v does not hold %s %v", nodeShape, name, t.Shape)
		return nil
	}
	backing := b.params[t.Offset : t.Offset+t.Size : t.Offset+t.Size]
	n := G.NewTensor(b.g, G.Float32, len(nodeShape), G.WithShape(nodeShape...), G.WithName(name),
		G.WithValue(tensor.New(tensor.WithShape(nodeShape...), tensor.WithBacking(backing))))
	b.nodes = append(b.nodes, n)
	return n
}

func (b *builder) stat(name string, c int, init InitKind) {
	b.m.stats = append(b.m.stats, Tensor{Name: name, Shape: []int{c}, Offset: b.m.nStats, Size: c, Init: init})
	b.m.nStats += c
}

// conv is a 2-D convolution (square kernel k, given stride and zero
// padding), with an optional bias.
func (b *builder) conv(x value, name string, cout, k, stride, pad int, bias bool) value {
	if b.err != nil {
		return value{}
	}
	if len(x.shape) != 4 {
		return b.fail("%s: input shape %v is not (B, C, H, W)", name, x.shape)
	}
	bs, cin, h, w := x.shape[0], x.shape[1], x.shape[2], x.shape[3]
	oh, ow := (h+2*pad-k)/stride+1, (w+2*pad-k)/stride+1
	if h+2*pad < k || w+2*pad < k {
		return b.fail("%s: input %d×%d is smaller than the %d×%d kernel", name, h, w, k, k)
	}
	fanIn := cin * k * k
	wn := b.param(name+".weight", []int{cout, cin, k, k}, InitUniform, fanIn, []int{cout, cin, k, k})
	var bn *G.Node
	if bias {
		biasShape := []int{1, cout, 1, 1}
		if b.fast {
			biasShape = []int{cout}
		}
		bn = b.param(name+".bias", []int{cout}, InitUniform, fanIn, biasShape)
	}
	out := value{shape: []int{bs, cout, oh, ow}}
	if b.layout {
		b.m.layers = append(b.m.layers, Layer{Name: name, MACs: cout * oh * ow * fanIn})
	}
	if b.layout || b.err != nil {
		return out
	}
	var err error
	if b.fast {
		if b.ws == nil {
			b.ws = ops.NewWorkspace()
		}
		if out.n, err = ops.Conv(x.n, wn, bn, stride, pad, b.ws); err != nil {
			return b.fail("%s: %w", name, err)
		}
		return out
	}
	out.n, err = G.Conv2d(x.n, wn, tensor.Shape{k, k}, []int{pad, pad}, []int{stride, stride}, []int{1, 1})
	if err != nil {
		return b.fail("%s: %w", name, err)
	}
	if bias {
		if out.n, err = G.BroadcastAdd(out.n, bn, nil, []byte{0, 2, 3}); err != nil {
			return b.fail("%s bias: %w", name, err)
		}
	}
	return out
}

// bnLayer is a batch-norm layer whose parameters and statistics are bound
// but whose operator is not built yet (see bnApply).
type bnLayer struct {
	name        string
	c           int
	gamma, beta *G.Node
	id          int
	mean, vari  []float32 // running statistics, views of the stats vector
}

// batchNorm is 2-D batch normalisation with PyTorch's defaults
// (momentum 0.1, ε = 1e-5, affine).
func (b *builder) batchNorm(x value, name string) value {
	return b.bnApply(x, b.bnParams(x, name), nil, false)
}

// bnParams registers (layout) or binds (build) a batch-norm layer's
// parameters and running statistics. Splitting this from bnApply lets a
// ResNet block bind its second batch norm before its shortcut, in the
// order of PyTorch's state_dict, and build it after, with the shortcut
// as its residual.
func (b *builder) bnParams(x value, name string) bnLayer {
	if b.err != nil {
		return bnLayer{}
	}
	if len(x.shape) != 4 {
		b.fail("%s: input shape %v is not (B, C, H, W)", name, x.shape)
		return bnLayer{}
	}
	c := x.shape[1]
	l := bnLayer{name: name, c: c}
	l.gamma = b.param(name+".weight", []int{c}, InitOnes, 0, []int{c})
	l.beta = b.param(name+".bias", []int{c}, InitZeros, 0, []int{c})
	if b.layout {
		b.stat(name+".running_mean", c, InitZeros)
		b.stat(name+".running_var", c, InitOnes)
		return l
	}
	if b.err != nil {
		return bnLayer{}
	}
	if b.si+2 > len(b.m.stats) {
		b.fail("internal: batch norm %s is not in the layout", name)
		return bnLayer{}
	}
	tm, tv := b.m.stats[b.si], b.m.stats[b.si+1]
	b.si += 2
	l.id = b.si / 2
	l.mean, l.vari = b.stats[tm.Offset:tm.Offset+tm.Size], b.stats[tv.Offset:tv.Offset+tv.Size]
	return l
}

// bnApply builds relu(bn(x) + res): batch norm l, then the residual sum
// when res is not nil, then ReLU when relu is set. The fast path fuses the
// three into one host/ops operator.
func (b *builder) bnApply(x value, l bnLayer, res *value, relu bool) value {
	if b.err != nil {
		return value{}
	}
	if b.layout {
		return x
	}
	if b.fast {
		var rn *G.Node
		if res != nil {
			rn = res.n
		}
		cfg := ops.BatchNormConfig{RunMean: l.mean, RunVar: l.vari, Momentum: bnMomentum, Epsilon: bnEpsilon, Train: b.train}
		n, err := ops.BatchNorm(x.n, l.gamma, l.beta, rn, relu, cfg)
		if err != nil {
			return b.fail("%s: %w", l.name, err)
		}
		return value{n: n, shape: x.shape}
	}
	st := newBNState(l.id, l.c, b.train, l.mean, l.vari)
	out, err := G.ApplyOp(batchNormOp{s: st}, x.n, l.gamma, l.beta)
	if err != nil {
		return b.fail("%s: %w", l.name, err)
	}
	y := value{n: out, shape: x.shape}
	if res != nil {
		y = b.add(y, *res)
	}
	if relu {
		y = b.relu(y)
	}
	return y
}

// Batch-norm constants: PyTorch's defaults (running update
// r ← (1−momentum)·r + momentum·batch).
const (
	bnMomentum = 0.1
	bnEpsilon  = 1e-5
)

func (b *builder) relu(x value) value {
	if b.err != nil || b.layout {
		return x
	}
	n, err := G.Rectify(x.n)
	if err != nil {
		return b.fail("relu: %w", err)
	}
	return value{n: n, shape: x.shape}
}

// maxPool is 2×2 max-pooling with stride 2 (odd edges dropped).
func (b *builder) maxPool(x value) value {
	if b.err != nil {
		return value{}
	}
	if len(x.shape) != 4 || x.shape[2] < 2 || x.shape[3] < 2 {
		return b.fail("maxpool: input shape %v is not (B, C, H≥2, W≥2)", x.shape)
	}
	out := value{shape: []int{x.shape[0], x.shape[1], x.shape[2] / 2, x.shape[3] / 2}}
	if b.layout {
		return out
	}
	var err error
	if b.fast {
		if out.n, err = ops.MaxPool2(x.n); err != nil {
			return b.fail("maxpool: %w", err)
		}
		return out
	}
	if out.n, err = G.MaxPool2D(x.n, tensor.Shape{2, 2}, []int{0, 0}, []int{2, 2}); err != nil {
		return b.fail("maxpool: %w", err)
	}
	return out
}

// avgPool is k×k average pooling with stride k.
func (b *builder) avgPool(x value, k int) value {
	if b.err != nil {
		return value{}
	}
	if len(x.shape) != 4 || x.shape[2] < k || x.shape[3] < k {
		return b.fail("avgpool %d: input shape %v is not (B, C, H≥%d, W≥%d)", k, x.shape, k, k)
	}
	out := value{shape: []int{x.shape[0], x.shape[1], x.shape[2] / k, x.shape[3] / k}}
	if b.layout {
		return out
	}
	if x.shape[2] != k || x.shape[3] != k {
		return b.fail("avgpool %d: input shape %v: only a global pool (H = W = %d) is built", k, x.shape, k)
	}
	if b.fast {
		// One op straight to (B, C); flatten passes it through.
		n, err := ops.GlobalAvgPool(x.n)
		if err != nil {
			return b.fail("avgpool: %w", err)
		}
		out.n = n
		return out
	}
	// Gorgonia v0.9.18's AveragePool2D divides by the wrong count, and
	// the gradient of its Mean over two axes is wrong (both found by
	// finite differences); the mean over one axis of a (B·C, H·W)
	// reshape is the same function with a correct gradient.
	bs, c := x.shape[0], x.shape[1]
	r, err := G.Reshape(x.n, tensor.Shape{bs * c, k * k})
	if err != nil {
		return b.fail("avgpool: %w", err)
	}
	if r, err = G.Mean(r, 1); err != nil {
		return b.fail("avgpool: %w", err)
	}
	if out.n, err = G.Reshape(r, tensor.Shape(out.shape)); err != nil {
		return b.fail("avgpool: %w", err)
	}
	return out
}

func (b *builder) flatten(x value) value {
	if b.err != nil {
		return value{}
	}
	out := value{shape: []int{x.shape[0], prod(x.shape[1:])}}
	if b.layout || len(x.shape) == 2 || x.n.Shape().Dims() == 2 {
		out.n = x.n
		return out
	}
	if b.fast && x.n.Op() == nil {
		// The graph's input: a (B, F) leaf over the same memory instead of
		// a Reshape, so the first layer sees an input rather than a
		// computed node and computes no gradient for it.
		data, ok := x.n.Value().Data().([]float32)
		if !ok {
			return b.fail("flatten: input %v holds no float32 data", x.n)
		}
		out.n = G.NewTensor(b.g, G.Float32, 2, G.WithShape(out.shape...), G.WithName(x.n.Name()+".flat"),
			G.WithValue(tensor.New(tensor.WithShape(out.shape...), tensor.WithBacking(data))))
		return out
	}
	var err error
	if out.n, err = G.Reshape(x.n, tensor.Shape(out.shape)); err != nil {
		return b.fail("flatten: %w", err)
	}
	return out
}

// dense is a fully connected layer: x (B, in) · w (in, out) + b (out).
func (b *builder) dense(x value, name string, out int) value {
	if b.err != nil {
		return value{}
	}
	if len(x.shape) != 2 {
		return b.fail("%s: input shape %v is not (B, F)", name, x.shape)
	}
	in := x.shape[1]
	wn := b.param(name+".weight", []int{in, out}, InitUniform, in, []int{in, out})
	bn := b.param(name+".bias", []int{out}, InitUniform, in, []int{1, out})
	res := value{shape: []int{x.shape[0], out}}
	if b.layout {
		b.m.layers = append(b.m.layers, Layer{Name: name, MACs: in * out})
	}
	if b.layout || b.err != nil {
		return res
	}
	xw, err := G.Mul(x.n, wn)
	if err != nil {
		return b.fail("%s: %w", name, err)
	}
	if res.n, err = G.BroadcastAdd(xw, bn, nil, []byte{0}); err != nil {
		return b.fail("%s bias: %w", name, err)
	}
	return res
}

// dropout zeroes each activation with probability p while training (and
// scales the rest by 1/(1−p)); it is the identity in evaluation.
func (b *builder) dropout(x value, p float64) value {
	if b.err != nil || b.layout || !b.train {
		return x
	}
	data := make([]float32, prod(x.shape))
	mask := G.NewTensor(b.g, G.Float32, len(x.shape), G.WithShape(x.shape...),
		G.WithName(fmt.Sprintf("dropout%d", len(b.masks))),
		G.WithValue(tensor.New(tensor.WithShape(x.shape...), tensor.WithBacking(data))))
	var n *G.Node
	var err error
	if b.fast {
		n, err = ops.Dropout(x.n, mask)
	} else {
		n, err = G.HadamardProd(x.n, mask)
	}
	if err != nil {
		return b.fail("dropout: %w", err)
	}
	b.masks = append(b.masks, dropMask{data: data, p: p})
	return value{n: n, shape: x.shape}
}

func (b *builder) add(x, y value) value {
	if b.err != nil {
		return value{}
	}
	if fmt.Sprint(x.shape) != fmt.Sprint(y.shape) {
		return b.fail("add: shapes %v and %v differ", x.shape, y.shape)
	}
	if b.layout {
		return x
	}
	n, err := G.Add(x.n, y.n)
	if err != nil {
		return b.fail("add: %w", err)
	}
	return value{n: n, shape: x.shape}
}

// convReLUPool is conv (stride 1, bias) → ReLU → 2×2 max-pool, the
// LeNet block; one fused host/ops operator on the fast path.
func (b *builder) convReLUPool(x value, name string, cout, k, pad int) value {
	if !b.fast || b.layout {
		return b.maxPool(b.relu(b.conv(x, name, cout, k, 1, pad, true)))
	}
	if b.err != nil {
		return value{}
	}
	bs, cin, h, w := x.shape[0], x.shape[1], x.shape[2], x.shape[3]
	fanIn := cin * k * k
	wn := b.param(name+".weight", []int{cout, cin, k, k}, InitUniform, fanIn, []int{cout, cin, k, k})
	bn := b.param(name+".bias", []int{cout}, InitUniform, fanIn, []int{cout})
	if b.err != nil {
		return value{}
	}
	n, err := ops.Conv2D(x.n, wn, bn, pad, true, true)
	if err != nil {
		return b.fail("%s: %w", name, err)
	}
	return value{n: n, shape: []int{bs, cout, (h + 2*pad - k + 1) / 2, (w + 2*pad - k + 1) / 2}}
}

// denseAct is a dense layer, optionally followed by ReLU; one fused
// host/ops operator on the fast path.
func (b *builder) denseAct(x value, name string, out int, relu bool) value {
	if !b.fast || b.layout {
		y := b.dense(x, name, out)
		if relu {
			y = b.relu(y)
		}
		return y
	}
	if b.err != nil {
		return value{}
	}
	in := x.shape[1]
	wn := b.param(name+".weight", []int{in, out}, InitUniform, in, []int{in, out})
	bn := b.param(name+".bias", []int{out}, InitUniform, in, []int{out})
	if b.err != nil {
		return value{}
	}
	n, err := ops.Dense(x.n, wn, bn, relu)
	if err != nil {
		return b.fail("%s: %w", name, err)
	}
	return value{n: n, shape: []int{x.shape[0], out}}
}
