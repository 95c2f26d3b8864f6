package results

import (
	"context"
	"errors"
	"fmt"
	"github.com/lrsgd-lab/lrsgd/host/metrics"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/c-bata/goptuna"
)

func TestOpenCreatesAllTables(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			dsn := b.dsn(t)
			s := openT(t, dsn)
			want := append(GoptunaTables(), OwnTables()...)
			for _, table := range want {
				if !s.DB().Migrator().HasTable(table) {
					t.Errorf("table %s missing after Open", table)
				}
			}
			if b.name == "sqlite" {
				// Independently of gorm: ask SQLite itself.
				var names []string
				if err := s.DB().Raw(`SELECT name FROM sqlite_master WHERE type = 'table'`).Scan(&names).Error; err != nil {
					t.Fatal(err)
				}
				for _, table := range want {
					if !slices.Contains(names, table) {
						t.Errorf("sqlite_master lacks %s (has %v)", table, names)
					}
				}
				var mode string
				s.DB().Raw(`PRAGMA journal_mode`).Scan(&mode)
				if mode != "wal" {
					t.Errorf("journal_mode = %q, want wal", mode)
				}
			}
			var version string
			s.DB().Raw(`SELECT value FROM lrsgd_schema WHERE key = 'schema_version'`).Scan(&version)
			if version != SchemaVersion {
				t.Errorf("schema_version = %q, want %q", version, SchemaVersion)
			}
			// Opening again migrates nothing new and keeps the data.
			studyID, _ := newTrials(t, s, "keep", 1)
			s2 := openT(t, dsn)
			if id, err := s2.Storage().GetStudyIDFromName("keep"); err != nil || id != studyID {
				t.Errorf("after reopening, study keep = %d, %v; want %d", id, err, studyID)
			}
		})
	}
}

