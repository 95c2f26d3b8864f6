//go:build cgo && amd64 && !noavx2

package ops

/*
#cgo CFLAGS: -O3 -std=gnu11
#include <stdint.h>

// Compiled for any x86-64: it decides whether the kernels below may run.
static int have_avx2_fma(void) {
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

// cgo allows no -mfma flag, so the kernels get their ISA from this pragma.
#pragma GCC target("avx2,fma")
#include <immintrin.h>

static inline __m256i tail_mask(int r) {
	// Lanes 0..r-1 on (r in 1..7).
	const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
	return _mm256_cmpgt_epi32(_mm256_set1_epi32(r), idx);
}

// One block of MB output rows × NV vectors of 8 pixels, starting at pixel p.
// Inlined with constant MB and NV so that the accumulators stay in registers.
static inline __attribute__((always_inline)) void gg_block(const int MB, const int NV,
	int kk, const float *w, const float *src, const int32_t *off, float *out, int ldo, int p)
{
	__m256 acc[6][2];
	for (int m = 0; m < MB; m++)
		for (int v = 0; v < NV; v++)
			acc[m][v] = _mm256_setzero_ps();
	for (int k = 0; k < kk; k++) {
		const float *s = src + off[k] + p;
		__m256 x[2];
		for (int v = 0; v < NV; v++)
			x[v] = _mm256_loadu_ps(s + 8 * v);
		for (int m = 0; m < MB; m++) {
			__m256 wv = _mm256_broadcast_ss(w + m * kk + k);
			for (int v = 0; v < NV; v++)
				acc[m][v] = _mm256_fmadd_ps(wv, x[v], acc[m][v]);
		}
	}
	for (int m = 0; m < MB; m++)
		for (int v = 0; v < NV; v++)
			_mm256_storeu_ps(out + m * ldo + p + 8 * v, acc[m][v]);
}

// The last r < 8 pixels, with masked loads and stores (no reads past n).
static inline __attribute__((always_inline)) void gg_tail(const int MB,
	int kk, const float *w, const float *src, const int32_t *off, float *out, int ldo, int p, __m256i mask)
{
	__m256 acc[6];
	for (int m = 0; m < MB; m++)
		acc[m] = _mm256_setzero_ps();
	for (int k = 0; k < kk; k++) {
		__m256 x = _mm256_maskload_ps(src + off[k] + p, mask);
		for (int m = 0; m < MB; m++)
			acc[m] = _mm256_fmadd_ps(_mm256_broadcast_ss(w + m * kk + k), x, acc[m]);
	}
	for (int m = 0; m < MB; m++)
		_mm256_maskstore_ps(out + m * ldo + p, mask, acc[m]);
}

#define GG_ROWS(MB) do { \
	int p = 0; \
	for (; p + 16 <= n; p += 16) gg_block(MB, 2, kk, w, src, off, out, ldo, p); \
	for (; p + 8 <= n; p += 8) gg_block(MB, 1, kk, w, src, off, out, ldo, p); \
	if (p < n) gg_tail(MB, kk, w, src, off, out, ldo, p, tail_mask(n - p)); \
} while (0)

static void gather_gemm(int mm, int n, int kk, const float *w, const float *src,
	const int32_t *off, float *out, int ldo)
{
	for (int m0 = 0; m0 < mm; m0 += 6) {
		int mb = mm - m0 < 6 ? mm - m0 : 6;
		const float *wm = w + m0 * kk;
		float *om = out + m0 * ldo;
		{
			const float *w = wm;
			float *out = om;
			switch (mb) {
			case 6: GG_ROWS(6); break;
			case 5: GG_ROWS(5); break;
			case 4: GG_ROWS(4); break;
			case 3: GG_ROWS(3); break;
			case 2: GG_ROWS(2); break;
			default: GG_ROWS(1); break;
			}
		}
	}
}

static inline float hsum(__m256 v) {
	__m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
	s = _mm_add_ps(s, _mm_movehl_ps(s, s));
	s = _mm_add_ss(s, _mm_movehdup_ps(s));
	return _mm_cvtss_f32(s);
}

// dw[m][k] += Σ_p d[m][p]·src[p+off[k]] for a block of MB rows × KB taps.
static inline __attribute__((always_inline)) void gw_block(const int MB, const int KB,
	int n, int kk, const float *d, int ldd, const float *src, const int32_t *off, float *dw, int k0)
{
	__m256 acc[6][2];
	for (int m = 0; m < MB; m++)
		for (int j = 0; j < KB; j++)
			acc[m][j] = _mm256_setzero_ps();
	const float *s[2];
	for (int j = 0; j < KB; j++)
		s[j] = src + off[k0 + j];
	int p = 0;
	for (; p + 8 <= n; p += 8) {
		__m256 x[2];
		for (int j = 0; j < KB; j++)
			x[j] = _mm256_loadu_ps(s[j] + p);
		for (int m = 0; m < MB; m++) {
			__m256 dv = _mm256_loadu_ps(d + m * ldd + p);
			for (int j = 0; j < KB; j++)
				acc[m][j] = _mm256_fmadd_ps(dv, x[j], acc[m][j]);
		}
	}
	if (p < n) {
		__m256i mask = tail_mask(n - p);
		__m256 x[2];
		for (int j = 0; j < KB; j++)
			x[j] = _mm256_maskload_ps(s[j] + p, mask);
		for (int m = 0; m < MB; m++) {
			__m256 dv = _mm256_maskload_ps(d + m * ldd + p, mask);
			for (int j = 0; j < KB; j++)
				acc[m][j] = _mm256_fmadd_ps(dv, x[j], acc[m][j]);
		}
	}
	for (int m = 0; m < MB; m++)
		for (int j = 0; j < KB; j++)
			dw[m * kk + k0 + j] += hsum(acc[m][j]);
}

#define GW_COLS(MB) do { \
	int k0 = 0; \
	for (; k0 + 2 <= kk; k0 += 2) gw_block(MB, 2, n, kk, dm, ldd, src, off, dwm, k0); \
	if (k0 < kk) gw_block(MB, 1, n, kk, dm, ldd, src, off, dwm, k0); \
} while (0)

static void gather_wgrad(int mm, int n, int kk, const float *d, int ldd,
	const float *src, const int32_t *off, float *dw)
{
	for (int m0 = 0; m0 < mm; m0 += 6) {
		int mb = mm - m0 < 6 ? mm - m0 : 6;
		const float *dm = d + m0 * ldd;
		float *dwm = dw + m0 * kk;
		switch (mb) {
		case 6: GW_COLS(6); break;
		case 5: GW_COLS(5); break;
		case 4: GW_COLS(4); break;
		case 3: GW_COLS(3); break;
		case 2: GW_COLS(2); break;
		default: GW_COLS(1); break;
		}
	}
}

// Eight 2×2 windows: a0 a1 hold 16 values of the upper row, b0 b1 of the
// lower. Returns max + bias (ReLU'd when relu) and the wide index of each
// maximum (first of equals in the order (0,0), (0,1), (1,0), (1,1)), or −1
// where ReLU zeroed the output.
static inline __attribute__((always_inline)) void pool8(__m256 a0, __m256 a1, __m256 b0, __m256 b1,
	int wp, float bias, int relu, int32_t first, __m256 *out, __m256i *index)
{
	const __m256i perm = _mm256_setr_epi32(0, 1, 4, 5, 2, 3, 6, 7);
	const __m256i lane2 = _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14);
	__m256 e0 = _mm256_permutevar8x32_ps(_mm256_shuffle_ps(a0, a1, 0x88), perm);
	__m256 o0 = _mm256_permutevar8x32_ps(_mm256_shuffle_ps(a0, a1, 0xDD), perm);
	__m256 e1 = _mm256_permutevar8x32_ps(_mm256_shuffle_ps(b0, b1, 0x88), perm);
	__m256 o1 = _mm256_permutevar8x32_ps(_mm256_shuffle_ps(b0, b1, 0xDD), perm);
	__m256 best = e0, off = _mm256_setzero_ps(), m;
	m = _mm256_cmp_ps(o0, best, _CMP_GT_OQ);
	best = _mm256_blendv_ps(best, o0, m);
	off = _mm256_blendv_ps(off, _mm256_castsi256_ps(_mm256_set1_epi32(1)), m);
	m = _mm256_cmp_ps(e1, best, _CMP_GT_OQ);
	best = _mm256_blendv_ps(best, e1, m);
	off = _mm256_blendv_ps(off, _mm256_castsi256_ps(_mm256_set1_epi32(wp)), m);
	m = _mm256_cmp_ps(o1, best, _CMP_GT_OQ);
	best = _mm256_blendv_ps(best, o1, m);
	off = _mm256_blendv_ps(off, _mm256_castsi256_ps(_mm256_set1_epi32(wp + 1)), m);
	best = _mm256_add_ps(best, _mm256_set1_ps(bias));
	__m256i idx = _mm256_add_epi32(_mm256_set1_epi32(first), _mm256_add_epi32(lane2, _mm256_castps_si256(off)));
	if (relu) {
		__m256 keep = _mm256_cmp_ps(best, _mm256_setzero_ps(), _CMP_GT_OQ);
		best = _mm256_and_ps(best, keep);
		idx = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(_mm256_set1_epi32(-1)),
			_mm256_castsi256_ps(idx), keep));
	}
	*out = best;
	*index = idx;
}

// 2×2 stride-2 max-pool of c channels of wide pre-activations (channels
// cs apart, rows wp apart) plus bias[ch], optionally ReLU, into y and arg
// (hy×wy per channel). arg gets the index in pre of each window's maximum,
// or −1 where ReLU zeroed the output.
static void pool2(const float *pre, int c, int cs, int wp, int hy, int wy, const float *bias, int relu,
	float *y, int32_t *arg)
{
	const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
	for (int ch = 0; ch < c; ch++) {
		for (int qi = 0; qi < hy; qi++) {
			const float *r0 = pre + ch * cs + 2 * qi * wp, *r1 = r0 + wp;
			float *yo = y + (ch * hy + qi) * wy;
			int32_t *ao = arg + (ch * hy + qi) * wy;
			int32_t rowbase = ch * cs + 2 * qi * wp;
			__m256 best;
			__m256i idx;
			int qj = 0;
			for (; qj + 8 <= wy; qj += 8) {
				pool8(_mm256_loadu_ps(r0 + 2 * qj), _mm256_loadu_ps(r0 + 2 * qj + 8),
					_mm256_loadu_ps(r1 + 2 * qj), _mm256_loadu_ps(r1 + 2 * qj + 8),
					wp, bias[ch], relu, rowbase + 2 * qj, &best, &idx);
				_mm256_storeu_ps(yo + qj, best);
				_mm256_storeu_si256((__m256i *)(ao + qj), idx);
			}
			if (qj < wy) {
				// The last rem < 8 windows, with masked loads and stores.
				int rem = wy - qj;
				__m256i mlo = _mm256_cmpgt_epi32(_mm256_set1_epi32(2 * rem), lanes);
				__m256i mhi = _mm256_cmpgt_epi32(_mm256_set1_epi32(2 * rem - 8), lanes);
				__m256i mout = _mm256_cmpgt_epi32(_mm256_set1_epi32(rem), lanes);
				pool8(_mm256_maskload_ps(r0 + 2 * qj, mlo), _mm256_maskload_ps(r0 + 2 * qj + 8, mhi),
					_mm256_maskload_ps(r1 + 2 * qj, mlo), _mm256_maskload_ps(r1 + 2 * qj + 8, mhi),
					wp, bias[ch], relu, rowbase + 2 * qj, &best, &idx);
				_mm256_maskstore_ps(yo + qj, mout, best);
				_mm256_maskstore_epi32(ao + qj, mout, idx);
			}
		}
	}
}
*/
import "C"

