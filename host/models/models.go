// Package models defines the networks the trainer runs — LeNet, an MLP,
// VGG16 with batch normalisation and the CIFAR variant of ResNet18 — as
// Gorgonia graphs whose parameters live in one flat []float32.
//
// A [Model] is an architecture bound to an input shape. Its [Model.Layout]
// lists every parameter tensor with its name, shape and offset into the
// flat vector, in a fixed order (the order of PyTorch's state_dict for the
// reference networks), so the whole parameter vector is one slice that an
// optimizer's Buffers.Params can back. [Model.NewNet] builds a graph for a
// fixed batch size whose parameter tensors are views of that slice: the
// optimizer's in-place update is what the next forward pass sees, with no
// copy.
//
// Layout conventions (shared with host/ops): convolution weights are
// (out, in, kh, kw) and their biases (out); dense weights are (in, out)
// — the transpose of PyTorch's Linear.weight — and their biases (out);
// batch-norm weight and bias are (C). Batch-norm running statistics are
// not parameters: they live in a second flat vector, the model's stats
// (see [Model.StatsLayout]).
package models

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/lrsgd-lab/lrsgd/internal/splitmix"
)

// Input describes the images a model takes and the number of classes.
type Input struct {
	C, H, W int // channels, height, width
	Classes int
}

// Size is the number of values in one image.
func (in Input) Size() int { return in.C * in.H * in.W }

func (in Input) String() string {
	return fmt.Sprintf("%d×%d×%d, %d classes", in.C, in.H, in.W, in.Classes)
}

// InitKind says how [Model.Init] fills a tensor.
type InitKind int

// Initialisations, as PyTorch's defaults.
const (
	// InitUniform draws from U(−1/√FanIn, 1/√FanIn): PyTorch's
	// kaiming_uniform_(a=√5) for conv and linear weights and its default
	// bias initialisation.
	InitUniform InitKind = iota
	// InitOnes fills with 1 (batch-norm weight, running variance).
	InitOnes
	// InitZeros fills with 0 (batch-norm bias, running mean).
	InitZeros
)

// Tensor is one tensor of a flat layout.
type Tensor struct {
	Name   string   // e.g. "conv1.weight"
	Shape  []int    // e.g. [6 3 5 5]
	Offset int      // index of the first element in the flat vector
	Size   int      // product of Shape
	Init   InitKind // how Init fills it
	FanIn  int      // fan-in used by InitUniform
}

// Options select how a model's graph is built.
type Options struct {
	// Fast builds the models with the operators of host/ops: LeNet's
	// fused convolution+bias+ReLU+max-pool, dense+bias+ReLU and softmax
	// cross-entropy everywhere; for VGG16 and ResNet18 also the im2col +
	// SGEMM convolution, batch norm fused with the residual sum and ReLU,
	// max-pool, global average pool and dropout. Without it every model
	// uses Gorgonia's own operators and this package's batch norm (the
	// independent implementation the tests compare with).
	Fast bool
}

// Model is an architecture bound to an input shape.
type Model struct {
	name   string
	input  Input
	opts   Options
	def    func(*builder, value) value
	params []Tensor
	stats  []Tensor
	layers []Layer
	nParam int
	nStats int
}

// Layer is one convolution or dense layer of a model, with the cost of
// its forward pass.
type Layer struct {
	// Name is the prefix of the layer's parameters: "conv1" for
	// conv1.weight and conv1.bias.
	Name string
	// MACs counts the multiply-accumulates of the layer's convolution or
	// matrix product for one image; bias, activation, batch norm and
	// pooling are not counted.
	MACs int
}

var archs = map[string]func(*builder, value) value{
	"lenet":    lenet,
	"mlp":      mlp,
	"vgg16":    vgg16,
	"resnet18": resnet18,
}

