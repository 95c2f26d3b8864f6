package study

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// KindCompare is the kind of a study that compares its optimizers fairly:
// every optimizer gets the same number of tuning trials (tuning_trials)
// over its own space (the space entries restricted to it with
// optimizers: [...], and those shared by all), at the same budget (set
// train.budget_grads to match compute); then each optimizer's best tuning
// configuration is run again with seeds fresh seeds (train.seed + 1000,
// +1001, …), and reports compare those final runs with the baseline's.
const KindCompare = "compare"

// FinalSeedOffset is added to train.seed for the final runs of a compare
// study, so that they use seeds no tuning trial used.
const FinalSeedOffset = 1000

// FinalSeeds is the number of final runs per optimizer of a compare study.
func (s *Study) FinalSeeds() int { return max(1, s.Seeds) }

// checkCompare validates the fields of a compare study.
func (s *Study) checkCompare() error {
	switch s.Kind {
	case "":
		if s.TuningTrials != 0 {
			return errors.New("tuning_trials is for kind: compare")
		}
		// A --set optimizer=… that narrows the study to one optimizer
		// leaves nothing to compare; tune then records no baseline.
		if s.Baseline != "" && len(s.Optimizers) > 1 && !slices.Contains(s.Optimizers, s.Baseline) {
			return fmt.Errorf("baseline %q: want one of the study's optimizers (%s)", s.Baseline, strings.Join(s.Optimizers, ", "))
		}
		return nil
	case KindCompare:
	default:
		return fmt.Errorf("kind %q, want compare (or leave it out for a search)", s.Kind)
	}
	var errs []error
	if len(s.Optimizers) < 2 {
		errs = append(errs, errors.New("kind compare: list two or more optimizers in optimizers: [...]"))
	}
	if !slices.Contains(s.Optimizers, s.Baseline) {
		errs = append(errs, fmt.Errorf("baseline %q: want one of the study's optimizers (%s)", s.Baseline, strings.Join(s.Optimizers, ", ")))
	}
	if s.TuningTrials < 1 {
		errs = append(errs, fmt.Errorf("tuning_trials: %d, want >= 1 per optimizer", s.TuningTrials))
	}
	if len(s.Grid) > 0 {
		errs = append(errs, errors.New("kind compare: no grid (every optimizer is tuned by the sampler over its own space)"))
	}
	if s.Sampler == SamplerGrid || s.Sampler == SamplerCMAES {
		errs = append(errs, fmt.Errorf("kind compare: sampler %s, want random or tpe", s.Sampler))
	}
	return errors.Join(errs...)
}
