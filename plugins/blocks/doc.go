// Package blocks holds the optimizer building blocks of the LRSGD lab and
// the four in-process optimizers built from them. The same code runs in
// the host (tests, benchmarks) and inside the optimizer plugins.
//
// The blocks come in four layers, composable in the manner of Optax's
// gradient transformations:
//
//   - Kernels: loops over float32 slices (AddScaled, AddProximal,
//     MomentumStep, AdamStep) computing in float32 as PyTorch does.
//   - Rules: an inner update rule (SGDRule, AdamRule, or any type that
//     implements Rule) declares its hyperparameters and state vectors and
//     updates the parameters from an effective gradient.
//   - Policies: small values that the outer loop asks what to do. An
//     MPolicy chooses M_t (geometric, constant, psi), a LambdaSchedule
//     chooses λ_t (schedule: λ = c/α, fixed), an InnerLR chooses the inner
//     step size (α, α/k, θ/λ_t, 1/((λ_t−δ)k)). Each is chosen by an enum
//     hyperparameter (m_policy, lambda_mode, inner_lr), keeps its own
//     state and saves it; WithMPolicy, WithLambdaSchedule and WithInnerLR
//     add a third party's own.
//   - Outer loops: NewProximal wraps a Rule in LRSGD's proximal outer loop
//     (anchor, proximal gradient, the policies, presets, save/restore);
//     NewPlain runs a Rule alone.
//
// NewSGD, NewLRSGDR, NewLRSGDC and NewAdamLR return the optimizers "sgd",
// "lrsgd-r", "lrsgd-c" and "adam-lr" with the public reference code's
// defaults; the hyperparameter preset=paper switches the defaults to the
// paper's definitions. Every optimizer returned here also implements
// Binder, whose InitBuffers binds it to caller-provided (e.g. shared-memory)
// buffers.
//
// Step semantics: the host writes the minibatch gradient of f at the
// current parameters into Buffers.Grads and calls Step with the global
// step number (0, 1, 2, ... with no gaps; anything else is refused) and
// the scheduled lr α. Step may overwrite Grads (the proximal loop adds
// the proximal term to it in place). At inner step k = 1 of an outer step
// the loop copies the parameters into the anchor and fixes λ_t from that
// step's α and M_t from its policy; the inner step size uses each step's
// α. Step does not allocate.
//
// A new inner solver needs only a Rule, a new M_t policy only an
// MPolicy; see the examples and docs/blocks.md.
package blocks
