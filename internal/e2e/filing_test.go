package e2e

import (
	"database/sql"
	"path/filepath"
	"slices"
	"testing"

	_ "github.com/mattn/go-sqlite3"
)

// filed is what the store says about one trial, read with plain SQL.
type filed struct {
	state, reason string
	metaEmpty     []string // trial_run_meta columns that are empty
	extras        []string // trial_run_meta_extra keys
	hyperparams   map[string]string
	userAttrs     []string
}

func readFiled(t *testing.T, path, study string) filed {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var f filed
	var id int
	err = db.QueryRow(`SELECT t.trial_id, t.state FROM trials t JOIN studies s ON s.study_id = t.study_id
		WHERE s.study_name = ? ORDER BY t.number LIMIT 1`, study).Scan(&id, &f.state)
	if err != nil {
		t.Fatalf("%s: %v", study, err)
	}
	db.QueryRow(`SELECT value FROM trial_user_attributes WHERE trial_id = ? AND key = 'fail_reason'`, id).Scan(&f.reason)
	cols := []string{"plugin", "plugin_version", "plugin_sha256", "dataset", "dataset_sha256", "model", "git_commit", "machine", "go_version", "blas"}
	for _, c := range cols {
		var v sql.NullString
		if err := db.QueryRow(`SELECT `+c+` FROM trial_run_meta WHERE trial_id = ?`, id).Scan(&v); err != nil {
			t.Fatalf("%s: run meta %s: %v", study, c, err)
		}
		if v.String == "" {
			f.metaEmpty = append(f.metaEmpty, c)
		}
	}
	strs := func(q string) [][2]string {
		rows, err := db.Query(q, id)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		defer rows.Close()
		var out [][2]string
		for rows.Next() {
			var a, b string
			if err := rows.Scan(&a, &b); err != nil {
				t.Fatal(err)
			}
			out = append(out, [2]string{a, b})
		}
		return out
	}
	for _, kv := range strs(`SELECT key, '' FROM trial_run_meta_extra WHERE trial_id = ? ORDER BY key`) {
		f.extras = append(f.extras, kv[0])
	}
	f.hyperparams = map[string]string{}
	for _, kv := range strs(`SELECT name, value FROM trial_hyperparams WHERE trial_id = ?`) {
		f.hyperparams[kv[0]] = kv[1]
	}
	for _, kv := range strs(`SELECT key, '' FROM trial_user_attributes WHERE trial_id = ? ORDER BY key`) {
		f.userAttrs = append(f.userAttrs, kv[0])
	}
	return f
}

// TestTrainAndTuneFileAlike runs the same configuration through `train
// --storage` and a `tune` trial, once finishing and once diverging, and
// checks that both file it the same way: the same state and reason, every
// run-metadata column filled, the same extras, the hyperparameters in
// trial_hyperparams and nowhere else.
func TestTrainAndTuneFileAlike(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name, lr, state string
	}{
		{"finished", "0.1", "COMPLETE"},
		{"diverged", "5", "PRUNED"},
	} {
		t.Run(c.name, func(t *testing.T) {
			db := filepath.Join(dir, c.name+".db")
			r := command(t, dir, "train", "--optimizer", "lrsgd-r", "--set", "gamma=0.2", "--dataset", "synthetic",
				"--train-size", "256", "--test-size", "128", "--epochs", "2", "--batch-size", "64", "--lr", c.lr,
				"--storage", db, "--study", "by-train")
			if r.code != 0 {
				t.Fatal(r)
			}
			r = command(t, dir, "tune", append(tiny, "--set", "grid={gamma: [0.2]}", "--set", "lr="+c.lr,
				"--set", "name=by-tune", "--storage", db)...)
			if r.code != 0 {
				t.Fatal(r)
			}
			byTrain, byTune := readFiled(t, db, "by-train"), readFiled(t, db, "by-tune")
			for who, f := range map[string]filed{"train": byTrain, "tune": byTune} {
				if f.state != c.state {
					t.Errorf("%s: state %s (%s), want %s", who, f.state, f.reason, c.state)
				}
				// git_commit is empty only for binaries built outside a git
				// checkout and run outside one, as these are.
				if len(f.metaEmpty) > 1 || len(f.metaEmpty) == 1 && f.metaEmpty[0] != "git_commit" {
					t.Errorf("%s: run-metadata columns left empty: %v", who, f.metaEmpty)
				}
				if f.hyperparams["gamma"] != "0.2" {
					t.Errorf("%s: trial_hyperparams %v, want gamma=0.2", who, f.hyperparams)
				}
				for _, k := range append(slices.Clone(f.extras), f.userAttrs...) {
					if len(k) > 3 && k[:3] == "hp." {
						t.Errorf("%s: hyperparameter %s outside trial_hyperparams", who, k)
					}
				}
			}
			if !slices.Equal(byTrain.metaEmpty, byTune.metaEmpty) {
				t.Errorf("empty run-metadata columns differ: train %v, tune %v", byTrain.metaEmpty, byTune.metaEmpty)
			}
			if byTrain.reason != byTune.reason {
				t.Errorf("fail reasons differ: train %q, tune %q", byTrain.reason, byTune.reason)
			}
			if !slices.Equal(byTrain.extras, byTune.extras) {
				t.Errorf("run-metadata extras differ: train %v, tune %v", byTrain.extras, byTune.extras)
			}
		})
	}
}
