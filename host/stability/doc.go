// Package stability measures the uniform stability of a training algorithm
// directly (Definition 3.3 of the LRSGD paper; Hardt, Recht and Singer 2016):
// it trains twins on S and on S' — S with one sample replaced — with every
// source of randomness coupled, and compares them as training goes: the
// parameter divergence ‖w_t − v_t‖ and, over the test points x, the mean and
// the maximum of |f(w;x) − f(v;x)| (the empirical ε).
//
// [Convex] is the reference case where the theory is sharp: logistic
// regression trained by plain SGD with a decaying step, whose ε falls as
// 1/n. It is pure Go, float64, and runs in milliseconds.
package stability
