package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lrsgd-lab/lrsgd/internal/cmdtest"
	"github.com/lrsgd-lab/lrsgd/results"
)

var (
	binary     string // the train command, built once
	pluginsDir string // sgd and lrsgd-r plugins, built once
)

func TestMain(m *testing.M) {
	os.Exit(cmdtest.Main(m, "train-cmd-test", func(dir string) error {
		binary = filepath.Join(dir, "train")
		pluginsDir = filepath.Join(dir, "plugins")
		return cmdtest.Build(cmdtest.RepoRoot(), dir, map[string]string{
			"train":           "./cmd/train",
			"plugins/sgd":     "./plugins/sgd",
			"plugins/lrsgd-r": "./plugins/lrsgd-r",
		})
	}))
}

func runTrain(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	r := cmdtest.Run(context.Background(), t, binary, "", nil, args...)
	return r.Stdout, r.Stderr, r.Code
}

var quick = []string{"--dataset", "synthetic", "--train-size", "300", "--test-size", "100",
	"--batch-size", "25", "--lr", "0.05", "--no-progress"}

func lastJSON(t *testing.T, stdout string) map[string]any {
	t.Helper()
	lines := strings.Split(strings.TrimRight(stdout, "\n"), "\n")
	var m map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &m); err != nil {
		t.Fatalf("last stdout line is not a JSON object: %v\n%s", err, stdout)
	}
	return m
}

// storedTrial is a trial read back from the store, with its curve.
type storedTrial struct {
	results.Trial
	curve []results.CurvePoint
}

// storedTrials reads back the trials of study from the SQLite file db.
func storedTrials(t *testing.T, db, study string) []storedTrial {
	t.Helper()
	ctx := context.Background()
	st, err := results.OpenExisting(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s, err := st.StudyByName(ctx, study)
	if err != nil {
		t.Fatal(err)
	}
	trials, err := st.Trials(ctx, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]storedTrial, len(trials))
	for i, tr := range trials {
		out[i].Trial = tr
		if out[i].curve, err = st.Curve(ctx, tr.ID); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func TestJSONEndToEnd(t *testing.T) {
	curve := filepath.Join(t.TempDir(), "curve.csv")
	args := append([]string{"--optimizer", "lrsgd-r", "--set", "gamma=0.5", "--plugins-dir", pluginsDir,
		"--epochs", "2", "--json", "--curve", curve}, quick...)
	stdout, stderr, code := runTrain(t, args...)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	m := lastJSON(t, stdout)
	for _, k := range []string{"test_accuracy", "test_loss", "train_loss", "generalization_gap", "hitting_time_outer",
		"hitting_time_grads", "grad_evals", "outer_steps", "step_ms_median", "wall_seconds", "optimizer", "model", "dataset", "seed"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON lacks %q: %v", k, m)
		}
	}
	// 300 images, batch 25: 12 outer steps an epoch; LRSGD-R draws M_t ≥ 1.
	if m["outer_steps"] != 24.0 || !(m["grad_evals"].(float64) > 24) || m["status"] != "ok" || m["optimizer"] != "lrsgd-r" {
		t.Errorf("outer_steps %v grad_evals %v status %v optimizer %v; want 24, more than 24, ok, lrsgd-r",
			m["outer_steps"], m["grad_evals"], m["status"], m["optimizer"])
	}
	if gap := m["test_loss"].(float64) - m["train_loss"].(float64); gap != m["generalization_gap"].(float64) {
		t.Errorf("generalization_gap %v, test − train loss %v", m["generalization_gap"], gap)
	}
	if !strings.Contains(stderr, "gradient evaluations") {
		t.Errorf("no summary on stderr:\n%s", stderr)
	}
	b, err := os.ReadFile(curve)
	if err != nil {
		t.Fatal(err)
	}
	if rows := strings.Count(string(b), "\n"); rows != 3 {
		t.Errorf("curve CSV has %d lines, want a header and 2 evaluations:\n%s", rows, b)
	}
}

func TestBadInput(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--model", "lenet"}, "--optimizer: required"},
		{[]string{"--optimizer", "sgd", "--model", "alexnet"}, `--model "alexnet": want one of lenet, mlp, resnet18, vgg16`},
		{[]string{"--optimizer", "sgd", "--dataset", "mnist"}, `--dataset "mnist": want one of cifar10, fashion-mnist, synthetic`},
		{[]string{"--optimizer", "sgd", "--batch-size", "0"}, "--batch-size 0: want at least 1"},
		{[]string{"--optimizer", "sgd", "--batch-size", "many"}, `invalid argument "many" for "--batch-size"`},
		{[]string{"--optimizer", "sgd", "--schedule", "cosine"}, `--schedule "cosine": want constant, step or every`},
		{[]string{"--optimizer", "sgd", "--schedule", "step"}, "--schedule step needs --milestones"},
		{[]string{"--optimizer", "sgd", "--set", "momentum"}, `--set "momentum": want key=value`},
		{[]string{"--optimizer", "sgd", "--resume"}, "--resume needs a checkpoint file"},
		{[]string{"--optimizer", "sgd", "--bogus"}, "unknown flag: --bogus"},
		{[]string{"--optimizer", "sgd", "stray"}, `unknown command "stray" for "train"`},
		{[]string{"--optimizer", "sgd", "--hit-threshold", "-1"}, "--hit-threshold -1: want a finite loss ≥ 0"},
		{[]string{"--optimizer", "sgd", "--eval-every", "-2"}, "--eval-every -2: want a finite number of epochs ≥ 0"},
		{[]string{"--optimizer", "sgd", "--storage", "/no/such/folder/s.db"}, "--storage: store \"/no/such/folder/s.db\": folder /no/such/folder"},
		{[]string{"--optimizer", "sgd", "--storage", "mysql://x"}, `--storage: store "mysql://x": mysql://x: unsupported store "mysql://"`},
		{[]string{"--optimizer", "sgd", "--storage", ":memory:"}, "in-memory SQLite database vanishes when the process exits"},
		{[]string{"--optimizer", "sgd", "--storage", "main.go"}, "main.go: not a SQLite database"},
		// Sizes are checked before anything is allocated (not Go's out-of-memory crash).
		{[]string{"--optimizer", "sgd", "--dataset", "synthetic", "--train-size", "2000000000"},
			"--train-size 2000000000: the generated training set of 2000000000 images needs 6.15 TB, more than the"},
		{[]string{"--optimizer", "sgd", "--dataset", "synthetic", "--test-size", "2000000000"}, "--test-size 2000000000: the generated test set"},
		{[]string{"--optimizer", "sgd", "--train-size", "2000000000"}, "--train-size 2000000000: expected at most 50000, the training images of cifar10"},
		{[]string{"--optimizer", "sgd", "--batch-size", "1000000000"},
			"--batch-size 1000000000: the input batch alone (1000000000 × 3072 float32) needs 12.3 TB, more than the"},
		{[]string{"--optimizer", "sgd", "--eval-batch", "1000000000"}, "--eval-batch 1000000000: the evaluation batch alone"},
		{append([]string{"--optimizer", "sgd", "--plugins-dir", pluginsDir, "--set", "momentum=2"}, quick...), "--set sgd: hyperparameter momentum=\"2\": out of range; valid: float [0, 0.9999]"},
		{append([]string{"--optimizer", "adamw", "--plugins-dir", pluginsDir}, quick...), "--optimizer adamw"},
	}
	for _, tc := range tests {
		stdout, stderr, code := runTrain(t, tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.want) || stdout != "" {
			t.Errorf("train %s: exit %d, stderr %q, stdout %q; want exit %d and a message containing %q",
				strings.Join(tc.args, " "), code, stderr, stdout, 2, tc.want)
		}
	}
}

