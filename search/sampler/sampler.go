// Package sampler is the lab's reproducible random sampling for goptuna
// studies: a random sampler whose every draw is a pure function of the
// study's seed, the trial's number and the parameter's name, and a wrapper
// that gives a model-based sampler such as TPE its startup trials from it.
//
// goptuna v0.9.0's RandomSampler is not reproducible: it draws categorical
// parameters from the global math/rand generator, which Go seeds at random
// in every process (and whose Seed is a no-op since Go 1.24), and it never
// draws the upper bound of an int range. TPE inherits both faults, since it
// samples its startup trials with a RandomSampler it does not let callers
// replace.
//
// # How draws are derived
//
// [Random] keeps no generator state between draws. Each draw hashes
// (seed, trial number, parameter name) with SplitMix64
// (package internal/splitmix) into the seed of a fresh generator, and maps
// that generator's output onto the distribution. A sampler with one shared,
// mutex-guarded generator would also be seeded, but the values a trial got
// would depend on how many draws other trials had taken before it: on the
// order in which concurrent workers reached the sampler, on which trials
// the grid or a relative sampler had already covered, and on how the study
// was split into runs. Keyed draws avoid all three: trial n receives the
// same values with one worker or eight, in one run or resumed across
// several, and a resumed study does not replay its first numbers, because
// its new trials carry new numbers. Parameters of one trial are
// independent of one another because their names differ.
//
// # Ranges
//
// Every bound of a discrete distribution is drawn, as in Optuna: an
// IntUniformDistribution{Low, High} gives each of Low..High, a
// StepIntUniformDistribution each of Low, Low+Step, … up to the highest
// point of that grid not above High, and a DiscreteUniformDistribution
// likewise on its grid of spacing Q. Floats are uniform on [Low, High], log-floats
// uniform in log space on the same interval.
package sampler

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"

	"github.com/c-bata/goptuna"

	"github.com/lrsgd-lab/lrsgd/internal/splitmix"
)

// domain separates the keys of these draws from the lab's other uses of
// splitmix.Key with the same seed.
const domain = 0x73616d706c6572 // "sampler"

var _ goptuna.Sampler = (*Random)(nil)

// Random is a seeded random sampler for every distribution goptuna
// defines. It holds no mutable state, so one Random may serve any number
// of concurrent workers.
type Random struct {
	seed uint64
}

// NewRandom returns a random sampler seeded with seed.
func NewRandom(seed int64) *Random {
	return &Random{seed: uint64(seed)}
}

// Sample draws paramName for trial from dist, a goptuna distribution
// value. The draw depends only on the sampler's seed, trial.Number,
// paramName and dist; study is not used.
func (r *Random) Sample(_ *goptuna.Study, trial goptuna.FrozenTrial, paramName string, dist any) (float64, error) {
	v, err := r.draw(trial.Number, paramName, dist)
	if err != nil {
		return 0, fmt.Errorf("sampler: trial %d, %s: %w", trial.Number, paramName, err)
	}
	return v, nil
}

// draw returns goptuna's internal representation of the value of name in
// the trial numbered number.
func (r *Random) draw(number int, name string, dist any) (float64, error) {
	h := fnv.New64a()
	h.Write([]byte(name))
	src := splitmix.New(splitmix.Key(r.seed, domain, uint64(number), h.Sum64()))
	rng := rand.New(&src)

	switch d := dist.(type) {
	case goptuna.UniformDistribution:
		if err := checkRange(d.Low, d.High); err != nil {
			return 0, err
		}
		if d.Single() {
			return d.Low, nil
		}
		return min(d.Low+rng.Float64()*(d.High-d.Low), d.High), nil
	case goptuna.LogUniformDistribution:
		if err := checkRange(d.Low, d.High); err != nil {
			return 0, err
		}
		if !(d.Low > 0) {
			return 0, fmt.Errorf("log-uniform low %g, want > 0", d.Low)
		}
		if d.Single() {
			return d.Low, nil
		}
		lo, hi := math.Log(d.Low), math.Log(d.High)
		// exp may round a hair past either bound.
		return math.Min(math.Max(math.Exp(lo+rng.Float64()*(hi-lo)), d.Low), d.High), nil
	case goptuna.IntUniformDistribution:
		if d.Low > d.High {
			return 0, fmt.Errorf("int low %d > high %d", d.Low, d.High)
		}
		return float64(d.Low + int(index(rng, uint64(d.High)-uint64(d.Low)))), nil
	case goptuna.StepIntUniformDistribution:
		if d.Low > d.High {
			return 0, fmt.Errorf("int low %d > high %d", d.Low, d.High)
		}
		if d.Step <= 0 {
			return 0, fmt.Errorf("int step %d, want > 0", d.Step)
		}
		last := (uint64(d.High) - uint64(d.Low)) / uint64(d.Step)
		return float64(d.Low + int(index(rng, last))*d.Step), nil
	case goptuna.DiscreteUniformDistribution:
		if err := checkRange(d.Low, d.High); err != nil {
			return 0, err
		}
		if !(d.Q > 0) || math.IsInf(d.Q, 0) {
			return 0, fmt.Errorf("discrete-uniform q %g, want > 0", d.Q)
		}
		// The grid Low, Low+Q, …; a High a rounding error short of a grid
		// point still counts that point (and is clamped to).
		last := math.Floor((d.High-d.Low)/d.Q + 1e-9)
		if last >= 1<<53 {
			return 0, fmt.Errorf("discrete-uniform [%g, %g] with q %g has too many points", d.Low, d.High, d.Q)
		}
		return math.Min(d.Low+float64(index(rng, uint64(last)))*d.Q, d.High), nil
	case goptuna.CategoricalDistribution:
		if len(d.Choices) == 0 {
			return 0, errors.New("categorical without choices")
		}
		return float64(rng.IntN(len(d.Choices))), nil
	}
	return 0, fmt.Errorf("%w: %T", goptuna.ErrUnknownDistribution, dist)
}

// index returns a uniform integer in [0, last], both ends included.
func index(rng *rand.Rand, last uint64) uint64 {
	if last == math.MaxUint64 {
		return rng.Uint64()
	}
	return rng.Uint64N(last + 1)
}

func checkRange(low, high float64) error {
	if math.IsNaN(low) || math.IsNaN(high) || math.IsInf(low, 0) || math.IsInf(high, 0) {
		return fmt.Errorf("range [%g, %g], want finite bounds", low, high)
	}
	if low > high {
		return fmt.Errorf("low %g > high %g", low, high)
	}
	return nil
}
