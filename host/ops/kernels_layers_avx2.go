//go:build cgo && amd64 && !noavx2

package ops

/*
#cgo CFLAGS: -O3 -std=gnu11
#include <stdint.h>
#include <string.h>

#pragma GCC target("avx2,fma")
#include <immintrin.h>

// im2col of one sample x (c×h×w) into columns [at, at+ho·wo) of col, one row
// per tap (c, ki, kj), rows ld apart. lo[kj], hi[kj]: the output columns
// whose input column lies inside the image.
static void im2col(const float *x, int c, int h, int w, int kh, int kw, int stride, int pad,
	int ho, int wo, const int64_t *lo, const int64_t *hi, float *col, long ld, long at)
{
	const long plane = (long)h * w;
	for (int ch = 0; ch < c; ch++) {
		const float *xc = x + ch * plane;
		for (int ki = 0; ki < kh; ki++) {
			for (int kj = 0; kj < kw; kj++) {
				long k = ((long)ch * kh + ki) * kw + kj;
				float *row = col + k * ld + at;
				int l = (int)lo[kj], u = (int)hi[kj];
				for (int oh = 0; oh < ho; oh++) {
					float *dst = row + (long)oh * wo;
					int ih = oh * stride + ki - pad;
					if (ih < 0 || ih >= h) {
						memset(dst, 0, sizeof(float) * wo);
						continue;
					}
					const float *src = xc + (long)ih * w + kj - pad;
					for (int ow = 0; ow < l; ow++)
						dst[ow] = 0;
					if (stride == 1) {
						memcpy(dst + l, src + l, sizeof(float) * (u - l));
					} else {
						for (int ow = l; ow < u; ow++)
							dst[ow] = src[ow * stride];
					}
					for (int ow = u; ow < wo; ow++)
						dst[ow] = 0;
				}
			}
		}
	}
}

// col2im: dx (one sample, c×h×w) = columns [at, at+ho·wo) of dcol scattered
// back, taps in order (as the Go version, so the sums are the same bits).
static void col2im(const float *dcol, long ld, long at, int c, int h, int w, int kh, int kw, int stride,
	int pad, int ho, int wo, const int64_t *lo, const int64_t *hi, float *dx)
{
	const long plane = (long)h * w;
	memset(dx, 0, sizeof(float) * plane * c);
	for (int ch = 0; ch < c; ch++) {
		float *dc = dx + ch * plane;
		for (int ki = 0; ki < kh; ki++) {
			for (int kj = 0; kj < kw; kj++) {
				long k = ((long)ch * kh + ki) * kw + kj;
				const float *row = dcol + k * ld + at;
				int l = (int)lo[kj], u = (int)hi[kj];
				if (l >= u)
					continue;
				for (int oh = 0; oh < ho; oh++) {
					int ih = oh * stride + ki - pad;
					if (ih < 0 || ih >= h)
						continue;
					const float *src = row + (long)oh * wo;
					float *dst = dc + (long)ih * w + kj - pad;
					if (stride == 1) {
						for (int ow = l; ow < u; ow++)
							dst[ow] += src[ow];
					} else {
						for (int ow = l; ow < u; ow++)
							dst[ow * stride] += src[ow];
					}
				}
			}
		}
	}
}

static inline double hsum_pd(__m256d v) {
	__m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
	return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}

// Σ x and Σ (x − mean)² over nb rows of n floats, rows rs apart, in double.
static double bn_moments(const float *x, int nb, long rs, int n, double mean, int second)
{
	__m256d a0 = _mm256_setzero_pd(), a1 = _mm256_setzero_pd();
	double tail = 0;
	const __m256d m = _mm256_set1_pd(mean);
	for (int b = 0; b < nb; b++) {
		const float *r = x + b * rs;
		int i = 0;
		for (; i + 8 <= n; i += 8) {
			__m256 v = _mm256_loadu_ps(r + i);
			__m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(v));
			__m256d hi = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
			if (second) {
				lo = _mm256_sub_pd(lo, m);
				hi = _mm256_sub_pd(hi, m);
				a0 = _mm256_fmadd_pd(lo, lo, a0);
				a1 = _mm256_fmadd_pd(hi, hi, a1);
			} else {
				a0 = _mm256_add_pd(a0, lo);
				a1 = _mm256_add_pd(a1, hi);
			}
		}
		for (; i < n; i++) {
			double d = (double)r[i];
			if (second) {
				d -= mean;
				tail += d * d;
			} else {
				tail += d;
			}
		}
	}
	return hsum_pd(_mm256_add_pd(a0, a1)) + tail;
}

// y = relu?((x − m)·scale + shift (+ res)) over nb rows of n.
static void bn_apply(const float *x, const float *res, float *y, int nb, long rs, int n,
	float m, float scale, float shift, int relu)
{
	for (int b = 0; b < nb; b++) {
		const float *xr = x + b * rs;
		float *yr = y + b * rs;
		if (res) {
			const float *rr = res + b * rs;
			for (int i = 0; i < n; i++) {
				float u = (xr[i] - m) * scale + shift;
				u += rr[i];
				yr[i] = relu && u < 0 ? 0 : u;
			}
		} else if (relu) {
			for (int i = 0; i < n; i++) {
				float u = (xr[i] - m) * scale + shift;
				yr[i] = u < 0 ? 0 : u;
			}
		} else {
			for (int i = 0; i < n; i++)
				yr[i] = (xr[i] - m) * scale + shift;
		}
	}
}

// Σ g and Σ g·(x − m) in double, g = dy masked where y ≤ 0 (relu); g is
// written to dres when dres is not null.
typedef struct { double g, gx; } sums2;

static sums2 bn_grad_sums(const float *x, const float *y, const float *dy, float *dres, int nb, long rs, int n,
	float m, int relu)
{
	__m256d g0 = _mm256_setzero_pd(), g1 = _mm256_setzero_pd(), p0 = _mm256_setzero_pd(), p1 = _mm256_setzero_pd();
	double tg = 0, tp = 0;
	const __m256 mv = _mm256_set1_ps(m), zero = _mm256_setzero_ps();
	for (int b = 0; b < nb; b++) {
		const float *xr = x + b * rs, *yr = y + b * rs, *dr = dy + b * rs;
		float *rr = dres ? dres + b * rs : 0;
		int i = 0;
		for (; i + 8 <= n; i += 8) {
			__m256 g = _mm256_loadu_ps(dr + i);
			if (relu)
				g = _mm256_and_ps(g, _mm256_cmp_ps(_mm256_loadu_ps(yr + i), zero, _CMP_GT_OQ));
			if (rr)
				_mm256_storeu_ps(rr + i, g);
			__m256 d = _mm256_sub_ps(_mm256_loadu_ps(xr + i), mv);
			__m256d glo = _mm256_cvtps_pd(_mm256_castps256_ps128(g)), ghi = _mm256_cvtps_pd(_mm256_extractf128_ps(g, 1));
			__m256d dlo = _mm256_cvtps_pd(_mm256_castps256_ps128(d)), dhi = _mm256_cvtps_pd(_mm256_extractf128_ps(d, 1));
			g0 = _mm256_add_pd(g0, glo);
			g1 = _mm256_add_pd(g1, ghi);
			p0 = _mm256_fmadd_pd(glo, dlo, p0);
			p1 = _mm256_fmadd_pd(ghi, dhi, p1);
		}
		for (; i < n; i++) {
			float g = dr[i];
			if (relu && !(yr[i] > 0))
				g = 0;
			if (rr)
				rr[i] = g;
			tg += (double)g;
			tp += (double)g * (double)(xr[i] - m);
		}
	}
	sums2 r = {hsum_pd(_mm256_add_pd(g0, g1)) + tg, hsum_pd(_mm256_add_pd(p0, p1)) + tp};
	return r;
}

// dx = a·g + bx·(x − m) + c0, g = dy masked where y ≤ 0 (relu).
static void bn_grad_dx(const float *x, const float *y, const float *dy, float *dx, int nb, long rs, int n,
	float m, float a, float bx, float c0, int relu)
{
	for (int b = 0; b < nb; b++) {
		const float *xr = x + b * rs, *yr = y + b * rs, *dr = dy + b * rs;
		float *o = dx + b * rs;
		if (relu) {
			for (int i = 0; i < n; i++) {
				float g = yr[i] > 0 ? dr[i] : 0;
				o[i] = a * g + bx * (xr[i] - m) + c0;
			}
		} else {
			for (int i = 0; i < n; i++)
				o[i] = a * dr[i] + bx * (xr[i] - m) + c0;
		}
	}
}
*/
import "C"

