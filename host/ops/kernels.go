package ops

import "fmt"

// The two convolution kernels below work on a "wide" layout: an image of
// C channels of Hp×Wp pixels (already zero-padded) is read in place, and
// output pixel p of a k-indexed filter tap reads src[p+off[k]]. With
// off(c,ki,kj) = c·Hp·Wp + ki·Wp + kj this is the im2col product
// W·col without ever writing col: row k of the im2col matrix is the
// contiguous run src[off[k] : off[k]+n]. Output rows are Wp wide, of which
// the first Wo = Wp−kw+1 columns are real pixels; the rest are ignored going
// forward and held at zero going backward.

// gatherGemm sets out[m·ldo+p] = Σ_k w[m·kk+k] · src[p+off[k]] for m < mm,
// p < n. maxOff is max(off).
func gatherGemm(mm, n, kk int, w, src []float32, off []int32, maxOff int, out []float32, ldo int) {
	if mm == 0 || n == 0 {
		return
	}
	checkKernel("gatherGemm", mm, n, kk, len(w), len(src), len(off), maxOff, len(out), ldo)
	if useAVX2 {
		gatherGemmAVX2(mm, n, kk, w, src, off, out, ldo)
		return
	}
	gatherGemmGo(mm, n, kk, w, src, off, out, ldo)
}

// gatherWgrad adds Σ_p d[m·ldd+p] · src[p+off[k]] over p < n to
// dw[m·kk+k] for m < mm, k < kk.
func gatherWgrad(mm, n, kk int, d []float32, ldd int, src []float32, off []int32, maxOff int, dw []float32) {
	if mm == 0 || n == 0 {
		return
	}
	checkKernel("gatherWgrad", mm, n, kk, len(dw), len(src), len(off), maxOff, len(d), ldd)
	if useAVX2 {
		gatherWgradAVX2(mm, n, kk, d, ldd, src, off, dw)
		return
	}
	gatherWgradGo(mm, n, kk, d, ldd, src, off, dw)
}

// checkKernel guards the unchecked C kernels: every index they touch must lie
// inside its slice. mat is the m×n operand with row stride ld (out or d).
func checkKernel(name string, mm, n, kk, lenW, lenSrc, lenOff, maxOff, lenMat, ld int) {
	switch {
	case lenOff < kk:
		panic(fmt.Sprintf("ops: %s: %d offsets for %d taps", name, lenOff, kk))
	case lenW < mm*kk:
		panic(fmt.Sprintf("ops: %s: weights have %d elements, need %d×%d", name, lenW, mm, kk))
	case lenSrc < maxOff+n:
		panic(fmt.Sprintf("ops: %s: source has %d elements, need %d", name, lenSrc, maxOff+n))
	case ld < n || lenMat < (mm-1)*ld+n:
		panic(fmt.Sprintf("ops: %s: %d×%d operand with stride %d does not fit %d elements", name, mm, n, ld, lenMat))
	}
}

func gatherGemmGo(mm, n, kk int, w, src []float32, off []int32, out []float32, ldo int) {
	for m := 0; m < mm; m++ {
		o := out[m*ldo : m*ldo+n]
		clear(o)
		wr := w[m*kk : m*kk+kk]
		for k, wv := range wr {
			s := src[int(off[k]) : int(off[k])+n]
			for p := range o {
				o[p] += wv * s[p]
			}
		}
	}
}

func gatherWgradGo(mm, n, kk int, d []float32, ldd int, src []float32, off []int32, dw []float32) {
	for m := 0; m < mm; m++ {
		dr := d[m*ldd : m*ldd+n]
		for k := 0; k < kk; k++ {
			s := src[int(off[k]) : int(off[k])+n]
			var acc float32
			for p, dv := range dr {
				acc += dv * s[p]
			}
			dw[m*kk+k] += acc
		}
	}
}

// pool2 max-pools c channels of wide pre-activations (channels cs apart,
// rows wp apart) 2×2 with stride 2 into y (c×hy×wy), adds bias[ch], applies
// ReLU when relu is set, and records in arg the index in pre of each
// maximum, or −1 where ReLU zeroed the output. Ties go to the first of
// (0,0), (0,1), (1,0), (1,1), as in gorgonia.MaxPool2D.
func pool2(pre []float32, c, cs, wp, hy, wy int, bias []float32, relu bool, y []float32, arg []int32) {
	if need := (c-1)*cs + (2*hy-1)*wp + 2*wy; len(pre) < need || len(bias) < c || len(y) < c*hy*wy || len(arg) < c*hy*wy {
		panic(fmt.Sprintf("ops: pool2: %d inputs (need %d), %d biases, %d outputs, %d indices for %d×%d×%d",
			len(pre), need, len(bias), len(y), len(arg), c, hy, wy))
	}
	if useAVX2 {
		pool2AVX2(pre, c, cs, wp, hy, wy, bias, relu, y, arg)
		return
	}
	pool2Go(pre, c, cs, wp, hy, wy, bias, relu, y, arg)
}

func pool2Go(pre []float32, c, cs, wp, hy, wy int, bias []float32, relu bool, y []float32, arg []int32) {
	for ch := 0; ch < c; ch++ {
		for qi := 0; qi < hy; qi++ {
			r := ch*cs + 2*qi*wp
			for qj := 0; qj < wy; qj++ {
				i := r + 2*qj
				best, bi := pre[i], i
				if v := pre[i+1]; v > best {
					best, bi = v, i+1
				}
				if v := pre[i+wp]; v > best {
					best, bi = v, i+wp
				}
				if v := pre[i+wp+1]; v > best {
					best, bi = v, i+wp+1
				}
				best += bias[ch]
				at := (ch*hy+qi)*wy + qj
				if relu && !(best > 0) {
					y[at], arg[at] = 0, -1
					continue
				}
				y[at], arg[at] = best, int32(bi)
			}
		}
	}
}

// Kernels names the convolution kernels compiled into this binary and usable
// on this CPU: "avx2-fma (C)" or "go".
func Kernels() string { return kernelImpl() }