func TestOpenDefaultsToWorkingFolderAndEnv(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	t.Setenv(EnvStorage, "")
	s, err := Open(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := os.Stat(filepath.Join(dir, DefaultSQLiteFile)); err != nil {
		t.Errorf("Open(\"\") did not create %s in the working folder: %v", DefaultSQLiteFile, err)
	}
	envPath := filepath.Join(dir, "from-env.db")
	t.Setenv(EnvStorage, "sqlite://"+envPath)
	s, err = Open(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := os.Stat(envPath); err != nil {
		t.Errorf("Open(\"\") with $%s did not create %s: %v", EnvStorage, envPath, err)
	}
}

func TestOpenUnreachablePostgresHidesPassword(t *testing.T) {
	const secret = "Sup3rSecretPW"
	dir := t.TempDir()
	t.Chdir(dir)
	for _, dsn := range []string{
		"postgres://lrsgd:" + secret + "@127.0.0.1:1/lab?sslmode=disable",
		"postgresql://lrsgd:" + secret + "@127.0.0.1:1/lab",
		"host=127.0.0.1 port=1 user=lrsgd password=" + secret + " dbname=lab sslmode=disable",
		"postgres://lrsgd@127.0.0.1:1/lab?password=" + secret,
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		s, err := Open(ctx, dsn)
		cancel()
		if err == nil {
			s.Close()
			t.Fatalf("Open(%s) succeeded against a closed port", MaskDSN(dsn))
		}
		msg := err.Error()
		if strings.Contains(msg, secret) {
			t.Errorf("error holds the password: %s", msg)
		}
		if !strings.Contains(msg, Mask) || !strings.Contains(msg, "127.0.0.1") {
			t.Errorf("error %q does not name the (masked) store", msg)
		}
		if !strings.Contains(fmt.Sprintf("%+v", err), "connect") {
			t.Errorf("error %q does not say the connection failed", msg)
		}
	}
	// Malformed DSNs: the driver's parse errors quote the DSN.
	for _, dsn := range []string{
		"postgres://lrsgd:" + secret + "@host:notaport/lab",
		"host=h password='" + secret + " port=5",
	} {
		_, err := Open(context.Background(), dsn)
		if err == nil || strings.Contains(err.Error(), secret) || !strings.Contains(err.Error(), "parse") {
			t.Errorf("Open(malformed %s): err = %v; want a parse error without the password", MaskDSN(dsn), err)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 0 {
		t.Errorf("a failed PostgreSQL Open left files in the working folder: %v", entries)
	}
}

// TestWrongPostgresPasswordHidden authenticates with a wrong password
// against the test server: the error must say so without the password.
func TestWrongPostgresPasswordHidden(t *testing.T) {
	base := os.Getenv(EnvTestPostgres)
	if base == "" || KindOf(base) != KindPostgres || strings.HasPrefix(base, "host=") {
		t.Skipf("needs $%s in URL form", EnvTestPostgres)
	}
	const wrong = "Wr0ngPassw0rdXYZ"
	i := strings.Index(base, "://") + 3
	at := strings.LastIndex(base[:strings.IndexAny(base[i:]+"?", "?")+i], "@")
	user, _, _ := strings.Cut(base[i:at], ":")
	dsn := base[:i] + user + ":" + wrong + base[at:]
	_, err := Open(context.Background(), dsn)
	if err == nil || strings.Contains(err.Error(), wrong) || !strings.Contains(err.Error(), "password authentication failed") {
		t.Errorf("Open with a wrong password: err = %v", err)
	}
}

func TestOpenBadSQLitePath(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-such-folder")
	_, err := Open(context.Background(), filepath.Join(missing, "lab.db"))
	if err == nil || !strings.Contains(err.Error(), missing) {
		t.Fatalf("Open in a missing folder: err = %v; want one naming %s", err, missing)
	}
	if _, statErr := os.Stat(missing); !os.IsNotExist(statErr) {
		t.Errorf("Open created %s", missing)
	}
}

func TestRoundTrip(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			s := openT(t, b.dsn(t))
			_, ids := newTrials(t, s, "roundtrip", 2)
			a, other := ids[0], ids[1]

			curve := []CurvePoint{
				{TrialID: a, Epoch: 0, OuterSteps: 0, GradEvals: 0, LR: 0.1, TrainLoss: 2.30, TrainAcc: 0.1, TestLoss: 2.31, TestAcc: 0.09, Wall: 0.5},
				{TrialID: a, Epoch: 1, OuterSteps: 98, GradEvals: 980, LR: 0.1, TrainLoss: 1.5, TrainAcc: 0.45, TestLoss: 1.6, TestAcc: 0.42, Wall: 12.25,
					ParamDivergence: ptr(0.125), EpsilonMean: ptr(0.01), EpsilonMax: ptr(0.5)},
				{TrialID: a, Epoch: 2, OuterSteps: 196, GradEvals: 1960, LR: 0.01, TrainLoss: math.NaN(), TrainAcc: 0.1, TestLoss: math.Inf(1), TestAcc: 0.1, Wall: 24,
					ParamDivergence: ptr(0)},
			}
			if err := s.AddCurvePoints(ctx, curve...); err != nil {
				t.Fatal(err)
			}
			if err := s.AddCurvePoints(ctx, CurvePoint{TrialID: other, GradEvals: 5}); err != nil {
				t.Fatal(err)
			}
			got, err := s.Curve(ctx, a)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(curve) {
				t.Fatalf("curve has %d points, want %d", len(got), len(curve))
			}
			for i := range curve {
				if !sameCurvePoint(got[i], curve[i]) {
					t.Errorf("point %d: got %+v, want %+v", i, got[i], curve[i])
				}
			}

			meta := RunMeta{TrialID: a, Plugin: "lrsgd-r", PluginVersion: "0.1.0", PluginSHA256: strings.Repeat("ab", 32),
				Dataset: "cifar10", DatasetSHA256: strings.Repeat("cd", 32), Model: "lenet", Seed: math.MaxUint64 - 6,
				Commit: "0123abc", Machine: "host x86_64", GoVersion: "go1.26.8", BLAS: "openblas",
				Extra: map[string]string{"batch": "512", "storage": "postgres://u:hunter2pw@h/db"}}
			if err := s.PutRunMeta(ctx, meta); err != nil {
				t.Fatal(err)
			}
			gm, ok, err := s.GetRunMeta(ctx, a)
			if err != nil || !ok {
				t.Fatalf("GetRunMeta = %v, %v", ok, err)
			}
			want := meta
			want.Extra = map[string]string{"batch": "512", "storage": "postgres://u:xxxxx@h/db"}
			if fmt.Sprint(gm) != fmt.Sprint(want) {
				t.Errorf("run meta:\n got %+v\nwant %+v", gm, want)
			}
			// Replacing drops old extras.
			meta.Extra = map[string]string{"batch": "256"}
			meta.Seed = 7
			if err := s.PutRunMeta(ctx, meta); err != nil {
				t.Fatal(err)
			}
			gm, _, _ = s.GetRunMeta(ctx, a)
			if gm.Seed != 7 || len(gm.Extra) != 1 || gm.Extra["batch"] != "256" {
				t.Errorf("after replacing, run meta = %+v", gm)
			}
			if n := count(t, s, `SELECT COUNT(*) FROM trial_run_meta WHERE trial_id = ?`, a); n != 1 {
				t.Errorf("trial_run_meta has %d rows for the trial, want 1", n)
			}
			if _, ok, _ := s.GetRunMeta(ctx, other); ok {
				t.Error("GetRunMeta found metadata for a trial that has none")
			}

			if err := s.PutMetrics(ctx, a, map[string]float64{metrics.TestAccuracy: 0.75, metrics.HittingTimeGrads: -1, metrics.GeneralizationGap: math.NaN()}); err != nil {
				t.Fatal(err)
			}
			if err := s.PutMetrics(ctx, a, map[string]float64{metrics.TestAccuracy: 0.76}); err != nil {
				t.Fatal(err)
			}
			m, err := s.GetMetrics(ctx, a)
			if err != nil {
				t.Fatal(err)
			}
			if len(m) != 3 || m[metrics.TestAccuracy] != 0.76 || m[metrics.HittingTimeGrads] != -1 || !math.IsNaN(m[metrics.GeneralizationGap]) {
				t.Errorf("metrics = %v", m)
			}
			// Raw SQL agrees (users query these tables directly).
			var acc float64
			s.DB().Raw(`SELECT value FROM trial_metrics WHERE trial_id = ? AND name = 'test_accuracy'`, a).Scan(&acc)
			if acc != 0.76 {
				t.Errorf("SQL test_accuracy = %v, want 0.76", acc)
			}
		})
	}
}

func sameFloat(a, b float64) bool { return a == b || (math.IsNaN(a) && math.IsNaN(b)) }

func samePtr(a, b *float64) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return sameFloat(*a, *b)
}

