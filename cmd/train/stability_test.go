package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// probeQuick is a small LeNet run on the synthetic set: 256 training
// images in batches of 32, so one epoch is 8 outer steps, evaluated every
// half epoch.
var probeQuick = []string{"--dataset", "synthetic", "--train-size", "256", "--test-size", "128",
	"--batch-size", "32", "--epochs", "1", "--eval-every", "0.5", "--lr", "0.05", "--no-progress", "--plugins-dir"}

func probeArgs(extra ...string) []string {
	return append(append(append([]string(nil), probeQuick...), pluginsDir), extra...)
}

// twins decodes the JSON line's stability_twins.
func twins(t *testing.T, m map[string]any) []map[string]any {
	t.Helper()
	raw, ok := m["stability_twins"].([]any)
	if !ok {
		t.Fatalf("stability_twins %v, want an array", m["stability_twins"])
	}
	out := make([]map[string]any, len(raw))
	for i, r := range raw {
		out[i] = r.(map[string]any)
	}
	return out
}

// TestStabilityControl: with --replace 0 the two lrsgd-r plugin processes
// train on identical data and must stay bit-identical (same seed, stream
// and M_t draws), and the probe's S run is the plain run: the same flags
// without --stability give the same metrics.
func TestStabilityControl(t *testing.T) {
	stdout, stderr, code := runTrain(t, probeArgs("--optimizer", "lrsgd-r", "--stability", "--replace", "0", "--json")...)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	m := lastJSON(t, stdout)
	if m["param_divergence"] != 0.0 || m["epsilon_max"] != 0.0 || m["epsilon_mean"] != 0.0 || m["param_divergence_max"] != 0.0 {
		t.Errorf("control: param_divergence %v (max %v), epsilon_mean %v, epsilon_max %v; want exactly 0",
			m["param_divergence"], m["param_divergence_max"], m["epsilon_mean"], m["epsilon_max"])
	}
	if m["stability_replace"] != 0.0 || m["stability_runs"] != 2.0 || m["stability_gap_s_prime"] != m["generalization_gap"] {
		t.Errorf("stability_replace %v, stability_runs %v, S′ gap %v vs S gap %v; want 0, 2 and equal gaps",
			m["stability_replace"], m["stability_runs"], m["stability_gap_s_prime"], m["generalization_gap"])
	}
	if tw := twins(t, m); len(tw) != 1 || tw[0]["first_diverged"] != -1.0 || tw[0]["index"] != -1.0 {
		t.Errorf("twins %v, want one control pair that never diverged", tw)
	}
	// Two evaluations (half epochs), a progress line each, then the summary.
	if n := strings.Count(stderr, "\nstability: "); n != 2 || !strings.Contains(stderr, "stability probe: control") {
		t.Errorf("stderr has %d progress lines, want 2 and the probe's summary:\n%s", n, stderr)
	}

	plainOut, plainErr, code := runTrain(t, probeArgs("--optimizer", "lrsgd-r", "--json")...)
	if code != 0 {
		t.Fatalf("plain run: exit %d\n%s", code, plainErr)
	}
	plain := lastJSON(t, plainOut)
	for _, k := range []string{"status", "test_accuracy", "test_loss", "train_loss", "generalization_gap", "hitting_time_outer",
		"hitting_time_grads", "grad_evals", "outer_steps", "optimizer", "model", "dataset", "seed", "train_size", "test_size"} {
		if m[k] != plain[k] {
			t.Errorf("%s: probe %v, plain run %v; the probe's S run must be the plain run", k, m[k], plain[k])
		}
	}
	for _, k := range []string{"step_ms_median", "wall_seconds"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON lacks %q", k)
		}
	}
}

