// Package bench measures full training steps — forward, backward and an
// SGD-momentum update — of the trainer's models (host/models, so the
// graphs timed are the graphs host/train trains), built with the fused
// ops of host/ops and with stock Gorgonia ops, and compares them with
// PyTorch (torch_lenet.py). The go test benchmarks measure one
// configuration each; cmd/speedbench runs everything with repeats and
// writes a report.
package bench

import (
	"fmt"
	"math/rand/v2"

	"github.com/lrsgd-lab/lrsgd/host/models"
)

// PeakGFLOPS is the fp32 peak of the machine the benchmarks were written
// on (2-core AMD EPYC Zen 3): 2 cores × 2 FMA pipes × 8 lanes × 2 FLOP ×
// 2.445 GHz. An OpenBLAS SGEMM of 256×256×256 reaches about 140 there.
const PeakGFLOPS = 156.5

// Classes is the number of classes of the benchmark models.
const Classes = 10

// input is the benchmark's image shape, CIFAR-10's, as in torch_lenet.py.
var input = models.Input{C: 3, H: 32, W: 32, Classes: Classes}

// Net is one of the trainer's models built for a fixed batch, with its
// flat parameter vector, gradient and momentum buffer: one training step
// per Step call.
type Net struct {
	// Name says which model and ops: "lenet/fast", "mlp/stock", ….
	Name string
	// Batch is the batch size the graph was built for.
	Batch int
	// FLOPs counts the floating-point operations of one step's matrix
	// products and convolutions (forward, weight gradients, and input
	// gradients except the first layer's; not the element-wise work).
	FLOPs float64

	net                     *models.Net
	params, grads, velocity []float32
	labels                  []int
	steps                   uint64
}

// New builds the trainer's model name ("lenet", "mlp", or any of
// models.Names) for 3×32×32 images and 10 classes, as host/train builds
// it: with host/ops' fused operators when fast is set, else with
// Gorgonia's own (host/train's Config.StockOps). The parameters are
// initialised as the trainer initialises them from seed; the inputs start
// at zero (see SetBatch).
func New(name string, batch int, fast bool, seed uint64) (*Net, error) {
	m, err := models.New(name, input, models.Options{Fast: fast})
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	params := make([]float32, m.NumParams())
	stats := make([]float32, m.NumStats())
	if err := m.Init(params, stats, seed); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	net, err := m.NewNet(params, stats, batch, models.Train, seed)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	ops := "stock"
	if net.FastOps() {
		ops = "fast"
	}
	var flops float64
	for i, l := range m.Layers() {
		passes := 3.0 // forward, weight gradient, input gradient
		if i == 0 {
			passes = 2 // no gradient for the images
		}
		flops += passes * 2 * float64(l.MACs) * float64(batch)
	}
	return &Net{
		Name:     name + "/" + ops,
		Batch:    batch,
		FLOPs:    flops,
		net:      net,
		params:   params,
		grads:    make([]float32, len(params)),
		velocity: make([]float32, len(params)),
		labels:   make([]int, batch),
	}, nil
}

// InputSize is the number of floats SetBatch expects for the inputs.
func (n *Net) InputSize() int { return len(n.net.Input()) }

// SetBatch copies a batch of inputs (batch × 3×32×32, row-major) and
// labels (class indices) into the net.
func (n *Net) SetBatch(x []float32, labels []int) error {
	in := n.net.Input()
	if len(x) != len(in) || len(labels) != n.Batch {
		return fmt.Errorf("bench: %s batch of %d inputs and %d labels, want %d and %d", n.Name, len(x), len(labels), len(in), n.Batch)
	}
	for i, l := range labels {
		if l < 0 || l >= Classes {
			return fmt.Errorf("bench: label %d of sample %d, want 0..%d", l, i, Classes-1)
		}
	}
	copy(in, x)
	copy(n.labels, labels)
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

// Step runs the trainer's forward and backward pass (models.Net.TrainStep)
// and applies SGD with momentum: v ← μ·v + g, w ← w − lr·v (PyTorch's
// form, dampening 0). It returns the loss before the update.
func (n *Net) Step(lr, momentum float32) (float64, error) {
	loss, err := n.net.TrainStep(n.labels, n.steps, n.grads)
	if err != nil {
		return 0, fmt.Errorf("bench: %s: %w", n.Name, err)
	}
	n.steps++
	g := n.grads
	v, w := n.velocity[:len(g)], n.params[:len(g)]
	for i, gi := range g {
		vi := momentum*v[i] + gi
		v[i] = vi
		w[i] -= lr * vi
	}
	return loss, nil
}

// Close releases the graph's machine.
func (n *Net) Close() error { return n.net.Close() }
