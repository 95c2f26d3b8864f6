package search

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/c-bata/goptuna"

	"github.com/lrsgd-lab/lrsgd/host/pipeline"
	"github.com/lrsgd-lab/lrsgd/internal/owner"
	"github.com/lrsgd-lab/lrsgd/results"
)

// orphan adds a RUNNING trial of the study with gamma = 0.3 whose worker
// is the process o, as a worker that stopped mid-trial leaves it.
func orphan(t *testing.T, st *results.Store, o owner.Owner) int {
	t.Helper()
	storage := st.Storage()
	sid, err := storage.GetStudyIDFromName("gamma-sweep")
	if err != nil {
		t.Fatal(err)
	}
	id, err := storage.CreateNewTrial(sid)
	if err != nil {
		t.Fatal(err)
	}
	if err := storage.SetTrialParam(id, "gamma", 0.3, goptuna.LogUniformDistribution{Low: 0.05, High: 0.5}); err != nil {
		t.Fatal(err)
	}
	if err := st.HeartbeatOwner(context.Background(), id, "other-worker", o); err != nil {
		t.Fatal(err)
	}
	return id
}

// process starts a child that sleeps, and returns it as an Owner.
func process(t *testing.T) (owner.Owner, *exec.Cmd) {
	t.Helper()
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	o, err := owner.Of(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	return o, cmd
}

func TestDeadOwnerRecoveredAtOnce(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "g.db"))
	s := gammaStudy(t, "sampler=random", "grid={}", "trials=2")
	ctx := context.Background()
	if _, err := Tune(ctx, Config{Study: s, Store: st, Runner: &fakeRunner{}, Trials: 1}); err != nil {
		t.Fatal(err)
	}
	o, cmd := process(t)
	id := orphan(t, st, o)
	cmd.Process.Kill()
	cmd.Wait()
	// Its heartbeat is fresh, far within the default stale-after of 60 s,
	// but its process is gone: the next call recovers it at once.
	sum, err := Tune(ctx, Config{Study: s, Store: st, Runner: &fakeRunner{}})
	if err != nil {
		t.Fatal(err)
	}
	trials := trialsOf(t, st, "gamma-sweep")
	var dead, redo *results.Trial
	for i, tr := range trials {
		if tr.ID == id {
			dead = &trials[i]
		}
		if tr.SystemAttrs[AttrRetryOf] != "" {
			redo = &trials[i]
		}
	}
	if dead == nil || dead.State != "FAIL" || dead.UserAttrs[AttrFailReason] != ReasonGone {
		t.Fatalf("orphaned trial: %+v", dead)
	}
	if redo == nil || redo.State != "COMPLETE" || redo.Params["gamma"].(float64) != 0.3 ||
		redo.SystemAttrs[AttrAttempt] != "2" || redo.SystemAttrs[AttrRetryOf] != fmt.Sprint(dead.Number) {
		t.Fatalf("its re-run: %+v", redo)
	}
	if c := sum.Counts; c["COMPLETE"] != 2 || c["FAIL"] != 1 || c["RUNNING"] != 0 {
		t.Errorf("counts %v, want 2 COMPLETE, 1 FAIL, nothing RUNNING", c)
	}
}

func TestLiveOwnerLeavesStudyIncomplete(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "i.db"))
	s := gammaStudy(t, "sampler=random", "grid={}", "trials=2")
	ctx := context.Background()
	if _, err := Tune(ctx, Config{Study: s, Store: st, Runner: &fakeRunner{}, Trials: 1}); err != nil {
		t.Fatal(err)
	}
	o, _ := process(t) // alive
	orphan(t, st, o)
	_, err := Tune(ctx, Config{Study: s, Store: st, Runner: &fakeRunner{}})
	if !errors.Is(err, ErrIncomplete) || !strings.Contains(err.Error(), "RUNNING under "+o.String()) {
		t.Fatalf("err = %v, want ErrIncomplete naming the live worker %s", err, o)
	}
	// With --trials the call was not asked for the whole study.
	if _, err := Tune(ctx, Config{Study: s, Store: st, Runner: &fakeRunner{}, Trials: 1}); err != nil {
		t.Errorf("with Trials 1: %v", err)
	}
}