// TestInterruptAndResume sends SIGINT mid-run: the command writes its
// checkpoint and exits 130; --resume then continues from it.
func TestInterruptAndResume(t *testing.T) {
	dir := t.TempDir()
	ckpt, db := filepath.Join(dir, "run.ckpt"), filepath.Join(dir, "store.db")
	args := append([]string{"--optimizer", "sgd", "--plugins-dir", pluginsDir, "--checkpoint", ckpt, "--epochs", "100000",
		"--storage", db}, quick...)
	cmd := exec.Command(binary, args...)
	var e bytes.Buffer
	cmd.Stderr = &e
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := os.Stat(ckpt); err == nil {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("no checkpoint after 60 s\n%s", e.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Fatalf("after SIGINT: %v, want exit %d\n%s", err, 130, e.String())
	}
	if !strings.Contains(e.String(), "interrupted: checkpoint in "+ckpt) {
		t.Errorf("stderr does not say where the checkpoint is:\n%s", e.String())
	}
	// The interrupted run is filed whole: FAIL, status "interrupted", its
	// curve so far (at least the evaluation that wrote the checkpoint).
	tr := storedTrials(t, db, "train")
	if len(tr) != 1 || tr[0].State != "FAIL" || tr[0].Run == nil || tr[0].Run.Extra["status"] != "interrupted" || len(tr[0].curve) == 0 {
		t.Errorf("store after SIGINT: %+v; want one FAIL trial with status interrupted and a curve", tr)
	}
	// Resume with a shorter run than already done: nothing more to train,
	// the counters come from the checkpoint.
	args = append([]string{"--optimizer", "sgd", "--plugins-dir", pluginsDir, "--checkpoint", ckpt, "--resume", "--epochs", "1", "--json"}, quick...)
	stdout, stderr, code := runTrain(t, args...)
	if code != 0 {
		t.Fatalf("resume: exit %d\n%s", code, stderr)
	}
	m := lastJSON(t, stdout)
	if !(m["outer_steps"].(float64) >= 12) || m["grad_evals"] != m["outer_steps"] || m["status"] != "ok" {
		t.Errorf("resumed: outer_steps %v grad_evals %v status %v; want ≥ 12 (one epoch was done before the signal), equal, ok",
			m["outer_steps"], m["grad_evals"], m["status"])
	}
}
