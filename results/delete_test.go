package results_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/lrsgd-lab/lrsgd/results"
	"github.com/lrsgd-lab/lrsgd/results/resultstest"
)

// TestDeleteStudy deletes the fixture study beside another one and checks
// that no row of it is left in any table, and that the other is whole.
func TestDeleteStudy(t *testing.T) {
	ctx := context.Background()
	st, err := results.Open(ctx, filepath.Join(t.TempDir(), "d.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := resultstest.Fill(ctx, st); err != nil {
		t.Fatal(err)
	}
	other, err := st.Storage().CreateNewStudy("other")
	if err != nil {
		t.Fatal(err)
	}
	keep, err := st.Storage().CreateNewTrial(other)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.PutMetrics(ctx, keep, map[string]float64{"test_accuracy": 0.5}); err != nil {
		t.Fatal(err)
	}
	n, err := st.DeleteStudy(ctx, resultstest.StudyName)
	if err != nil || n == 0 {
		t.Fatalf("DeleteStudy = %d, %v", n, err)
	}
	for _, table := range append(results.OwnTables(), results.GoptunaTables()...) {
		if table == results.TableSchema {
			continue
		}
		var left int64
		q := st.DB().Table(table)
		switch table {
		case "studies", "study_user_attributes", "study_system_attributes", "trials":
			q = q.Where("study_id <> ?", other)
		default:
			q = q.Where("trial_id <> ?", keep)
		}
		if err := q.Count(&left).Error; err != nil {
			t.Fatalf("%s: %v", table, err)
		}
		if left != 0 {
			t.Errorf("%s: %d rows of the deleted study left", table, left)
		}
	}
	if m, err := st.GetMetrics(ctx, keep); err != nil || m["test_accuracy"] != 0.5 {
		t.Errorf("the other study's trial: metrics %v, %v", m, err)
	}
	if _, err := st.DeleteStudy(ctx, resultstest.StudyName); !errors.Is(err, results.ErrNoStudy) {
		t.Errorf("deleting it again: %v, want ErrNoStudy", err)
	}
}
