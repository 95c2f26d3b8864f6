package report

import (
	"fmt"
	"slices"

	"github.com/lrsgd-lab/lrsgd/host/metrics"
	"github.com/lrsgd-lab/lrsgd/results/report/stats"
)

// Study user attributes of a compare study (see search).
const (
	StudyAttrKind     = "kind"     // "compare"
	StudyAttrBaseline = "baseline" // the optimizer the others are compared with
	KindCompare       = "compare"
	PhaseFinal        = "final"
)

// WelchRule names the test behind a comparison's intervals; reports print
// it.
const WelchRule = "Welch's t: mean difference to the baseline's runs, standard error √(s²a/na + s²b/nb), " +
	"Welch–Satterthwaite degrees of freedom, 95% interval"

// comparedMetrics are the metrics a comparison summarises per optimizer,
// the first being the headline.
var comparedMetrics = []string{metrics.TestAccuracy, metrics.GeneralizationGap, GradsAtTarget, metrics.HittingTimeGrads}

// probeMetrics are compared too when the stability probe ran: the
// measured ε and ‖w − v‖ at the end of the run.
var probeMetrics = []string{metrics.EpsilonMean, metrics.ParamDivergence}

// Diff is a mean difference to the baseline with its Welch interval.
type Diff struct {
	Mean Float     `json:"mean"`
	CI95 *[2]Float `json:"ci95"`
	DF   Float     `json:"df"` // Welch–Satterthwaite; null when infinite
}

// Compared is one metric of one optimizer in a comparison: its summary
// over the optimizer's final runs and its difference to the baseline.
type Compared struct {
	Stat
	// DiffVsBaseline is null for the baseline itself and when either side
	// has fewer than 2 runs.
	DiffVsBaseline *Diff `json:"diff_vs_baseline"`
	// ExcludesZero is whether the difference's interval excludes 0; null
	// when there is no interval.
	ExcludesZero *bool `json:"excludes_zero"`
}

// OptimizerResult is one optimizer's line of a comparison: test accuracy
// flattened into it, every compared metric under Metrics.
type OptimizerResult struct {
	Optimizer string `json:"optimizer"`
	Compared
	Metrics map[string]Compared `json:"metrics"`
	// Trials are the numbers of its final runs.
	Trials []int `json:"trials"`
}

// Comparison is a compare study's result: each optimizer's final runs
// against the baseline's.
type Comparison struct {
	Baseline string `json:"baseline"`
	Phase    string `json:"phase"`  // PhaseFinal, or "" when every COMPLETE run is compared
	Metric   string `json:"metric"` // the headline metric, test_accuracy
	// Metrics are the metrics compared, the headline first: comparedMetrics,
	// and probeMetrics when the probe ran.
	Metrics    []string          `json:"metrics"`
	Test       string            `json:"test"` // WelchRule
	Optimizers []OptimizerResult `json:"optimizers"`
	Note       string            `json:"note,omitempty"`
}

// buildComparison compares the optimizers' final runs (COMPLETE trials
// with phase "final") with the baseline's, when the study is a compare
// study, or all their COMPLETE runs when another study has a baseline
// (baseline, else its baseline attribute); nil otherwise. atTarget holds
// each trial's values at the target.
func buildComparison(attrs map[string]string, baseline string, trials []Trial, atTarget map[int]map[string]Float) *Comparison {
	phase := PhaseFinal
	if baseline == "" {
		baseline = attrs[StudyAttrBaseline]
	}
	if attrs[StudyAttrKind] != KindCompare {
		if baseline == "" {
			return nil
		}
		phase = ""
	}
	cmp := &Comparison{Baseline: baseline, Phase: phase, Metric: comparedMetrics[0],
		Metrics: comparedMetrics, Test: WelchRule, Optimizers: []OptimizerResult{}}
	for i := range trials {
		if _, ok := trials[i].Metric(metrics.EpsilonMean); ok && trials[i].State == "COMPLETE" {
			cmp.Metrics = append(slices.Clip(comparedMetrics), probeMetrics...)
			break
		}
	}
	var order []string
	values := map[string]map[string][]float64{}
	numbers := map[string][]int{}
	for i := range trials {
		t := &trials[i]
		if t.State != "COMPLETE" || (phase != "" && t.UserAttrs[AttrPhase] != phase) {
			continue
		}
		o := optimizerOf(t)
		if _, ok := values[o]; !ok {
			values[o] = map[string][]float64{}
			order = append(order, o)
		}
		numbers[o] = append(numbers[o], t.Number)
		for _, m := range cmp.Metrics {
			v, ok := t.Metric(m)
			if m == GradsAtTarget {
				var at Float
				at, ok = atTarget[t.TrialID][m]
				v = float64(at)
			}
			if ok && !(m == metrics.HittingTimeGrads && v < 0) { // −1, never, is not a time
				values[o][m] = append(values[o][m], v)
			}
		}
	}
	if _, ok := values[cmp.Baseline]; ok {
		// The baseline first, then the others in the order of their runs.
		for i, o := range order {
			if o == cmp.Baseline {
				order = append(append([]string{o}, order[:i]...), order[i+1:]...)
				break
			}
		}
	} else {
		cmp.Note = fmt.Sprintf("the baseline %q has no COMPLETE %sruns: no differences", cmp.Baseline, phaseWord(phase))
	}
	if len(order) == 0 {
		cmp.Note = fmt.Sprintf("no COMPLETE %sruns yet", phaseWord(phase))
	}
	for _, o := range order {
		r := OptimizerResult{Optimizer: o, Metrics: map[string]Compared{}, Trials: numbers[o]}
		for _, m := range cmp.Metrics {
			c := Compared{Stat: newStat(values[o][m])}
			if base, ok := values[cmp.Baseline][m]; ok && o != cmp.Baseline {
				if d, ok := stats.Welch(c.Summary(), stats.Summarize(base)); ok {
					ex := d.ExcludesZero()
					c.DiffVsBaseline = &Diff{Mean: Float(d.Mean), CI95: &[2]Float{Float(d.Lo), Float(d.Hi)}, DF: Float(d.DF)}
					c.ExcludesZero = &ex
				}
			}
			r.Metrics[m] = c
		}
		r.Compared = r.Metrics[cmp.Metric]
		cmp.Optimizers = append(cmp.Optimizers, r)
	}
	return cmp
}

// phaseWord is "final " for the final phase, "" for all runs.
func phaseWord(phase string) string {
	if phase == "" {
		return ""
	}
	return phase + " "
}
