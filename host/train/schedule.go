package train

import (
	"math"
)

// Schedule kinds.
const (
	ScheduleConstant = "constant"
	ScheduleStep     = "step"
	ScheduleEvery    = "every"
)

// PaperSchedule is the reference code's schedule for 350 epochs: α = 0.1,
// ×0.1 from epoch 150 and again from epoch 250.
func PaperSchedule() Schedule {
	return Schedule{Kind: ScheduleStep, LR: 0.1, Milestones: []float64{150, 250}, Factor: 0.1}
}

// Validate checks the schedule. The error is a *ConfigError naming the
// field (schedule.lr, schedule.kind, schedule.milestones, schedule.every or
// schedule.factor).
func (s Schedule) Validate() error {
	if !(s.LR > 0) || math.IsInf(s.LR, 0) {
		return badField("schedule.lr", "%v: want a positive finite number", s.LR)
	}
	switch s.Kind {
	case "", ScheduleConstant:
	case ScheduleStep:
		for i, m := range s.Milestones {
			if !(m >= 0) || math.IsInf(m, 0) || (i > 0 && m <= s.Milestones[i-1]) {
				return badField("schedule.milestones", "%v: want increasing non-negative epochs", s.Milestones)
			}
		}
	case ScheduleEvery:
		if s.Every <= 0 {
			return badField("schedule.every", "%d: want a positive number of outer steps", s.Every)
		}
	default:
		return badField("schedule.kind", "%q: want %s, %s or %s", s.Kind, ScheduleConstant, ScheduleStep, ScheduleEvery)
	}
	if s.Factor < 0 || math.IsInf(s.Factor, 0) || math.IsNaN(s.Factor) {
		return badField("schedule.factor", "%v: want a finite number ≥ 0 (0 means 0.1)", s.Factor)
	}
	return nil
}

func (s Schedule) factor() float64 {
	if s.Factor == 0 {
		return 0.1
	}
	return s.Factor
}

// At is the learning rate in force during an outer step after outer
// completed outer steps, with stepsPerEpoch outer steps to an epoch.
// "step" multiplies LR by Factor (0 means 0.1) for every milestone m with
// outer/stepsPerEpoch ≥ m — as the reference code's "if epoch >= 150";
// "every" multiplies it by Factor^⌊outer/Every⌋; "constant" (or "") is LR.
// The rate is constant within an outer step.
func (s Schedule) At(outer, stepsPerEpoch int64) float64 {
	switch s.Kind {
	case ScheduleStep:
		lr := s.LR
		epoch := float64(outer) / float64(stepsPerEpoch)
		for _, m := range s.Milestones {
			if epoch >= m {
				lr *= s.factor()
			}
		}
		return lr
	case ScheduleEvery:
		return s.LR * math.Pow(s.factor(), float64(outer/s.Every))
	}
	return s.LR
}
