package results

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"testing"
)

// TestMigrateV1 opens a store written by the lab's commands at schema
// version 1 (testdata/store-v1.db) and checks that Open migrated it: the
// hyperparameters moved to trial_hyperparams (from run-metadata extras for
// tune's trials, from user attributes for train's), the metric copies in
// user attributes are gone, nothing else was lost, and the version is 2.
func TestMigrateV1(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "store-v1.db"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "v1.db")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for round := range 2 { // the second Open finds version 2 and changes nothing
		st, err := OpenExisting(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		var version string
		if err := st.DB().Raw(`SELECT value FROM lrsgd_schema WHERE key = 'schema_version'`).Scan(&version).Error; err != nil || version != SchemaVersion {
			t.Fatalf("round %d: schema_version %q (%v), want %s", round, version, err, SchemaVersion)
		}
		want := map[string]map[int]map[string]string{
			"gamma-sweep": {0: {"gamma": "0.5", "lambda_coef": "0.02", "preset": "reference"}, 1: {"gamma": "0.2", "lambda_coef": "0.02", "preset": "reference"}},
			"train":       {0: {"m": "3"}, 1: {"momentum": "0.5"}},
		}
		for name, byNumber := range want {
			trials, err := st.TrialsOf(ctx, name)
			if err != nil {
				t.Fatal(err)
			}
			if len(trials) != len(byNumber) {
				t.Fatalf("round %d: study %s has %d trials, want %d", round, name, len(trials), len(byNumber))
			}
			for _, tr := range trials {
				if !maps.Equal(tr.Hyperparams, byNumber[tr.Number]) {
					t.Errorf("round %d: %s trial %d hyperparameters %v, want %v", round, name, tr.Number, tr.Hyperparams, byNumber[tr.Number])
				}
				if tr.State != "COMPLETE" || tr.Value == nil || *tr.Value != tr.Metrics["test_accuracy"] || len(tr.Metrics) < 13 {
					t.Errorf("round %d: %s trial %d: state %s, value %v, %d metrics", round, name, tr.Number, tr.State, tr.Value, len(tr.Metrics))
				}
				for k := range tr.UserAttrs {
					if _, isMetric := tr.Metrics[k]; isMetric || len(k) > 3 && k[:3] == "hp." {
						t.Errorf("round %d: %s trial %d keeps user attribute %q", round, name, tr.Number, k)
					}
				}
				if tr.Run == nil || tr.Run.Plugin == "" {
					t.Errorf("round %d: %s trial %d lost its run metadata", round, name, tr.Number)
					continue
				}
				for k := range tr.Run.Extra {
					if len(k) > 3 && k[:3] == "hp." {
						t.Errorf("round %d: %s trial %d keeps run-metadata extra %q", round, name, tr.Number, k)
					}
				}
				curve, err := st.Curve(ctx, tr.ID)
				if err != nil || len(curve) != 1 {
					t.Errorf("round %d: %s trial %d: %d curve points (%v), want 1", round, name, tr.Number, len(curve), err)
				}
			}
			if name == "gamma-sweep" && trials[0].UserAttrs["worker"] == "" {
				t.Errorf("round %d: the worker attribute of a tune trial was lost", round)
			}
		}
		st.Close()
	}
}
