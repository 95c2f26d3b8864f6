package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/lrsgd-lab/lrsgd/cmd/internal/cli"
	"github.com/lrsgd-lab/lrsgd/results"
	"github.com/lrsgd-lab/lrsgd/results/resultstest"
)

// fill creates a store with the fixture study and returns its DSN and the
// open store.
func fill(t *testing.T, dsn string) *results.Store {
	t.Helper()
	s, err := results.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := resultstest.Fill(context.Background(), s); err != nil {
		t.Fatalf("fill: %v", err)
	}
	return s
}

// exitErr is a run of the command that exited non-zero: its status and
// what it printed to stderr.
type exitErr struct {
	code int
	msg  string
}

func (e exitErr) Error() string { return e.msg }

func runReport(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	if code := cli.Run(context.Background(), newRoot(&out, &errb), args, &errb); code != 0 {
		err = exitErr{code, strings.TrimSpace(errb.String())}
	}
	return out.String(), errb.String(), err
}

type jsonTrial struct {
	TrialID     int                 `json:"trial_id"`
	Number      int                 `json:"number"`
	State       string              `json:"state"`
	Value       *float64            `json:"value"`
	Params      map[string]any      `json:"params"`
	Metrics     map[string]*float64 `json:"metrics"`
	UserAttrs   map[string]string   `json:"user_attrs"`
	Hyperparams map[string]string   `json:"hyperparams"`
	Run         *struct {
		Plugin string `json:"plugin"`
		Seed   uint64 `json:"seed"`
	} `json:"run"`
}

type jsonFront struct {
	X         string      `json:"x"`
	Y         string      `json:"y"`
	Trials    []jsonTrial `json:"trials"`
	SweetSpot *jsonTrial  `json:"sweet_spot"`
}

type jsonReport struct {
	Store   string `json:"store"`
	Studies []struct {
		Name         string               `json:"name"`
		Direction    string               `json:"direction"`
		Counts       map[string]int       `json:"counts"`
		Trials       []jsonTrial          `json:"trials"`
		Best         *jsonTrial           `json:"best"`
		BestAccuracy *jsonTrial           `json:"best_accuracy"`
		Pareto       []jsonTrial          `json:"pareto"`
		SweetSpot    *jsonTrial           `json:"sweet_spot"`
		Fronts       map[string]jsonFront `json:"fronts"`
	} `json:"studies"`
}

func numbers(ts []jsonTrial) []int {
	out := make([]int, len(ts))
	for i, t := range ts {
		out[i] = t.Number
	}
	return out
}

func backends() map[string]func(t *testing.T) string {
	b := map[string]func(t *testing.T) string{
		"sqlite": func(t *testing.T) string { return filepath.Join(t.TempDir(), "lab.db") },
	}
	if os.Getenv(resultstest.EnvPostgres) != "" {
		b["postgres"] = func(t *testing.T) string { return resultstest.PostgresDSN(t) }
	}
	return b
}

