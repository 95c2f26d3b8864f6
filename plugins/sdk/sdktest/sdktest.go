// Package sdktest provides a small, self-contained optimizer for testing
// plugin transport: heavy-ball momentum as the inner solver of a proximal
// outer loop whose length M_t is drawn from a geometric distribution. It
// has vector state (momentum, anchor), non-vector state (counters and a
// random-number generator) and hyperparameters of every type, so it
// exercises every part of the protocol. It is not one of the lab's
// optimizers (those live in package blocks).
//
// It also holds what tests of optimizers across processes share: test
// gradients (Grad, QuadGrad), bit-for-bit comparison of vectors
// (SameBits), and checkpoints taken from one optimizer and resumed in
// another (Checkpoint).
package sdktest

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"

	"github.com/lrsgd-lab/lrsgd/plugins/optimizer"
)

// Toy is the test optimizer. It implements optimizer.Binder.
type Toy struct {
	mom, lambda, wd float32
	gamma           float64
	nesterov        bool
	buf             optimizer.Buffers
	rng             *rand.PCG
	t               int64 // outer index of the current outer step
	k, m            int   // inner index of the last step and M_t
	maxM            int
}

// New returns a Toy optimizer.
func New() *Toy { return &Toy{} }

// Describe implements optimizer.Optimizer.
func (o *Toy) Describe(context.Context) (optimizer.Description, error) {
	return optimizer.Description{
		Name:         "toy",
		Version:      "1.0.0",
		Doc:          "test optimizer: momentum inside a proximal loop with geometric M_t",
		StateVectors: 2,
		Hyperparams: []optimizer.HyperparamSpec{
			{Name: "momentum", Type: optimizer.Float, Default: "0.9", Min: 0, Max: 1, Doc: "heavy-ball momentum"},
			{Name: "gamma", Type: optimizer.Float, Default: "0.5", Min: 0.01, Max: 1, Doc: "M_t ~ Geometric(gamma)"},
			{Name: "lambda", Type: optimizer.Float, Default: "0.5", Min: 0, Max: math.Inf(1), Doc: "proximal weight"},
			{Name: "wd", Type: optimizer.Float, Default: "0", Min: 0, Max: 1, Doc: "coupled weight decay"},
			{Name: "max-m", Type: optimizer.Int, Default: "50", Min: 1, Max: 1000, Doc: "clamp on M_t"},
			{Name: "nesterov", Type: optimizer.Bool, Default: "false", Doc: "Nesterov momentum"},
			{Name: "draw", Type: optimizer.Enum, Default: "geometric", Choices: []string{"geometric", "one"}, Doc: "M_t policy"},
		},
	}, nil
}

// Init implements optimizer.Optimizer.
func (o *Toy) Init(ctx context.Context, cfg optimizer.InitConfig) (optimizer.Buffers, error) {
	n := cfg.NumParams
	b := optimizer.Buffers{Params: make([]float32, n), Grads: make([]float32, n), State: make([]float32, 2*n)}
	if err := o.InitBuffers(ctx, cfg, b); err != nil {
		return optimizer.Buffers{}, err
	}
	return b, nil
}

// InitBuffers implements optimizer.Binder.
func (o *Toy) InitBuffers(_ context.Context, cfg optimizer.InitConfig, b optimizer.Buffers) error {
	n := cfg.NumParams
	if n < 0 || len(b.Params) != n || len(b.Grads) != n || len(b.State) != 2*n {
		return fmt.Errorf("toy: buffers of %d/%d/%d floats for %d parameters", len(b.Params), len(b.Grads), len(b.State), n)
	}
	get := func(name, def string) string {
		if v, ok := cfg.Hyperparams[name]; ok {
			return v
		}
		return def
	}
	f := func(name, def string) float64 { x, _ := strconv.ParseFloat(get(name, def), 64); return x }
	o.mom, o.gamma, o.lambda, o.wd = float32(f("momentum", "0.9")), f("gamma", "0.5"), float32(f("lambda", "0.5")), float32(f("wd", "0"))
	o.nesterov = get("nesterov", "false") == "true"
	o.maxM = int(f("max-m", "50"))
	if get("draw", "geometric") == "one" {
		o.gamma = 1
	}
	o.buf = b
	o.rng = rand.NewPCG(cfg.Seed, 0x70790001)
	o.t, o.k, o.m = 0, 0, 0
	return nil
}

