package models

import (
	"fmt"
	"math"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/lrsgd-lab/lrsgd/host/ops"
)

// Mode says what a Net is for.
type Mode int

// Net modes.
const (
	// Train builds the loss and its gradient; batch norm uses batch
	// statistics and updates its running statistics; dropout is on.
	Train Mode = iota
	// Eval builds the forward pass only; batch norm uses its running
	// statistics; dropout is off.
	Eval
)

func (m Mode) String() string {
	if m == Train {
		return "train"
	}
	return "eval"
}

// Net is a model's graph for one batch size, its parameters viewing a
// flat vector. A Net is not safe for concurrent use.
type Net struct {
	m     *Model
	mode  Mode
	batch int
	fast  bool

	g      *G.ExprGraph
	vm     G.VM
	x      []float32
	onehot []float32
	logits *G.Node
	loss   *G.Node
	nodes  []*G.Node
	masks  []dropMask
	seed   uint64
}

// NewNet builds the model's graph for batch images at a time. The graph's
// parameter tensors are views of params (NumParams long): writes to
// params are what the next pass computes with. Batch norm reads its
// running statistics from stats (NumStats long, laid out as StatsLayout)
// and, in a Train net, updates them there in place; a Train and an Eval
// net given the same stats share them with no copy. seed keys the
// dropout masks (used by VGG16 in Train mode).
func (m *Model) NewNet(params, stats []float32, batch int, mode Mode, seed uint64) (*Net, error) {
	if len(params) != m.nParam {
		return nil, fmt.Errorf("net %s: params has %d values, want %d", m.name, len(params), m.nParam)
	}
	if len(stats) != m.nStats {
		return nil, fmt.Errorf("net %s: stats has %d values, want %d", m.name, len(stats), m.nStats)
	}
	if batch < 1 {
		return nil, fmt.Errorf("net %s: batch size %d, want at least 1", m.name, batch)
	}
	g := G.NewGraph()
	b := &builder{m: m, g: g, batch: batch, train: mode == Train, params: params, stats: stats, fast: m.FastOps()}
	logits := b.run()
	if b.err != nil {
		return nil, fmt.Errorf("net %s (%s, batch %d): %w", m.name, mode, batch, b.err)
	}
	n := &Net{m: m, mode: mode, batch: batch, fast: b.fast, g: g, logits: logits.n,
		nodes: b.nodes, masks: b.masks, seed: seed}
	xv := g.ByName("x")
	if len(xv) != 1 {
		return nil, fmt.Errorf("net %s: input node not found", m.name)
	}
	n.x = xv[0].Value().Data().([]float32)
	if mode == Eval {
		n.vm = G.NewTapeMachine(g)
		return n, nil
	}
	k := m.input.Classes
	n.onehot = make([]float32, batch*k)
	oh := G.NewTensor(g, G.Float32, 2, G.WithShape(batch, k), G.WithName("onehot"),
		G.WithValue(tensor.New(tensor.WithShape(batch, k), tensor.WithBacking(n.onehot))))
	loss, err := b.crossEntropy(logits.n, oh)
	if err != nil {
		return nil, fmt.Errorf("net %s loss: %w", m.name, err)
	}
	n.loss = loss
	if _, err := G.Grad(loss, n.nodes...); err != nil {
		return nil, fmt.Errorf("net %s gradient: %w", m.name, err)
	}
	n.vm = G.NewTapeMachine(g, G.BindDualValues(n.nodes...))
	return n, nil
}

// crossEntropy is the mean over the batch of −log softmax(logits)[label].
func (b *builder) crossEntropy(logits, onehot *G.Node) (*G.Node, error) {
	if b.fast {
		return ops.SoftmaxCrossEntropy(logits, onehot)
	}
	ls, err := G.LogSoftMax(logits, 1)
	if err != nil {
		return nil, err
	}
	picked, err := G.HadamardProd(onehot, ls)
	if err != nil {
		return nil, err
	}
	perSample, err := G.Sum(picked, 1)
	if err != nil {
		return nil, err
	}
	mean, err := G.Mean(perSample)
	if err != nil {
		return nil, err
	}
	return G.Neg(mean)
}

// Batch is the number of images per pass.
func (n *Net) Batch() int { return n.batch }

// Mode is the mode the net was built in.
func (n *Net) Mode() Mode { return n.mode }

// FastOps reports whether the graph uses host/ops' fused operators.
func (n *Net) FastOps() bool { return n.fast }

// Input is the (batch, C, H, W) input buffer, row-major: write the next
// batch here before a pass.
func (n *Net) Input() []float32 { return n.x }

// Logits are the (batch, classes) outputs of the last pass; they are
// valid until the next pass.
func (n *Net) Logits() []float32 {
	return n.logits.Value().Data().([]float32)
}