// TestJSONMatchesStore fills a store through goptuna's API, runs the
// command with --format json and checks every trial, parameter and metric
// against the store's tables read with plain SQL, and the fronts, knees and
// best trials against the fixture's hand-computed answers.
func TestJSONMatchesStore(t *testing.T) {
	for name, dsnFor := range backends() {
		t.Run(name, func(t *testing.T) {
			dsn := dsnFor(t)
			s := fill(t, dsn)
			out, _, err := runReport(t, "--storage", dsn, "--format", "json")
			if err != nil {
				t.Fatal(err)
			}
			var rep jsonReport
			if err := json.Unmarshal([]byte(out), &rep); err != nil {
				t.Fatalf("decode JSON: %v\n%s", err, out)
			}
			if len(rep.Studies) != 1 {
				t.Fatalf("%d studies, want 1", len(rep.Studies))
			}
			st := rep.Studies[0]
			db := s.DB()

			var study struct {
				StudyID   int
				StudyName string
				Direction string
			}
			db.Raw(`SELECT study_id, study_name, direction FROM studies`).Scan(&study)
			if st.Name != study.StudyName || st.Direction != study.Direction {
				t.Errorf("study %s %s, SQL says %s %s", st.Name, st.Direction, study.StudyName, study.Direction)
			}

			var trials []struct {
				TrialID int
				Number  int
				State   string
				Value   float64
			}
			db.Raw(`SELECT trial_id, number, state, value FROM trials WHERE study_id = ? ORDER BY number`, study.StudyID).Scan(&trials)
			if len(st.Trials) != len(trials) || len(trials) != len(resultstest.Rows())+1 {
				t.Fatalf("JSON has %d trials, SQL %d, fixture %d", len(st.Trials), len(trials), len(resultstest.Rows())+1)
			}
			counts := map[string]int{}
			for i, tr := range trials {
				j := st.Trials[i]
				counts[tr.State]++
				if j.TrialID != tr.TrialID || j.Number != tr.Number || j.State != tr.State {
					t.Errorf("trial %d: JSON (%d, %d, %s), SQL (%d, %d, %s)", i, j.TrialID, j.Number, j.State, tr.TrialID, tr.Number, tr.State)
				}
				switch tr.State {
				case "COMPLETE", "PRUNED":
					if j.Value == nil || *j.Value != tr.Value {
						t.Errorf("trial %d: JSON value %v, SQL %v", tr.Number, j.Value, tr.Value)
					}
				default:
					if j.Value != nil {
						t.Errorf("trial %d (%s): JSON value %v, want null", tr.Number, tr.State, *j.Value)
					}
				}
			}
			if !equalCounts(st.Counts, counts) {
				t.Errorf("counts %v, SQL %v", st.Counts, counts)
			}
			want := map[string]int{"COMPLETE": 5, "PRUNED": 1, "FAIL": 1, "RUNNING": 1}
			if !equalCounts(counts, want) {
				t.Errorf("fixture states %v, want %v", counts, want)
			}
			if v := st.Trials[5].Value; v == nil || *v != 1.5 {
				t.Errorf("PRUNED trial value %v, want 1.5 (its last intermediate value)", v)
			}
			if hp := st.Trials[0].Hyperparams; hp["preset"] != "reference" || hp["lambda_coef"] != "0.01" || len(hp) != 2 {
				t.Errorf("trial 0 hyperparams %v, want the fixture's preset=reference lambda_coef=0.01", hp)
			}
			if got := st.Trials[6].UserAttrs["fail_reason"]; got != resultstest.FailReason {
				t.Errorf("FAIL trial's fail_reason = %q", got)
			}

			byID := map[int]jsonTrial{}
			for _, j := range st.Trials {
				byID[j.TrialID] = j
			}
			var params []struct {
				TrialID          int
				ParamName        string
				ParamValue       float64
				DistributionJSON string
			}
			db.Raw(`SELECT trial_id, param_name, param_value, distribution_json FROM trial_params`).Scan(&params)
			if len(params) != 3*len(resultstest.Rows()) {
				t.Errorf("%d parameter rows, want %d", len(params), 3*len(resultstest.Rows()))
			}
			for _, p := range params {
				got := byID[p.TrialID].Params[p.ParamName]
				var dist struct {
					Name       string `json:"name"`
					Attributes struct {
						Choices []string `json:"choices"`
					} `json:"attributes"`
				}
				if err := json.Unmarshal([]byte(p.DistributionJSON), &dist); err != nil {
					t.Fatal(err)
				}
				var want any = p.ParamValue
				if dist.Name == "CategoricalDistribution" {
					want = dist.Attributes.Choices[int(p.ParamValue)]
				}
				if got != want {
					t.Errorf("trial %d param %s: JSON %v (%T), SQL %v (%s)", p.TrialID, p.ParamName, got, got, want, dist.Name)
				}
			}

			var metrics []struct {
				TrialID int
				Name    string
				Value   float64
			}
			db.Raw(`SELECT trial_id, name, value FROM trial_metrics`).Scan(&metrics)
			nMetrics := 0
			for _, j := range st.Trials {
				nMetrics += len(j.Metrics)
			}
			if nMetrics != len(metrics) || len(metrics) == 0 {
				t.Errorf("JSON holds %d metrics, SQL %d", nMetrics, len(metrics))
			}
			for _, m := range metrics {
				got := byID[m.TrialID].Metrics[m.Name]
				if got == nil || *got != m.Value {
					t.Errorf("trial %d metric %s: JSON %v, SQL %v", m.TrialID, m.Name, got, m.Value)
				}
			}
			var plugins []struct {
				TrialID int
				Plugin  string
				Seed    int64
			}
			db.Raw(`SELECT trial_id, plugin, seed FROM trial_run_meta`).Scan(&plugins)
			for _, p := range plugins {
				r := byID[p.TrialID].Run
				if r == nil || r.Plugin != p.Plugin || r.Seed != uint64(p.Seed) {
					t.Errorf("trial %d run %+v, SQL %+v", p.TrialID, r, p)
				}
			}

			if got := numbers(st.Pareto); !slices.Equal(got, resultstest.WantFront()) {
				t.Errorf("pareto %v, want %v", got, resultstest.WantFront())
			}
			if st.SweetSpot == nil || st.SweetSpot.Number != resultstest.WantKnee {
				t.Errorf("sweet_spot %+v, want #%d", st.SweetSpot, resultstest.WantKnee)
			}
			if st.Best == nil || st.Best.Number != resultstest.WantBest {
				t.Errorf("best %+v, want #%d", st.Best, resultstest.WantBest)
			}
			if st.BestAccuracy == nil || st.BestAccuracy.Number != resultstest.WantBestAccuracy {
				t.Errorf("best_accuracy %+v, want #%d", st.BestAccuracy, resultstest.WantBestAccuracy)
			}
			eps, ok := st.Fronts["epsilon"]
			if !ok || eps.Y != "epsilon_mean" || !slices.Equal(numbers(eps.Trials), resultstest.WantEpsilonFront()) ||
				eps.SweetSpot == nil || eps.SweetSpot.Number != resultstest.WantEpsilonKnee {
				t.Errorf("epsilon front %+v, want trials %v knee #%d", eps, resultstest.WantEpsilonFront(), resultstest.WantEpsilonKnee)
			}
			// The never-hit trial's hitting time stays −1 in the JSON.
			if h := st.Trials[4].Metrics["hitting_time_grads"]; h == nil || *h != -1 {
				t.Errorf("never-hit trial's hitting_time_grads = %v, want -1", h)
			}
			if strings.Contains(rep.Store, "secret") {
				t.Errorf("store %q not masked", rep.Store)
			}
		})
	}
}