func sameCurvePoint(a, b CurvePoint) bool {
	return a.TrialID == b.TrialID && a.Epoch == b.Epoch && a.OuterSteps == b.OuterSteps && a.GradEvals == b.GradEvals &&
		a.LR == b.LR && sameFloat(a.TrainLoss, b.TrainLoss) && sameFloat(a.TrainAcc, b.TrainAcc) &&
		sameFloat(a.TestLoss, b.TestLoss) && sameFloat(a.TestAcc, b.TestAcc) && a.Wall == b.Wall &&
		samePtr(a.ParamDivergence, b.ParamDivergence) && samePtr(a.EpsilonMean, b.EpsilonMean) && samePtr(a.EpsilonMax, b.EpsilonMax)
}

func TestUnknownTrialWritesNothing(t *testing.T) {
	ctx := context.Background()
	s := openT(t, filepath.Join(t.TempDir(), "lab.db"))
	_, ids := newTrials(t, s, "s", 1)
	bad := ids[0] + 100
	checks := map[string]error{
		"AddCurvePoints": s.AddCurvePoints(ctx, CurvePoint{TrialID: ids[0]}, CurvePoint{TrialID: bad}),
		"PutRunMeta":     s.PutRunMeta(ctx, RunMeta{TrialID: bad}),
		"PutMetrics":     s.PutMetrics(ctx, bad, map[string]float64{"x": 1}),
		"Heartbeat":      s.Heartbeat(ctx, bad, "w"),
	}
	for name, err := range checks {
		if !errors.Is(err, ErrNoTrial) || !strings.Contains(err.Error(), strconv.Itoa(bad)) {
			t.Errorf("%s with unknown trial %d: err = %v, want ErrNoTrial naming it", name, bad, err)
		}
	}
	for _, table := range OwnTables() {
		if table == TableSchema {
			continue
		}
		if n := count(t, s, `SELECT COUNT(*) FROM `+table); n != 0 {
			t.Errorf("%s has %d rows after failed writes", table, n)
		}
	}
	if err := s.PutMetrics(ctx, ids[0], map[string]float64{"": 1}); err == nil {
		t.Error("PutMetrics accepted an empty metric name")
	}
}

