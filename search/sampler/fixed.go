package sampler

import (
	"encoding/json"

	"github.com/c-bata/goptuna"
)

// Fixed returns a sampler that gives a trial the values queued with it
// (goptuna's "fixed_params" system attribute) and asks inner for the rest.
// goptuna applies queued values itself but checks them against the
// distribution first, and its step-int distribution leaves out its upper
// bound, which this package's samplers draw: without Fixed, a re-queued
// trial (or another seed of the same configuration) whose step-int value
// is the upper bound would be given a new value.
func Fixed(inner goptuna.Sampler) goptuna.Sampler { return fixed{inner} }

type fixed struct{ inner goptuna.Sampler }

// Sample implements goptuna.Sampler.
func (f fixed) Sample(study *goptuna.Study, trial goptuna.FrozenTrial, name string, dist any) (float64, error) {
	if raw, ok := trial.SystemAttrs["fixed_params"]; ok {
		var values map[string]float64
		if err := json.Unmarshal([]byte(raw), &values); err == nil {
			if v, ok := values[name]; ok {
				return v, nil
			}
		}
	}
	return f.inner.Sample(study, trial, name, dist)
}
