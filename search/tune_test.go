package search

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/c-bata/goptuna"

	"github.com/lrsgd-lab/lrsgd/host/pipeline"
	"github.com/lrsgd-lab/lrsgd/host/train"
	"github.com/lrsgd-lab/lrsgd/plugins/optimizer"
	"github.com/lrsgd-lab/lrsgd/results"
	"github.com/lrsgd-lab/lrsgd/search/grid"
	"github.com/lrsgd-lab/lrsgd/search/study"
)

// fakeRunner "trains" in a few microseconds: test accuracy peaks at
// γ = 0.1 and rises over the evaluations, so that the search has something
// to find. Hooks let tests block, diverge or fail a run.
type fakeRunner struct {
	evals   int
	block   func(ctx context.Context, spec pipeline.Spec) error // called before the first evaluation
	diverge func(spec pipeline.Spec) bool
	fail    func(spec pipeline.Spec) error
	mu      sync.Mutex
	specs   []pipeline.Spec
}

func accuracyOf(spec pipeline.Spec) float64 {
	g := 0.1
	if s, ok := spec.Config.Hyperparams["gamma"]; ok {
		fmt.Sscan(s, &g)
	}
	return 0.6 - 0.1*math.Abs(math.Log(g/0.1))
}

func (f *fakeRunner) Run(ctx context.Context, spec pipeline.Spec, hooks pipeline.Hooks) (pipeline.Outcome, error) {
	f.mu.Lock()
	f.specs = append(f.specs, spec)
	f.mu.Unlock()
	out := pipeline.Outcome{Spec: spec, Plugin: pipeline.Plugin{Description: optimizer.Description{Name: spec.Config.Optimizer, Version: "1.0.0"},
		SHA256: strings.Repeat("ab", 32)}}
	if f.block != nil {
		if err := f.block(ctx, spec); err != nil {
			out.Result.Status = "interrupted"
			return out, err
		}
	}
	if f.fail != nil {
		if err := f.fail(spec); err != nil {
			return out, err
		}
	}
	final := accuracyOf(spec)
	evals := max(f.evals, 1)
	var last train.EvalPoint
	for i := 1; i <= evals; i++ {
		frac := float64(i) / float64(evals)
		last = train.EvalPoint{Epoch: float64(i), OuterSteps: int64(10 * i), GradEvals: int64(30 * i), LR: 0.1,
			TrainLoss: 2.3 - frac, TrainAcc: final * frac * 1.1, TestLoss: 2.3 - 0.8*frac, TestAcc: final * frac, Wall: 0.01 * float64(i)}
		if f.diverge != nil && f.diverge(spec) && i == 2 {
			out.Result = train.Result{Status: "diverged", DivergedAt: 45, GradEvals: 45, OuterSteps: 15}
			return out, nil
		}
		if err := hooks.OnEval(pipeline.Eval{EvalPoint: last}); err != nil {
			out.Result = train.Result{Status: "pruned", GradEvals: last.GradEvals, OuterSteps: last.OuterSteps}
			return out, err
		}
	}
	out.Result = train.Result{Status: "ok", DivergedAt: -1, TestAccuracy: last.TestAcc, TestLoss: last.TestLoss, TrainLoss: last.TrainLoss,
		TrainAccuracy: last.TrainAcc, GeneralizationGap: last.TestLoss - last.TrainLoss, BestTestAccuracy: last.TestAcc,
		HittingTimeOuter: 20, HittingTimeGrads: 60, GradEvals: last.GradEvals, OuterSteps: last.OuterSteps, Epochs: last.Epoch,
		StepMsMedian: 1.5, WallSeconds: last.Wall}
	return out, nil
}