func TestHeartbeatAndStaleTrials(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			s := openT(t, b.dsn(t))
			studyID, ids := newTrials(t, s, "hb", 4)
			beating, silent, oldStart, done := ids[0], ids[1], ids[2], ids[3]
			for _, id := range []int{beating, silent, done} {
				if err := s.Heartbeat(ctx, id, "w1"); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Heartbeat(ctx, beating, "w2"); err != nil { // second beat updates the row
				t.Fatal(err)
			}
			if err := s.Storage().SetTrialState(done, goptuna.TrialStateComplete); err != nil {
				t.Fatal(err)
			}
			old := time.Now().Add(-2 * time.Hour).UTC()
			s.DB().Exec(`UPDATE trial_heartbeats SET beat_at = ? WHERE trial_id IN ?`, old, []int{silent, done})
			s.DB().Exec(`UPDATE trials SET datetime_start = ? WHERE trial_id = ?`, old, oldStart)

			var worker string
			s.DB().Raw(`SELECT worker FROM trial_heartbeats WHERE trial_id = ?`, beating).Scan(&worker)
			if worker != "w2" || count(t, s, `SELECT COUNT(*) FROM trial_heartbeats`) != 3 {
				t.Errorf("heartbeats: worker %q, %d rows; want w2, 3", worker, count(t, s, `SELECT COUNT(*) FROM trial_heartbeats`))
			}
			stale, err := s.StaleTrials(ctx, studyID, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			if want := []int{silent, oldStart}; !slices.Equal(stale, want) {
				t.Errorf("StaleTrials(1h) = %v, want %v (silent, never beat and old)", stale, want)
			}
			stale, _ = s.StaleTrials(ctx, studyID, 3*time.Hour)
			if len(stale) != 0 {
				t.Errorf("StaleTrials(3h) = %v, want none", stale)
			}
			stale, _ = s.StaleTrials(ctx, studyID, -time.Minute)
			if want := []int{beating, silent, oldStart}; !slices.Equal(stale, want) {
				t.Errorf("StaleTrials(-1m) = %v, want every RUNNING trial %v", stale, want)
			}
		})
	}
}

// Environment of the helper processes the concurrency tests start.
const (
	envHelper = "LRSGD_RESULTS_TEST_HELPER"
	envDSN    = "LRSGD_RESULTS_TEST_DSN"
)

const (
	helperGoroutines = 2
	helperPoints     = 40
)

// TestHelperProcess is not a test: the concurrency tests run the test binary
// again with $LRSGD_RESULTS_TEST_HELPER set, and this function then plays a
// worker process.
func TestHelperProcess(t *testing.T) {
	mode := os.Getenv(envHelper)
	if mode == "" {
		t.Skip("helper process for the concurrency tests")
	}
	if err := helper(mode, os.Getenv(envDSN)); err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(3)
	}
	os.Exit(0)
}

func helper(mode, dsn string) error {
	ctx := context.Background()
	s, err := Open(ctx, dsn)
	if err != nil {
		return err
	}
	defer s.Close()
	if mode == "open" {
		return nil
	}
	studyID, err := s.Storage().GetStudyIDFromName("concurrent")
	if err != nil {
		return fmt.Errorf("study: %w", err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, helperGoroutines)
	for g := range helperGoroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- worker(ctx, s, studyID, fmt.Sprintf("%d/%d", os.Getpid(), g))
		}()
	}
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		if err != nil {
			all = append(all, err)
		}
	}
	return errors.Join(all...)
}

