package report

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/lrsgd-lab/lrsgd/results"
)

// StudyAttrTarget is the study user attribute that sets the train-loss
// target of matched comparisons: a number, or "auto".
const StudyAttrTarget = "target"

// How a study's target was chosen.
const (
	TargetAuto  = "auto"  // AutoTargetDefinition
	TargetStudy = "study" // the study's target attribute
	TargetFlag  = "flag"  // report --target
)

// AutoTargetDefinition says how the auto target is chosen; reports print it.
const AutoTargetDefinition = "auto: the largest, over every COMPLETE run of every configuration, of the run's " +
	"lowest train loss on its curve (max over configurations of max over runs of min over evaluations) — " +
	"the strictest train loss that every run of every configuration reached, so that each gets a speed and a " +
	"stability at the same fit. A configuration that barely trains sets it, loose for the others: set_by names it"

// ErrBadTarget marks a target that is neither a number nor "auto".
var ErrBadTarget = errors.New("want a train loss (a finite number ≥ 0) or auto")

// TargetSpec is a requested target: auto, or a train loss.
type TargetSpec struct {
	Auto  bool
	Value float64 // when not Auto
}

// ParseTarget reads "auto" or a train loss (a finite number ≥ 0).
func ParseTarget(s string) (TargetSpec, error) {
	s = strings.TrimSpace(s)
	if strings.EqualFold(s, TargetAuto) {
		return TargetSpec{Auto: true}, nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return TargetSpec{}, fmt.Errorf("target %q: %w", s, ErrBadTarget)
	}
	return TargetSpec{Value: v}, nil
}

// Target is the train loss at which a study's runs are compared.
type Target struct {
	// Value is the train loss; null when auto found no run with a curve.
	Value Float `json:"value"`
	// How is "auto", "study" (the study's target attribute) or "flag"
	// (report --target).
	How        string `json:"how"`
	Definition string `json:"definition"`
	// SetBy names, for auto, the configuration (and trial number) whose
	// run set the value.
	SetBy string `json:"set_by,omitempty"`
	// Note says why a study's target attribute was not used.
	Note string `json:"note,omitempty"`
}

// requestedTarget resolves what the report's target is to be: the flag's,
// else the study's target attribute, else auto.
func requestedTarget(flag string, st results.Study) (TargetSpec, *Target, error) {
	if flag != "" {
		spec, err := ParseTarget(flag)
		if err != nil {
			return TargetSpec{}, nil, err
		}
		t := &Target{How: TargetFlag}
		if spec.Auto {
			t.How = TargetAuto
		}
		return spec, t, nil
	}
	raw := st.UserAttrs[StudyAttrTarget]
	if strings.TrimSpace(raw) == "" {
		return TargetSpec{Auto: true}, &Target{How: TargetAuto}, nil
	}
	spec, err := ParseTarget(raw)
	if err != nil {
		return TargetSpec{Auto: true}, &Target{How: TargetAuto,
			Note: fmt.Sprintf("the study's target attribute %q is not a train loss: auto is used", raw)}, nil
	}
	if spec.Auto {
		return spec, &Target{How: TargetAuto}, nil
	}
	return spec, &Target{How: TargetStudy}, nil
}

// resolveTarget fixes the target's value. For auto it is the largest
// lowest train loss of the runs of configs (runs without a finite train
// loss on their curve cannot reach any target and are left out).
func resolveTarget(spec TargetSpec, t *Target, configs []*Config, runs map[int]*runCurve) {
	if !spec.Auto {
		t.Value = Float(spec.Value)
		src := "the study's target attribute"
		if t.How == TargetFlag {
			src = "report --target"
		}
		t.Definition = fmt.Sprintf("train loss ≤ %s (%s)", FormatFloat(spec.Value), src)
		return
	}
	t.Definition = AutoTargetDefinition
	best, have := math.NaN(), false
	for _, c := range configs {
		for _, r := range c.Runs {
			rc := runs[r.TrialID]
			if rc == nil || math.IsNaN(rc.minTrain) {
				continue
			}
			if !have || rc.minTrain > best {
				best, have = rc.minTrain, true
				t.SetBy = fmt.Sprintf("%s (trial #%d)", c.Key, r.Number)
			}
		}
	}
	t.Value = Float(best)
}