// TestStabilityReplaceStorage: one replaced index. The twins stay
// bit-identical until the minibatch that holds the replaced index (drawn
// once in the one pass over the data) and differ after it; the store holds
// the S run as a COMPLETE trial with the probe's metrics equal to the JSON
// line's, and the last curve point carries the final divergence and ε.
func TestStabilityReplaceStorage(t *testing.T) {
	dir := t.TempDir()
	db, curve := filepath.Join(dir, "store.db"), filepath.Join(dir, "curve.json")
	stdout, stderr, code := runTrain(t, probeArgs("--optimizer", "sgd", "--stability", "--replace", "1", "--stability-seed", "3",
		"--json", "--storage", db, "--study", "probe", "--curve", curve)...)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	m := lastJSON(t, stdout)
	if !(m["param_divergence"].(float64) > 0) || !(m["epsilon_mean"].(float64) > 0) || !(m["epsilon_max"].(float64) >= m["epsilon_mean"].(float64)) {
		t.Errorf("param_divergence %v, epsilon_mean %v, epsilon_max %v; want > 0, > 0, ≥ epsilon_mean",
			m["param_divergence"], m["epsilon_mean"], m["epsilon_max"])
	}
	if m["stability_replace"] != 1.0 || m["stability_runs"] != 2.0 || m["stability_seed"] != 3.0 || m["outer_steps"] != 8.0 || m["grad_evals"] != 8.0 {
		t.Errorf("replace %v runs %v seed %v outer_steps %v grad_evals %v; want 1, 2, 3, 8, 8",
			m["stability_replace"], m["stability_runs"], m["stability_seed"], m["outer_steps"], m["grad_evals"])
	}
	tw := twins(t, m)
	if len(tw) != 1 {
		t.Fatalf("twins %v, want one", tw)
	}
	// SGD, one pass of 8 steps: the replaced index is drawn at exactly one
	// step in 1..8, and the parameters first differ right after it.
	drawn, div := tw[0]["first_drawn"].(float64), tw[0]["first_diverged"].(float64)
	if drawn < 1 || drawn > 8 || div != drawn || tw[0]["param_divergence"] != m["param_divergence"] {
		t.Errorf("twin %v: want first_drawn in 1..8, first_diverged = first_drawn, its divergence the JSON's", tw[0])
	}

	trials := storedTrials(t, db, "probe")
	if len(trials) != 1 {
		t.Fatalf("%d trials stored, want 1", len(trials))
	}
	tr := trials[0]
	if tr.State != "COMPLETE" || float64(tr.ID) != m["trial_id"].(float64) || tr.Run == nil ||
		tr.Run.Extra["stability_replace"] != "1" || tr.Run.Extra["stability_seed"] != "3" || tr.Run.Extra["status"] != "ok" {
		t.Errorf("trial %+v (run %+v), want COMPLETE, trial_id %v, run extras stability_replace 1, stability_seed 3, status ok",
			tr.Trial, tr.Run, m["trial_id"])
	}
	for _, k := range []string{"param_divergence", "param_divergence_max", "epsilon_mean", "epsilon_max", "stability_gap_s_prime",
		"stability_replace", "stability_runs", "test_accuracy", "test_loss", "generalization_gap", "grad_evals"} {
		if got, ok := tr.Metrics[k]; !ok || got != m[k].(float64) {
			t.Errorf("stored metric %s = %v (present %v), JSON %v", k, got, ok, m[k])
		}
	}
	if len(tr.curve) != 2 {
		t.Fatalf("%d curve points stored, want 2 (every half epoch)", len(tr.curve))
	}
	for i, p := range tr.curve {
		if p.ParamDivergence == nil || p.EpsilonMean == nil || p.EpsilonMax == nil {
			t.Fatalf("curve point %d lacks the stability fields: %+v", i, p)
		}
	}
	last := tr.curve[1]
	if *last.ParamDivergence != m["param_divergence"] || *last.EpsilonMean != m["epsilon_mean"] || *last.EpsilonMax != m["epsilon_max"] ||
		last.GradEvals != 8 || last.TestLoss != m["test_loss"] {
		t.Errorf("last stored curve point %+v (divergence %v, ε mean %v, max %v); want the JSON's final values at 8 grad evals",
			last, *last.ParamDivergence, *last.EpsilonMean, *last.EpsilonMax)
	}

	b, err := os.ReadFile(curve)
	if err != nil {
		t.Fatal(err)
	}
	var pts []map[string]any
	if err := json.Unmarshal(b, &pts); err != nil {
		t.Fatalf("curve file: %v\n%s", err, b)
	}
	if len(pts) != 2 || pts[1]["param_divergence"] != m["param_divergence"] || pts[1]["test_loss"] != m["test_loss"] {
		t.Errorf("curve file %s; want 2 points, the last with the final divergence and test loss", b)
	}
}

