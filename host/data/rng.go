package data

import "math/bits"

// splitmix64 is the finaliser of SplitMix64 (Steele, Lea and Flood 2014):
// a bijective mixing function on 64-bit words.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// mix derives a well-mixed 64-bit value from a seed and a sequence of
// integer coordinates; it is how every random draw in this package is keyed.
func mix(seed uint64, coords ...uint64) uint64 {
	h := splitmix64(seed)
	for _, c := range coords {
		h = splitmix64(h ^ splitmix64(c+0x632be59bd9b4e019))
	}
	return h
}

// Domain separators for mix, so that different uses of one seed never
// share a stream.
const (
	domPerm uint64 = iota + 1
	domAugment
	domSubset
	domSynthTemplate
	domSynthSample
)

// rng is a small SplitMix64 generator; its whole state is one word.
type rng struct{ s uint64 }

func newRNG(seed uint64) rng { return rng{s: seed} }

func (r *rng) uint64() uint64 {
	r.s += 0x9e3779b97f4a7c15
	x := r.s
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// intn returns a uniform integer in [0, n) without modulo bias (Lemire 2019).
func (r *rng) intn(n int) int {
	if n <= 0 {
		panic("data: intn with n <= 0")
	}
	bound := uint64(n)
	hi, lo := bits.Mul64(r.uint64(), bound)
	if lo < bound {
		thresh := -bound % bound
		for lo < thresh {
			hi, lo = bits.Mul64(r.uint64(), bound)
		}
	}
	return int(hi)
}

// float64 returns a uniform float64 in [0, 1).
func (r *rng) float64() float64 { return float64(r.uint64()>>11) / (1 << 53) }

// shuffleInt32 permutes p in place (Fisher–Yates).
func (r *rng) shuffleInt32(p []int32) {
	for i := len(p) - 1; i > 0; i-- {
		j := r.intn(i + 1)
		p[i], p[j] = p[j], p[i]
	}
}
