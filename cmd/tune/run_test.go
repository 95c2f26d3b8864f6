package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lrsgd-lab/lrsgd/results"
	"github.com/lrsgd-lab/lrsgd/search"
)

// tiny is a real gamma-sweep on a few hundred synthetic images: a trial
// takes well under a second on 2 cores.
var tiny = []string{"--study", "gamma-sweep", "--set", "dataset=synthetic", "--set", "train_size=256", "--set", "test_size=128",
	"--set", "epochs=2", "--set", "batch_size=64", "--set", "eval_every=1", "--set", "seeds=1"}

func storeTrials(t *testing.T, dsn, name string) []results.Trial {
	t.Helper()
	ctx := context.Background()
	st, err := results.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s, err := st.StudyByName(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	trials, err := st.Trials(ctx, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	for i := range trials {
		if trials[i].Metrics == nil {
			trials[i].Metrics = map[string]float64{}
		}
	}
	return trials
}

func curveLen(t *testing.T, dsn string, trialID int) int {
	t.Helper()
	st, err := results.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	c, err := st.Curve(context.Background(), trialID)
	if err != nil {
		t.Fatal(err)
	}
	return len(c)
}

func sha256File(t *testing.T, path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// checkComplete asserts that every trial is COMPLETE with a curve of
// evals points, metrics and run metadata.
func checkComplete(t *testing.T, dsn string, trials []results.Trial, evals int) {
	t.Helper()
	for _, tr := range trials {
		if tr.State != "COMPLETE" {
			t.Errorf("trial %d: %s (%s)", tr.Number, tr.State, tr.UserAttrs[search.AttrFailReason])
			continue
		}
		if n := curveLen(t, dsn, tr.ID); n != evals || len(tr.Intermediate) != evals {
			t.Errorf("trial %d: %d curve points and %d intermediate values, want %d", tr.Number, n, len(tr.Intermediate), evals)
		}
		acc, ok := tr.Metrics["test_accuracy"]
		if !ok || acc < 0 || acc > 1 || tr.Value == nil || *tr.Value != acc {
			t.Errorf("trial %d: value %v, metrics %v", tr.Number, tr.Value, tr.Metrics)
		}
		for _, m := range []string{"test_loss", "train_loss", "generalization_gap", "hitting_time_outer", "hitting_time_grads", "wall_seconds", "step_ms_median", "grad_evals", "outer_steps"} {
			if _, ok := tr.Metrics[m]; !ok {
				t.Errorf("trial %d: metric %s missing", tr.Number, m)
			}
		}
		if g := tr.Metrics["generalization_gap"]; g != tr.Metrics["test_loss"]-tr.Metrics["train_loss"] {
			t.Errorf("trial %d: gap %v != test %v − train %v", tr.Number, g, tr.Metrics["test_loss"], tr.Metrics["train_loss"])
		}
		r := tr.Run
		if r == nil || r.Plugin != "lrsgd-r" || r.PluginSHA256 != sha256File(t, filepath.Join(bin.plugins, "lrsgd-r")) ||
			len(r.DatasetSHA256) != 64 || r.BLAS == "" || r.Machine == "" {
			t.Errorf("trial %d: run meta %+v", tr.Number, r)
		}
	}
}

func TestRealStudySynthetic(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "s.db")
	r := runTune(t, dir, append(tiny, "--storage", db, "--sampler", "grid", "--set", "grid={gamma: [0.5, 0.2, 0.1]}")...)
	if r.code != 0 {
		t.Fatal(r)
	}
	trials := storeTrials(t, db, "gamma-sweep")
	if len(trials) != 3 {
		t.Fatalf("%d trials, want 3\n%s", len(trials), r)
	}
	checkComplete(t, db, trials, 2)
	for _, w := range []string{"trial 0 COMPLETE", "COMPLETE 3", "best: trial"} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("stdout lacks %q\n%s", w, r)
		}
	}
}