// Names lists the model names New accepts, sorted.
func Names() []string {
	names := make([]string, 0, len(archs))
	for n := range archs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// New returns the named model ("lenet", "mlp", "vgg16" or "resnet18") for
// the given input. LeNet adapts its first dense layer to the input (400
// inputs on 3×32×32, 256 on 1×28×28); VGG16 and ResNet18 need 32×32 images.
func New(name string, in Input, opts Options) (*Model, error) {
	def, ok := archs[name]
	if !ok {
		return nil, fmt.Errorf("model %q: unknown, expected one of %s", name, strings.Join(Names(), ", "))
	}
	if in.C <= 0 || in.H <= 0 || in.W <= 0 || in.Classes < 2 {
		return nil, fmt.Errorf("model %s: bad input %s: need positive C, H, W and at least 2 classes", name, in)
	}
	m := &Model{name: name, input: in, opts: opts, def: def}
	b := &builder{m: m, layout: true}
	b.run()
	if b.err != nil {
		return nil, fmt.Errorf("model %s on %s: %w", name, in, b.err)
	}
	return m, nil
}

// Name is the model's name as given to New.
func (m *Model) Name() string { return m.name }

// Input is the input the model was built for.
func (m *Model) Input() Input { return m.input }

// FastOps reports whether the model's graphs use host/ops' operators:
// Options.Fast (every model has a fast path).
func (m *Model) FastOps() bool { return m.opts.Fast }

// Options are the options the model was built with.
func (m *Model) Options() Options { return m.opts }

// NumParams is the length of the flat parameter vector.
func (m *Model) NumParams() int { return m.nParam }

// NumStats is the length of the flat batch-norm statistics vector (0 for
// models without batch normalisation).
func (m *Model) NumStats() int { return m.nStats }

// Layout lists the parameter tensors in order of their offsets. The
// caller must not modify the result.
func (m *Model) Layout() []Tensor { return m.params }

// Layers lists the model's convolution and dense layers in the order
// the forward pass runs them; the first one reads the input images. A
// training step costs about three times a layer's MACs per image
// (forward, weight gradient and input gradient), except for the first
// layer, which needs no input gradient. The caller must not modify the
// result.
func (m *Model) Layers() []Layer { return m.layers }

// StatsLayout lists the batch-norm running statistics ("….running_mean",
// "….running_var", each of shape (C)) in order of their offsets.
func (m *Model) StatsLayout() []Tensor { return m.stats }

// Init writes the reference initialisation into params (NumParams long)
// and stats (NumStats long): PyTorch's defaults, deterministic in seed.
// Each tensor draws from its own stream keyed by seed and its index, so
// adding a layer does not change the others' values.
func (m *Model) Init(params, stats []float32, seed uint64) error {
	if len(params) != m.nParam {
		return fmt.Errorf("init %s: params has %d values, want %d", m.name, len(params), m.nParam)
	}
	if len(stats) != m.nStats {
		return fmt.Errorf("init %s: stats has %d values, want %d", m.name, len(stats), m.nStats)
	}
	fill := func(dst []float32, t Tensor, key uint64) {
		switch t.Init {
		case InitOnes:
			for i := range dst {
				dst[i] = 1
			}
		case InitZeros:
			clear(dst)
		case InitUniform:
			bound := 1 / math.Sqrt(float64(t.FanIn))
			r := newRNG(mix(seed, key))
			for i := range dst {
				dst[i] = float32((2*r.Float64() - 1) * bound)
			}
		}
	}
	for i, t := range m.params {
		fill(params[t.Offset:t.Offset+t.Size], t, uint64(i))
	}
	for _, t := range m.stats {
		fill(stats[t.Offset:t.Offset+t.Size], t, 0)
	}
	return nil
}

// String describes the model: name, input and parameter count.
func (m *Model) String() string {
	return fmt.Sprintf("%s (%s, %d parameters)", m.name, m.input, m.nParam)
}

// mix keys the initialisation and dropout draws: splitmix.Key on the seed
// with this package's salt, so that models and data never share a stream.
func mix(seed uint64, coords ...uint64) uint64 {
	return splitmix.Key(seed^0x6c72736764, coords...)
}

// rng is the package's generator (SplitMix64).
type rng = splitmix.Rand

func newRNG(seed uint64) rng { return splitmix.New(seed) }
