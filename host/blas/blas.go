// Package blas is the single-precision matrix multiply that the fast
// training ops in host/ops are built on.
//
// The default build calls OpenBLAS (Debian's libopenblas-dev) through cgo and
// pins it to one thread: callers parallelise across the batch with
// goroutines, and OpenBLAS's own threads spinning against them was measured
// 10–15× slower than one thread per goroutine. Building with
// `-tags noopenblas`, or with CGO_ENABLED=0, selects a pure-Go fallback
// (gonum's native SGEMM). Impl reports which one is compiled in.
//
// Debian's OpenBLAS is the pthread build: it starts its thread pool when the
// library loads, before any Go code runs, and even after
// openblas_set_num_threads(1) its idle threads were measured burning about a
// quarter of a core while SGEMMs are called back to back (process CPU time
// 1.25× wall time, against 1.02× with the variable set). Processes that
// train should therefore run with OPENBLAS_NUM_THREADS=1 in their
// environment; EnvPinned reports whether they do.
//
// All matrices are row-major.
package blas

import (
	"fmt"
	"os"
)

// Impl names the SGEMM implementation compiled into this binary:
// "openblas" or "gonum".
func Impl() string { return impl }

// EnvPinned reports whether OPENBLAS_NUM_THREADS=1 is set, which keeps
// OpenBLAS from starting idle threads at all (see the package comment). It
// is true for the gonum build, which starts none.
func EnvPinned() bool { return impl == "gonum" || os.Getenv("OPENBLAS_NUM_THREADS") == "1" }

// Sgemm computes C = alpha·op(A)·op(B) + beta·C for row-major matrices,
// where op(X) is X, or Xᵀ when the matching trans flag is set. op(A) is m×k,
// op(B) is k×n and C is m×n; lda, ldb and ldc are the row strides of A, B and
// C as stored. It panics, naming the argument, when a stride or a slice is too
// short for the stated sizes, as gonum's BLAS does.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("blas: Sgemm with negative size m=%d n=%d k=%d", m, n, k))
	}
	if m == 0 || n == 0 {
		return
	}
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	check("A", a, ar, ac, lda)
	check("B", b, br, bc, ldb)
	check("C", c, m, n, ldc)
	if k == 0 {
		// op(A)·op(B) is all zeros: C = beta·C.
		for i := 0; i < m; i++ {
			row := c[i*ldc : i*ldc+n]
			for j := range row {
				if beta == 0 {
					row[j] = 0
				} else {
					row[j] *= beta
				}
			}
		}
		return
	}
	sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

func check(name string, x []float32, rows, cols, ld int) {
	if rows == 0 || cols == 0 {
		return
	}
	if ld < cols {
		panic(fmt.Sprintf("blas: Sgemm %s has row stride %d < %d columns", name, ld, cols))
	}
	if need := (rows-1)*ld + cols; len(x) < need {
		panic(fmt.Sprintf("blas: Sgemm %s has %d elements, need %d for %d×%d with stride %d", name, len(x), need, rows, cols, ld))
	}
}