func TestRealStudyCIFARSubset(t *testing.T) {
	data := filepath.Join(filepath.Dir(repoRoot()), "shared", "data")
	if _, err := os.Stat(filepath.Join(data, "cifar-10-batches-bin", "data_batch_1.bin")); err != nil {
		t.Skipf("CIFAR-10 not found beside the repository (%v)", err)
	}
	dir := t.TempDir()
	db := filepath.Join(dir, "c.db")
	r := runTune(t, dir, "--study", "gamma-sweep", "--data-dir", data, "--storage", db, "--set", "train_size=500", "--set", "test_size=200",
		"--set", "epochs=1", "--set", "seeds=1", "--sampler", "grid", "--set", "grid={gamma: [0.5, 0.2]}")
	if r.code != 0 {
		t.Fatal(r)
	}
	trials := storeTrials(t, db, "gamma-sweep")
	if len(trials) != 2 {
		t.Fatalf("%d trials, want 2\n%s", len(trials), r)
	}
	checkComplete(t, db, trials, 1)
	if trials[0].Run != nil && trials[0].Run.Dataset != "cifar10" {
		t.Errorf("run meta dataset %q", trials[0].Run.Dataset)
	}
}

// TestTwoProcessesTwoWorkers runs two tune processes with two workers
// each on one store, at the same time.
func TestTwoProcessesTwoWorkers(t *testing.T) {
	dsns := map[string]string{"sqlite": ""}
	if pg := os.Getenv("LRSGD_TEST_POSTGRES_DSN"); pg != "" {
		dsns["postgres"] = pg
	}
	for kind, dsn := range dsns {
		t.Run(kind, func(t *testing.T) {
			dir := t.TempDir()
			if dsn == "" {
				dsn = filepath.Join(dir, "two.db")
			}
			name := fmt.Sprintf("two-%d", time.Now().UnixNano())
			args := append(tiny, "--storage", dsn, "--workers", "2", "--trials", "4", "--set", "name="+name, "--set", "trials=8")
			var wg sync.WaitGroup
			res := make([]result, 2)
			for p := range 2 {
				wg.Add(1)
				go func() { defer wg.Done(); res[p] = runTune(t, dir, args...) }()
			}
			wg.Wait()
			for p, r := range res {
				if r.code != 0 {
					t.Errorf("process %d: %s", p, r)
				}
				if strings.Contains(strings.ToLower(r.stdout+r.stderr), "locked") {
					t.Errorf("process %d: lock error\n%s", p, r)
				}
			}
			trials := storeTrials(t, dsn, name)
			if len(trials) != 8 {
				t.Fatalf("%d trials, want 8", len(trials))
			}
			checkComplete(t, dsn, trials, 2)
			if strings.Contains(res[0].stdout+res[0].stderr+res[1].stdout+res[1].stderr, "s3cret") {
				t.Error("password in output")
			}
		})
	}
}