import "unsafe"

// useAVX2 is fixed at start-up from the CPU's feature bits.
var useAVX2 = C.have_avx2_fma() != 0

// kernelImpl names the convolution kernels in use.
func kernelImpl() string {
	if useAVX2 {
		return "avx2-fma (C)"
	}
	return "go"
}

func gatherGemmAVX2(mm, n, kk int, w, src []float32, off []int32, out []float32, ldo int) {
	C.gather_gemm(C.int(mm), C.int(n), C.int(kk), (*C.float)(unsafe.Pointer(&w[0])), (*C.float)(unsafe.Pointer(&src[0])),
		(*C.int32_t)(unsafe.Pointer(&off[0])), (*C.float)(unsafe.Pointer(&out[0])), C.int(ldo))
}

func gatherWgradAVX2(mm, n, kk int, d []float32, ldd int, src []float32, off []int32, dw []float32) {
	C.gather_wgrad(C.int(mm), C.int(n), C.int(kk), (*C.float)(unsafe.Pointer(&d[0])), C.int(ldd),
		(*C.float)(unsafe.Pointer(&src[0])), (*C.int32_t)(unsafe.Pointer(&off[0])), (*C.float)(unsafe.Pointer(&dw[0])))
}

func pool2AVX2(pre []float32, c, cs, wp, hy, wy int, bias []float32, relu bool, y []float32, arg []int32) {
	r := C.int(0)
	if relu {
		r = 1
	}
	C.pool2((*C.float)(unsafe.Pointer(&pre[0])), C.int(c), C.int(cs), C.int(wp), C.int(hy), C.int(wy),
		(*C.float)(unsafe.Pointer(&bias[0])), r, (*C.float)(unsafe.Pointer(&y[0])), (*C.int32_t)(unsafe.Pointer(&arg[0])))
}