func equalCounts(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestTextFormats(t *testing.T) {
	dsn := filepath.Join(t.TempDir(), "lab.db")
	s := fill(t, dsn)

	out, _, err := runReport(t, "--storage", dsn, "--study", resultstest.StudyName, "--format", "csv")
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatalf("CSV: %v\n%s", err, out)
	}
	if len(rows) != 1+len(resultstest.Rows())+1 {
		t.Fatalf("%d CSV rows, want header + %d", len(rows), len(resultstest.Rows())+1)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	for _, h := range []string{"study", "number", "state", "value", "param_gamma", "param_optimizer", "generalization_gap", "hitting_time_grads", "pareto", "sweet_spot"} {
		if _, ok := col[h]; !ok {
			t.Errorf("CSV header %v lacks %s", rows[0], h)
		}
	}
	var gaps []struct {
		Number int
		Value  float64
	}
	s.DB().Raw(`SELECT t.number, m.value FROM trial_metrics m JOIN trials t ON t.trial_id = m.trial_id
WHERE m.name = 'generalization_gap' ORDER BY t.number`).Scan(&gaps)
	for _, g := range gaps {
		r := rows[1+g.Number]
		if got, _ := strconv.ParseFloat(r[col["generalization_gap"]], 64); got != g.Value {
			t.Errorf("CSV trial %d gap %q, SQL %v", g.Number, r[col["generalization_gap"]], g.Value)
		}
	}
	for n, r := range rows[1:] {
		wantPareto := slices.Contains(resultstest.WantFront(), n)
		if (r[col["pareto"]] == "true") != wantPareto || (r[col["sweet_spot"]] == "true") != (n == resultstest.WantKnee) {
			t.Errorf("CSV trial %d: pareto=%s sweet_spot=%s", n, r[col["pareto"]], r[col["sweet_spot"]])
		}
	}

	out, _, err = runReport(t, "--storage", dsn)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Study " + resultstest.StudyName, "gamma", "never", "Pareto front (hitting_time_grads vs generalization_gap",
		"#0 #1 #2 #4", "Sweet spot (hitting_time_grads vs generalization_gap): #1", "Best test accuracy: #2", "epsilon_mean", "knee"} {
		if !strings.Contains(out, want) {
			t.Errorf("table output lacks %q:\n%s", want, out)
		}
	}
	out, _, err = runReport(t, "--storage", dsn, "--format", "markdown")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"## Study " + resultstest.StudyName, "| number | state | value | gamma |", "|---|", "- Sweet spot"} {
		if !strings.Contains(out, want) {
			t.Errorf("markdown output lacks %q:\n%s", want, out)
		}
	}
}

