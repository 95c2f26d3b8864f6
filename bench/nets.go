// Package bench measures full training steps — forward, backward and an
// SGD-momentum update — of LeNet and an MLP built from stock Gorgonia ops
// and from the fused ops of host/ops, and compares them with PyTorch
// (torch_lenet.py). The go test benchmarks measure one configuration each;
// cmd/speedbench runs everything with repeats and writes a report.
package bench

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/lrsgd-lab/lrsgd/host/ops"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Net is a classifier graph with its tape machine, inputs and momentum
// buffers: one training step per Step call.
type Net struct {
	// Name says which model and ops: "lenet/fast", "mlp/stock", ….
	Name string
	// Batch is the batch size the graph was built for.
	Batch int
	// FLOPs counts the floating-point operations of one step's matrix
	// products and convolutions (forward, weight gradients, and input
	// gradients where the graph needs them; not the element-wise work).
	FLOPs float64

	g        *gorgonia.ExprGraph
	x, t     *gorgonia.Node
	loss     *gorgonia.Node
	params   []*gorgonia.Node
	velocity [][]float32
	vm       gorgonia.VM
}

// PeakGFLOPS is the fp32 peak of the machine the benchmarks were written
// on (2-core AMD EPYC Zen 3): 2 cores × 2 FMA pipes × 8 lanes × 2 FLOP ×
// 2.445 GHz. An OpenBLAS SGEMM of 256×256×256 reaches about 140 there.
const PeakGFLOPS = 156.5

// Classes is the number of classes of the benchmark models.
const Classes = 10

type builder struct {
	g      *gorgonia.ExprGraph
	r      *rand.Rand
	params []*gorgonia.Node
	flops  float64
	batch  int
	err    error
}

// param adds a learnable tensor initialised U(−1/√fanIn, 1/√fanIn), as
// PyTorch initialises Linear and Conv2d.
func (b *builder) param(name string, fanIn int, shape ...int) *gorgonia.Node {
	n := 1
	for _, d := range shape {
		n *= d
	}
	data := make([]float32, n)
	bound := 1 / math.Sqrt(float64(fanIn))
	for i := range data {
		data[i] = float32((2*b.r.Float64() - 1) * bound)
	}
	v := tensor.New(tensor.WithShape(shape...), tensor.WithBacking(data))
	p := gorgonia.NewTensor(b.g, tensor.Float32, len(shape), gorgonia.WithShape(shape...), gorgonia.WithName(name), gorgonia.WithValue(v))
	b.params = append(b.params, p)
	return p
}

func (b *builder) do(f func() (*gorgonia.Node, error)) *gorgonia.Node {
	if b.err != nil {
		return nil
	}
	n, err := f()
	if err != nil {
		b.err = err
	}
	return n
}

// conv adds conv(k×k, stride 1, no padding) + bias + ReLU + 2×2 max-pool.
func (b *builder) conv(x *gorgonia.Node, name string, in, out, k int, fast, first bool) *gorgonia.Node {
	if b.err != nil {
		return nil
	}
	w := b.param(name+".w", in*k*k, out, in, k, k)
	bias := b.param(name+".b", in*k*k, out)
	s := x.Shape()
	ho, wo := s[2]-k+1, s[3]-k+1
	f := 2 * float64(b.batch*out*ho*wo*in*k*k)
	b.flops += 2 * f // forward and filter gradient
	if !first {
		b.flops += f // input gradient
	}
	if fast {
		return b.do(func() (*gorgonia.Node, error) { return ops.Conv2D(x, w, bias, 0, true, true) })
	}
	y := b.do(func() (*gorgonia.Node, error) {
		return gorgonia.Conv2d(x, w, tensor.Shape{k, k}, []int{0, 0}, []int{1, 1}, []int{1, 1})
	})
	b4 := b.do(func() (*gorgonia.Node, error) { return gorgonia.Reshape(bias, tensor.Shape{1, out, 1, 1}) })
	y = b.do(func() (*gorgonia.Node, error) { return gorgonia.BroadcastAdd(y, b4, nil, []byte{0, 2, 3}) })
	y = b.do(func() (*gorgonia.Node, error) { return gorgonia.Rectify(y) })
	return b.do(func() (*gorgonia.Node, error) {
		return gorgonia.MaxPool2D(y, tensor.Shape{2, 2}, []int{0, 0}, []int{2, 2})
	})
}

