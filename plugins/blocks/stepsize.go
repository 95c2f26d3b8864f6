package blocks

import (
	"fmt"

	"github.com/lrsgd-lab/lrsgd/plugins/optimizer"
)

// Inner learning-rate policies (values of the inner_lr hyperparameter).
const (
	LRConstant        = "constant"           // η = α
	LRAlphaOverK      = "alpha-over-k"       // η_k = α/k
	LRThetaOverLambda = "theta-over-lambda"  // η = θ/λ_t
	LRInvLambdaK      = "inv-lambda-delta-k" // η_k = 1/((λ_t−δ)k)
)

// λ schedules (values of the lambda_mode hyperparameter).
const (
	LambdaModeSchedule = "schedule" // λ_t = lambda_coef/α
	LambdaModeFixed    = "fixed"    // λ_t = lambda
)

// builtinInnerLRs returns the registry of inner_lr with this package's
// choices.
func builtinInnerLRs() *registry[InnerLR] {
	r := newRegistry[InnerLR](paramLR)
	r.add(LRConstant, func() InnerLR { return constantLR{} })
	r.add(LRAlphaOverK, func() InnerLR { return alphaOverK{} })
	r.add(LRThetaOverLambda, func() InnerLR { return &thetaOverLambda{} })
	r.add(LRInvLambdaK, func() InnerLR { return &invLambdaDeltaK{} })
	return r
}

// builtinLambdaSchedules returns the registry of lambda_mode with this
// package's choices.
func builtinLambdaSchedules() *registry[LambdaSchedule] {
	r := newRegistry[LambdaSchedule](paramLambda)
	r.add(LambdaModeSchedule, func() LambdaSchedule { return &scheduledLambda{} })
	r.add(LambdaModeFixed, func() LambdaSchedule { return &fixedLambda{} })
	return r
}

// constantLR is η = α.
type constantLR struct{}

// Hyperparams implements InnerLR.
func (constantLR) Hyperparams() []optimizer.HyperparamSpec { return nil }

// Configure implements InnerLR.
func (constantLR) Configure(Values, InitInfo) error { return nil }

// Eta implements InnerLR.
func (constantLR) Eta(s InnerStep) float64 { return s.LR }

// alphaOverK is η_k = α/k.
type alphaOverK struct{}

// Hyperparams implements InnerLR.
func (alphaOverK) Hyperparams() []optimizer.HyperparamSpec { return nil }

// Configure implements InnerLR.
func (alphaOverK) Configure(Values, InitInfo) error { return nil }

// Eta implements InnerLR.
func (alphaOverK) Eta(s InnerStep) float64 { return s.LR / float64(s.K) }

// thetaOverLambda is η = θ/λ_t, the paper's LRSGD-R step size; it needs
// λ_t > 0.
type thetaOverLambda struct{ theta float64 }

// Hyperparams implements InnerLR.
func (p *thetaOverLambda) Hyperparams() []optimizer.HyperparamSpec { return loopSpecs("theta") }

// Configure implements InnerLR.
func (p *thetaOverLambda) Configure(v Values, _ InitInfo) error {
	p.theta = v.Float("theta")
	return nil
}

// Eta implements InnerLR.
func (p *thetaOverLambda) Eta(s InnerStep) float64 { return p.theta / s.Lambda }

// CheckLambda implements LambdaChecker.
func (p *thetaOverLambda) CheckLambda(lambda float64, what string) error {
	if !(lambda > 0) {
		return fmt.Errorf("inner_lr=%s needs %s > 0, have %g", LRThetaOverLambda, what, lambda)
	}
	return nil
}

// invLambdaDeltaK is η_k = 1/((λ_t−δ)k), the paper's LRSGD-C step size;
// it needs λ_t > δ.
type invLambdaDeltaK struct{ delta float64 }

// Hyperparams implements InnerLR.
func (p *invLambdaDeltaK) Hyperparams() []optimizer.HyperparamSpec { return loopSpecs("delta") }

// Configure implements InnerLR.
func (p *invLambdaDeltaK) Configure(v Values, _ InitInfo) error {
	p.delta = v.Float("delta")
	return nil
}

// Eta implements InnerLR.
func (p *invLambdaDeltaK) Eta(s InnerStep) float64 {
	return 1 / ((s.Lambda - p.delta) * float64(s.K))
}

// CheckLambda implements LambdaChecker.
func (p *invLambdaDeltaK) CheckLambda(lambda float64, what string) error {
	if !(lambda > p.delta) {
		return fmt.Errorf("inner_lr=%s needs %s > delta, have %g <= %g", LRInvLambdaK, what, lambda, p.delta)
	}
	return nil
}

// scheduledLambda is λ_t = lambda_coef/α, α being the lr of the first
// inner step of outer step t (the reference code's λ = 0.01/α).
type scheduledLambda struct{ coef float64 }

// Hyperparams implements LambdaSchedule.
func (p *scheduledLambda) Hyperparams() []optimizer.HyperparamSpec {
	return loopSpecs("lambda_coef")
}

// Configure implements LambdaSchedule.
func (p *scheduledLambda) Configure(v Values, _ InitInfo) error {
	p.coef = v.Float("lambda_coef")
	return nil
}

// Lambda implements LambdaSchedule.
func (p *scheduledLambda) Lambda(o OuterInfo) float64 { return p.coef / o.LR }

// UsesLR implements LambdaSchedule.
func (p *scheduledLambda) UsesLR() bool { return true }

// Expr implements LambdaSchedule.
func (p *scheduledLambda) Expr() string { return "lambda_coef/lr" }

// Fixed is λ_t = 0 when lambda_coef is 0; otherwise λ_t follows α.
func (p *scheduledLambda) Fixed() (float64, bool) { return 0, p.coef == 0 }

// fixedLambda is λ_t = lambda.
type fixedLambda struct{ lambda float64 }

// Hyperparams implements LambdaSchedule.
func (p *fixedLambda) Hyperparams() []optimizer.HyperparamSpec { return loopSpecs("lambda") }

// Configure implements LambdaSchedule.
func (p *fixedLambda) Configure(v Values, _ InitInfo) error {
	p.lambda = v.Float("lambda")
	return nil
}

// Lambda implements LambdaSchedule.
func (p *fixedLambda) Lambda(OuterInfo) float64 { return p.lambda }

// UsesLR implements LambdaSchedule.
func (p *fixedLambda) UsesLR() bool { return false }

// Fixed implements LambdaSchedule.
func (p *fixedLambda) Fixed() (float64, bool) { return p.lambda, true }

// Expr implements LambdaSchedule.
func (p *fixedLambda) Expr() string { return "lambda" }