func openStore(t *testing.T, path string) *results.Store {
	t.Helper()
	st, err := results.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func gammaStudy(t *testing.T, sets ...string) *study.Study {
	t.Helper()
	s, err := study.Load("gamma-sweep")
	if err != nil {
		t.Fatal(err)
	}
	// One seed unless a test asks for more (the default budget runs three).
	r, err := s.Resolve("default", append([]string{"dataset=synthetic", "seeds=1"}, sets...))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func trialsOf(t *testing.T, st *results.Store, name string) []results.Trial {
	t.Helper()
	ctx := context.Background()
	s, err := st.StudyByName(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	trials, err := st.Trials(ctx, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	return trials
}

func TestTuneGridThenTPE(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "s.db"))
	s := gammaStudy(t, "trials=8")
	var out bytes.Buffer
	fr := &fakeRunner{evals: 3}
	sum, err := Tune(context.Background(), Config{Study: s, Store: st, Runner: fr, Out: &out, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	if !sum.Created || len(sum.Trials) != 8 || sum.Counts["COMPLETE"] != 8 {
		t.Fatalf("summary: created %v, %d trials, counts %v\n%s", sum.Created, len(sum.Trials), sum.Counts, out.String())
	}
	trials := trialsOf(t, st, "gamma-sweep")
	if len(trials) != 8 {
		t.Fatalf("%d trials in the store, want 8", len(trials))
	}
	gridGammas := map[float64]int{}
	for _, tr := range trials {
		if tr.State != "COMPLETE" {
			t.Errorf("trial %d: %s", tr.Number, tr.State)
		}
		g := tr.Params["gamma"].(float64)
		if _, ok := tr.SystemAttrs[grid.AttrPoint]; ok {
			gridGammas[g]++
		}
		// curve: one point per evaluation; intermediate values likewise.
		curve, err := st.Curve(context.Background(), tr.ID)
		if err != nil || len(curve) != 3 || len(tr.Intermediate) != 3 {
			t.Errorf("trial %d: curve %d points (%v), %d intermediate values", tr.Number, len(curve), err, len(tr.Intermediate))
		}
		want := 0.6 - 0.1*math.Abs(math.Log(g/0.1))
		if tr.Value == nil || math.Abs(*tr.Value-want) > 1e-12 || math.Abs(tr.Metrics["test_accuracy"]-want) > 1e-12 {
			t.Errorf("trial %d: value %v metrics %v, want %v", tr.Number, tr.Value, tr.Metrics["test_accuracy"], want)
		}
		if tr.Run == nil || tr.Run.Plugin != "lrsgd-r" || tr.Run.Model != "lenet" || tr.Run.Machine == "" || tr.Run.GoVersion == "" {
			t.Errorf("trial %d: run meta %+v", tr.Number, tr.Run)
		}
		if _, ok := tr.UserAttrs["test_accuracy"]; ok || tr.UserAttrs[AttrOptimizer] != "lrsgd-r" {
			t.Errorf("trial %d: user attrs %v", tr.Number, tr.UserAttrs)
		}
	}
	for _, den := range []float64{2, 3, 5, 10, 20} {
		if gridGammas[1/den] != 1 {
			t.Errorf("grid point gamma=1/%v ran %d times, want once (%v)", den, gridGammas[1/den], gridGammas)
		}
	}
	if len(gridGammas) != 5 {
		t.Errorf("grid trials: %v", gridGammas)
	}
	if sum.Best.Number < 0 || sum.Best.Params["gamma"].(float64) != 0.1 && sum.Best.Value < 0.6-1e-9 {
		// the grid holds γ = 0.1 exactly, the optimum of the fake
		t.Errorf("best = %+v", sum.Best)
	}
	if lines := strings.Count(out.String(), " COMPLETE "); lines != 8 {
		t.Errorf("%d progress lines, want 8:\n%s", lines, out.String())
	}
	var tab bytes.Buffer
	WriteSummary(&tab, sum, s.Objective.Metric)
	if !strings.Contains(tab.String(), "COMPLETE 8") || !strings.Contains(tab.String(), "best: trial") {
		t.Errorf("summary table:\n%s", tab.String())
	}

	// Resume: the study's own total (8) is reached, so nothing runs; with
	// --trials 2 two more run.
	sum, err = Tune(context.Background(), Config{Study: s, Store: st, Runner: fr})
	if err != nil || sum.Created || len(sum.Trials) != 0 {
		t.Fatalf("resume at total: created %v, %d trials, err %v", sum.Created, len(sum.Trials), err)
	}
	sum, err = Tune(context.Background(), Config{Study: s, Store: st, Runner: fr, Trials: 2})
	if err != nil || len(sum.Trials) != 2 || sum.Counts["COMPLETE"] != 10 {
		t.Fatalf("--trials 2: %d trials, counts %v, err %v", len(sum.Trials), sum.Counts, err)
	}
}

// TestGridExactlyOnce runs a pure grid study with four workers in each of
// two "processes" (separate store handles on one SQLite file) at once.
func TestGridExactlyOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "g.db")
	s := gammaStudy(t, "sampler=grid", "grid={gamma: [0.05, 0.06, 0.07, 0.08, 0.09, 0.1, 0.12, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5]}")
	var wg sync.WaitGroup
	sums := make([]Summary, 2)
	errs := make([]error, 2)
	for p := range 2 {
		st := openStore(t, path)
		wg.Add(1)
		go func() {
			defer wg.Done()
			fr := &fakeRunner{evals: 2, block: func(context.Context, pipeline.Spec) error { time.Sleep(5 * time.Millisecond); return nil }}
			sums[p], errs[p] = Tune(context.Background(), Config{Study: s, Store: st, Runner: fr, Workers: 4, Worker: fmt.Sprintf("p%d", p)})
		}()
	}
	wg.Wait()
	// The process that finishes first may find the other still running
	// the last trials: it says the study is incomplete (rerun later).
	for p := range 2 {
		if errs[p] != nil && !errors.Is(errs[p], ErrIncomplete) {
			t.Fatalf("process %d: %v", p, errs[p])
		}
	}
	if errs[0] != nil && errs[1] != nil {
		t.Errorf("both processes report the study incomplete: %v; %v", errs[0], errs[1])
	}
	if n := len(sums[0].Trials) + len(sums[1].Trials); n != 13 {
		t.Errorf("%d + %d trials ran, want 13 in all", len(sums[0].Trials), len(sums[1].Trials))
	}
	st := openStore(t, path)
	trials := trialsOf(t, st, "gamma-sweep")
	seen := map[float64]int{}
	for _, tr := range trials {
		if tr.State != "COMPLETE" {
			t.Errorf("trial %d: %s %v", tr.Number, tr.State, tr.UserAttrs[AttrFailReason])
		}
		seen[tr.Params["gamma"].(float64)]++
	}
	if len(trials) != 13 || len(seen) != 13 {
		t.Errorf("%d trials over %d distinct points, want 13 and 13: %v", len(trials), len(seen), seen)
	}
	// A third run finds the grid used up and runs nothing.
	sum, err := Tune(context.Background(), Config{Study: s, Store: st, Runner: &fakeRunner{}, Trials: 5})
	if err != nil || len(sum.Trials) != 0 {
		t.Errorf("after the grid: %d trials, err %v", len(sum.Trials), err)
	}
}

func TestTuneInterruptedThenResumed(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "i.db"))
	s := gammaStudy(t)
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{}, 10)
	fr := &fakeRunner{evals: 2, block: func(ctx context.Context, spec pipeline.Spec) error {
		started <- struct{}{}
		<-ctx.Done()
		return ctx.Err()
	}}
	go func() { <-started; cancel() }()
	sum, err := Tune(ctx, Config{Study: s, Store: st, Runner: fr})
	if !errors.Is(err, ErrInterrupted) {
		t.Fatalf("err = %v, want ErrInterrupted", err)
	}
	if len(sum.Trials) != 1 || sum.Trials[0].Reason != ReasonInterrupted {
		t.Fatalf("trials = %+v", sum.Trials)
	}
	trials := trialsOf(t, st, "gamma-sweep")
	var failed results.Trial
	states := map[string]int{}
	for _, tr := range trials {
		states[tr.State]++
		if tr.State == "FAIL" {
			failed = tr
		}
	}
	// 5 grid trials + the re-queued copy of the interrupted one.
	if states["FAIL"] != 1 || states["WAITING"] != 5 || states["RUNNING"] != 0 || len(trials) != 6 {
		t.Fatalf("states %v", states)
	}
	if failed.UserAttrs[AttrFailReason] != ReasonInterrupted || failed.SystemAttrs[AttrRequeuedAs] == "" {
		t.Errorf("failed trial attrs: %v %v", failed.UserAttrs, failed.SystemAttrs)
	}
	// Rerun: everything completes, the interrupted point included, once.
	sum, err = Tune(context.Background(), Config{Study: s, Store: st, Runner: &fakeRunner{evals: 2}})
	if err != nil || len(sum.Trials) != 5 {
		t.Fatalf("resume: %d trials, err %v", len(sum.Trials), err)
	}
	points := map[string]int{}
	for _, tr := range trialsOf(t, st, "gamma-sweep") {
		if tr.State == "COMPLETE" {
			points[tr.SystemAttrs[grid.AttrPoint]]++
		}
	}
	if len(points) != 5 || slices.Max(slicesValues(points)) != 1 {
		t.Errorf("completed grid points %v, want 0..4 once each", points)
	}
}