import "unsafe"

func f32p(s []float32) *C.float { return (*C.float)(unsafe.Pointer(&s[0])) }

func im2colAVX2(op *gemmConvOp, x, col []float32, ld, at int) {
	C.im2col(f32p(x), C.int(op.c), C.int(op.h), C.int(op.w), C.int(op.kh), C.int(op.kw), C.int(op.stride), C.int(op.pad),
		C.int(op.ho), C.int(op.wo), (*C.int64_t)(unsafe.Pointer(&op.colLo[0])), (*C.int64_t)(unsafe.Pointer(&op.colHi[0])),
		f32p(col), C.long(ld), C.long(at))
}

func col2imAVX2(op *gemmConvOp, dcol []float32, ld, at int, dx []float32) {
	C.col2im(f32p(dcol), C.long(ld), C.long(at), C.int(op.c), C.int(op.h), C.int(op.w), C.int(op.kh), C.int(op.kw),
		C.int(op.stride), C.int(op.pad), C.int(op.ho), C.int(op.wo),
		(*C.int64_t)(unsafe.Pointer(&op.colLo[0])), (*C.int64_t)(unsafe.Pointer(&op.colHi[0])), f32p(dx))
}

func b2c(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

func bnMomentsAVX2(x []float32, nb, rs, n int, mean float64, second bool) float64 {
	return float64(C.bn_moments(f32p(x), C.int(nb), C.long(rs), C.int(n), C.double(mean), b2c(second)))
}

func bnApplyAVX2(x, res, y []float32, nb, rs, n int, m, scale, shift float32, relu bool) {
	var rp *C.float
	if res != nil {
		rp = f32p(res)
	}
	C.bn_apply(f32p(x), rp, f32p(y), C.int(nb), C.long(rs), C.int(n), C.float(m), C.float(scale), C.float(shift), b2c(relu))
}

func bnGradSumsAVX2(x, y, dy, dres []float32, nb, rs, n int, m float32, relu bool) (float64, float64) {
	var rp *C.float
	if dres != nil {
		rp = f32p(dres)
	}
	r := C.bn_grad_sums(f32p(x), f32p(y), f32p(dy), rp, C.int(nb), C.long(rs), C.int(n), C.float(m), b2c(relu))
	return float64(r.g), float64(r.gx)
}

func bnGradDxAVX2(x, y, dy, dx []float32, nb, rs, n int, m, a, bx, c0 float32, relu bool) {
	C.bn_grad_dx(f32p(x), f32p(y), f32p(dy), f32p(dx), C.int(nb), C.long(rs), C.int(n), C.float(m), C.float(a), C.float(bx), C.float(c0), b2c(relu))
}
