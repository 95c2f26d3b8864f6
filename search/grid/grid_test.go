package grid

import (
	"context"
	"errors"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/c-bata/goptuna"

	"github.com/lrsgd-lab/lrsgd/results"
)

func newStudy(t *testing.T, name string, sampler goptuna.Sampler) *goptuna.Study {
	t.Helper()
	st, err := results.Open(context.Background(), filepath.Join(t.TempDir(), "g.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	s, err := goptuna.CreateStudy(name, goptuna.StudyOptionStorage(st.Storage()), goptuna.StudyOptionLogger(nil),
		goptuna.StudyOptionSampler(sampler))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var dist = goptuna.UniformDistribution{Low: 0, High: 1}

func TestSampleFromPointAndFallback(t *testing.T) {
	points := []map[string]float64{{"x": 0.25}, {"x": 0.75}}
	pure := New(points, nil)
	tr := goptuna.FrozenTrial{Number: 3, SystemAttrs: map[string]string{AttrPoint: "1"}}
	if v, err := pure.Sample(nil, tr, "x", dist); err != nil || v != 0.75 {
		t.Errorf("point 1: %v, %v", v, err)
	}
	if _, err := pure.Sample(nil, tr, "x", goptuna.UniformDistribution{Low: 0, High: 0.5}); err == nil {
		t.Error("value outside the distribution accepted")
	}
	if _, err := pure.Sample(nil, goptuna.FrozenTrial{SystemAttrs: map[string]string{}}, "x", dist); !errors.Is(err, ErrExhausted) {
		t.Errorf("no point, no fallback: err = %v", err)
	}
	bad := goptuna.FrozenTrial{SystemAttrs: map[string]string{AttrPoint: "7"}}
	if _, err := pure.Sample(nil, bad, "x", dist); err == nil {
		t.Error("grid point 7 of 2 accepted")
	}
	fb := New(points, goptuna.NewRandomSampler(goptuna.RandomSamplerOptionSeed(1)))
	v, err := fb.Sample(nil, goptuna.FrozenTrial{SystemAttrs: map[string]string{}}, "x", dist)
	if err != nil || v < 0 || v > 1 {
		t.Errorf("fallback: %v, %v", v, err)
	}
}

// TestEnqueueOnceAndRun enqueues a grid, enqueues it again (nothing
// added), and runs goptuna's own Optimize over it: every point once.
func TestEnqueueOnceAndRun(t *testing.T) {
	var points []map[string]float64
	for i := range 6 {
		points = append(points, map[string]float64{"x": float64(i) / 10})
	}
	gs := New(points, nil)
	s := newStudy(t, "grid", gs)
	if err := gs.Enqueue(s); err != nil {
		t.Fatal(err)
	}
	if err := gs.Enqueue(s); err != nil {
		t.Fatal(err)
	}
	trials, _ := s.GetTrials()
	if len(trials) != 6 {
		t.Fatalf("%d trials after two Enqueues, want 6", len(trials))
	}
	attrs, _ := s.GetSystemAttrs()
	if attrs[AttrEnqueued] != "6" {
		t.Errorf("study attrs %v", attrs)
	}
	seen := map[float64]int{}
	err := s.Optimize(func(tr goptuna.Trial) (float64, error) {
		x, err := tr.SuggestFloat("x", 0, 1)
		seen[x]++
		return x, err
	}, 6)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		if seen[float64(i)/10] != 1 {
			t.Errorf("x=%v ran %d times", float64(i)/10, seen[float64(i)/10])
		}
	}
	trials, _ = s.GetTrials()
	for _, tr := range trials {
		i, _ := strconv.Atoi(tr.SystemAttrs[AttrPoint])
		if tr.State != goptuna.TrialStateComplete || tr.Params["x"] != points[i]["x"] {
			t.Errorf("trial %d: %v x=%v point %d", tr.Number, tr.State, tr.Params["x"], i)
		}
	}
}

// TestWaitRepairs plays a creator that died after enqueueing part of the
// grid: a joiner waits, then enqueues the missing points.
func TestWaitRepairs(t *testing.T) {
	points := []map[string]float64{{"x": 0.1}, {"x": 0.2}, {"x": 0.3}}
	gs := New(points, nil)
	s := newStudy(t, "partial", gs)
	if err := EnqueuePoint(s, points[0], map[string]string{AttrPoint: "0"}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := gs.Wait(context.Background(), s, 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if time.Since(start) < 300*time.Millisecond {
		t.Error("Wait did not wait for the creator")
	}
	trials, _ := s.GetTrials()
	have := map[string]int{}
	for _, tr := range trials {
		have[tr.SystemAttrs[AttrPoint]]++
	}
	if len(trials) != 3 || have["0"] != 1 || have["1"] != 1 || have["2"] != 1 {
		t.Errorf("after repair: %v", have)
	}
	// A grid of another size is refused.
	if err := New(points[:2], nil).Wait(context.Background(), s, time.Second); err == nil {
		t.Error("a 2-point grid joined a 3-point study")
	}
}