func slicesValues(m map[string]int) []int {
	var v []int
	for _, x := range m {
		v = append(v, x)
	}
	return v
}

// TestStaleTrialRecovered plays a worker that died mid-trial: a RUNNING
// trial with sampled parameters and an old heartbeat.
func TestStaleTrialRecovered(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "h.db"))
	s := gammaStudy(t, "sampler=random", "grid={}", "trials=3")
	ctx := context.Background()
	// First run: one trial completes.
	if _, err := Tune(ctx, Config{Study: s, Store: st, Runner: &fakeRunner{}, Trials: 1, StaleAfter: 300 * time.Millisecond, Heartbeat: 50 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	storage := st.Storage()
	sid, _ := storage.GetStudyIDFromName("gamma-sweep")
	id, err := storage.CreateNewTrial(sid)
	if err != nil {
		t.Fatal(err)
	}
	dist := goptuna.LogUniformDistribution{Low: 0.05, High: 0.5}
	if err := storage.SetTrialParam(id, "gamma", 0.3, dist); err != nil {
		t.Fatal(err)
	}
	if err := st.Heartbeat(ctx, id, "dead-worker"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(400 * time.Millisecond)
	fr := &fakeRunner{}
	sum, err := Tune(ctx, Config{Study: s, Store: st, Runner: fr, StaleAfter: 300 * time.Millisecond, Heartbeat: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	num, _ := storage.GetTrialNumberFromID(id)
	if !slices.Equal(sum.Recovered, []int{num}) {
		t.Errorf("recovered %v, want [%d]", sum.Recovered, num)
	}
	var dead, redo *results.Trial
	trials := trialsOf(t, st, "gamma-sweep")
	for i, tr := range trials {
		if tr.ID == id {
			dead = &trials[i]
		}
		if tr.SystemAttrs[AttrRequeuedFrom] == fmt.Sprint(num) {
			redo = &trials[i]
		}
	}
	if dead == nil || dead.State != "FAIL" || dead.UserAttrs[AttrFailReason] != ReasonStale {
		t.Fatalf("dead trial: %+v", dead)
	}
	if redo == nil || redo.State != "COMPLETE" || redo.Params["gamma"].(float64) != 0.3 {
		t.Fatalf("re-queued trial: %+v", redo)
	}
	// The study's total (3) counts the re-run, not the dead one.
	if c := sum.Counts; c["COMPLETE"] != 3 || c["FAIL"] != 1 {
		t.Errorf("counts %v, want 3 COMPLETE and 1 FAIL", c)
	}
}

func TestPruneDivergeFail(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "p.db"))
	s := gammaStudy(t, "pruner=median", "pruner.startup_trials=1", "trials=5")
	fr := &fakeRunner{evals: 4,
		diverge: func(spec pipeline.Spec) bool { return spec.Config.Hyperparams["gamma"] == "0.2" },
		fail: func(spec pipeline.Spec) error {
			if spec.Config.Hyperparams["gamma"] == "0.05" {
				return errors.New("plugin lrsgd-r crashed at step 7\nstack...")
			}
			return nil
		}}
	sum, err := Tune(context.Background(), Config{Study: s, Store: st, Runner: fr})
	if err != nil {
		t.Fatal(err)
	}
	byGamma := map[string]results.Trial{}
	for _, tr := range trialsOf(t, st, "gamma-sweep") {
		byGamma[fmt.Sprint(tr.Params["gamma"])] = tr
	}
	// Grid order 1/2, 1/3, 1/5, 1/10, 1/20 with one worker: γ = 0.2
	// diverges at its second evaluation, γ = 0.05 fails before its first,
	// γ = 0.1 (the fake's optimum) beats the median at every step.
	if tr := byGamma["0.2"]; tr.State != "PRUNED" || !strings.Contains(tr.UserAttrs[AttrFailReason], "diverged") {
		t.Errorf("γ=0.2: %s %q", tr.State, tr.UserAttrs[AttrFailReason])
	}
	if tr := byGamma["0.05"]; tr.State != "FAIL" || tr.UserAttrs[AttrFailReason] != "plugin lrsgd-r crashed at step 7 …" {
		t.Errorf("γ=0.05: %s %q", tr.State, tr.UserAttrs[AttrFailReason])
	}
	if tr := byGamma["0.1"]; tr.State != "COMPLETE" {
		t.Errorf("γ=0.1: %s", tr.State)
	}
	if sum.Counts["COMPLETE"]+sum.Counts["PRUNED"]+sum.Counts["FAIL"] != 5 {
		t.Errorf("counts %v", sum.Counts)
	}
}

// TestMedianPrunerPrunes checks that a trial worse than the median of
// earlier ones at the same step ends PRUNED with its reason and value.
func TestMedianPrunerPrunes(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "m.db"))
	// Order: 0.1 (best) then 0.5 (worse at every step) — pruned at step 1.
	s := gammaStudy(t, "pruner=median", "pruner.startup_trials=1", "sampler=grid", "grid={gamma: [0.1, 0.5]}")
	if _, err := Tune(context.Background(), Config{Study: s, Store: st, Runner: &fakeRunner{evals: 4}}); err != nil {
		t.Fatal(err)
	}
	for _, tr := range trialsOf(t, st, "gamma-sweep") {
		g := tr.Params["gamma"].(float64)
		switch g {
		case 0.1:
			if tr.State != "COMPLETE" {
				t.Errorf("γ=0.1: %s", tr.State)
			}
		case 0.5:
			want := (0.6 - 0.1*math.Log(5)) / 4 // accuracy after the first of 4 evaluations
			if tr.State != "PRUNED" || len(tr.Intermediate) != 1 || tr.Value == nil || math.Abs(*tr.Value-want) > 1e-12 ||
				!strings.Contains(tr.UserAttrs[AttrFailReason], "pruned by the median pruner at evaluation 1") {
				t.Errorf("γ=0.5: %s value %v intermediate %v reason %q", tr.State, tr.Value, tr.Intermediate, tr.UserAttrs[AttrFailReason])
			}
		}
	}
}