// checkPNG decodes a PNG and checks its size and that something was drawn.
func checkPNG(t *testing.T, name string, w, h int) {
	t.Helper()
	checkImage(t, name, func(b image.Rectangle) bool { return b.Dx() == w && b.Dy() == h }, fmt.Sprintf("%d×%d", w, h))
}

// checkPanels checks a figure of several 600 × 450 panels side by side
// with a band for the legend below: its width, a height of one panel
// plus at most 1.5 inches, and that something was drawn.
func checkPanels(t *testing.T, name string, panels int) {
	t.Helper()
	checkImage(t, name, func(b image.Rectangle) bool { return b.Dx() == 600*panels && b.Dy() > 450 && b.Dy() <= 450+225 },
		fmt.Sprintf("%d wide and 450 plus a band high", 600*panels))
}

// checkImage decodes a PNG, checks its bounds with ok (want describes
// what ok wants) and that something was drawn.
func checkImage(t *testing.T, name string, ok func(image.Rectangle) bool, want string) {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Error(err)
		return
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Errorf("%s: %v", name, err)
		return
	}
	if b := img.Bounds(); !ok(b) {
		t.Errorf("%s is %v, want %s", name, b, want)
	}
	if n := colours(img); n < 3 {
		t.Errorf("%s has %d colours: nothing drawn", name, n)
	}
}

func colours(img image.Image) int {
	seen := map[[4]uint32]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 3 {
		for x := b.Min.X; x < b.Max.X; x += 3 {
			r, g, bl, a := img.At(x, y).RGBA()
			seen[[4]uint32{r, g, bl, a}] = true
		}
	}
	return len(seen)
}

