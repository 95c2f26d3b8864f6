package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lrsgd-lab/lrsgd/results"
)

// runningOn counts the RUNNING trials of a study.
func runningOn(t *testing.T, dsn, study string) int {
	n := 0
	for _, tr := range storeTrials(t, dsn, study) {
		if tr.State == "RUNNING" {
			n++
		}
	}
	return n
}

// checkGridOnce asserts that every grid point of the study is COMPLETE
// exactly once and nothing is RUNNING or WAITING.
func checkGridOnce(t *testing.T, dsn, study string, points int) {
	t.Helper()
	done := map[string]int{}
	for _, tr := range storeTrials(t, dsn, study) {
		switch tr.State {
		case "COMPLETE":
			done[tr.SystemAttrs["grid_point"]]++
		case "RUNNING", "WAITING":
			t.Errorf("trial %d left %s", tr.Number, tr.State)
		}
	}
	for p := range points {
		if n := done[fmt.Sprint(p)]; n != 1 {
			t.Errorf("grid point %d COMPLETE %d times, want once (all: %v)", p, n, done)
		}
	}
}

// TestKill9ThreeProcessesPostgres runs three tune processes on one
// PostgreSQL study, kills all of them with SIGKILL mid-study, and checks
// that one immediate rerun completes every grid point exactly once.
func TestKill9ThreeProcessesPostgres(t *testing.T) {
	dsn := os.Getenv("LRSGD_TEST_POSTGRES_DSN")
	if dsn == "" {
		t.Skip("LRSGD_TEST_POSTGRES_DSN not set")
	}
	dir := t.TempDir()
	name := fmt.Sprintf("kill3-%d", time.Now().UnixNano())
	args := append(slices.Clone(long), "--set", "name="+name, "--set", "epochs=6",
		"--set", "grid={gamma: [0.5, 0.4, 0.3, 0.25, 0.2, 0.15]}", "--storage", dsn, "--checkpoint-dir", filepath.Join(dir, "ck"))
	var cmds []*exec.Cmd
	for range 3 {
		cmd, _ := startTune(t, dir, args...)
		cmds = append(cmds, cmd)
	}
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) && countRunning(t, dsn, name) < 2 {
		time.Sleep(100 * time.Millisecond)
	}
	for _, cmd := range cmds {
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
	}
	if n := runningOn(t, dsn, name); n == 0 {
		t.Fatal("no trial was RUNNING when the processes were killed")
	}
	r := runTune(t, dir, args...)
	if r.code != 0 {
		t.Fatal(r)
	}
	checkGridOnce(t, dsn, name, 6)
}

// countRunning is runningOn that tolerates a study not created yet.
func countRunning(t *testing.T, dsn, study string) int {
	st, err := results.Open(context.Background(), dsn)
	if err != nil {
		return 0
	}
	defer st.Close()
	trials, err := st.TrialsOf(context.Background(), study)
	if err != nil {
		return 0
	}
	n := 0
	for _, tr := range trials {
		if tr.State == "RUNNING" {
			n++
		}
	}
	return n
}