// startTune starts the binary in the background.
func startTune(t *testing.T, dir string, args ...string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	if bin.err != nil {
		t.Fatal(bin.err)
	}
	cmd := exec.Command(bin.tune, append([]string{"--plugins-dir", bin.plugins, "--no-progress"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "LRSGD_STORAGE=")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, &out
}

// waitCurve waits until some trial of the store has a curve point, i.e.
// a trial is mid-run.
func waitCurve(t *testing.T, db string, cmd *exec.Cmd, out *bytes.Buffer) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		if _, err := os.Stat(db); err != nil {
			continue
		}
		b, err := exec.Command("sqlite3", db, "SELECT count(*) FROM trial_curves").Output()
		if err == nil && strings.TrimSpace(string(b)) != "0" {
			return
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	t.Fatalf("no trial started within a minute\n%s", out)
}

// long makes one trial last several seconds (many evaluations), so that
// it can be killed or interrupted mid-run.
var long = []string{"--study", "gamma-sweep", "--set", "dataset=synthetic", "--set", "train_size=256", "--set", "test_size=128",
	"--set", "epochs=40", "--set", "batch_size=64", "--set", "eval_every=1", "--set", "seeds=1", "--sampler", "grid", "--set", "grid={gamma: [0.5, 0.3]}"}

// TestKill9RecoveredAndResumed kills tune with SIGKILL in the last trial
// of a grid study, mid-trial. An immediate rerun (no waiting for the
// heartbeat to go stale: the dead process was on this machine) recovers
// the trial, resumes it from its last checkpoint, and exits 0 with every
// grid point COMPLETE once and nothing RUNNING; the resumed trial's final
// numbers equal those of a run that was never interrupted.
func TestKill9RecoveredAndResumed(t *testing.T) {
	if _, err := exec.LookPath("sqlite3"); err != nil {
		t.Skip("sqlite3 not installed")
	}
	dir := t.TempDir()
	db := filepath.Join(dir, "k.db")
	args := append(slices.Clone(long), "--set", "epochs=12", "--storage", db)
	cmd, out := startTune(t, dir, args...)
	waitCurveOf(t, db, cmd, out, 1, 3) // the second (last) grid point is 3 evaluations in
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if _, err := os.Stat(db + ".checkpoints"); err != nil {
		t.Fatalf("no checkpoint folder beside the store: %v", err)
	}
	start := time.Now()
	r := runTune(t, dir, args...)
	if r.code != 0 {
		t.Fatal(r)
	}
	if d := time.Since(start); d > 45*time.Second {
		t.Errorf("the rerun took %v: it should not wait for the heartbeat to go stale", d)
	}
	if !strings.Contains(r.stdout, search.ReasonGone) {
		t.Errorf("no recovery line:\n%s", r)
	}
	trials := storeTrials(t, db, "gamma-sweep")
	states := map[string]int{}
	points := map[string]int{}
	var resumed *results.Trial
	for i, tr := range trials {
		states[tr.State]++
		if tr.State == "FAIL" && tr.UserAttrs[search.AttrFailReason] != search.ReasonGone {
			t.Errorf("trial %d FAIL with reason %q", tr.Number, tr.UserAttrs[search.AttrFailReason])
		}
		if tr.State == "COMPLETE" {
			points[tr.SystemAttrs["grid_point"]]++
		}
		if tr.SystemAttrs[search.AttrResumedFrom] != "" {
			resumed = &trials[i]
		}
	}
	if states["FAIL"] != 1 || states["COMPLETE"] != 2 || states["RUNNING"] != 0 || len(trials) != 3 || points["0"] != 1 || points["1"] != 1 {
		t.Fatalf("states %v, completed points %v", states, points)
	}
	if resumed == nil || resumed.Run == nil || resumed.Run.Extra["resumed_at_grad_evals"] == "" {
		t.Fatalf("no trial resumed from a checkpoint: %+v", resumed)
	}
	if n := curveLen(t, db, resumed.ID); n != 12 {
		t.Errorf("resumed trial has %d curve points, want all 12 (those before the checkpoint too)", n)
	}
	// The same grid point, never interrupted.
	ref := filepath.Join(dir, "ref.db")
	if r := runTune(t, dir, append(slices.Clone(long), "--set", "epochs=12", "--set", "grid={gamma: [0.3]}", "--storage", ref)...); r.code != 0 {
		t.Fatal(r)
	}
	want := storeTrials(t, ref, "gamma-sweep")[0]
	for name, v := range want.Metrics {
		if strings.Contains(name, "wall") || strings.Contains(name, "_ms") {
			continue
		}
		if got := resumed.Metrics[name]; got != v {
			t.Errorf("resumed trial's %s = %v, uninterrupted run's %v", name, got, v)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(db+".checkpoints", "*")); len(left) != 0 {
		t.Errorf("checkpoints left after the study finished: %v", left)
	}
}

// waitCurveOf waits until the trial number n of the store has at least k
// curve points.
func waitCurveOf(t *testing.T, db string, cmd *exec.Cmd, out *bytes.Buffer, n, k int) {
	t.Helper()
	q := fmt.Sprintf("SELECT count(*) FROM trial_curves c JOIN trials t ON t.trial_id = c.trial_id WHERE t.number = %d", n)
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		b, err := exec.Command("sqlite3", db, q).Output()
		if err != nil {
			continue
		}
		if c, _ := strconv.Atoi(strings.TrimSpace(string(b))); c >= k {
			return
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	t.Fatalf("trial %d did not reach %d evaluations within 90 s\n%s", n, k, out)
}

func TestInterruptExits130AndResumes(t *testing.T) {
	if _, err := exec.LookPath("sqlite3"); err != nil {
		t.Skip("sqlite3 not installed")
	}
	dir := t.TempDir()
	db := filepath.Join(dir, "i.db")
	cmd, out := startTune(t, dir, append(long, "--storage", db)...)
	waitCurve(t, db, cmd, out)
	start := time.Now()
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 130 {
		t.Fatalf("exit %d (%v), want %d\n%s", code, err, 130, out)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("took %v to stop", d)
	}
	trials := storeTrials(t, db, "gamma-sweep")
	states := map[string]int{}
	for _, tr := range trials {
		states[tr.State]++
		if tr.State == "FAIL" && tr.UserAttrs[search.AttrFailReason] != search.ReasonInterrupted {
			t.Errorf("trial %d: reason %q", tr.Number, tr.UserAttrs[search.AttrFailReason])
		}
	}
	if states["FAIL"] != 1 || states["RUNNING"] != 0 || states["WAITING"] != 2 {
		t.Fatalf("after Ctrl-C: states %v\n%s", states, out)
	}
	r := runTune(t, dir, append(long, "--storage", db, "--set", "epochs=2")...)
	if r.code != 0 {
		t.Fatal(r)
	}
	trials = storeTrials(t, db, "gamma-sweep")
	states = map[string]int{}
	for _, tr := range trials {
		states[tr.State]++
	}
	if states["COMPLETE"] != 2 || states["FAIL"] != 1 || len(trials) != 3 {
		t.Errorf("after resume: states %v", states)
	}
}

// TestStabilityProbePerTrial asks for the probe (stability: {replace: 1})
// and checks that the trial's curve and metrics carry its measurements.
func TestStabilityProbePerTrial(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "p.db")
	r := runTune(t, dir, append(tiny, "--storage", db, "--sampler", "grid", "--set", "grid={gamma: [0.2]}", "--set", "stability={replace: 1}")...)
	if r.code != 0 {
		t.Fatal(r)
	}
	trials := storeTrials(t, db, "gamma-sweep")
	if len(trials) != 1 {
		t.Fatalf("%d trials", len(trials))
	}
	checkComplete(t, db, trials, 2)
	m := trials[0].Metrics
	if m["stability_replace"] != 1 || m["stability_runs"] != 2 || !(m["param_divergence"] > 0) || !(m["epsilon_max"] >= m["epsilon_mean"]) {
		t.Errorf("probe metrics %v", m)
	}
	st, err := results.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	curve, err := st.Curve(context.Background(), trials[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	last := curve[len(curve)-1]
	if last.ParamDivergence == nil || *last.ParamDivergence != m["param_divergence"] || last.EpsilonMean == nil || *last.EpsilonMean != m["epsilon_mean"] {
		t.Errorf("last curve point %+v, metrics %v", last, m)
	}
	// A pruner cannot stop the probe's twins: refused before anything runs.
	r = runTune(t, dir, append(tiny, "--storage", filepath.Join(dir, "q.db"), "--set", "stability={replace: 1}", "--set", "pruner=median")...)
	if r.code != 2 || !strings.Contains(r.stderr, "cannot be pruned") {
		t.Errorf("stability with a pruner: %s", r)
	}
}