func TestPlot(t *testing.T) {
	dir := t.TempDir()
	dsn := filepath.Join(dir, "lab.db")
	fill(t, dsn)
	base := filepath.Join(dir, "fig.png")
	_, stderr, err := runReport(t, "--storage", dsn, "--format", "json", "--plot", base, "--trials", "0,1,2")
	if err != nil {
		t.Fatal(err)
	}
	for _, fig := range []string{"gap", "hitting", "front", "curves", "history", "divergence"} {
		name := filepath.Join(dir, "fig-"+fig+".png")
		if !strings.Contains(stderr, "wrote "+name) {
			t.Errorf("stderr does not report %s:\n%s", name, stderr)
		}
		checkPNG(t, name, 600, 450) // 4 × 3 inches at 150 DPI
	}
	// Default trials and another parameter.
	base2 := filepath.Join(dir, "other.png")
	if _, _, err := runReport(t, "--storage", dsn, "--plot", base2, "--param", "optimizer"); err != nil {
		t.Fatal(err)
	}
	for _, fig := range []string{"gap", "curves", "divergence"} {
		checkPNG(t, filepath.Join(dir, "other-"+fig+".png"), 600, 450)
	}
	// The figures of configurations: panels of 600 × 450 side by side,
	// with the legend's band below.
	for fig, panels := range map[string]int{"fig2": 2, "knee": 2, "stability": 2} {
		name := filepath.Join(dir, "fig-"+fig+".png")
		if !strings.Contains(stderr, "wrote "+name) {
			t.Errorf("stderr does not report %s:\n%s", name, stderr)
		}
		checkPanels(t, name, panels)
	}
}

// fillSpecs creates a store holding the hand-made studies.
func fillSpecs(t *testing.T, dsn string, specs ...resultstest.Spec) {
	t.Helper()
	s, err := results.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, spec := range specs {
		if _, err := resultstest.Create(context.Background(), s, spec); err != nil {
			t.Fatal(err)
		}
	}
}