// TestPostgresRestart restarts the PostgreSQL server under a running
// study: tune rides out the outage (its store operations are retried) and
// finishes with every grid point COMPLETE once. It needs a server it may
// restart: set LRSGD_TEST_POSTGRES_RESTART to the command that restarts it
// (CI: "pg_ctlcluster 15 main restart"), and it runs only then, since a
// restart disturbs other tests using the server.
func TestPostgresRestart(t *testing.T) {
	dsn, restart := os.Getenv("LRSGD_TEST_POSTGRES_DSN"), os.Getenv("LRSGD_TEST_POSTGRES_RESTART")
	if dsn == "" || restart == "" {
		t.Skip("LRSGD_TEST_POSTGRES_DSN or LRSGD_TEST_POSTGRES_RESTART not set")
	}
	dir := t.TempDir()
	name := fmt.Sprintf("restart-%d", time.Now().UnixNano())
	args := append(slices.Clone(long), "--set", "name="+name, "--set", "epochs=20", "--storage", dsn)
	var r result
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); r = runTune(t, dir, args...) }()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) && countRunning(t, dsn, name) == 0 {
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(time.Second)
	f := strings.Fields(restart)
	if out, err := exec.Command(f[0], f[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", restart, err, out)
	}
	wg.Wait()
	if r.code != 0 || !strings.Contains(r.stdout+r.stderr, "store unreachable") {
		t.Fatalf("want exit 0 after an outage it logged:\n%s", r)
	}
	checkGridOnce(t, dsn, name, 2)
}

// TestPluginKilledTrialRunAgain kills the plugin process of a running
// trial with SIGKILL: the trial fails (its plugin died: no fault of its
// parameters), its grid point is queued again, and the same call runs it,
// so that every point ends COMPLETE once.
func TestPluginKilledTrialRunAgain(t *testing.T) {
	if _, err := exec.LookPath("sqlite3"); err != nil {
		t.Skip("sqlite3 not installed")
	}
	dir := t.TempDir()
	db := filepath.Join(dir, "p.db")
	cmd, out := startTune(t, dir, append(slices.Clone(long), "--set", "epochs=8", "--storage", db)...)
	waitCurveOf(t, db, cmd, out, 0, 2)
	children, err := exec.Command("pgrep", "-P", fmt.Sprint(cmd.Process.Pid)).Output()
	if err != nil {
		cmd.Process.Kill()
		t.Fatalf("pgrep: %v", err)
	}
	pids := strings.Fields(string(children))
	if len(pids) == 0 {
		cmd.Process.Kill()
		t.Fatal("no plugin process under tune")
	}
	for _, pid := range pids {
		exec.Command("kill", "-9", pid).Run()
	}
	err = cmd.Wait()
	if err != nil {
		t.Fatalf("tune after its plugin was killed: %v\n%s", err, out)
	}
	checkGridOnce(t, db, "gamma-sweep", 2)
	var failed int
	for _, tr := range storeTrials(t, db, "gamma-sweep") {
		if tr.State == "FAIL" {
			failed++
			if !strings.Contains(tr.UserAttrs["fail_reason"], "plugin") {
				t.Errorf("trial %d failed with %q, want the plugin's death", tr.Number, tr.UserAttrs["fail_reason"])
			}
		}
	}
	if failed != 1 {
		t.Errorf("%d FAIL trials, want the one whose plugin was killed", failed)
	}
}

// TestDiskFullThenRerun runs a study on a small file system filled up to
// leave less and less room, so that the disk fills up at one step or
// another of the store's and the study's creation; after each, it frees
// the space and checks that the same command, rerun, completes the study.
// It needs root (to mount a tmpfs) and skips without it.
func TestDiskFullThenRerun(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs")
	}
	for _, room := range []int{0, 16 << 10, 64 << 10, 160 << 10, 400 << 10} {
		t.Run(fmt.Sprintf("%dKiB-free", room>>10), func(t *testing.T) {
			fs := t.TempDir()
			if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", fs).CombinedOutput(); err != nil {
				t.Skipf("mount tmpfs: %v %s", err, out)
			}
			defer exec.Command("umount", "-l", fs).Run()
			filler := filepath.Join(fs, "filler")
			f, err := os.Create(filler)
			if err != nil {
				t.Fatal(err)
			}
			chunk := make([]byte, 4096)
			for {
				if _, err := f.Write(chunk); err != nil {
					break // full
				}
			}
			f.Close()
			if room > 0 {
				st, _ := os.Stat(filler)
				if err := os.Truncate(filler, st.Size()-int64(room)); err != nil {
					t.Fatal(err)
				}
			}
			db := filepath.Join(fs, "s.db")
			args := append(slices.Clone(tiny), "--set", "grid={gamma: [0.5, 0.2]}", "--sampler", "grid", "--storage", db)
			first := runTune(t, fs, args...)
			if first.code == 0 {
				t.Logf("with %d bytes free the study fitted", room)
			}
			if err := os.Remove(filler); err != nil {
				t.Fatal(err)
			}
			r := runTune(t, fs, args...)
			if r.code != 0 {
				t.Fatalf("rerun after freeing the disk (first run: exit %d):\n%s\nfirst:\n%s", first.code, r, first)
			}
			checkGridOnce(t, db, "gamma-sweep", 2)
		})
	}
}