func TestStabilityBadInput(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--optimizer", "sgd", "--replace", "2"}, "--replace needs --stability"},
		{[]string{"--optimizer", "sgd", "--stability-seed", "2"}, "--stability-seed needs --stability"},
		{[]string{"--optimizer", "sgd", "--stability", "--replace", "-1"}, "--replace -1: want K ≥ 0"},
		{[]string{"--optimizer", "sgd", "--stability", "--resume"}, "--stability cannot be used with --resume"},
		{[]string{"--optimizer", "sgd", "--stability", "--checkpoint", "run.ckpt"}, "--stability cannot be used with --checkpoint"},
		{probeArgs("--optimizer", "sgd", "--stability", "--replace", "300"), "--replace 300: want at most the training-set size 256"},
		{probeArgs("--optimizer", "sgd", "--stability", "--replace", "200"), "--replace 200: want at most the test-set size 128"},
	}
	for _, tc := range tests {
		stdout, stderr, code := runTrain(t, tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.want) || stdout != "" {
			t.Errorf("train %s: exit %d, stderr %q, stdout %q; want exit %d and a message containing %q",
				strings.Join(tc.args, " "), code, stderr, stdout, 2, tc.want)
		}
	}
}

// TestStabilityInterrupt sends SIGINT after the probe's first evaluation:
// exit 130, nothing on stdout, and the store holds one FAIL trial marked
// interrupted, with no metrics and no curve (nothing half-written).
func TestStabilityInterrupt(t *testing.T) {
	db := filepath.Join(t.TempDir(), "store.db")
	args := append(probeArgs("--optimizer", "sgd", "--stability", "--replace", "1", "--json", "--storage", db), "--epochs", "100000")
	cmd := exec.Command(binary, args...)
	var out bytes.Buffer
	cmd.Stdout = &out
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var errText strings.Builder
	seen := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pipe)
		once := false
		for sc.Scan() {
			errText.WriteString(sc.Text() + "\n")
			if !once && strings.HasPrefix(sc.Text(), "stability: ") {
				once = true
				close(seen)
			}
		}
	}()
	select {
	case <-seen:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		<-done
		cmd.Wait()
		t.Fatalf("no evaluation line after 60 s\n%s", errText.String())
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	<-done
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Fatalf("after SIGINT: %v, want exit %d\n%s", err, 130, errText.String())
	}
	if out.Len() != 0 || !strings.Contains(errText.String(), "interrupted: the stability probe stopped") {
		t.Errorf("stdout %q (want empty), stderr:\n%s", out.String(), errText.String())
	}
	trials := storedTrials(t, db, "train")
	if len(trials) != 1 {
		t.Fatalf("%d trials stored, want 1", len(trials))
	}
	tr := trials[0]
	if tr.State != "FAIL" || tr.Run == nil || tr.Run.Extra["status"] != "interrupted" || tr.Run.Extra["stability_replace"] != "1" ||
		len(tr.Metrics) != 0 || len(tr.curve) != 0 {
		t.Errorf("trial %+v, run %+v, %d curve points; want FAIL, status interrupted, stability_replace 1, no metrics, no curve",
			tr.Trial, tr.Run, len(tr.curve))
	}
}