// TestConfigsJSON: the JSON report keeps today's keys and adds, per study,
// the configurations with their summaries, the target, the fronts of
// configurations with the sweet spot and its probability, and for a
// compare study the comparison.
func TestConfigsJSON(t *testing.T) {
	dir := t.TempDir()
	dsn := filepath.Join(dir, "lab.db")
	fillSpecs(t, dsn, resultstest.SeedSweep(), resultstest.Compare(), resultstest.SmallBatch())
	out, _, err := runReport(t, "--storage", dsn, "--format", "json")
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Studies []map[string]any `json:"studies"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("decode: %v\n%s", err, out)
	}
	byName := map[string]map[string]any{}
	for _, st := range rep.Studies {
		byName[st["name"].(string)] = st
		for _, k := range []string{"trials", "best", "best_accuracy", "pareto", "sweet_spot", "fronts", "sweet_spot_rule",
			"configs", "target", "config_fronts", "sweet_spot_config", "sweet_spot_verdict"} {
			if _, ok := st[k]; !ok {
				t.Errorf("study %s lacks %q", st["name"], k)
			}
		}
	}
	sweep := byName[resultstest.SeedSweepName]
	target := sweep["target"].(map[string]any)
	if target["value"] != 1.0 || target["how"] != "study" || target["definition"] == "" {
		t.Errorf("target %v", target)
	}
	stat := func(c map[string]any, m string, interval bool) {
		t.Helper()
		s, ok := c[m].(map[string]any)
		if !ok {
			t.Errorf("config %s lacks %s", c["key"], m)
			return
		}
		for _, k := range []string{"mean", "std", "ci95", "n"} {
			if _, ok := s[k]; !ok {
				t.Errorf("config %s %s lacks %q: %v", c["key"], m, k, s)
			}
		}
		if ci, _ := s["ci95"].([]any); interval != (len(ci) == 2) {
			t.Errorf("config %s %s: ci95 %v, want an interval: %v", c["key"], m, s["ci95"], interval)
		}
	}
	configs := sweep["configs"].([]any)
	if len(configs) != 5 {
		t.Fatalf("%d configs, want 5", len(configs))
	}
	for _, raw := range configs {
		c := raw.(map[string]any)
		for _, k := range []string{"key", "params", "seeds", "converged", "runs"} {
			if _, ok := c[k]; !ok {
				t.Errorf("config %v lacks %q", c["key"], k)
			}
		}
		many := c["seeds"].(float64) > 1
		for _, m := range []string{"test_accuracy", "generalization_gap"} {
			stat(c, m, many)
		}
		if c["converged"] == true {
			for _, m := range []string{"hitting_time_grads", "grads_at_target", "wall_at_target", "gap_at_target", "epsilon_at_target"} {
				stat(c, m, many)
			}
		} else if _, ok := c["grads_at_target"]; ok || c["key"] != "gamma=0.5" {
			t.Errorf("config %v not converged but has grads_at_target", c["key"])
		}
	}
	ss := sweep["sweet_spot_config"].(map[string]any)
	if ss["key"] != "gamma=0.1" || ss["probability"].(float64) <= 0.5 {
		t.Errorf("sweet_spot_config %v", ss)
	}
	for _, k := range []string{"x", "y", "front_probability", "params"} {
		if _, ok := ss[k]; !ok {
			t.Errorf("sweet_spot_config lacks %q", k)
		}
	}
	gap := sweep["config_fronts"].(map[string]any)["gap"].(map[string]any)
	if gap["knee"] != "gamma=0.1" || len(gap["not_converged"].([]any)) != 1 {
		t.Errorf("config front %v", gap)
	}
	cmp, ok := byName[resultstest.CompareName]["comparison"].(map[string]any)
	if !ok || cmp["baseline"] != "sgd" {
		t.Fatalf("comparison %v", byName[resultstest.CompareName]["comparison"])
	}
	for _, raw := range cmp["optimizers"].([]any) {
		o := raw.(map[string]any)
		for _, k := range []string{"optimizer", "mean", "std", "ci95", "n", "diff_vs_baseline", "excludes_zero", "metrics"} {
			if _, ok := o[k]; !ok {
				t.Errorf("comparison %v lacks %q", o["optimizer"], k)
			}
		}
		if o["optimizer"] == "lrsgd-r" {
			d := o["diff_vs_baseline"].(map[string]any)
			if len(d["ci95"].([]any)) != 2 || o["excludes_zero"] != true {
				t.Errorf("lrsgd-r against sgd: %v, excludes_zero %v", d, o["excludes_zero"])
			}
		}
	}
	if _, ok := byName[resultstest.SmallBatchName]["comparison"]; ok {
		t.Error("a study that is not a compare study has a comparison")
	}

	// The text formats print the same as tables.
	text, _, err := runReport(t, "--storage", dsn, "--study", resultstest.CompareName)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Configurations at matched fit", "Target: train loss ≤ 1", "Comparison of the final runs against sgd",
		"Welch", "+0.1 [", "Sweet spot of configurations"} {
		if !strings.Contains(text, want) {
			t.Errorf("table output lacks %q:\n%s", want, text)
		}
	}
	md, _, err := runReport(t, "--storage", dsn, "--study", resultstest.SeedSweepName, "--format", "markdown", "--min-probability", "0.9")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"### Configurations at matched fit", "| config | seeds | converged |", "| gamma=0.1 | 3 | yes | 0.72 [", "no clear sweet spot"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown output lacks %q:\n%s", want, md)
		}
	}
	// Figures of a compare study and a small-batch study.
	for name, figs := range map[string]map[string]int{
		resultstest.CompareName:    {"compare": 3, "stability": 2, "knee": 2},
		resultstest.SmallBatchName: {"fig3": 2, "fig2": 2},
	} {
		base := filepath.Join(dir, name+".png")
		if _, _, err := runReport(t, "--storage", dsn, "--study", name, "--plot", base, "--target", "auto"); err != nil {
			t.Fatal(err)
		}
		for fig, panels := range figs {
			checkPanels(t, filepath.Join(dir, name+"-"+fig+".png"), panels)
		}
	}
}

func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	dsn := filepath.Join(dir, "lab.db")
	s := fill(t, dsn)
	if _, err := s.Storage().CreateNewStudy("second"); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "typo.db")
	notes := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(notes, []byte("not a store\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"unknown study", []string{"--storage", dsn, "--study", "nope"}, []string{`study "nope"`, "no such study", resultstest.StudyName, "second"}},
		{"unknown format", []string{"--storage", dsn, "--format", "xml"}, []string{`--format "xml"`, "table, markdown, csv, json"}},
		{"plot not png", []string{"--storage", dsn, "--study", resultstest.StudyName, "--plot", filepath.Join(dir, "f.jpg")}, []string{"--plot", ".png"}},
		{"plot needs one study", []string{"--storage", dsn, "--plot", filepath.Join(dir, "f.png")}, []string{"--study", resultstest.StudyName, "second"}},
		{"unknown trial number", []string{"--storage", dsn, "--study", resultstest.StudyName, "--plot", filepath.Join(dir, "f.png"), "--trials", "99"}, []string{"--trials", "99"}},
		{"unknown param", []string{"--storage", dsn, "--study", resultstest.StudyName, "--plot", filepath.Join(dir, "f.png"), "--param", "lambda"}, []string{`--param "lambda"`, "gamma"}},
		{"trials without plot", []string{"--storage", dsn, "--trials", "1"}, []string{"--plot"}},
		{"bad trials list", []string{"--storage", dsn, "--trials", "a,b"}, []string{"--trials"}},
		{"missing store", []string{"--storage", missing}, []string{missing}},
		{"not a database", []string{"--storage", notes}, []string{notes, "not a SQLite database"}},
		{"in-memory store", []string{"--storage", ":memory:"}, []string{"in-memory", "vanishes"}},
		{"another engine", []string{"--storage", "mysql://x"}, []string{"mysql://x", "unsupported store"}},
		{"stray argument", []string{"--storage", dsn, "extra"}, []string{"extra"}},
		{"bad target", []string{"--storage", dsn, "--target", "low"}, []string{"--target", `"low"`, "auto"}},
		{"negative target", []string{"--storage", dsn, "--target", "-1"}, []string{"--target", "-1"}},
		{"probability above 1", []string{"--storage", dsn, "--min-probability", "1.5"}, []string{"--min-probability", "(0, 1]"}},
		{"probability 0", []string{"--storage", dsn, "--min-probability", "0"}, []string{"--min-probability"}},
		{"no resamples", []string{"--storage", dsn, "--resamples", "0"}, []string{"--resamples"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := runReport(t, tt.args...)
			if err == nil {
				t.Fatalf("report %v succeeded", tt.args)
			}
			if code := err.(exitErr).code; code != 2 {
				t.Errorf("exit status %d for %q, want 2 (bad input)", code, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Errorf("report created %s", missing)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "f*.png")); len(m) != 0 {
		t.Errorf("failed runs wrote %v", m)
	}
}

// TestCorruptStore: a store that fails SQLite's quick_check is refused with
// exit status 1 (a failure, not the user's typo) and a message saying it
// is corrupt; nothing is printed to stdout.
func TestCorruptStore(t *testing.T) {
	ctx := context.Background()
	dsn := filepath.Join(t.TempDir(), "lab.db")
	s, err := results.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := resultstest.Fill(ctx, s); err != nil {
		t.Fatal(err)
	}
	s.Close()
	st, err := os.Stat(dsn)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(dsn, st.Size()/2); err != nil { // pages the header still counts are gone
		t.Fatal(err)
	}
	stdout, _, err := runReport(t, "--storage", dsn)
	var ee exitErr
	if !errors.As(err, &ee) || ee.code != 1 || !strings.Contains(ee.msg, "corrupt") || !strings.Contains(ee.msg, dsn) || stdout != "" {
		t.Errorf("report of a corrupt store: %v, stdout %q; want exit 1 naming the store and saying it is corrupt, no output", err, stdout)
	}
}

// TestExitCode: bad input exits 2, any other failure 1.
func TestExitCode(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want int
	}{
		{cli.Bad("--format %q", "xml"), 2},
		{fmt.Errorf("open store: %w", cli.BadInput{Err: errors.New("no such file")}), 2},
		{errors.New("write figure: disk full"), 1},
	} {
		if got := cli.Code(context.Background(), tt.err); got != tt.want {
			t.Errorf("cli.Code(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
}
