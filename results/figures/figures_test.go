package figures

import (
	"context"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lrsgd-lab/lrsgd/results"
	"github.com/lrsgd-lab/lrsgd/results/report"
)

func TestFileName(t *testing.T) {
	for _, c := range []struct{ base, fig, want string }{
		{"fig.png", "gap", "fig-gap.png"},
		{"out/γ sweep.PNG", "front", "out/γ sweep-front.PNG"},
	} {
		if got := FileName(c.base, c.fig); got != c.want {
			t.Errorf("FileName(%q, %q) = %q, want %q", c.base, c.fig, got, c.want)
		}
	}
}

// TestEmptyStudy draws a study whose only trial failed: every figure says
// "no data" but is still a valid PNG, and no divergence figure is written.
func TestEmptyStudy(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := results.Open(ctx, filepath.Join(dir, "lab.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	studyID, _ := s.Storage().CreateNewStudy("empty")
	s.Storage().CreateNewTrial(studyID)
	rep, err := report.Build(ctx, s, report.Options{Study: "empty"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Write(ctx, s, &rep.Studies[0], filepath.Join(dir, "fig.svg"), Options{}); err == nil || !strings.Contains(err.Error(), ".png") {
		t.Errorf("non-PNG name: err = %v", err)
	}
	files, err := Write(ctx, s, &rep.Studies[0], filepath.Join(dir, "fig.png"), Options{DPI: 50})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"fig-front.png", "fig-curves.png", "fig-history.png"} // no parameter: no gap/hitting
	if len(files) != len(want) {
		t.Fatalf("wrote %v, want %v", files, want)
	}
	for i, f := range files {
		if filepath.Base(f) != want[i] {
			t.Errorf("file %d = %s, want %s", i, f, want[i])
		}
		r, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(r)
		r.Close()
		if err != nil {
			t.Errorf("%s: %v", f, err)
		} else if b := img.Bounds(); b.Dx() != 200 || b.Dy() != 150 {
			t.Errorf("%s is %v, want 200×150 (4×3 in at 50 DPI)", f, b)
		}
	}
}
