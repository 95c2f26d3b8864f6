package blocks

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/lrsgd-lab/lrsgd/plugins/optimizer"
)

// M_t policies (values of the m_policy hyperparameter).
const (
	MGeometric = "geometric" // M_t ~ Geometric(γ) on {1, 2, ...}
	MConstant  = "constant"  // M_t = m
	MPsi       = "psi"       // M_t from Definition 4.8 (PsiM) with running G², σ² estimates
)

// PCGStream is the second seed word of the PCG generator behind the
// geometric M_t draws: the generator is rand.NewPCG(InitConfig.Seed,
// PCGStream) and each outer step consumes exactly one
// rand.New(pcg).Float64() (only under m_policy=geometric). A test or an
// independent implementation can reproduce the draws from this.
const PCGStream uint64 = 0x6c72736764 // "lrsgd"

// maxM caps M_t so that a tiny γ or a huge ψ-bound cannot overflow an int.
const maxM = 1 << 30

// Geometric maps u in [0, 1) to a draw from the geometric distribution
// on {1, 2, ...} with success probability gamma: P(M = K) =
// (1−γ)^(K−1)·γ, mean 1/γ. It is the inverse of the CDF
// F(K) = 1 − (1−γ)^K: the smallest K with F(K) ≥ u, i.e.
// K = ceil(ln(1−u)/ln(1−γ)), at least 1 and at most 2^30.
// For gamma >= 1 it returns 1.
func Geometric(u, gamma float64) int {
	if gamma >= 1 || u <= 0 {
		return 1
	}
	k := math.Ceil(math.Log1p(-u) / math.Log1p(-gamma))
	switch {
	case !(k >= 1): // also catches NaN
		return 1
	case k >= maxM:
		return maxM
	}
	return int(k)
}

// PsiM is the ψ-driven number of inner steps of the paper's Definition
// 4.8, M = ceil(4ℓ²(G²+σ²) / (ψ²(λ−δ))), clamped to [1, mMax]. It needs
// λ > δ and ψ > 0.
func PsiM(ell, g2, sigma2, psi, lambda, delta float64, mMax int) (int, error) {
	if !(lambda > delta) {
		return 0, fmt.Errorf("psi policy needs lambda > delta, have lambda=%g delta=%g", lambda, delta)
	}
	if !(psi > 0) {
		return 0, fmt.Errorf("psi policy needs psi > 0, have %g", psi)
	}
	m := math.Ceil(4 * ell * ell * (g2 + sigma2) / (psi * psi * (lambda - delta)))
	switch {
	case !(m >= 1):
		return 1, nil
	case m >= float64(mMax):
		return mMax, nil
	}
	return int(m), nil
}

// GammaFromTheta is the paper's choice γ = ln(1/(1−θ)) / ln(1/θ) that
// pairs the geometric M_t of LRSGD-R with the inner step size θ/λ_t.
func GammaFromTheta(theta float64) float64 {
	return math.Log(1/(1-theta)) / math.Log(1/theta)
}

// builtinMPolicies returns the registry of m_policy with this package's
// choices.
func builtinMPolicies() *registry[MPolicy] {
	r := newRegistry[MPolicy](paramM)
	r.add(MGeometric, func() MPolicy { return &geometricPolicy{} })
	r.add(MConstant, func() MPolicy { return &constantPolicy{} })
	r.add(MPsi, func() MPolicy { return &psiPolicy{} })
	return r
}

// geometricPolicy draws M_t ~ Geometric(γ) once per outer step from its
// own PCG generator, seeded with (InitConfig.Seed, PCGStream). Under the
// paper preset γ = GammaFromTheta(θ) unless gamma is given or set by the
// preset itself. Its state is the generator.
type geometricPolicy struct {
	gamma float64
	pcg   *rand.PCG
	rng   *rand.Rand
}

// Hyperparams implements MPolicy. The policy also reads preset and theta.
func (p *geometricPolicy) Hyperparams() []optimizer.HyperparamSpec { return loopSpecs("gamma") }

// Configure implements MPolicy.
func (p *geometricPolicy) Configure(v Values, info InitInfo) error {
	p.gamma = v.Float("gamma")
	if v.Enum("preset") == PresetPaper && v.Defaulted("gamma") {
		p.gamma = GammaFromTheta(v.Float("theta"))
	}
	p.pcg = rand.NewPCG(info.Seed, PCGStream)
	p.rng = rand.New(p.pcg)
	return nil
}

// M implements MPolicy: one draw of Float64 mapped through Geometric.
func (p *geometricPolicy) M(OuterInfo) (int, error) { return Geometric(p.rng.Float64(), p.gamma), nil }

// Save implements StatefulPolicy: the generator's MarshalBinary.
func (p *geometricPolicy) Save() ([]byte, error) {
	b, err := p.pcg.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("rng state: %w", err)
	}
	return b, nil
}

// Restore implements StatefulPolicy.
func (p *geometricPolicy) Restore(b []byte) error {
	var pcg rand.PCG
	if err := pcg.UnmarshalBinary(b); err != nil {
		return fmt.Errorf("rng state: %w", err)
	}
	*p.pcg = pcg
	return nil
}

// constantPolicy is M_t = m.
type constantPolicy struct{ m int }

// Hyperparams implements MPolicy.
func (p *constantPolicy) Hyperparams() []optimizer.HyperparamSpec { return loopSpecs("m") }

