package blas

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// naive is the textbook triple loop, the reference for Sgemm.
func naive(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for p := 0; p < k; p++ {
				var av, bv float32
				if transA {
					av = a[p*lda+i]
				} else {
					av = a[i*lda+p]
				}
				if transB {
					bv = b[j*ldb+p]
				} else {
					bv = b[p*ldb+j]
				}
				s += float64(av) * float64(bv)
			}
			old := float64(0)
			if beta != 0 {
				old = float64(beta) * float64(c[i*ldc+j])
			}
			c[i*ldc+j] = float32(float64(alpha)*s + old)
		}
	}
}

func randSlice(r *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	return x
}

func TestSgemmMatchesNaive(t *testing.T) {
	t.Logf("implementation: %s", Impl())
	r := rand.New(rand.NewPCG(1, 2))
	shapes := []struct{ m, n, k int }{{1, 1, 1}, {6, 784, 75}, {7, 13, 5}, {33, 17, 129}, {1, 120, 400}, {16, 3, 0}}
	for _, s := range shapes {
		for _, ta := range []bool{false, true} {
			for _, tb := range []bool{false, true} {
				for _, beta := range []float32{0, 1, -0.5} {
					ar, ac := s.m, s.k
					if ta {
						ar, ac = s.k, s.m
					}
					br, bc := s.k, s.n
					if tb {
						br, bc = s.n, s.k
					}
					lda, ldb, ldc := ac+3, bc+1, s.n+2
					a := randSlice(r, max(ar, 1)*lda)
					b := randSlice(r, max(br, 1)*ldb)
					c := randSlice(r, s.m*ldc)
					if beta == 0 {
						for i := range c {
							c[i] = float32(math.NaN()) // beta = 0 must not read C
						}
					}
					want := append([]float32(nil), c...)
					naive(ta, tb, s.m, s.n, s.k, 1.5, a, lda, b, ldb, beta, want, ldc)
					Sgemm(ta, tb, s.m, s.n, s.k, 1.5, a, lda, b, ldb, beta, c, ldc)
					for i := 0; i < s.m; i++ {
						for j := 0; j < s.n; j++ {
							g, w := c[i*ldc+j], want[i*ldc+j]
							if d := math.Abs(float64(g - w)); d > 1e-4*(1+math.Abs(float64(w))) || math.IsNaN(float64(g)) {
								t.Fatalf("m=%d n=%d k=%d ta=%v tb=%v beta=%v: C[%d,%d] = %v, want %v", s.m, s.n, s.k, ta, tb, beta, i, j, g, w)
							}
						}
						// Padding columns between rows are untouched.
						for j := s.n; j < ldc && i < s.m-1; j++ {
							if g, w := c[i*ldc+j], want[i*ldc+j]; g != w && !(math.IsNaN(float64(g)) && math.IsNaN(float64(w))) {
								t.Fatalf("padding C[%d,%d] changed to %v", i, j, g)
							}
						}
					}
				}
			}
		}
	}
}

func TestSgemmRejectsShortSlices(t *testing.T) {
	defer func() {
		r := recover()
		msg, _ := r.(string)
		if !strings.Contains(msg, "B has 5 elements, need 6") {
			t.Fatalf("panic = %v, want a message naming B and the sizes", r)
		}
	}()
	Sgemm(false, false, 2, 3, 2, 1, make([]float32, 4), 2, make([]float32, 5), 3, 0, make([]float32, 6), 3)
}

func BenchmarkSgemm(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, s := range []struct{ m, n, k int }{{6, 784, 75}, {16, 100, 150}, {128, 120, 400}, {256, 256, 256}} {
		a, bb, c := randSlice(r, s.m*s.k), randSlice(r, s.k*s.n), randSlice(r, s.m*s.n)
		b.Run(strings.Join([]string{Impl(), itoa(s.m), itoa(s.n), itoa(s.k)}, "-"), func(b *testing.B) {
			for b.Loop() {
				Sgemm(false, false, s.m, s.n, s.k, 1, a, s.k, bb, s.n, 0, c, s.n)
			}
			b.ReportMetric(2*float64(s.m*s.n*s.k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var buf [20]byte
	i := len(buf)
	for ; n > 0; n /= 10 {
		i--
		buf[i] = byte('0' + n%10)
	}
	return string(buf[i:])
}
