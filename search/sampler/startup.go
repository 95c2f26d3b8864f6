package sampler

import (
	"fmt"
	"sync"

	"github.com/c-bata/goptuna"
)

var _ goptuna.Sampler = (*Startup)(nil)

// Startup gives a model-based sampler its startup trials from another
// sampler. A parameter is drawn by the startup sampler in the study's
// trials numbered below n and, in later trials, while the study has fewer
// than n observations of it; by the model-based sampler otherwise.
//
// The trial numbers make the startup reproducible with several workers:
// how many observations a trial sees when it is sampled depends on which
// trials the other workers have finished by then, its number does not.
// The observation count is what goptuna's tpe.Sampler itself tests:
// a COMPLETE or PRUNED trial that has the parameter. tpe.Sampler draws its
// own startup trials with a goptuna.RandomSampler that no option replaces;
// wrapping a tpe.Sampler built with tpe.SamplerOptionNumberOfStartupTrials(n)
// in a Startup with the same n keeps that RandomSampler from ever being
// asked, since trials never leave those two states and so the count TPE
// makes after this one is never smaller.
//
// After its startup, tpe.Sampler (goptuna v0.9.0) still draws from the
// global math/rand: the mixture component of every numerical candidate,
// and the candidates of a categorical with more choices than its EI
// candidates (24 by default). Those trials are not reproducible run to run;
// Startup does not change that.
type Startup struct {
	n           int
	first, next goptuna.Sampler

	mu   sync.Mutex
	done map[startupKey]bool // parameters seen past their startup
}

type startupKey struct {
	study int
	param string
}

// NewStartup returns a sampler that draws each parameter from first in the
// trials numbered below n and until the study has n observations of it,
// and from next after.
func NewStartup(n int, first, next goptuna.Sampler) *Startup {
	return &Startup{n: n, first: first, next: next, done: map[startupKey]bool{}}
}

// Sample draws paramName for trial from the startup or the model-based
// sampler.
func (s *Startup) Sample(study *goptuna.Study, trial goptuna.FrozenTrial, paramName string, dist any) (float64, error) {
	if trial.Number < s.n {
		return s.first.Sample(study, trial, paramName, dist)
	}
	k := startupKey{study.ID, paramName}
	s.mu.Lock()
	done := s.done[k]
	s.mu.Unlock()
	if !done {
		n, err := observations(study, paramName)
		if err != nil {
			return 0, fmt.Errorf("sampler: trial %d, %s: %w", trial.Number, paramName, err)
		}
		if n < s.n {
			return s.first.Sample(study, trial, paramName, dist)
		}
		// The count only grows: skip it from now on.
		s.mu.Lock()
		s.done[k] = true
		s.mu.Unlock()
	}
	return s.next.Sample(study, trial, paramName, dist)
}

// observations counts the study's COMPLETE and PRUNED trials that have
// the parameter name.
func observations(study *goptuna.Study, name string) (int, error) {
	trials, err := study.GetTrials()
	if err != nil {
		return 0, fmt.Errorf("list trials: %w", err)
	}
	n := 0
	for _, t := range trials {
		if t.State != goptuna.TrialStateComplete && t.State != goptuna.TrialStatePruned {
			continue
		}
		if _, ok := t.InternalParams[name]; ok {
			n++
		}
	}
	return n, nil
}
