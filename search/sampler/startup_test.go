package sampler

import (
	"testing"

	"github.com/c-bata/goptuna"
)

// constSampler returns its value for every draw.
type constSampler float64

func (c constSampler) Sample(*goptuna.Study, goptuna.FrozenTrial, string, any) (float64, error) {
	return float64(c), nil
}

// TestStartup checks that a parameter is drawn by the startup sampler in
// trials numbered below n and until the study has n COMPLETE or PRUNED
// trials with it, as goptuna's TPE counts them, and by the other sampler
// after.
func TestStartup(t *testing.T) {
	st, err := goptuna.CreateStudy("startup", goptuna.StudyOptionStorage(goptuna.NewInMemoryStorage()), goptuna.StudyOptionLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	x := goptuna.UniformDistribution{Low: 0, High: 1}
	add := func(state goptuna.TrialState, param string) {
		t.Helper()
		id, err := st.Storage.CreateNewTrial(st.ID)
		if err == nil {
			err = st.Storage.SetTrialParam(id, param, 0.5, x)
		}
		if err == nil && state != goptuna.TrialStateRunning {
			err = st.Storage.SetTrialState(id, state)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	s := NewStartup(2, constSampler(1), constSampler(2))
	check := func(when string, number int, param string, want float64) {
		t.Helper()
		v, err := s.Sample(st, goptuna.FrozenTrial{Number: number}, param, x)
		if err != nil {
			t.Fatal(err)
		}
		if v != want {
			t.Errorf("%s: %s drawn by sampler %v, want %v", when, param, v, want)
		}
	}

	check("empty study", 5, "x", 1)
	add(goptuna.TrialStateComplete, "x")
	add(goptuna.TrialStateRunning, "x")
	add(goptuna.TrialStateFail, "x")
	add(goptuna.TrialStateComplete, "y")
	check("one observation of x", 5, "x", 1)
	add(goptuna.TrialStatePruned, "x")
	check("two observations of x", 5, "x", 2)
	check("two observations of x, trial 1", 1, "x", 1)
	check("one observation of y", 6, "y", 1)
	add(goptuna.TrialStateComplete, "y")
	check("two observations of y", 6, "y", 2)
	check("again", 7, "x", 2)
}
