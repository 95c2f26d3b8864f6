//go:build !cgo || !amd64 || noavx2

package ops

// useAVX2 is false in builds without cgo on amd64: the Go kernels run.
const useAVX2 = false

func kernelImpl() string { return "go" }

func gatherGemmAVX2(mm, n, kk int, w, src []float32, off []int32, out []float32, ldo int) {
	panic("ops: AVX2 kernels are not compiled into this build")
}

func gatherWgradAVX2(mm, n, kk int, d []float32, ldd int, src []float32, off []int32, dw []float32) {
	panic("ops: AVX2 kernels are not compiled into this build")
}

func pool2AVX2(pre []float32, c, cs, wp, hy, wy int, bias []float32, relu bool, y []float32, arg []int32) {
	panic("ops: AVX2 kernels are not compiled into this build")
}

func im2colAVX2(op *gemmConvOp, x, col []float32, ld, at int) {
	panic("ops: AVX2 kernels are not compiled into this build")
}

func col2imAVX2(op *gemmConvOp, dcol []float32, ld, at int, dx []float32) {
	panic("ops: AVX2 kernels are not compiled into this build")
}

func bnMomentsAVX2(x []float32, nb, rs, n int, mean float64, second bool) float64 {
	panic("ops: AVX2 kernels are not compiled into this build")
}

func bnApplyAVX2(x, res, y []float32, nb, rs, n int, m, scale, shift float32, relu bool) {
	panic("ops: AVX2 kernels are not compiled into this build")
}

func bnGradSumsAVX2(x, y, dy, dres []float32, nb, rs, n int, m float32, relu bool) (float64, float64) {
	panic("ops: AVX2 kernels are not compiled into this build")
}

func bnGradDxAVX2(x, y, dy, dx []float32, nb, rs, n int, m, a, bx, c0 float32, relu bool) {
	panic("ops: AVX2 kernels are not compiled into this build")
}
