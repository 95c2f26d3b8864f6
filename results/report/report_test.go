package report

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lrsgd-lab/lrsgd/host/metrics"
	"github.com/lrsgd-lab/lrsgd/results"
	"github.com/lrsgd-lab/lrsgd/results/resultstest"
)

func TestFloatJSON(t *testing.T) {
	for _, c := range []struct {
		v    float64
		want string
	}{{0.1, "0.1"}, {-1, "-1"}, {1e21, "1e+21"}, {math.NaN(), "null"}, {math.Inf(1), "null"}, {math.Inf(-1), "null"}} {
		b, err := json.Marshal(Float(c.v))
		if err != nil || string(b) != c.want {
			t.Errorf("Marshal(Float(%v)) = %s, %v; want %s", c.v, b, err, c.want)
		}
	}
}

func TestFormatFloat(t *testing.T) {
	for _, c := range []struct {
		v    float64
		want string
	}{{12000, "12000"}, {-1, "-1"}, {0.123456, "0.1235"}, {1e20, "1e+20"}, {math.NaN(), "NaN"}, {math.Inf(1), "+Inf"}} {
		if got := FormatFloat(c.v); got != c.want {
			t.Errorf("FormatFloat(%v) = %q, want %q", c.v, got, c.want)
		}
	}
}

func trial(id int, state string, metrics map[string]float64) Trial {
	m := map[string]Float{}
	for k, v := range metrics {
		m[k] = Float(v)
	}
	return Trial{TrialID: id, Number: id, State: state, Metrics: m}
}

func TestBuildFront(t *testing.T) {
	h, g := metrics.HittingTimeGrads, metrics.GeneralizationGap
	trials := []Trial{
		trial(0, "COMPLETE", map[string]float64{h: 100, g: 0.4}),
		trial(1, "COMPLETE", map[string]float64{h: 300, g: 0.1}),
		trial(2, "PRUNED", map[string]float64{h: 50, g: 0.01}),         // not COMPLETE: ignored
		trial(3, "COMPLETE", map[string]float64{h: 50}),                // no gap: ignored
		trial(4, "COMPLETE", map[string]float64{h: 10, g: math.NaN()}), // NaN gap: ignored
		trial(5, "COMPLETE", map[string]float64{h: -1, g: 0.05}),       // never hit, smallest gap: on the front
		trial(6, "COMPLETE", map[string]float64{h: 200, g: 0.2}),
		trial(7, "COMPLETE", map[string]float64{h: 250, g: 0.35}), // dominated by 6
	}
	f := BuildFront(trials, h, g)
	var got []int
	for _, t := range f.Trials {
		got = append(got, t.Number)
	}
	if want := []int{0, 6, 1, 5}; !slices.Equal(got, want) {
		t.Errorf("front %v, want %v", got, want)
	}
	if f.Candidates != 5 { // 0, 1, 5, 6, 7
		t.Errorf("candidates %d, want 5", f.Candidates)
	}
	// Finite front: x 100, 200, 300 → 0, 0.5, 1; y 0.4, 0.2, 0.1 → 1, 1/3, 0.
	// Distances ×√2: 0, 1/6, 0 → #6.
	if f.SweetSpot == nil || f.SweetSpot.Number != 6 {
		t.Errorf("sweet spot %+v, want #6", f.SweetSpot)
	}
	if f := BuildFront(trials[2:4], h, g); len(f.Trials) != 0 || f.SweetSpot != nil {
		t.Errorf("front without candidates: %+v", f)
	}
}

