package e2e

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // "pgx" driver, to read the store with plain SQL

	"github.com/lrsgd-lab/lrsgd/internal/cmdtest"
	"github.com/lrsgd-lab/lrsgd/results"
	"github.com/lrsgd-lab/lrsgd/results/resultstest"
)

// envSlurm turns on the tests that submit jobs to a real SLURM (.ci/slurm.sh
// starts a one-node one); with it set, a SLURM that does not answer fails them.
const envSlurm = "LRSGD_TEST_SLURM"

// slurmEpochs is the length of each trial of the SLURM test: a few seconds
// on one core, with a checkpoint copied into the store at every epoch.
const slurmEpochs = 30

// slurmGrid is the study's grid; every point must end COMPLETE once.
const slurmGrid = "{gamma: [0.5, 0.4, 0.3, 0.25, 0.2, 0.15]}"

// TestSlurmArray runs a study as a 3-task SLURM job array
// (scripts/slurm/submit.sh, tune-array.sbatch) on a PostgreSQL store,
// scancels the task of a trial that is mid-run, resubmits that array index,
// and checks with SQL that every grid point is COMPLETE exactly once, that
// nothing is left RUNNING or WAITING, that the cancelled trial ended FAIL
// "interrupted" and was resumed from its checkpoint (kept in the store's
// trial_checkpoints, since another process resumed it) to a full curve, and
// that SLURM saw every other task exit 0.
func TestSlurmArray(t *testing.T) {
	if os.Getenv(envSlurm) != "1" {
		t.Skipf("$%s is not 1 (it needs a running SLURM, see .ci/slurm.sh, and $%s)", envSlurm, resultstest.EnvPostgres)
	}
	if os.Getenv(resultstest.EnvPostgres) == "" {
		t.Fatalf("$%s=1 but $%s is not set: the job array needs a PostgreSQL store (source .ci/postgres.sh)", envSlurm, resultstest.EnvPostgres)
	}
	if bin.err != nil {
		t.Fatal(bin.err)
	}
	// ctx bounds every command; waiting for the tasks ends a minute before.
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	waiting, stopWaiting := context.WithTimeout(ctx, 3*time.Minute)
	defer stopWaiting()
	checkSlurm(ctx, t)

	dsn := resultstest.PostgresDSN(t)
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })

	// The DSN reaches the tasks in a file, never on a command line; the
	// plugins are pinned as on a cluster.
	dir := t.TempDir()
	dsnFile := filepath.Join(dir, "store.dsn")
	if err := os.WriteFile(dsnFile, []byte("# the test's store\n"+dsn+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("slurm-%d", time.Now().UnixNano())
	job := "lrsgd-" + name
	env := []string{
		"LRSGD_STORAGE_FILE=" + dsnFile, "LRSGD_STORAGE=", resultstest.EnvPostgres + "=",
		"LRSGD_BIN=" + bin.dir, "LRSGD_PLUGINS=", "LRSGD_PLUGIN_MANIFEST=" + writeManifest(t, dir),
		"LRSGD_LAST_TASK_WAIT=10",
	}
	// Cleanups run last first: the tasks are cancelled before the store's
	// schema is dropped, and their logs are shown when the test failed.
	t.Cleanup(func() {
		if t.Failed() {
			logs, _ := filepath.Glob(filepath.Join(dir, "*.out"))
			for _, f := range logs {
				b, _ := os.ReadFile(f)
				t.Logf("%s:\n%s", filepath.Base(f), b)
			}
		}
		exec.Command("scancel", "--name", job).Run()
	})
	submit := func(array string) string {
		t.Helper()
		args := []string{"--array", array, "--cpus-per-task=1", "--time=10", "--chdir=" + dir,
			"--output=" + filepath.Join(dir, "%x-%A_%a.out"), "--",
			"--set", "name=" + name, "--set", "dataset=synthetic", "--set", "train_size=256", "--set", "test_size=128",
			"--set", fmt.Sprintf("epochs=%d", slurmEpochs), "--set", "batch_size=64", "--set", "eval_every=1",
			"--set", "seeds=1", "--sampler", "grid", "--set", "grid=" + slurmGrid}
		r := cmdtest.Run(ctx, t, filepath.Join(cmdtest.RepoRoot(), "scripts", "slurm", "submit.sh"), dir, env, args...)
		if r.Code != 0 {
			t.Fatalf("submit.sh --array %s: %s", array, r)
		}
		if u, err := url.Parse(dsn); err == nil {
			if pw, ok := u.User.Password(); ok && strings.Contains(r.String(), pw) {
				t.Errorf("submit.sh printed the store's password: %s", results.MaskDSN(r.String()))
			}
		}
		return strings.TrimSpace(r.Stdout)
	}

	first := submit("0-2")
	victim := waitMidTrial(waiting, t, db, name)
	task := slurmTaskOf(ctx, t, victim.pid())
	t.Logf("scancel task %s mid-trial: trial %d has %d of %d evaluations", task, victim.number, victim.points, slurmEpochs)
	slurmRun(ctx, t, "scancel", task)
	for victim.state == "RUNNING" {
		if waiting.Err() != nil {
			t.Fatalf("trial %d still RUNNING after its task %s was cancelled", victim.number, task)
		}
		time.Sleep(200 * time.Millisecond)
		victim = trialByNumber(t, db, name, victim.number)
	}
	_, index, _ := strings.Cut(task, "_")
	second := submit(index)
	for slurmRun(ctx, t, "squeue", "-h", "-n", job, "-o", "%i") != "" {
		if waiting.Err() != nil {
			t.Fatalf("the tasks of %s did not finish in time:\n%s", job, slurmRun(ctx, t, "squeue", "-n", job))
		}
		time.Sleep(time.Second)
	}

	// The store: each grid point COMPLETE once, nothing left running or
	// queued, no checkpoint left behind.
	trials := studyTrials(t, db, name)
	complete := map[string]int{}
	var interrupted []slurmTrial
	for _, tr := range trials {
		switch tr.state {
		case "COMPLETE":
			complete[tr.attrs["grid_point"]]++
		case "RUNNING", "WAITING":
			t.Errorf("trial %d left %s", tr.number, tr.state)
		case "FAIL":
			if tr.reason == "interrupted" {
				interrupted = append(interrupted, tr)
			} else {
				t.Errorf("trial %d FAIL: %s", tr.number, tr.reason)
			}
		}
		if tr.checkpoints != 0 {
			t.Errorf("trial %d (%s) still has a checkpoint in trial_checkpoints", tr.number, tr.state)
		}
	}
	for p := range strings.Count(slurmGrid, ",") + 1 {
		if n := complete[strconv.Itoa(p)]; n != 1 {
			t.Errorf("grid point %d COMPLETE %d times, want once (all: %v)", p, n, complete)
		}
	}

	// The cancelled trial: FAIL "interrupted" with evaluations done, then
	// resumed from its checkpoint by another process (through the store)
	// and finished with the whole curve.
	if len(interrupted) != 1 || interrupted[0].number != victim.number {
		t.Fatalf("interrupted trials %v, want the cancelled one, trial %d", interrupted, victim.number)
	}
	if victim.points == 0 {
		t.Fatalf("the cancelled trial %d had no evaluation, so no checkpoint", victim.number)
	}
	var resumed *slurmTrial
	for i, tr := range trials {
		if tr.attrs["resumed_from"] == strconv.Itoa(victim.number) {
			resumed = &trials[i]
		}
	}
	switch {
	case resumed == nil:
		t.Fatalf("no trial resumed from the cancelled trial %d (system attribute resumed_from)", victim.number)
	case resumed.state != "COMPLETE":
		t.Errorf("trial %d, resumed from %d, is %s, want COMPLETE", resumed.number, victim.number, resumed.state)
	case resumed.pid() == victim.pid():
		t.Errorf("trial %d was resumed by the process that was cancelled (%s)", resumed.number, resumed.worker)
	case resumed.points != slurmEpochs:
		t.Errorf("resumed trial %d has %d curve points, want all %d", resumed.number, resumed.points, slurmEpochs)
	}
	var at string
	err = db.QueryRow(`SELECT value FROM trial_run_meta_extra WHERE trial_id = $1 AND key = 'resumed_at_grad_evals'`, resumed.id).Scan(&at)
	if n, _ := strconv.Atoi(at); err != nil || n <= 0 {
		t.Errorf("resumed trial %d: resumed_at_grad_evals %q (%v), want > 0", resumed.number, at, err)
	}
	t.Logf("trial %d (%s) resumed as trial %d at gradient evaluation %s by %s", victim.number, victim.worker, resumed.number, at, resumed.worker)

	// SLURM's side: the cancelled task CANCELLED, every other one
	// (including those whose tune exited 3) COMPLETED with exit code 0.
	for _, id := range []string{first, second} {
		for _, line := range strings.Split(slurmRun(ctx, t, "scontrol", "-o", "show", "job", id), "\n") {
			f := fields(line)
			tid := f["ArrayJobId"] + "_" + f["ArrayTaskId"]
			switch {
			case tid == task:
				if f["JobState"] != "CANCELLED" {
					t.Errorf("task %s (cancelled): JobState %s", tid, f["JobState"])
				}
			case f["JobState"] != "COMPLETED" || f["ExitCode"] != "0:0":
				t.Errorf("task %s: JobState %s, ExitCode %s, want COMPLETED 0:0", tid, f["JobState"], f["ExitCode"])
			}
		}
	}
}

// checkSlurm fails the test unless SLURM answers and has a node that can run
// jobs.
func checkSlurm(ctx context.Context, t *testing.T) {
	t.Helper()
	out, err := exec.CommandContext(ctx, "sinfo", "-h", "-N", "-o", "%T").CombinedOutput()
	if err != nil {
		t.Fatalf("$%s=1 but SLURM does not answer: sinfo: %v: %s (start it with bash .ci/slurm.sh)", envSlurm, err, out)
	}
	for _, state := range strings.Fields(string(out)) {
		switch strings.TrimRight(state, "*~#") {
		case "idle", "mixed", "allocated":
			return
		}
	}
	t.Fatalf("$%s=1 but SLURM has no node that can run jobs (sinfo: %q; see bash .ci/slurm.sh)", envSlurm, out)
}

// slurmRun runs a SLURM command and returns its trimmed stdout; it fails
// the test when the command does.
func slurmRun(ctx context.Context, t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(ctx, name, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

// slurmTaskOf names the array task ("ARRAYJOB_INDEX", the form scancel
// takes) that runs the process pid.
func slurmTaskOf(ctx context.Context, t *testing.T, pid int) string {
	t.Helper()
	info := slurmRun(ctx, t, "scontrol", "pidinfo", strconv.Itoa(pid))
	_, rest, ok := strings.Cut(info, "JobId=")
	id, _, _ := strings.Cut(rest, " ")
	if !ok || id == "" {
		t.Fatalf("scontrol pidinfo %d: %q names no job", pid, info)
	}
	return slurmRun(ctx, t, "squeue", "-h", "-j", id, "-o", "%i")
}

// fields splits a line of scontrol -o into its Key=Value pairs.
func fields(line string) map[string]string {
	m := map[string]string{}
	for _, kv := range strings.Fields(line) {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}

// writeManifest pins the built plugins' sha256 in a manifest in dir, as a
// cluster pins the plugin folder on shared storage, and returns its path.
func writeManifest(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	entries, err := os.ReadDir(bin.plugins)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(bin.plugins, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		fmt.Fprintf(&b, "%s  %s\n", hex.EncodeToString(sum[:]), e.Name())
	}
	path := filepath.Join(dir, "MANIFEST")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// slurmTrial is what the store says about one trial of the study.
type slurmTrial struct {
	id, number  int
	state       string
	points      int // rows in trial_curves
	checkpoints int // rows in trial_checkpoints
	worker      string
	reason      string
	attrs       map[string]string // system attributes
}

// pid is the process id in the trial's worker attribute ("host:pid/n").
func (tr slurmTrial) pid() int {
	pid, _, _ := strings.Cut(tr.worker[strings.LastIndex(tr.worker, ":")+1:], "/")
	n, _ := strconv.Atoi(pid)
	return n
}

// studyTrials reads the study's trials, in number order.
func studyTrials(t *testing.T, db *sql.DB, study string) []slurmTrial {
	t.Helper()
	rows, err := db.Query(`SELECT t.trial_id, t.number, t.state,
		  (SELECT count(*) FROM trial_curves c WHERE c.trial_id = t.trial_id),
		  (SELECT count(*) FROM trial_checkpoints k WHERE k.trial_id = t.trial_id),
		  COALESCE((SELECT value FROM trial_user_attributes u WHERE u.trial_id = t.trial_id AND u.key = 'worker'), ''),
		  COALESCE((SELECT value FROM trial_user_attributes u WHERE u.trial_id = t.trial_id AND u.key = 'fail_reason'), '')
		FROM trials t JOIN studies s ON s.study_id = t.study_id
		WHERE s.study_name = $1 ORDER BY t.number`, study)
	if err != nil {
		t.Fatalf("trials of %s: %v", study, err)
	}
	defer rows.Close()
	var trials []slurmTrial
	byID := map[int]int{}
	for rows.Next() {
		tr := slurmTrial{attrs: map[string]string{}}
		if err := rows.Scan(&tr.id, &tr.number, &tr.state, &tr.points, &tr.checkpoints, &tr.worker, &tr.reason); err != nil {
			t.Fatal(err)
		}
		byID[tr.id] = len(trials)
		trials = append(trials, tr)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	attrs, err := db.Query(`SELECT a.trial_id, a.key, a.value FROM trial_system_attributes a
		JOIN trials t ON t.trial_id = a.trial_id JOIN studies s ON s.study_id = t.study_id
		WHERE s.study_name = $1`, study)
	if err != nil {
		t.Fatalf("system attributes of %s: %v", study, err)
	}
	defer attrs.Close()
	for attrs.Next() {
		var id int
		var k, v string
		if err := attrs.Scan(&id, &k, &v); err != nil {
			t.Fatal(err)
		}
		if i, ok := byID[id]; ok {
			trials[i].attrs[k] = v
		}
	}
	if err := attrs.Err(); err != nil {
		t.Fatal(err)
	}
	return trials
}

// trialByNumber is one trial of studyTrials.
func trialByNumber(t *testing.T, db *sql.DB, study string, number int) slurmTrial {
	t.Helper()
	for _, tr := range studyTrials(t, db, study) {
		if tr.number == number {
			return tr
		}
	}
	t.Fatalf("study %s has no trial %d", study, number)
	return slurmTrial{}
}

// waitMidTrial waits until a trial of the study is RUNNING with a few
// evaluations done and its checkpoint in the store, early enough that it
// is still running when its task is cancelled.
func waitMidTrial(ctx context.Context, t *testing.T, db *sql.DB, study string) slurmTrial {
	t.Helper()
	for ctx.Err() == nil {
		for _, tr := range studyTrials(t, db, study) {
			if tr.state == "RUNNING" && tr.points >= 3 && tr.points <= slurmEpochs/2 && tr.checkpoints == 1 && tr.pid() > 0 {
				return tr
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no trial of %s was seen mid-run", study)
	return slurmTrial{}
}
