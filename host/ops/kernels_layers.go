package ops

import "fmt"

// The batch-norm kernels below work on one channel of a (B, C, H, W)
// tensor: nb rows of n = H·W floats, rows rs = C·H·W apart. Each has an
// AVX2 version in C (kernels_layers_avx2.go) and a Go version; both
// accumulate in float64.

// checkRows guards the unchecked C kernels: nb rows of n, rs apart, must
// lie inside every slice given.
func checkRows(name string, nb, rs, n int, s ...[]float32) {
	need := (nb-1)*rs + n
	for i, v := range s {
		if v != nil && len(v) < need {
			panic(fmt.Sprintf("ops: %s: operand %d has %d elements, need %d for %d rows of %d, %d apart", name, i, len(v), need, nb, n, rs))
		}
	}
}

// bnMoments returns Σx (second false) or Σ(x − mean)² (second true) over
// the rows, in float64.
func bnMoments(x []float32, nb, rs, n int, mean float64, second bool) float64 {
	checkRows("bnMoments", nb, rs, n, x)
	if useAVX2 {
		return bnMomentsAVX2(x, nb, rs, n, mean, second)
	}
	var s float64
	for b := 0; b < nb; b++ {
		for _, v := range x[b*rs : b*rs+n] {
			if second {
				d := float64(v) - mean
				s += d * d
			} else {
				s += float64(v)
			}
		}
	}
	return s
}

// bnApply sets y = (x − m)·scale + shift, plus res when res is not nil,
// then ReLU when relu is set.
func bnApply(x, res, y []float32, nb, rs, n int, m, scale, shift float32, relu bool) {
	checkRows("bnApply", nb, rs, n, x, res, y)
	if useAVX2 {
		bnApplyAVX2(x, res, y, nb, rs, n, m, scale, shift, relu)
		return
	}
	for b := 0; b < nb; b++ {
		xs, ys := x[b*rs:b*rs+n], y[b*rs:b*rs+n]
		for i, v := range xs {
			u := (v-m)*scale + shift
			if res != nil {
				u += res[b*rs+i]
			}
			if relu && u < 0 {
				u = 0
			}
			ys[i] = u
		}
	}
}

// bnGradSums returns Σg and Σg·(x − m) in float64, with g = dy, zeroed
// where y ≤ 0 when relu is set; g is also written to dres when not nil.
func bnGradSums(x, y, dy, dres []float32, nb, rs, n int, m float32, relu bool) (sumG, sumGX float64) {
	checkRows("bnGradSums", nb, rs, n, x, y, dy, dres)
	if useAVX2 {
		return bnGradSumsAVX2(x, y, dy, dres, nb, rs, n, m, relu)
	}
	for b := 0; b < nb; b++ {
		lo := b * rs
		for i, g := range dy[lo : lo+n] {
			if relu && !(y[lo+i] > 0) {
				g = 0
			}
			if dres != nil {
				dres[lo+i] = g
			}
			sumG += float64(g)
			sumGX += float64(g) * float64(x[lo+i]-m)
		}
	}
	return sumG, sumGX
}

// bnGradDx sets dx = a·g + bx·(x − m) + c0, with g as in bnGradSums.
func bnGradDx(x, y, dy, dx []float32, nb, rs, n int, m, a, bx, c0 float32, relu bool) {
	checkRows("bnGradDx", nb, rs, n, x, y, dy, dx)
	if useAVX2 {
		bnGradDxAVX2(x, y, dy, dx, nb, rs, n, m, a, bx, c0, relu)
		return
	}
	for b := 0; b < nb; b++ {
		lo := b * rs
		out := dx[lo : lo+n]
		for i, g := range dy[lo : lo+n] {
			if relu && !(y[lo+i] > 0) {
				g = 0
			}
			out[i] = a*g + bx*(x[lo+i]-m) + c0
		}
	}
}