// Step implements optimizer.Optimizer.
func (o *Toy) Step(_ context.Context, req optimizer.StepRequest) (optimizer.StepResult, error) {
	if o.rng == nil {
		return optimizer.StepResult{}, errors.New("toy: Step before Init")
	}
	n := len(o.buf.Params)
	w, g := o.buf.Params, o.buf.Grads
	mom, anchor := o.buf.State[:n], o.buf.State[n:]
	if o.k == o.m { // start a new outer step
		o.t++
		o.k = 0
		o.m = min(geometric(rand.New(o.rng), o.gamma), o.maxM)
		copy(anchor, w)
	}
	o.k++
	lr := float32(req.LR)
	for i := range w {
		d := g[i] + o.lambda*(w[i]-anchor[i]) + o.wd*w[i]
		mom[i] = o.mom*mom[i] + d
		if o.nesterov {
			d += o.mom * mom[i]
		} else {
			d = mom[i]
		}
		w[i] -= lr * d
	}
	return optimizer.StepResult{OuterEnded: o.k == o.m, Inner: o.k, Outer: o.t, M: o.m}, nil
}

// geometric draws from Geometric(p) on {1, 2, ...} by inversion.
func geometric(r *rand.Rand, p float64) int {
	if p >= 1 {
		return 1
	}
	u := 1 - r.Float64() // (0, 1]
	return 1 + int(math.Floor(math.Log(u)/math.Log1p(-p)))
}

// Save implements optimizer.Optimizer.
func (o *Toy) Save(context.Context) ([]byte, error) {
	if o.rng == nil {
		return nil, errors.New("toy: Save before Init")
	}
	r, err := o.rng.MarshalBinary()
	if err != nil {
		return nil, err
	}
	blob := binary.LittleEndian.AppendUint64(nil, uint64(o.t))
	blob = binary.LittleEndian.AppendUint64(blob, uint64(o.k))
	blob = binary.LittleEndian.AppendUint64(blob, uint64(o.m))
	return append(blob, r...), nil
}

// Restore implements optimizer.Optimizer.
func (o *Toy) Restore(_ context.Context, blob []byte) error {
	if o.rng == nil {
		return errors.New("toy: Restore before Init")
	}
	if len(blob) < 24 {
		return fmt.Errorf("toy: state blob of %d bytes, want at least 24", len(blob))
	}
	if err := o.rng.UnmarshalBinary(blob[24:]); err != nil {
		return fmt.Errorf("toy: restore random state: %w", err)
	}
	o.t = int64(binary.LittleEndian.Uint64(blob))
	o.k = int(binary.LittleEndian.Uint64(blob[8:]))
	o.m = int(binary.LittleEndian.Uint64(blob[16:]))
	return nil
}

// Close implements optimizer.Optimizer.
func (o *Toy) Close() error {
	o.buf = optimizer.Buffers{}
	o.rng = nil
	return nil
}

// Unbound hides Toy's InitBuffers, so that the plugin server must use its
// copy-in/copy-out path.
type Unbound struct{ optimizer.Optimizer }

// Grad fills g with a deterministic pseudo-gradient of step s at w: a
// fixed quadratic pull towards a moving target plus seeded noise. Tests
// and benchmarks feed the same gradients to both sides of a comparison.
func Grad(g, w []float32, s int64) {
	r := rand.New(rand.NewPCG(uint64(s), 99))
	for i := range g {
		g[i] = 0.5*w[i] - float32(i%7)*0.01 + float32(r.NormFloat64())*0.1
	}
}