// newStore returns a new, empty store in the test's folder, closed at the
// test's end.
func newStore(t *testing.T) *results.Store {
	t.Helper()
	s, err := results.Open(context.Background(), filepath.Join(t.TempDir(), "lab.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestEmptyStoreAndNaN(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	rep, err := Build(ctx, s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := Write(&b, rep, "table"); err != nil || !strings.Contains(b.String(), "holds no studies") {
		t.Errorf("empty store table: %q, %v", b.String(), err)
	}
	b.Reset()
	if err := Write(&b, rep, "json"); err != nil || !strings.Contains(b.String(), `"studies": []`) {
		t.Errorf("empty store JSON: %q, %v", b.String(), err)
	}
	if err := Write(&b, rep, "yaml"); err == nil || !strings.Contains(err.Error(), `"yaml"`) {
		t.Errorf("unknown format: %v", err)
	}

	// A NaN metric (stored as NULL) becomes null in JSON.
	studyID, err := s.Storage().CreateNewStudy("nan")
	if err != nil {
		t.Fatal(err)
	}
	id, _ := s.Storage().CreateNewTrial(studyID)
	if err := s.PutMetrics(ctx, id, map[string]float64{metrics.TrainLoss: math.NaN(), metrics.TestLoss: 1}); err != nil {
		t.Fatal(err)
	}
	rep, err = Build(ctx, s, Options{Study: "nan"})
	if err != nil {
		t.Fatal(err)
	}
	b.Reset()
	if err := Write(&b, rep, "json"); err != nil {
		t.Fatal(err)
	}
	var out struct {
		Studies []struct {
			Trials []struct {
				Metrics map[string]*float64 `json:"metrics"`
			} `json:"trials"`
		} `json:"studies"`
	}
	if err := json.Unmarshal(b.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	m := out.Studies[0].Trials[0].Metrics
	if v, ok := m[metrics.TrainLoss]; !ok || v != nil {
		t.Errorf("NaN train_loss in JSON: %v, present %v; want null", v, ok)
	}
	if v := m[metrics.TestLoss]; v == nil || *v != 1 {
		t.Errorf("test_loss %v, want 1", v)
	}
}

func TestBuildFixture(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	if _, err := resultstest.Fill(ctx, s); err != nil {
		t.Fatal(err)
	}
	rep, err := Build(ctx, s, Options{Study: resultstest.StudyName})
	if err != nil {
		t.Fatal(err)
	}
	st := rep.Studies[0]
	if want := []string{"gamma", "inner_steps", "optimizer"}; !slices.Equal(st.ParamNames, want) {
		t.Errorf("param names %v, want %v", st.ParamNames, want)
	}
	if got := st.MetricNames()[:2]; !slices.Equal(got, []string{metrics.TestAccuracy, metrics.TestLoss}) {
		t.Errorf("metric order starts %v", got)
	}
	if tr, ok := st.TrialByNumber(resultstest.WantKnee); !ok || st.SweetSpot == nil || tr.TrialID != st.SweetSpot.TrialID {
		t.Errorf("TrialByNumber(%d) = %v, %v", resultstest.WantKnee, tr, ok)
	}
	if _, ok := st.TrialByNumber(99); ok {
		t.Error("TrialByNumber(99) found a trial")
	}
	if _, err := Build(ctx, s, Options{Study: "missing"}); err == nil || !strings.Contains(err.Error(), resultstest.StudyName) {
		t.Errorf("unknown study: %v", err)
	}
}

// TestControlCharactersInStudyNames: a study name from the store that
// holds control characters (written by goptuna directly, or by an older
// lab) is printed escaped in the text formats, never raw, and the error
// for an unknown study lists it escaped too; JSON keeps the name itself.
func TestControlCharactersInStudyNames(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	const name = "evil\x1b[2J\rname"
	for _, n := range []string{name, "plain name"} {
		id, err := s.Storage().CreateNewStudy(n)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Storage().CreateNewTrial(id); err != nil { // a row for the CSV
			t.Fatal(err)
		}
	}
	rep, err := Build(ctx, s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	const escaped = `"evil\x1b[2J\rname"`
	for _, format := range []string{"table", "markdown", "csv"} {
		var b bytes.Buffer
		if err := Write(&b, rep, format); err != nil {
			t.Fatal(err)
		}
		out := b.String()
		if strings.ContainsAny(out, "\x1b\r") || !strings.Contains(strings.ReplaceAll(out, `""`, `"`), escaped) {
			t.Errorf("%s: the name is not escaped as %s:\n%q", format, escaped, out)
		}
		if !strings.Contains(out, "plain name") || strings.Contains(out, `"plain name"`) {
			t.Errorf("%s: a printable name is not printed as it is:\n%q", format, out)
		}
	}
	var b bytes.Buffer
	if err := Write(&b, rep, "json"); err != nil {
		t.Fatal(err)
	}
	var out struct {
		Studies []struct {
			Name string `json:"name"`
		} `json:"studies"`
	}
	if err := json.Unmarshal(b.Bytes(), &out); err != nil || len(out.Studies) != 2 || out.Studies[0].Name != name {
		t.Errorf("JSON: studies %+v, %v; want the name %q first, as stored", out.Studies, err, name)
	}
	if _, err := Build(ctx, s, Options{Study: "missing"}); err == nil || strings.Contains(err.Error(), "\x1b") || !strings.Contains(err.Error(), escaped) {
		t.Errorf("unknown study: %q, want the store's names listed escaped", err)
	}
}
