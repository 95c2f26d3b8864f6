package stability

import (
	"fmt"
	"math"
)

// Measure compares two models at one point of training: the twin trained on
// S (parameters w) and the twin trained on S' (parameters v).
type Measure struct {
	// ParamDivergence is ‖w − v‖₂ over the flat parameter vector, the
	// quantity Hardt, Recht and Singer's analysis bounds.
	ParamDivergence float64 `json:"param_divergence"`
	// EpsilonMean is the mean over the test points x of |f(w;x) − f(v;x)|,
	// f the per-sample loss: the empirical uniform-stability ε.
	EpsilonMean float64 `json:"epsilon_mean"`
	// EpsilonMax is the maximum over the test points of |f(w;x) − f(v;x)|,
	// the empirical counterpart of the supremum in the definition.
	EpsilonMax float64 `json:"epsilon_max"`
}

// l2Diff32 returns ‖a − b‖₂, accumulated in float64. a and b must have the
// same length.
func l2Diff32(a, b []float32) float64 {
	if len(a) != len(b) {
		panic(fmt.Sprintf("stability: parameter vectors of lengths %d and %d", len(a), len(b)))
	}
	var s float64
	for i, x := range a {
		d := float64(x) - float64(b[i])
		s += d * d
	}
	return math.Sqrt(s)
}

// l2Diff64 returns ‖a − b‖₂. a and b must have the same length.
func l2Diff64(a, b []float64) float64 {
	if len(a) != len(b) {
		panic(fmt.Sprintf("stability: parameter vectors of lengths %d and %d", len(a), len(b)))
	}
	var s float64
	for i, x := range a {
		d := x - b[i]
		s += d * d
	}
	return math.Sqrt(s)
}

// lossGap returns the mean and the maximum over i of |a[i] − b[i]|, the
// per-test-point loss differences of two models. Empty input gives zeros.
func lossGap(a, b []float64) (mean, max float64) {
	if len(a) != len(b) {
		panic(fmt.Sprintf("stability: loss vectors of lengths %d and %d", len(a), len(b)))
	}
	if len(a) == 0 {
		return 0, 0
	}
	var s float64
	for i, x := range a {
		d := math.Abs(x - b[i])
		s += d
		if d > max || math.IsNaN(d) {
			max = d
		}
	}
	return s / float64(len(a)), max
}
