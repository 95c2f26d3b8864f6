//go:build cgo && !noopenblas

package blas

/*
#cgo LDFLAGS: -lopenblas
// Declared here rather than taken from cblas.h: Debian ships several cblas.h
// variants and only OpenBLAS's declares the thread setter.
void openblas_set_num_threads(int num_threads);
enum { RowMajor = 101, NoTrans = 111, Trans = 112 };
void cblas_sgemm(int order, int transA, int transB, int m, int n, int k,
	float alpha, const float *a, int lda, const float *b, int ldb,
	float beta, float *c, int ldc);
*/
import "C"

const impl = "openblas"

func init() {
	// One OpenBLAS thread per calling goroutine; see the package comment.
	C.openblas_set_num_threads(1)
}

func sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	ta, tb := C.int(C.NoTrans), C.int(C.NoTrans)
	if transA {
		ta = C.Trans
	}
	if transB {
		tb = C.Trans
	}
	C.cblas_sgemm(C.RowMajor, ta, tb, C.int(m), C.int(n), C.int(k),
		C.float(alpha), (*C.float)(&a[0]), C.int(lda), (*C.float)(&b[0]), C.int(ldb),
		C.float(beta), (*C.float)(&c[0]), C.int(ldc))
}