// TestTwoStoresTwoWorkers shares one study between two store handles (as
// two processes would) with two workers each, on SQLite and, when
// $LRSGD_TEST_POSTGRES_DSN is set, on PostgreSQL.
func TestTwoStoresTwoWorkers(t *testing.T) {
	dsns := map[string]string{"sqlite": filepath.Join(t.TempDir(), "two.db")}
	if pg := os.Getenv("LRSGD_TEST_POSTGRES_DSN"); pg != "" {
		dsns["postgres"] = pg
	}
	for kind, dsn := range dsns {
		t.Run(kind, func(t *testing.T) {
			name := fmt.Sprintf("two-%s-%d", kind, time.Now().UnixNano())
			s := gammaStudy(t, "name="+name, "trials=10")
			var wg sync.WaitGroup
			sums := make([]Summary, 2)
			errs := make([]error, 2)
			for p := range 2 {
				st := openStore(t, dsn)
				wg.Add(1)
				go func() {
					defer wg.Done()
					fr := &fakeRunner{evals: 3, block: func(context.Context, pipeline.Spec) error { time.Sleep(3 * time.Millisecond); return nil }}
					sums[p], errs[p] = Tune(context.Background(), Config{Study: s, Store: st, Runner: fr, Workers: 2, Trials: 5, Worker: fmt.Sprintf("p%d", p)})
				}()
			}
			wg.Wait()
			for p, err := range errs {
				if err != nil {
					t.Fatalf("process %d: %v", p, err)
				}
				if len(sums[p].Trials) != 5 {
					t.Errorf("process %d ran %d trials, want 5", p, len(sums[p].Trials))
				}
			}
			st := openStore(t, dsn)
			trials := trialsOf(t, st, name)
			grid := 0
			for _, tr := range trials {
				if tr.State != "COMPLETE" {
					t.Errorf("trial %d: %s %q", tr.Number, tr.State, tr.UserAttrs[AttrFailReason])
				}
				if len(tr.Intermediate) != 3 {
					t.Errorf("trial %d: %d intermediate values", tr.Number, len(tr.Intermediate))
				}
				if _, ok := tr.SystemAttrs["grid_point"]; ok {
					grid++
				}
			}
			if len(trials) != 10 || grid != 5 {
				t.Errorf("%d trials (%d from the grid), want 10 (5)", len(trials), grid)
			}
		})
	}
}
