package blocks

import (
	"fmt"
	"math"
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

// Inner learning-rate policies (values of the inner_lr hyperparameter).
const (
	LRConstant        = "constant"           // η = α
	LRAlphaOverK      = "alpha-over-k"       // η_k = α/k
	LRThetaOverLambda = "theta-over-lambda"  // η = θ/λ_t
	LRInvLambdaK      = "inv-lambda-delta-k" // η_k = 1/((λ_t−δ)k)
)

// M_t policies (values of the m_policy hyperparameter).
const (
	MGeometric = "geometric" // M_t ~ Geometric(γ) on {1, 2, ...}
	MConstant  = "constant"  // M_t = m
	MPsi       = "psi"       // M_t from Definition 4.8 (PsiM) with running G², σ² estimates
)

// Presets (values of the preset hyperparameter).
const (
	PresetReference = "reference" // the public reference code
	PresetPaper     = "paper"     // the paper's definitions
)

// innerLR returns the inner step size η for inner step k (1-based).
func innerLR(policy string, alpha float64, k int, lambda, theta, delta float64) float64 {
	switch policy {
	case LRAlphaOverK:
		return alpha / float64(k)
	case LRThetaOverLambda:
		return theta / lambda
	case LRInvLambdaK:
		return 1 / ((lambda - delta) * float64(k))
	}
	return alpha
}