// dense adds x·w + b, with ReLU when relu is set.
func (b *builder) dense(x *gorgonia.Node, name string, in, out int, relu, fast, first bool) *gorgonia.Node {
	if b.err != nil {
		return nil
	}
	w := b.param(name+".w", in, in, out)
	bias := b.param(name+".b", in, out)
	f := 2 * float64(b.batch*in*out)
	b.flops += 2 * f
	if !first {
		b.flops += f
	}
	if fast {
		return b.do(func() (*gorgonia.Node, error) { return ops.Dense(x, w, bias, relu) })
	}
	y := b.do(func() (*gorgonia.Node, error) { return gorgonia.Mul(x, w) })
	y = b.do(func() (*gorgonia.Node, error) { return gorgonia.BroadcastAdd(y, bias, nil, []byte{0}) })
	if relu {
		y = b.do(func() (*gorgonia.Node, error) { return gorgonia.Rectify(y) })
	}
	return y
}

// loss adds the mean softmax cross-entropy.
func (b *builder) loss(z, t *gorgonia.Node, fast bool) *gorgonia.Node {
	if fast {
		return b.do(func() (*gorgonia.Node, error) { return ops.SoftmaxCrossEntropy(z, t) })
	}
	sm := b.do(func() (*gorgonia.Node, error) { return gorgonia.SoftMax(z) })
	lg := b.do(func() (*gorgonia.Node, error) { return gorgonia.Log(sm) })
	p := b.do(func() (*gorgonia.Node, error) { return gorgonia.HadamardProd(t, lg) })
	s := b.do(func() (*gorgonia.Node, error) { return gorgonia.Sum(p, 1) })
	m := b.do(func() (*gorgonia.Node, error) { return gorgonia.Mean(s) })
	return b.do(func() (*gorgonia.Node, error) { return gorgonia.Neg(m) })
}

func opsName(fast bool) string {
	if fast {
		return "fast"
	}
	return "stock"
}

// NewLeNet builds the paper's LeNet for 3×32×32 inputs: conv 3→6 5×5, ReLU,
// max-pool 2, conv 6→16 5×5, ReLU, max-pool 2, dense 400→120→84→10 with
// ReLU between — from host/ops when fast is set, else from Gorgonia's ops.
// Weights are drawn from seed; the inputs start at zero (see SetBatch).
func NewLeNet(batch int, fast bool, seed uint64) (*Net, error) {
	return newNet("lenet/"+opsName(fast), batch, []int{batch, 3, 32, 32}, seed, func(b *builder, x *gorgonia.Node) *gorgonia.Node {
		h := b.conv(x, "conv1", 3, 6, 5, fast, true)
		h = b.conv(h, "conv2", 6, 16, 5, fast, false)
		h = b.do(func() (*gorgonia.Node, error) { return gorgonia.Reshape(h, tensor.Shape{batch, 400}) })
		h = b.dense(h, "fc1", 400, 120, true, fast, false)
		h = b.dense(h, "fc2", 120, 84, true, fast, false)
		return b.dense(h, "fc3", 84, Classes, false, fast, false)
	}, fast)
}

// NewMLP builds the trainer's MLP for 3×32×32 inputs: dense 3072→512→256→10
// with ReLU between.
func NewMLP(batch int, fast bool, seed uint64) (*Net, error) {
	return newNet("mlp/"+opsName(fast), batch, []int{batch, 3 * 32 * 32}, seed, func(b *builder, x *gorgonia.Node) *gorgonia.Node {
		h := b.dense(x, "fc1", 3072, 512, true, fast, true)
		h = b.dense(h, "fc2", 512, 256, true, fast, false)
		return b.dense(h, "fc3", 256, Classes, false, fast, false)
	}, fast)
}