// TrainStep runs forward and backward on the batch in Input with the
// given labels (batch of them, each in [0, classes)), writes the mean
// cross-entropy's gradient into grads (NumParams long) and returns the
// loss. key selects the dropout masks (pass the global step, so a resumed
// run draws the same masks). In a model with batch norm it also updates
// the running statistics in the stats vector.
func (n *Net) TrainStep(labels []int, key uint64, grads []float32) (float64, error) {
	if n.mode != Train {
		return 0, fmt.Errorf("train step on an %s net", n.mode)
	}
	if len(labels) != n.batch {
		return 0, fmt.Errorf("train step: %d labels for batch %d", len(labels), n.batch)
	}
	if len(grads) != n.m.nParam {
		return 0, fmt.Errorf("train step: grads has %d values, want %d", len(grads), n.m.nParam)
	}
	k := n.m.input.Classes
	clear(n.onehot)
	for i, y := range labels {
		if y < 0 || y >= k {
			return 0, fmt.Errorf("train step: label %d of sample %d is outside [0, %d)", y, i, k)
		}
		n.onehot[i*k+y] = 1
	}
	for i, mk := range n.masks {
		r := newRNG(mix(n.seed, key, uint64(i)))
		keep := float32(1 / (1 - mk.p))
		thresh := uint64(mk.p * (1 << 53))
		for j := range mk.data {
			if r.Uint64()>>11 < thresh {
				mk.data[j] = 0
			} else {
				mk.data[j] = keep
			}
		}
	}
	defer n.vm.Reset()
	if err := n.vm.RunAll(); err != nil {
		return 0, fmt.Errorf("train step %s: %w", n.m.name, err)
	}
	loss := scalar(n.loss.Value())
	for i, node := range n.nodes {
		gv, err := node.Grad()
		if err != nil {
			return 0, fmt.Errorf("train step %s: gradient of %s: %w", n.m.name, n.m.params[i].Name, err)
		}
		// Gorgonia accumulates into the dual values across runs; copy the
		// gradient out and zero it for the next step.
		gd := gv.Data().([]float32)
		t := n.m.params[i]
		copy(grads[t.Offset:t.Offset+t.Size], gd)
		clear(gd)
	}
	return loss, nil
}

// Forward runs the forward pass on the batch in Input; read the result
// with Logits. On a Train net it also updates batch-norm running
// statistics and uses batch statistics, so evaluate with an Eval net.
func (n *Net) Forward() error {
	defer n.vm.Reset()
	if err := n.vm.RunAll(); err != nil {
		return fmt.Errorf("forward %s: %w", n.m.name, err)
	}
	return nil
}

// Evaluate runs the forward pass on the batch in Input and scores its
// first count rows against labels: it writes each row's cross-entropy
// (computed in float64 from the logits) into losses[:count] and returns
// how many rows the model classifies correctly (ties go to the lower
// class). Rows past count are computed and ignored, so a short final batch
// can be padded with anything.
func (n *Net) Evaluate(labels []int, count int, losses []float64) (correct int, err error) {
	if count < 0 || count > n.batch || len(labels) < count || len(losses) < count {
		return 0, fmt.Errorf("evaluate: count %d with batch %d, %d labels, %d loss slots", count, n.batch, len(labels), len(losses))
	}
	if err := n.Forward(); err != nil {
		return 0, err
	}
	k := n.m.input.Classes
	logits := n.Logits()
	for i := 0; i < count; i++ {
		row := logits[i*k : (i+1)*k]
		y := labels[i]
		if y < 0 || y >= k {
			return 0, fmt.Errorf("evaluate: label %d of row %d is outside [0, %d)", y, i, k)
		}
		losses[i], correct = CrossEntropy(row, y), correct+b2i(argmax(row) == y)
	}
	return correct, nil
}

// CrossEntropy is −log softmax(logits)[label], computed in float64.
func CrossEntropy(logits []float32, label int) float64 {
	mx := math.Inf(-1)
	for _, v := range logits {
		mx = math.Max(mx, float64(v))
	}
	var s float64
	for _, v := range logits {
		s += math.Exp(float64(v) - mx)
	}
	return mx + math.Log(s) - float64(logits[label])
}

func argmax(v []float32) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func scalar(v G.Value) float64 {
	switch s := v.(type) {
	case *G.F32:
		return float64(*s)
	case *G.F64:
		return float64(*s)
	case tensor.Tensor:
		switch d := s.Data().(type) {
		case float32:
			return float64(d)
		case []float32:
			return float64(d[0])
		}
	}
	return math.NaN()
}

// Close releases the graph's machine.
func (n *Net) Close() error {
	if n.vm != nil {
		return n.vm.Close()
	}
	return nil
}
