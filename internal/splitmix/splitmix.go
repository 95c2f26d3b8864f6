// Package splitmix is the lab's small, seedable source of randomness:
// SplitMix64 (Steele, Lea and Flood 2014) as a keyed hash and as a one-word
// generator. The data sets, augmentation, initialisation and dropout all draw
// from it, so that every random choice is a pure function of a seed and a few
// integer coordinates and a run can be resumed or coupled bit for bit.
package splitmix

import "math/bits"

const golden = 0x9e3779b97f4a7c15

// Mix is the SplitMix64 finaliser: a bijective mixing function on 64-bit words.
func Mix(x uint64) uint64 {
	x += golden
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// Key derives a well-mixed 64-bit value from a seed and a sequence of integer
// coordinates (a domain separator, a pass, a position, ...).
func Key(seed uint64, coords ...uint64) uint64 {
	h := Mix(seed)
	for _, c := range coords {
		h = Mix(h ^ Mix(c+0x632be59bd9b4e019))
	}
	return h
}

// Rand is a SplitMix64 generator; its whole state is one word, so copying
// it copies the stream.
type Rand struct{ s uint64 }

// New returns a generator seeded with seed.
func New(seed uint64) Rand { return Rand{s: seed} }

// Uint64 returns the next 64 random bits.
func (r *Rand) Uint64() uint64 {
	r.s += golden
	x := r.s
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// Float64 returns a uniform float64 in [0, 1).
func (r *Rand) Float64() float64 { return float64(r.Uint64()>>11) / (1 << 53) }

// Intn returns a uniform integer in [0, n) without modulo bias (Lemire 2019).
// It panics if n <= 0.
func (r *Rand) Intn(n int) int {
	if n <= 0 {
		panic("splitmix: Intn with n <= 0")
	}
	bound := uint64(n)
	hi, lo := bits.Mul64(r.Uint64(), bound)
	if lo < bound {
		thresh := -bound % bound
		for lo < thresh {
			hi, lo = bits.Mul64(r.Uint64(), bound)
		}
	}
	return int(hi)
}

// ShuffleInt32 permutes p in place (Fisher–Yates).
func (r *Rand) ShuffleInt32(p []int32) {
	for i := len(p) - 1; i > 0; i-- {
		j := r.Intn(i + 1)
		p[i], p[j] = p[j], p[i]
	}
}
