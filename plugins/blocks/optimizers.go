package blocks

import "github.com/lrsgd-lab/lrsgd/plugins/optimizer"

// Version is the version of the update rules in this package, reported
// by Describe for the four optimizers below.
const Version = "1.0.0"

// paperSGD are the SGD rule's paper-preset defaults: the paper's inner
// solver is plain SGD, without momentum or weight decay.
var paperSGD = map[string]string{"momentum": "0", "weight_decay": "0"}

// NewSGD returns "sgd": SGD with momentum and coupled weight decay
// (NewPlain(NewSGDRule())), the λ = 0, M_t = 1 special case of LRSGD.
// Defaults are the reference code's: momentum 0.9, dampening 0, no
// Nesterov, weight decay 1e-4. State vectors: the momentum buffer.
func NewSGD() optimizer.Optimizer {
	return NewPlain(NewSGDRule(), "sgd", Version,
		WithDoc("SGD with momentum and coupled weight decay (torch.optim.SGD semantics)"),
		WithPresetDefaults(PresetPaper, paperSGD))
}

// NewLRSGDR returns "lrsgd-r": the proximal outer loop with SGD-momentum
// inner steps and M_t ~ Geometric(γ). Reference defaults: γ = 0.1, inner
// lr α, λ_t = 0.01/α with factor 2, momentum 0.9 never reset, weight
// decay 1e-4. The paper preset uses inner lr θ/λ_t, γ = ln(1/(1−θ))/ln(1/θ),
// λ_t = 0.02/α with factor 1, and plain SGD. State vectors: momentum, anchor.
func NewLRSGDR() optimizer.Optimizer {
	return NewProximal(NewSGDRule(), "lrsgd-r", Version,
		WithDoc("LRSGD-R: proximal outer loop, M_t ~ Geometric(gamma), SGD-momentum inner steps"),
		WithDefaults(map[string]string{"m_policy": MGeometric, "inner_lr": LRConstant}),
		WithPresetDefaults(PresetPaper, paperSGD),
		WithPresetDefaults(PresetPaper, map[string]string{"inner_lr": LRThetaOverLambda}))
}

// NewLRSGDC returns "lrsgd-c": the proximal outer loop with SGD-momentum
// inner steps and constant M_t. Reference defaults: M = 10, inner lr
// α/k, λ_t = 0.01/α with factor 2, momentum 0.9 never reset, weight decay
// 1e-4. The paper preset uses M_t from ψ (Definition 4.8), inner lr
// 1/((λ_t−δ)k), λ_t = 0.02/α with factor 1, and plain SGD. State
// vectors: momentum, anchor.
func NewLRSGDC() optimizer.Optimizer {
	return NewProximal(NewSGDRule(), "lrsgd-c", Version,
		WithDoc("LRSGD-C: proximal outer loop, constant M_t, SGD-momentum inner steps with lr alpha/k"),
		WithDefaults(map[string]string{"m_policy": MConstant, "inner_lr": LRAlphaOverK}),
		WithPresetDefaults(PresetPaper, paperSGD),
		WithPresetDefaults(PresetPaper, map[string]string{"m_policy": MPsi, "inner_lr": LRInvLambdaK}))
}

// NewAdamLR returns "adam-lr": the proximal outer loop with Adam as the
// inner solver of each proximal subproblem. Defaults follow lrsgd-r's
// reference settings (M_t ~ Geometric(0.1), inner lr α, λ_t = 0.01/α with
// factor 2, weight decay 1e-4 coupled) with PyTorch's Adam moments
// (β1 0.9, β2 0.999, eps 1e-8), never reset. State vectors: m, v, anchor.
func NewAdamLR() optimizer.Optimizer {
	return NewProximal(NewAdamRule(), "adam-lr", Version,
		WithDoc("Adam as the inner solver of the LRSGD proximal subproblem"),
		WithPresetDefaults(PresetPaper, map[string]string{"weight_decay": "0"}))
}
