package ops

import (
	"math"
	"math/rand/v2"
	"testing"
)

func randF32(r *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	return x
}

// TestKernelsAgree checks the AVX2 kernels against the Go kernels and both
// against a float64 sum, over row counts around the 6-row block, pixel counts
// around the 8- and 16-pixel blocks, and odd tap counts.
func TestKernelsAgree(t *testing.T) {
	t.Logf("kernels: %s", kernelImpl())
	r := rand.New(rand.NewPCG(3, 4))
	for _, mm := range []int{1, 2, 5, 6, 7, 13, 16} {
		for _, n := range []int{1, 7, 8, 9, 16, 17, 31, 100} {
			for _, kk := range []int{1, 2, 3, 25} {
				off := make([]int32, kk)
				maxOff := 0
				for k := range off {
					off[k] = int32(r.IntN(40))
					maxOff = max(maxOff, int(off[k]))
				}
				src := randF32(r, maxOff+n) // exactly long enough: reads past the end would fault or fail -race
				w := randF32(r, mm*kk)
				ldo := n + 3
				want := make([]float64, mm*ldo)
				for m := 0; m < mm; m++ {
					for p := 0; p < n; p++ {
						for k := 0; k < kk; k++ {
							want[m*ldo+p] += float64(w[m*kk+k]) * float64(src[p+int(off[k])])
						}
					}
				}
				impls := map[string]func(out []float32){
					"go": func(out []float32) { gatherGemmGo(mm, n, kk, w, src, off, out, ldo) },
				}
				if useAVX2 {
					impls["avx2"] = func(out []float32) { gatherGemmAVX2(mm, n, kk, w, src, off, out, ldo) }
				}
				for name, f := range impls {
					out := make([]float32, (mm-1)*ldo+n)
					for i := range out {
						out[i] = 99 // overwritten, not accumulated; padding untouched
					}
					f(out)
					for m := 0; m < mm; m++ {
						for p := 0; p < ldo && m*ldo+p < len(out); p++ {
							g := float64(out[m*ldo+p])
							if p >= n {
								if g != 99 {
									t.Fatalf("%s gemm mm=%d n=%d kk=%d: padding [%d,%d] written", name, mm, n, kk, m, p)
								}
								continue
							}
							if w := want[m*ldo+p]; math.Abs(g-w) > 1e-4*(1+math.Abs(w)) {
								t.Fatalf("%s gemm mm=%d n=%d kk=%d: out[%d,%d] = %v, want %v", name, mm, n, kk, m, p, g, w)
							}
						}
					}
				}

				// Weight gradient: d is mm×n with stride ldo.
				d := randF32(r, (mm-1)*ldo+n)
				wantW := make([]float64, mm*kk)
				for m := 0; m < mm; m++ {
					for k := 0; k < kk; k++ {
						wantW[m*kk+k] = 0.5 // dw starts at 0.5: the kernel accumulates
						for p := 0; p < n; p++ {
							wantW[m*kk+k] += float64(d[m*ldo+p]) * float64(src[p+int(off[k])])
						}
					}
				}
				wimpls := map[string]func(dw []float32){
					"go": func(dw []float32) { gatherWgradGo(mm, n, kk, d, ldo, src, off, dw) },
				}
				if useAVX2 {
					wimpls["avx2"] = func(dw []float32) { gatherWgradAVX2(mm, n, kk, d, ldo, src, off, dw) }
				}
				for name, f := range wimpls {
					dw := make([]float32, mm*kk)
					for i := range dw {
						dw[i] = 0.5
					}
					f(dw)
					for i, g := range dw {
						if w := wantW[i]; math.Abs(float64(g)-w) > 1e-4*(1+math.Abs(w)) {
							t.Fatalf("%s wgrad mm=%d n=%d kk=%d: dw[%d] = %v, want %v", name, mm, n, kk, i, g, w)
						}
					}
				}
			}
		}
	}
}

func TestKernelBoundsChecked(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("gatherGemm with a short source did not panic")
		}
	}()
	gatherGemm(1, 8, 1, []float32{1}, make([]float32, 9), []int32{2}, 2, make([]float32, 8), 8)
}

// TestPool2Agree checks the AVX2 pooling against the Go loop, with many ties
// (values drawn from a few integers) and widths around the 8-wide block.
func TestPool2Agree(t *testing.T) {
	if !useAVX2 {
		t.Skip("AVX2 kernels not in this build")
	}
	r := rand.New(rand.NewPCG(5, 6))
	for _, c := range []int{1, 3} {
		for _, hy := range []int{1, 2, 5} {
			for _, wy := range []int{1, 5, 7, 8, 9, 14, 17} {
				for _, relu := range []bool{false, true} {
					wp := 2*wy + r.IntN(4)
					cs := (2*hy-1)*wp + 2*wy + r.IntN(3)
					pre := make([]float32, (c-1)*cs+(2*hy-1)*wp+2*wy) // exactly long enough
					for i := range pre {
						pre[i] = float32(r.IntN(5) - 2)
					}
					bias := make([]float32, c)
					for i := range bias {
						bias[i] = float32(r.IntN(3)-1) * 0.5
					}
					yg, ya := make([]float32, c*hy*wy), make([]float32, c*hy*wy)
					ag, aa := make([]int32, c*hy*wy), make([]int32, c*hy*wy)
					pool2Go(pre, c, cs, wp, hy, wy, bias, relu, yg, ag)
					pool2AVX2(pre, c, cs, wp, hy, wy, bias, relu, ya, aa)
					for i := range yg {
						if yg[i] != ya[i] || ag[i] != aa[i] {
							t.Fatalf("c=%d hy=%d wy=%d relu=%v: output %d: avx2 (%v, %d), go (%v, %d)", c, hy, wy, relu, i, ya[i], aa[i], yg[i], ag[i])
						}
					}
				}
			}
		}
	}
}
