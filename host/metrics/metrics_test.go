package metrics

import (
	"encoding/json"
	"math"
	"testing"
)

func TestObjectiveValue(t *testing.T) {
	r := Result{TestAccuracy: 0.5, TrainLoss: 1.25, TestLoss: 2, GeneralizationGap: 0.75,
		HittingTimeOuter: -1, HittingTimeGrads: 40, OuterSteps: 10, GradEvals: 100}
	for _, c := range []struct {
		name string
		want float64
	}{
		{TestAccuracy, 0.5},
		{GeneralizationGap, 0.75},
		{HittingTimeOuter, 11}, // never reached: run length + 1
		{HittingTimeGrads, 40},
		{GradEvals, 100},
	} {
		if got := ObjectiveValue(c.name, r); got != c.want {
			t.Errorf("ObjectiveValue(%s) = %v, want %v", c.name, got, c.want)
		}
	}
	if v := ObjectiveValue("no_such_metric", r); !math.IsNaN(v) {
		t.Errorf("unknown metric: %v, want NaN", v)
	}
	if v := ObjectiveValue(EpsilonMean, r); !math.IsNaN(v) {
		t.Errorf("probe metric from a Result: %v, want NaN", v)
	}
}

func TestResultMetricsMatchJSONKeys(t *testing.T) {
	// Every metric computed from a Result is stored under the key the
	// trainer's JSON result uses for the same number.
	r := Result{Status: StatusOK, DivergedAt: -1, TestAccuracy: 0.1, TestLoss: 0.2, TrainLoss: 0.3, TrainAccuracy: 0.4,
		GeneralizationGap: 0.5, BestTestAccuracy: 0.6, HittingTimeOuter: 7, HittingTimeGrads: 8, GradEvals: 9,
		OuterSteps: 10, Epochs: 11, StepMsMedian: 12, WallSeconds: 13}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var keys map[string]any
	if err := json.Unmarshal(b, &keys); err != nil {
		t.Fatal(err)
	}
	m := r.Metrics()
	for name, v := range m {
		if keys[name] != v {
			t.Errorf("metric %s = %v, JSON key %s = %v", name, v, name, keys[name])
		}
	}
	if len(m) != 13 {
		t.Errorf("%d metrics from a Result, want 13: %v", len(m), m)
	}
}

func TestAtEval(t *testing.T) {
	p := EvalPoint{TrainLoss: 1, TestLoss: 3, TrainAcc: 0.7, TestAcc: 0.4}
	for _, c := range []struct {
		name string
		want float64
	}{
		{TestAccuracy, 0.4}, {BestTestAccuracy, 0.9}, {TestLoss, 3}, {TrainLoss, 1}, {TrainAccuracy, 0.7}, {GeneralizationGap, 2},
	} {
		m, ok := ByName(c.name)
		if !ok || !m.PerEval() {
			t.Fatalf("%s: not a per-evaluation metric", c.name)
		}
		if got := m.AtEval(p, 0.9); got != c.want {
			t.Errorf("%s at eval = %v, want %v", c.name, got, c.want)
		}
	}
	for _, name := range []string{HittingTimeGrads, WallSeconds, EpsilonMean} {
		if m, _ := ByName(name); m.PerEval() {
			t.Errorf("%s has per-evaluation values", name)
		}
	}
}