// worker runs one trial the way search's workers do: create it, then
// interleave curve points, heartbeats, intermediate values and metrics.
func worker(ctx context.Context, s *Store, studyID int, name string) error {
	st := s.Storage()
	id, err := st.CreateNewTrial(studyID)
	if err != nil {
		return fmt.Errorf("%s: create trial: %w", name, err)
	}
	for i := range helperPoints {
		if err := s.AddCurvePoints(ctx, CurvePoint{TrialID: id, Epoch: float64(i), GradEvals: int64(10 * i), TrainLoss: 1 / float64(i+1)}); err != nil {
			return fmt.Errorf("%s: curve point %d: %w", name, i, err)
		}
		if err := s.Heartbeat(ctx, id, name); err != nil {
			return fmt.Errorf("%s: heartbeat %d: %w", name, i, err)
		}
		if i%10 == 0 {
			if err := st.SetTrialIntermediateValue(id, i, float64(i)); err != nil {
				return fmt.Errorf("%s: intermediate value %d: %w", name, i, err)
			}
			if err := s.PutMetrics(ctx, id, map[string]float64{"progress": float64(i)}); err != nil {
				return fmt.Errorf("%s: metrics %d: %w", name, i, err)
			}
		}
	}
	if err := st.SetTrialValue(id, 1); err != nil {
		return fmt.Errorf("%s: value: %w", name, err)
	}
	if err := st.SetTrialState(id, goptuna.TrialStateComplete); err != nil {
		return fmt.Errorf("%s: state: %w", name, err)
	}
	return nil
}

// startHelpers runs n helper processes at once and waits for them all.
func startHelpers(t *testing.T, n int, mode, dsn string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout(t))
	defer cancel()
	cmds := make([]*exec.Cmd, n)
	outs := make([]*strings.Builder, n)
	for i := range cmds {
		cmds[i] = exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHelperProcess$")
		cmds[i].Env = append(os.Environ(), envHelper+"="+mode, envDSN+"="+dsn)
		outs[i] = &strings.Builder{}
		cmds[i].Stdout, cmds[i].Stderr = outs[i], outs[i]
		if err := cmds[i].Start(); err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range cmds {
		err := c.Wait()
		out := outs[i].String()
		if err != nil {
			t.Errorf("helper %d (%s): %v\n%s", i, mode, err, out)
		}
		if strings.Contains(out, "locked") {
			t.Errorf("helper %d output mentions a lock: %s", i, out)
		}
	}
}

func TestTwoProcessesTwoGoroutines(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			dsn := b.dsn(t)
			s := openT(t, dsn)
			studyID, _ := newTrials(t, s, "concurrent", 0)
			const procs = 2
			startHelpers(t, procs, "write", dsn)

			trials, err := s.Trials(context.Background(), studyID)
			if err != nil {
				t.Fatal(err)
			}
			const n = procs * helperGoroutines
			if len(trials) != n {
				t.Fatalf("%d trials, want %d", len(trials), n)
			}
			for i, tr := range trials {
				if tr.Number != i || tr.State != "COMPLETE" {
					t.Errorf("trial %d: number %d state %s; want number %d COMPLETE", tr.ID, tr.Number, tr.State, i)
				}
				if len(tr.Intermediate) != helperPoints/10 || tr.Metrics["progress"] != helperPoints-10 {
					t.Errorf("trial %d: %d intermediate values, progress %v", tr.ID, len(tr.Intermediate), tr.Metrics["progress"])
				}
			}
			if got := count(t, s, `SELECT COUNT(*) FROM trial_curves`); got != n*helperPoints {
				t.Errorf("trial_curves has %d rows, want %d", got, n*helperPoints)
			}
			if got := count(t, s, `SELECT COUNT(DISTINCT worker) FROM trial_heartbeats`); got != n {
				t.Errorf("%d distinct heartbeat workers, want %d", got, n)
			}
		})
	}
}

func TestConcurrentOpenOfFreshStore(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			dsn := b.dsn(t)
			startHelpers(t, 3, "open", dsn)
			s := openT(t, dsn)
			for _, table := range append(GoptunaTables(), OwnTables()...) {
				if !s.DB().Migrator().HasTable(table) {
					t.Errorf("table %s missing", table)
				}
			}
		})
	}
}

// BenchmarkEvaluationWrite measures what one evaluation costs the store:
// one curve point and one heartbeat, each its own transaction.
func BenchmarkEvaluationWrite(b *testing.B) {
	for _, be := range backends() {
		b.Run(be.name, func(b *testing.B) {
			ctx := context.Background()
			s, err := Open(ctx, be.dsnB(b))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			studyID, _ := s.Storage().CreateNewStudy("bench")
			id, _ := s.Storage().CreateNewTrial(studyID)
			b.ResetTimer()
			for i := range b.N {
				if err := s.AddCurvePoints(ctx, CurvePoint{TrialID: id, GradEvals: int64(i), TrainLoss: 1}); err != nil {
					b.Fatal(err)
				}
				if err := s.Heartbeat(ctx, id, "w"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