// Configure implements MPolicy.
func (p *constantPolicy) Configure(v Values, _ InitInfo) error {
	p.m = v.Int("m")
	return nil
}

// M implements MPolicy.
func (p *constantPolicy) M(OuterInfo) (int, error) { return p.m, nil }

// sketchMax bounds the coordinates of the mean-gradient sketch that the
// psi policy's σ² estimate uses.
const sketchMax = 1 << 16

// psiPolicy is the ψ-driven M_t of the paper's Definition 4.8 (PsiM),
// computed at k = 1 from running estimates of G² and σ² that it updates
// from the raw gradient of every inner step (see observe). Its state is
// the two estimates and the mean-gradient sketch: at most 65,536 float64
// values kept by the policy itself (not a state vector), so that
// Describe.StateVectors does not depend on m_policy.
type psiPolicy struct {
	mMax            int
	psi, ell, delta float64
	estDecay        float64
	n               int
	g2, s2          float64   // running estimates of G² and σ²
	sketch          []float64 // EMA of the gradient at every stride-th coordinate
	stride          int
	sketchInit      bool // the sketch holds a gradient
}

// Hyperparams implements MPolicy.
func (p *psiPolicy) Hyperparams() []optimizer.HyperparamSpec {
	return loopSpecs("m_max", "psi", "ell", "delta", "g2_init", "sigma2_init", "est_decay")
}

// Configure implements MPolicy.
func (p *psiPolicy) Configure(v Values, info InitInfo) error {
	p.mMax = v.Int("m_max")
	p.psi = v.Float("psi")
	p.ell = v.Float("ell")
	p.delta = v.Float("delta")
	p.estDecay = v.Float("est_decay")
	p.g2 = v.Float("g2_init")
	p.s2 = v.Float("sigma2_init")
	p.n = info.NumParams
	p.stride = (p.n + sketchMax - 1) / sketchMax
	p.sketch = make([]float64, (p.n+p.stride-1)/p.stride)
	p.sketchInit = false
	return nil
}

// CheckLambda implements LambdaChecker: M_t needs λ_t > δ.
func (p *psiPolicy) CheckLambda(lambda float64, what string) error {
	if !(lambda > p.delta) {
		return fmt.Errorf("m_policy=%s needs %s > delta, have %g <= %g", MPsi, what, lambda, p.delta)
	}
	return nil
}

// M implements MPolicy.
func (p *psiPolicy) M(o OuterInfo) (int, error) {
	return PsiM(p.ell, p.g2, p.s2, p.psi, o.Lambda, p.delta, p.mMax)
}

// Observe implements GradientObserver. It updates the running estimates
// of G² and σ² from the raw minibatch gradient g (see docs/blocks.md):
//
//	G² ← β·G² + (1−β)·‖g‖²
//	σ² ← β·σ² + (1−β)·(N/n)·Σ_j (g_{j·s} − ḡ_j)²
//	ḡ_j ← β·ḡ_j + (1−β)·g_{j·s}
//
// where ḡ is an EMA of the gradient kept at every s-th coordinate
// (s = ceil(N/65536), so all of them up to 65536 parameters) and
// initialised to the first gradient seen. Sums are in float64.
func (p *psiPolicy) Observe(g []float32) {
	b := p.estDecay
	var sq float64
	for _, x := range g {
		sq += float64(x) * float64(x)
	}
	p.g2 = b*p.g2 + (1-b)*sq
	if !p.sketchInit {
		for j := range p.sketch {
			p.sketch[j] = float64(g[j*p.stride])
		}
		p.sketchInit = true
		return
	}
	var dev float64
	for j, m := range p.sketch {
		x := float64(g[j*p.stride])
		d := x - m
		dev += d * d
		p.sketch[j] = b*m + (1-b)*x
	}
	p.s2 = b*p.s2 + (1-b)*dev*float64(p.n)/float64(len(p.sketch))
}

// Save implements StatefulPolicy. Little endian:
//
//	g2, s2      float64 bits
//	sketchInit  uint8
//	sketch      uint32 count + float64 bits each
//
// the same bytes as the estimator part of a version-1 blob.
func (p *psiPolicy) Save() ([]byte, error) {
	b := make([]byte, 0, 21+8*len(p.sketch))
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(p.g2))
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(p.s2))
	b = append(b, boolByte(p.sketchInit))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(p.sketch)))
	for _, x := range p.sketch {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(x))
	}
	return b, nil
}

// Restore implements StatefulPolicy.
func (p *psiPolicy) Restore(b []byte) error {
	r := &reader{b: b}
	g2, s2 := r.f64(), r.f64()
	si, cnt := r.u8(), r.u32()
	if r.err == nil && (si > 1 || int(cnt) != len(p.sketch)) {
		return sketchError(si, cnt, len(p.sketch))
	}
	sketch := make([]float64, cnt)
	for i := range sketch {
		sketch[i] = r.f64()
	}
	if r.err != nil {
		return r.err
	}
	if len(r.b) != 0 {
		return fmt.Errorf("%d trailing bytes", len(r.b))
	}
	p.g2, p.s2, p.sketchInit = g2, s2, si == 1
	copy(p.sketch, sketch)
	return nil
}

// sketchError reports estimator state that does not fit a sketch of want
// values.
func sketchError(si byte, cnt uint32, want int) error {
	return fmt.Errorf("estimator sketch: init flag %d and %d values, want 0 or 1 and %d values", si, cnt, want)
}