// TestStoppedOwnerNotStale: a worker on this machine that is stopped
// (SIGSTOP) beats late but is alive; its trial is not taken from it when
// its heartbeat goes stale, and the study is reported incomplete.
func TestStoppedOwnerNotStale(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "s.db"))
	s := gammaStudy(t, "sampler=random", "grid={}", "trials=2")
	ctx := context.Background()
	cfg := Config{Study: s, Store: st, Runner: &fakeRunner{}, Trials: 1, Heartbeat: time.Second, StaleAfter: 3 * time.Second}
	if _, err := Tune(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	o, cmd := process(t)
	if err := cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	id := orphan(t, st, o)
	time.Sleep(3500 * time.Millisecond) // its beat is now older than stale-after
	cfg.Trials = 0
	if _, err := Tune(ctx, cfg); !errors.Is(err, ErrIncomplete) {
		t.Fatalf("err = %v, want ErrIncomplete: the stopped worker still holds its trial", err)
	}
	for _, tr := range trialsOf(t, st, "gamma-sweep") {
		if tr.ID == id && tr.State != "RUNNING" {
			t.Errorf("the stopped worker's trial is %s (%s), want RUNNING", tr.State, tr.UserAttrs[AttrFailReason])
		}
	}
}

func TestRetryLimit(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "r.db"))
	s := gammaStudy(t, "sampler=random", "grid={}", "trials=1", "retries=1")
	ctx := context.Background()
	// The first attempt's worker dies, then its retry's worker dies: the
	// parameters have used their one retry and are not queued a third time.
	storage := st.Storage()
	if _, err := Tune(ctx, Config{Study: s, Store: st, Runner: &fakeRunner{}, Trials: 1}); err != nil {
		t.Fatal(err)
	}
	sid, _ := storage.GetStudyIDFromName("gamma-sweep")
	for attempt := 1; attempt <= 2; attempt++ {
		o, cmd := process(t)
		var id int
		if attempt == 1 {
			id = orphan(t, st, o)
		} else { // claim the queued retry as the dying worker would
			all, _ := storage.GetAllTrials(sid)
			for _, tr := range all {
				if tr.State == goptuna.TrialStateWaiting {
					id = tr.ID
				}
			}
			if err := storage.SetTrialState(id, goptuna.TrialStateRunning); err != nil {
				t.Fatal(err)
			}
			if err := st.HeartbeatOwner(ctx, id, "other-worker", o); err != nil {
				t.Fatal(err)
			}
		}
		cmd.Process.Kill()
		cmd.Wait()
		tu := &tuner{cfg: Config{StaleAfter: time.Hour}, s: s, store: st, storage: storage, active: map[int]bool{}, retries: s.RetryLimit(DefaultRetries)}
		tu.gs, _ = goptuna.LoadStudy("gamma-sweep", goptuna.StudyOptionStorage(storage), goptuna.StudyOptionLogger(nil))
		n, err := tu.recover(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if want := map[int]int{1: 1, 2: 0}[attempt]; n != want {
			t.Errorf("attempt %d: recover re-queued %d trials, want %d", attempt, n, want)
		}
	}
}

func TestHalfCreatedStudyRepaired(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "h.db"))
	s := gammaStudy(t, "sampler=random", "grid={}", "trials=1")
	// The creator stopped right after creating the study's row.
	if _, err := st.Storage().CreateNewStudy("gamma-sweep"); err != nil {
		t.Fatal(err)
	}
	sum, err := Tune(context.Background(), Config{Study: s, Store: st, Runner: &fakeRunner{}, JoinPatience: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Counts["COMPLETE"] != 1 {
		t.Errorf("counts %v, want the study run", sum.Counts)
	}
}

func TestTimingAgainstTheStudy(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "t.db"))
	s := gammaStudy(t, "sampler=random", "grid={}", "trials=2")
	ctx := context.Background()
	if _, err := Tune(ctx, Config{Study: s, Store: st, Runner: &fakeRunner{}, Trials: 1, Heartbeat: time.Second, StaleAfter: 10 * time.Second}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		hb, stale time.Duration
		want      string
	}{
		{100 * time.Millisecond, time.Second, "use --stale-after 3s or more"},
		{5 * time.Second, time.Minute, "use --heartbeat 3.333333333s or less"},
	} {
		_, err := Tune(ctx, Config{Study: s, Store: st, Runner: &fakeRunner{}, Trials: 1, Heartbeat: c.hb, StaleAfter: c.stale})
		if !errors.Is(err, ErrStudySettings) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("heartbeat %v, stale-after %v: %v, want ErrStudySettings saying %q", c.hb, c.stale, err, c.want)
		}
	}
}

func TestAllFailed(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "f.db"))
	s := gammaStudy(t, "sampler=random", "grid={}", "trials=2")
	fr := &fakeRunner{fail: func(pipeline.Spec) error { return errors.New("plugin refused the data") }}
	_, err := Tune(context.Background(), Config{Study: s, Store: st, Runner: fr})
	if !errors.Is(err, ErrAllFailed) || !strings.Contains(err.Error(), "trial 0: plugin refused the data") {
		t.Errorf("err = %v, want ErrAllFailed with the reasons", err)
	}
}
