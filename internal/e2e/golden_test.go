package e2e

import (
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	_ "github.com/mattn/go-sqlite3"
	"golang.org/x/sys/cpu"
)

var update = flag.Bool("update", false, "rewrite testdata/golden.json from this build")

// tiny is gamma-sweep on a few hundred generated images: a trial takes
// well under a second.
var tiny = []string{"--study", "gamma-sweep", "--set", "dataset=synthetic", "--set", "train_size=256", "--set", "test_size=128",
	"--set", "epochs=2", "--set", "batch_size=64", "--set", "eval_every=1", "--set", "seeds=1", "--sampler", "grid"}

// trainTiny is the same budget for train.
var trainTiny = []string{"--dataset", "synthetic", "--train-size", "256", "--test-size", "128", "--epochs", "2", "--batch-size", "64", "--json"}

// TestGolden runs short studies (plain, with the stability probe, and one
// that diverges) and trainings (plain and probed, filed in a store), and
// compares every number they produce that does not depend on the clock
// with testdata/golden.json. The commands run with OpenBLAS's kernels
// pinned (pinnedKernels), so the same numbers hold on any machine with
// AVX2.
func TestGolden(t *testing.T) {
	if !cpu.X86.HasAVX2 || !cpu.X86.HasFMA {
		t.Skip("the golden numbers come from OpenBLAS's Haswell kernels (" + pinnedKernels + "), which need AVX2 and FMA")
	}
	dir := t.TempDir()
	tuneDB, trainDB := filepath.Join(dir, "tune.db"), filepath.Join(dir, "train.db")
	got := map[string]any{}
	for _, run := range []struct {
		name string
		args []string
	}{
		{"tune", append(tiny, "--set", "grid={gamma: [0.5, 0.2]}")},
		{"tune-probe", append(tiny, "--set", "name=probe", "--set", "grid={gamma: [0.2]}", "--set", "stability={replace: 1}")},
		{"tune-diverged", append(tiny, "--set", "name=diverged", "--set", "grid={gamma: [0.2]}", "--set", "lr=5")},
	} {
		if r := command(t, dir, "tune", append(run.args, "--storage", tuneDB)...); r.code != 0 {
			t.Fatalf("%s: %s", run.name, r)
		}
	}
	got["tune_store"] = dumpStore(t, tuneDB)
	for _, run := range []struct {
		name string
		args []string
	}{
		{"train", append([]string{"--optimizer", "lrsgd-c", "--set", "m=5"}, trainTiny...)},
		{"train-probe", append([]string{"--optimizer", "sgd", "--stability", "--replace", "2"}, trainTiny...)},
	} {
		r := command(t, dir, "train", append(run.args, "--storage", trainDB, "--study", run.name)...)
		if r.code != 0 {
			t.Fatalf("%s: %s", run.name, r)
		}
		got[run.name+"_json"] = jsonLine(t, r.stdout)
	}
	got["train_store"] = dumpStore(t, trainDB)

	b, err := json.MarshalIndent(got, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, '\n')
	path := filepath.Join("testdata", "golden.json")
	if *update {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(want) != string(b) {
		gotPath := filepath.Join(t.TempDir(), "golden.got.json")
		os.WriteFile(gotPath, b, 0o644)
		t.Fatalf("the runs' numbers differ from %s (same seed must give the same curve).\n"+
			"First difference: %s\nCompare: diff %s %s\n"+
			"Regenerate with -update only if the change is meant to move the numbers.",
			path, firstDiff(string(want), string(b)), path, gotPath)
	}
}

// clockKey reports whether a metric or JSON key holds a time measurement.
func clockKey(k string) bool {
	return strings.Contains(k, "wall") || strings.Contains(k, "_ms") || k == "trial_id"
}

// num formats a float exactly.
func num(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// jsonLine is the last line of stdout as a JSON object, without its
// clock-dependent keys, numbers formatted exactly.
func jsonLine(t *testing.T, stdout string) map[string]any {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	dec := json.NewDecoder(strings.NewReader(lines[len(lines)-1]))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("JSON line: %v\n%s", err, stdout)
	}
	for k := range m {
		if clockKey(k) {
			delete(m, k)
		}
	}
	return m
}

// dumpStore reads, with plain SQL, every study's trials: state, value,
// parameters, intermediate values, metrics and curve, without the clock.
func dumpStore(t *testing.T, path string) map[string]any {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	query := func(q string, args ...any) [][]string {
		rows, err := db.Query(q, args...)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		var out [][]string
		for rows.Next() {
			vals := make([]sql.NullString, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			row := make([]string, len(cols))
			for i, v := range vals {
				row[i] = "NULL"
				if v.Valid {
					row[i] = exact(v.String)
				}
			}
			out = append(out, row)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	studies := map[string]any{}
	for _, s := range query(`SELECT study_id, study_name FROM studies ORDER BY study_id`) {
		var trials []any
		for _, tr := range query(`SELECT trial_id, number, state, value FROM trials WHERE study_id = ? ORDER BY number`, s[0]) {
			id := tr[0]
			m := map[string]any{"number": tr[1], "state": tr[2], "value": tr[3]}
			params := map[string]string{}
			for _, p := range query(`SELECT param_name, param_value FROM trial_params WHERE trial_id = ?`, id) {
				params[p[0]] = p[1]
			}
			m["params"] = params
			var inter []string
			for _, v := range query(`SELECT step, value FROM trial_values WHERE trial_id = ? ORDER BY step`, id) {
				inter = append(inter, v[0]+":"+v[1])
			}
			m["intermediate"] = inter
			metrics := map[string]string{}
			for _, v := range query(`SELECT name, value FROM trial_metrics WHERE trial_id = ?`, id) {
				if !clockKey(v[0]) {
					metrics[v[0]] = v[1]
				}
			}
			m["metrics"] = metrics
			var curve []string
			for _, c := range query(`SELECT epoch, outer_steps, grad_evals, lr, train_loss, train_acc, test_loss, test_acc,
				param_divergence, epsilon_mean, epsilon_max FROM trial_curves WHERE trial_id = ? ORDER BY grad_evals, curve_id`, id) {
				curve = append(curve, strings.Join(c, " "))
			}
			m["curve"] = curve
			trials = append(trials, m)
		}
		studies[s[1]] = trials
	}
	return studies
}

// exact rewrites a number read from SQLite in its exact shortest form.
func exact(s string) string {
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return num(f)
	}
	return s
}

// firstDiff describes the first line where a and b differ.
func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(al) && i < len(bl); i++ {
		if al[i] != bl[i] {
			return fmt.Sprintf("line %d: want %q, got %q", i+1, strings.TrimSpace(al[i]), strings.TrimSpace(bl[i]))
		}
	}
	return fmt.Sprintf("lengths %d and %d lines", len(al), len(bl))
}
