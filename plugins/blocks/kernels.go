package blocks

import "math"

// The kernels below are the vector building blocks the rules are made
// of. They loop over float32 slices and compute in float32, one rounding
// per operation in the order written, as PyTorch's CPU kernels do for
// float32 tensors (PyTorch may vectorise with fused multiply-add, so the
// last bit can differ from it; tests compare with PyTorch-style plain
// code to 1e-6). All slices passed to one call must have the same
// length; the kernels panic otherwise.

// AddScaled sets dst[i] += a*x[i]. With x the parameters and a the
// weight decay it is coupled weight decay (g += wd·w).
func AddScaled(dst, x []float32, a float32) {
	x = x[:len(dst)]
	for i := range dst {
		dst[i] += a * x[i]
	}
}

// AddProximal sets g[i] += c*(w[i]-anchor[i]), the gradient of
// (c/2)·‖w − anchor‖². The proximal outer loop calls it with
// c = prox_factor·λ_t.
func AddProximal(g, w, anchor []float32, c float32) {
	w = w[:len(g)]
	anchor = anchor[:len(g)]
	for i := range g {
		g[i] += c * (w[i] - anchor[i])
	}
}

// MomentumStep applies one step of SGD with momentum and coupled weight
// decay to w, with PyTorch's torch.optim.SGD semantics:
//
//	d   = g + wd·w
//	buf = d                         on the first step (first == true)
//	buf = mu·buf + (1−dampening)·d  afterwards
//	w  -= lr·(d + mu·buf)           if nesterov
//	w  -= lr·buf                    otherwise
//
// With mu == 0 no buffer is used (buf may be nil) and w -= lr·d.
// g is not modified.
func MomentumStep(w, g, buf []float32, lr, wd, mu, dampening float32, nesterov, first bool) {
	g = g[:len(w)]
	if mu == 0 {
		for i := range w {
			d := g[i] + wd*w[i]
			w[i] -= lr * d
		}
		return
	}
	buf = buf[:len(w)]
	damp := 1 - dampening
	// One loop per case keeps branches out of the element loops.
	switch {
	case first && nesterov:
		for i := range w {
			d := g[i] + wd*w[i]
			buf[i] = d
			w[i] -= lr * (d + mu*d)
		}
	case first:
		for i := range w {
			d := g[i] + wd*w[i]
			buf[i] = d
			w[i] -= lr * d
		}
	case nesterov:
		for i := range w {
			d := g[i] + wd*w[i]
			b := mu*buf[i] + damp*d
			buf[i] = b
			w[i] -= lr * (d + mu*b)
		}
	default:
		for i := range w {
			d := g[i] + wd*w[i]
			b := mu*buf[i] + damp*d
			buf[i] = b
			w[i] -= lr * b
		}
	}
}

// AdamStep applies one Adam step (Kingma & Ba, with bias correction) to
// w, with PyTorch's torch.optim.Adam/AdamW semantics:
//
//	d = g + wd·w            if !decoupled (Adam's L2 penalty)
//	w = w − lr·wd·w         if decoupled (AdamW), before the update
//	m = β1·m + (1−β1)·d
//	v = β2·v + (1−β2)·d²
//	w = w − (lr/(1−β1^t)) · m / (sqrt(v)/sqrt(1−β2^t) + eps)
//
// t is the 1-based Adam step count. The bias-correction scalars are
// computed in float64 and rounded once to float32. g is not modified.
func AdamStep(w, g, m, v []float32, t int64, lr, wd, beta1, beta2, eps float32, decoupled bool) {
	g = g[:len(w)]
	m = m[:len(w)]
	v = v[:len(w)]
	bc1 := 1 - pow(float64(beta1), t)
	bc2 := 1 - pow(float64(beta2), t)
	stepSize := float32(float64(lr) / bc1)
	bc2sqrt := float32(sqrt64(bc2))
	b1c, b2c := 1-beta1, 1-beta2
	shrink := 1 - lr*wd
	if decoupled {
		for i := range w {
			wi := w[i] * shrink
			d := g[i]
			mi := beta1*m[i] + b1c*d
			vi := beta2*v[i] + b2c*d*d
			m[i], v[i] = mi, vi
			w[i] = wi - stepSize*(mi/(sqrt32(vi)/bc2sqrt+eps))
		}
		return
	}
	for i := range w {
		wi := w[i]
		d := g[i] + wd*wi
		mi := beta1*m[i] + b1c*d
		vi := beta2*v[i] + b2c*d*d
		m[i], v[i] = mi, vi
		w[i] = wi - stepSize*(mi/(sqrt32(vi)/bc2sqrt+eps))
	}
}

func pow(x float64, n int64) float64 { return math.Pow(x, float64(n)) }
func sqrt64(x float64) float64       { return math.Sqrt(x) }

// sqrt32 is the correctly rounded float32 square root (the compiler
// turns this pattern into a single float32 instruction).
func sqrt32(x float32) float32 { return float32(math.Sqrt(float64(x))) }