func newNet(name string, batch int, inShape []int, seed uint64, body func(*builder, *gorgonia.Node) *gorgonia.Node, fast bool) (*Net, error) {
	if batch < 1 {
		return nil, fmt.Errorf("bench: %s batch %d, want ≥ 1", name, batch)
	}
	g := gorgonia.NewGraph()
	b := &builder{g: g, r: rand.New(rand.NewPCG(seed, 0x5eed)), batch: batch}
	n := 1
	for _, d := range inShape {
		n *= d
	}
	x := gorgonia.NewTensor(g, tensor.Float32, len(inShape), gorgonia.WithShape(inShape...), gorgonia.WithName("x"),
		gorgonia.WithValue(tensor.New(tensor.WithShape(inShape...), tensor.WithBacking(make([]float32, n)))))
	t := gorgonia.NewMatrix(g, tensor.Float32, gorgonia.WithShape(batch, Classes), gorgonia.WithName("t"),
		gorgonia.WithValue(tensor.New(tensor.WithShape(batch, Classes), tensor.WithBacking(make([]float32, batch*Classes)))))
	z := body(b, x)
	loss := b.loss(z, t, fast)
	if b.err != nil {
		return nil, fmt.Errorf("bench: build %s: %w", name, b.err)
	}
	if _, err := gorgonia.Grad(loss, b.params...); err != nil {
		return nil, fmt.Errorf("bench: gradients of %s: %w", name, err)
	}
	net := &Net{Name: name, Batch: batch, FLOPs: b.flops, g: g, x: x, t: t, loss: loss, params: b.params}
	for _, p := range b.params {
		net.velocity = append(net.velocity, make([]float32, p.Shape().TotalSize()))
	}
	net.vm = gorgonia.NewTapeMachine(g, gorgonia.BindDualValues(b.params...))
	return net, nil
}

// InputSize is the number of floats SetBatch expects for the inputs.
func (n *Net) InputSize() int { return n.x.Shape().TotalSize() }

// SetBatch copies a batch of inputs and labels (class indices) into the
// graph's input tensors.
func (n *Net) SetBatch(x []float32, labels []int) error {
	xd := n.x.Value().Data().([]float32)
	if len(x) != len(xd) || len(labels) != n.Batch {
		return fmt.Errorf("bench: %s batch of %d inputs and %d labels, want %d and %d", n.Name, len(x), len(labels), len(xd), n.Batch)
	}
	copy(xd, x)
	td := n.t.Value().Data().([]float32)
	clear(td)
	for i, l := range labels {
		if l < 0 || l >= Classes {
			return fmt.Errorf("bench: label %d of sample %d, want 0..%d", l, i, Classes-1)
		}
		td[i*Classes+l] = 1
	}
	return nil
}

// SyntheticBatch fills a deterministic batch: each input is N(0,1) noise
// plus half a fixed ±1 pattern of its class, so a net can learn the task;
// labels cycle through the classes with a random offset.
func SyntheticBatch(r *rand.Rand, size, batch int) ([]float32, []int) {
	x := make([]float32, size)
	labels := make([]int, batch)
	per := size / batch
	for i := range labels {
		labels[i] = (i + r.IntN(Classes)) % Classes
		for j := 0; j < per; j++ {
			h := uint32(j)*2654435761 ^ uint32(labels[i]+1)*40503
			sign := float32(int(h>>13&1)*2 - 1)
			x[i*per+j] = float32(r.NormFloat64()) + 0.5*sign
		}
	}
	return x, labels
}

// Step runs forward and backward and applies SGD with momentum:
// v ← μ·v + g, w ← w − lr·v (PyTorch's form, dampening 0), then zeroes the
// gradients. It returns the loss before the update.
func (n *Net) Step(lr, momentum float32) (float32, error) {
	if err := n.vm.RunAll(); err != nil {
		return 0, fmt.Errorf("bench: %s step: %w", n.Name, err)
	}
	var loss float32
	switch v := n.loss.Value().(type) {
	case *gorgonia.F32:
		loss = float32(*v)
	case tensor.Tensor:
		loss = v.Data().(float32)
	}
	for i, p := range n.params {
		gv, err := p.Grad()
		if err != nil {
			return 0, fmt.Errorf("bench: %s gradient of %s: %w", n.Name, p.Name(), err)
		}
		g := gv.Data().([]float32)
		w := p.Value().Data().([]float32)
		v := n.velocity[i]
		for j, gj := range g {
			vj := momentum*v[j] + gj
			v[j] = vj
			w[j] -= lr * vj
			g[j] = 0
		}
	}
	n.vm.Reset()
	return loss, nil
}

// Close releases the tape machine.
func (n *Net) Close() error { return n.vm.Close() }
