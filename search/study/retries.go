package study

import "fmt"

// RetryLimit is how many times a trial that failed through no fault of its
// parameters (its worker died, its plugin crashed, the store was
// unreachable) is run again: the study's retries, else def.
func (s *Study) RetryLimit(def int) int {
	if s.Retries == nil {
		return def
	}
	return *s.Retries
}

// MaxSeeds bounds the seeds field.
const MaxSeeds = 1000

// SeedCount is how many runs, with different seeds, each configuration of
// a search gets (the seeds field; at least 1). In a compare study the seeds
// are those of each optimizer's final runs (FinalSeeds), and every tuning
// trial runs once.
func (s *Study) SeedCount() int {
	if s.Kind == KindCompare {
		return 1
	}
	return max(1, s.Seeds)
}

// Runs is the study's number of runs in all: TotalTrials configurations,
// each run SeedCount times; for a compare study, each optimizer's tuning
// trials and final runs.
func (s *Study) Runs() (int, error) {
	if s.Kind == KindCompare {
		return len(s.Optimizers) * (s.TuningTrials + s.FinalSeeds()), nil
	}
	n, err := s.TotalTrials()
	return n * s.SeedCount(), err
}

// checkRetries validates the retries field.
func (s *Study) checkRetries() error {
	if s.Retries != nil && *s.Retries < 0 {
		return fmt.Errorf("retries: %d, want >= 0", *s.Retries)
	}
	return nil
}
