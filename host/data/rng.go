package data

import "github.com/lrsgd-lab/lrsgd/internal/splitmix"

// mix derives a well-mixed 64-bit value from a seed and a sequence of
// integer coordinates; it is how every random draw in this package is keyed.
func mix(seed uint64, coords ...uint64) uint64 { return splitmix.Key(seed, coords...) }

// Domain separators for mix, so that different uses of one seed never
// share a stream.
const (
	domPerm uint64 = iota + 1
	domAugment
	domSubset
	domSynthTemplate
	domSynthSample
)

// rng is the package's generator (SplitMix64; its whole state is one word).
type rng = splitmix.Rand

func newRNG(seed uint64) rng { return splitmix.New(seed) }
