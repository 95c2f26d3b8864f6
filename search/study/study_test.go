package study

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/c-bata/goptuna"

	"github.com/lrsgd-lab/lrsgd/host/train"
	"github.com/lrsgd-lab/lrsgd/plugins/optimizer"
)

func TestShippedStudiesParseAndResolve(t *testing.T) {
	want := []string{"adam-lr", "compare-lenet", "gamma-sweep", "inner-steps", "lambda-sweep", "psi-sweep", "small-batch", "stability-lenet", "table1"}
	if got := Names(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("Names() = %v, want %v", got, want)
	}
	// grid sizes per budget, counted by hand from the YAML files.
	grids := map[string][3]int{ // default, paper, cpu
		"gamma-sweep":     {5, 5, 5},
		"lambda-sweep":    {6, 6, 6},
		"inner-steps":     {5, 5, 5},
		"psi-sweep":       {4, 4, 4},
		"adam-lr":         {0, 0, 0},
		"small-batch":     {4, 10, 10},
		"table1":          {6, 30, 9},
		"stability-lenet": {3, 3, 3},
		"compare-lenet":   {0, 0, 0},
	}
	for _, name := range want {
		s, err := Load(name)
		if err != nil {
			t.Fatalf("Load(%s): %v", name, err)
		}
		for i, b := range []string{BudgetDefault, BudgetPaper, BudgetCPU} {
			r, err := s.Resolve(b, nil)
			if err != nil {
				t.Fatalf("%s budget %s: %v", name, b, err)
			}
			pts, err := r.GridPoints()
			if err != nil {
				t.Fatalf("%s budget %s: grid: %v", name, b, err)
			}
			if len(pts) != grids[name][i] {
				t.Errorf("%s budget %s: %d grid points, want %d", name, b, len(pts), grids[name][i])
			}
			if r.Budget != b {
				t.Errorf("%s: Budget = %q, want %q", name, r.Budget, b)
			}
			if b == BudgetCPU && (r.Train.TrainSize != 0 || r.Train.TestSize != 0 || !r.Train.Augment) {
				t.Errorf("%s budget cpu: train_size %d test_size %d augment %v, want all of CIFAR-10 with crop + flip",
					name, r.Train.TrainSize, r.Train.TestSize, r.Train.Augment)
			}
		}
	}
}

func TestGammaSweepBudgets(t *testing.T) {
	s, err := Load("gamma-sweep")
	if err != nil {
		t.Fatal(err)
	}
	def, err := s.Resolve("", nil) // "" = default
	if err != nil {
		t.Fatal(err)
	}
	if def.Budget != BudgetDefault || def.Train.TrainSize != 5000 || def.Train.TestSize != 2000 || def.Train.BatchSize != 512 || def.Trials != 5 {
		t.Errorf("default budget: %+v trials %d", def.Train, def.Trials)
	}
	paper, err := s.Resolve(BudgetPaper, nil)
	if err != nil {
		t.Fatal(err)
	}
	if paper.Train.Epochs != 350 || paper.Train.TrainSize != 0 || paper.Trials != 20 ||
		paper.Train.Schedule.Kind != "step" || fmt.Sprint(paper.Train.Schedule.Milestones) != "[150 250]" {
		t.Errorf("paper budget: %+v trials %d", paper.Train, paper.Trials)
	}
	// The paper's grid, in order, as fractions.
	pts, _ := paper.GridPoints()
	for i, den := range []float64{2, 3, 5, 10, 20} {
		if got := pts[i]["gamma"]; got != 1/den {
			t.Errorf("grid point %d: gamma = %v, want 1/%v", i, got, den)
		}
	}
	if _, err := s.Resolve("huge", nil); err == nil || !strings.Contains(err.Error(), `no budget "huge"`) {
		t.Errorf("unknown budget: err = %v", err)
	}
}

func TestParseErrors(t *testing.T) {
	base := `name: x
optimizer: sgd
model: lenet
dataset: synthetic
train: {epochs: 1, batch_size: 32, schedule: {kind: constant, lr: 0.1}}
objective: {metric: test_accuracy}
trials: 2
`
	cases := []struct {
		name, yaml string
		want       []string
	}{
		{"syntax", "name: x\noptimizer: [sgd\nmodel: lenet\n", []string{"line"}},
		{"unknown key", base + "colour: blue\n", []string{"line 8", "colour"}},
		{"unknown nested key", strings.Replace(base, "epochs: 1,", "epoch: 1,", 1), []string{"line 5", "epoch"}},
		{"bad number", base + "space:\n  - {name: lr, type: log-float, low: abc, high: 1}\n", []string{"line 9", `"abc"`}},
		{"low above high", base + "space:\n  - {name: momentum, type: float, low: 0.9, high: 0.1}\n", []string{"line 9", "low 0.9 > high 0.1"}},
		{"bad type", base + "space:\n  - {name: momentum, type: normal}\n", []string{`type "normal"`}},
		{"bad metric", strings.Replace(base, "test_accuracy", "speed", 1), []string{`objective.metric: "speed"`}},
		{"bad sampler", base + "sampler: bayes\n", []string{`sampler: "bayes"`}},
		{"grid outside range", base + "space:\n  - {name: momentum, type: float, low: 0, high: 0.5}\ngrid: {momentum: [0.9]}\n", []string{"grid.momentum", "outside [0, 0.5]"}},
		{"no optimizer", strings.Replace(base, "optimizer: sgd\n", "", 1), []string{"optimizer: missing"}},
		{"empty", "", []string{"empty document"}},
		{"control character in name", strings.Replace(base, "name: x", `name: "x\e[31m"`, 1), []string{`name "x\x1b[31m": control`}},
		{"newline in name", strings.Replace(base, "name: x", `name: "x\ny"`, 1), []string{`name "x\ny": control`}},
		{"space in name", strings.Replace(base, "name: x", `name: "x y"`, 1), []string{`name "x y": no spaces`}},
		{"prune on hitting time", strings.Replace(base, "test_accuracy", "hitting_time_grads", 1) + "pruner: {kind: median}\n", []string{"no per-evaluation values"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.yaml), "x.yaml")
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if !strings.Contains(err.Error(), "x.yaml") {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
	if _, err := Load("no-such-study"); err == nil || !strings.Contains(err.Error(), "gamma-sweep") {
		t.Errorf("unknown study: err = %v (want the list of studies)", err)
	}
}

func TestResolveSets(t *testing.T) {
	s, err := Load("gamma-sweep")
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Resolve("default", []string{"epochs=1", "train-size=300", "test_size=200", "batch-size=64",
		"dataset=synthetic", "lr=0.2", "trials=7", "metric=generalization_gap", "hp.lambda_coef=0.02", "train.schedule.kind=step",
		"train.schedule.milestones=[1]", "train.schedule.factor=0.5"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Train.Epochs != 1 || r.Train.TrainSize != 300 || r.Train.TestSize != 200 || r.Train.BatchSize != 64 ||
		r.Dataset != "synthetic" || r.Train.Schedule.LR != 0.2 || r.Trials != 7 || r.Train.Schedule.Kind != "step" ||
		r.Train.Schedule.Factor != 0.5 || len(r.Train.Schedule.Milestones) != 1 {
		t.Errorf("overrides not applied: %+v dataset %s trials %d", r.Train, r.Dataset, r.Trials)
	}
	if r.Objective.Metric != "generalization_gap" || r.Objective.Direction != "maximize" {
		// the study says maximize explicitly; the override of the metric keeps it
		t.Errorf("objective = %+v", r.Objective)
	}
	if got := r.Hyperparams["lrsgd-r"]["lambda_coef"]; got != "0.02" {
		t.Errorf("hp.lambda_coef = %q", got)
	}
	// Fixing a sampled parameter removes it from the grid.
	r, err = s.Resolve("default", []string{"gamma=1/4"})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := r.Param("gamma")
	if p.Type != TypeFixed || p.Value != "1/4" || len(r.Grid) != 0 {
		t.Errorf("gamma=1/4: param %+v grid %v", p, r.Grid)
	}
	// The original is untouched.
	if p, _ := s.Param("gamma"); p.Type != TypeLogFloat {
		t.Errorf("Resolve changed the study: %+v", p)
	}
	for _, bad := range []struct{ set, want string }{
		{"colour=blue", `unknown key "colour"`},
		{"epochs", "want key=value"},
		{"epochs=many", "epochs"},
		{"sampler=bayes", `sampler: "bayes"`},
		{"batch_size=0", "train.batch_size 0: want at least 1"},
		{"batch_size=1000000000", "train.batch_size 1000000000: the input batch alone (1000000000 × 3072 float32) needs 12.3 TB, more than the"},
		{"train_size=50001", "train.train_size 50001: expected at most 50000, the training images of cifar10"},
		// Refused here by the trainer's own check, as a run would refuse them.
		{"model=transformer", `model "transformer": want one of lenet, mlp, resnet18, vgg16`},
		{"dataset=imagenet", `dataset "imagenet": want one of cifar10, fashion-mnist, synthetic`},
		{"hit_threshold=-1", "train.hit_threshold -1: want"},
		{"lr=.inf", "train.schedule.lr +Inf: want"},
		{"eval_every=-1", "train.eval_every -1: want"},
		// The entry comes from the command line: no line of the file.
		{"space=[{name: batch_size, type: int, low: 0, high: 8}]", `space[0] "batch_size": batch_size = 0: train.batch_size 0: want at least 1`},
	} {
		if _, err := s.Resolve("default", []string{bad.set}); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("--set %s: err = %v, want %q", bad.set, err, bad.want)
		}
	}
	// Narrowing a multi-optimizer study to one optimizer.
	t1, _ := Load("table1")
	r, err = t1.Resolve("default", []string{"optimizer=lrsgd-r"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Optimizer != "lrsgd-r" || len(r.Optimizers) != 0 || len(r.Hyperparams) != 1 {
		t.Errorf("optimizer=lrsgd-r: %q %v %v", r.Optimizer, r.Optimizers, r.Hyperparams)
	}
	if pts, _ := r.GridPoints(); len(pts) != 2 {
		t.Errorf("optimizer=lrsgd-r: %d grid points, want 2 seeds", len(pts))
	}
	if _, err := t1.Resolve("default", []string{"hp.gamma=0.2"}); err == nil || !strings.Contains(err.Error(), "several optimizers") {
		t.Errorf("hp. on a multi-optimizer study: err = %v", err)
	}
}

func TestGridPointsOrderAndConditional(t *testing.T) {
	y := `name: g
optimizers: [a, b]
model: lenet
dataset: synthetic
train: {epochs: 1, batch_size: 8, schedule: {kind: constant, lr: 0.1}}
space:
  - {name: x, type: float, low: 0, high: 1}
  - {name: k, type: categorical, choices: [u, v], optimizers: [b]}
grid:
  x: [0.25, 0.5]
objective: {metric: test_loss}
sampler: grid
`
	s, err := Parse([]byte(y), "g.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if s.Objective.Direction != "minimize" {
		t.Errorf("direction defaults to the metric's: %q", s.Objective.Direction)
	}
	pts, err := s.GridPoints()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range pts {
		got = append(got, s.FormatPoint(p))
	}
	// a: x only (k does not apply, duplicates dropped); b: x × k.
	want := []string{"optimizer=a x=0.25", "optimizer=a x=0.5",
		"optimizer=b x=0.25 k=u", "optimizer=b x=0.25 k=v", "optimizer=b x=0.5 k=u", "optimizer=b x=0.5 k=v"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("grid points\n got %q\nwant %q", got, want)
	}
	if n, _ := s.TotalTrials(); n != 6 {
		t.Errorf("TotalTrials = %d, want 6", n)
	}
	s.Grid = nil
	if _, err := s.GridPoints(); err == nil || !strings.Contains(err.Error(), "list values for x") {
		t.Errorf("pure grid without values for a float: err = %v", err)
	}
}

func TestParseNumber(t *testing.T) {
	for in, want := range map[string]float64{"1/3": 1.0 / 3, "0.5": 0.5, " 1 / 20 ": 0.05, "2e-3": 0.002} {
		if got, err := ParseNumber(in); err != nil || got != want {
			t.Errorf("ParseNumber(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "1/0", "a/b", "NaN", "inf"} {
		if _, err := ParseNumber(in); err == nil {
			t.Errorf("ParseNumber(%q): no error", in)
		}
	}
}

// fakeDescribe knows two optimizers with a few hyperparameters.
func fakeDescribe(_ context.Context, name string) (optimizer.Description, error) {
	switch name {
	case "lrsgd-r":
		return optimizer.Description{Name: name, Hyperparams: []optimizer.HyperparamSpec{
			{Name: "gamma", Type: optimizer.Float, Default: "0.1", Min: 1e-6, Max: 1},
			{Name: "lambda_coef", Type: optimizer.Float, Default: "0.01", Min: 0, Max: 1e6},
			{Name: "preset", Type: optimizer.Enum, Default: "reference", Choices: []string{"reference", "paper"}},
			{Name: "m", Type: optimizer.Int, Default: "10", Min: 1, Max: 1e6},
		}}, nil
	case "sgd":
		return optimizer.Description{Name: name, Hyperparams: []optimizer.HyperparamSpec{
			{Name: "momentum", Type: optimizer.Float, Default: "0.9", Min: 0, Max: 0.9999},
		}}, nil
	}
	return optimizer.Description{}, fmt.Errorf("no plugin %q (have lrsgd-r, sgd)", name)
}

func TestCheckAgainstPlugins(t *testing.T) {
	s, err := Load("gamma-sweep")
	if err != nil {
		t.Fatal(err)
	}
	ok, err := s.Resolve("default", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ok.Check(context.Background(), fakeDescribe); err != nil {
		t.Fatalf("gamma-sweep against lrsgd-r: %v", err)
	}
	cases := []struct {
		sets []string
		want string
	}{
		{[]string{"gamma=2"}, `gamma="2" is outside its valid range: want float [1e-06, 1]`},
		{[]string{"hp.preset=fancy"}, `preset="fancy" is outside its valid range: want enum reference|paper`},
		{[]string{"hp.colour=red"}, `lrsgd-r has no hyperparameter "colour"`},
		{[]string{"hp.m=2.5"}, `m="2.5"`},
		{[]string{"optimizer=adam-x"}, `optimizer "adam-x": no plugin "adam-x"`},
		{[]string{"space=[{name: gamma, type: float, low: 0, high: 2}]", "grid={}"}, "range [0, 2] is outside the valid range of gamma"},
	}
	for _, c := range cases {
		r, err := s.Resolve("default", c.sets)
		if err != nil {
			t.Errorf("%v: Resolve: %v", c.sets, err)
			continue
		}
		err = r.Check(context.Background(), fakeDescribe)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: Check err = %v, want %q", c.sets, err, c.want)
		}
	}
}

func TestSuggestAndDistributions(t *testing.T) {
	s, err := Load("table1")
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Resolve("default", nil)
	if err != nil {
		t.Fatal(err)
	}
	gs, err := goptuna.CreateStudy("t", goptuna.StudyOptionLogger(nil),
		goptuna.StudyOptionSampler(goptuna.NewRandomSampler(goptuna.RandomSamplerOptionSeed(3))))
	if err != nil {
		t.Fatal(err)
	}
	pts, _ := r.GridPoints()
	if err := gs.EnqueueTrial(pts[5]); err != nil { // lrsgd-c seed 2
		t.Fatal(err)
	}
	var got Assignment
	err = gs.Optimize(func(tr goptuna.Trial) (float64, error) {
		a, err := r.Suggest(&tr)
		got = a
		return 0, err
	}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if got.Optimizer != "lrsgd-c" || got.Train.Seed != 2 || got.Params["seed"] != "2" || got.Hyperparams["preset"] != "reference" {
		t.Errorf("assignment = %+v", got)
	}
	d := r.Distributions()
	if _, ok := d["optimizer"].(goptuna.CategoricalDistribution); !ok {
		t.Errorf("distributions: %v", d)
	}
	if _, ok := d["seed"].(goptuna.IntUniformDistribution); !ok {
		t.Errorf("distributions: %v", d)
	}
	if math.IsNaN(pts[5]["seed"]) {
		t.Fatal("nan")
	}
}

// TestSubsetSeedAlias: train.data_seed, the old name of train.subset_seed,
// is still read, with a warning, and seeds the trial's subset.
func TestSubsetSeedAlias(t *testing.T) {
	s, err := Load("gamma-sweep")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		set, warn string
		want      uint64
	}{
		{"", "", DefaultSubsetSeed},
		{"subset_seed=7", "", 7},
		{"data_seed=9", "train.data_seed is deprecated", 9},
	} {
		var sets []string
		if c.set != "" {
			sets = []string{c.set}
		}
		r, err := s.Resolve("default", sets)
		if err != nil {
			t.Fatalf("%s: %v", c.set, err)
		}
		cfg := r.Config(Assignment{Train: r.Train, Optimizer: r.Optimizer}, "data")
		if cfg.Data.Seed != c.want || cfg.Data.DataDir != "data" || cfg.Model != r.Model || cfg.Data.Dataset != r.Dataset {
			t.Errorf("%q: config data %+v, model %s, want subset seed %d", c.set, cfg.Data, cfg.Model, c.want)
		}
		warned := strings.Join(r.Warnings, "\n")
		if (c.warn == "") != (warned == "") || !strings.Contains(warned, c.warn) {
			t.Errorf("%q: warnings %q, want %q", c.set, warned, c.warn)
		}
	}
}

// lineStudy is a study written over many lines, as users write them; the
// tests find the lines of its entries with lineOf.
const lineStudy = `# A study with block mappings and comments, so that the lines of the file
# differ from those of any re-marshalled document.
name: lines
description: >
  a description folded
  over two lines
optimizer: sgd
model: lenet
dataset: synthetic
train:
  epochs: 1
  batch_size: 32
  budget_grads: 1000
  schedule:
    kind: constant
    lr: 0.1
objective:
  metric: test_accuracy
trials: 2
space:
  - name: momentum
    type: float
    low: 0
    high: 0.5
  - name: epochs          # 0 is valid only with a gradient budget
    type: int
    low: 0
    high: 3
grid:
  momentum:
    - 0.25
`

// lineOf returns the 1-based line of the first line of text holding sub.
func lineOf(t *testing.T, text, sub string) int {
	t.Helper()
	for i, l := range strings.Split(text, "\n") {
		if strings.Contains(l, sub) {
			return i + 1
		}
	}
	t.Fatalf("%q not in the study", sub)
	return 0
}

// TestErrorLines: every error about a search-space entry or a grid key
// names the line of the entry in the user's file — when the file is
// parsed, when a budget overlay is applied and after --set overrides —
// and no line where the value came from the command line.
func TestErrorLines(t *testing.T) {
	epochs := lineOf(t, lineStudy, "- name: epochs")
	if epochs != 25 {
		t.Fatalf("the epochs entry is on line %d; the test assumes 25", epochs)
	}
	momentum := lineOf(t, lineStudy, "- name: momentum")
	gridMomentum := lineOf(t, lineStudy, "  momentum:")
	budgets := "budgets:\n  wide:\n    space:\n      - name: momentum\n        type: float\n        low: 0.9\n        high: 0.1\n"
	wideEntry := lineOf(t, lineStudy+budgets, "      - name: momentum")
	cases := []struct {
		name       string
		yaml       string
		budget     string
		sets       []string
		want       string
		wantNoLine bool // the error must not name any line
	}{
		{name: "parse: entry", yaml: strings.Replace(lineStudy, "high: 0.5", "high: -1", 1),
			want: fmt.Sprintf(`space[0] "momentum" (line %d): low 0 > high -1`, momentum)},
		{name: "parse: grid key", yaml: strings.Replace(lineStudy, "- 0.25", "- 0.75", 1),
			want: fmt.Sprintf("grid.momentum (line %d): momentum = 0.75 lies outside [0, 0.5]", gridMomentum)},
		{name: "parse: a budget makes an entry invalid", yaml: lineStudy + "budgets:\n  nograds:\n    train: {budget_grads: 0}\n",
			want: fmt.Sprintf(`budget "nograds": space[1] "epochs" (line %d): epochs = 0: train.epochs 0 without a gradient budget`, epochs)},
		{name: "parse: a budget's own space", yaml: lineStudy + budgets,
			want: fmt.Sprintf(`budget "wide": space[0] "momentum" (line %d): low 0.9 > high 0.1`, wideEntry)},
		{name: "parse: a budget's value of the wrong type", yaml: lineStudy + "budgets:\n  bad:\n    space:\n      - {name: momentum, type: float, low: abc, high: 1}\n",
			want: fmt.Sprintf(`line %d: "abc" is not a number`, len(strings.Split(lineStudy, "\n"))+3)},
		{name: "parse: a budget's unknown key", yaml: lineStudy + "budgets:\n  bad:\n    colour: blue\n",
			want: fmt.Sprintf(`budget "bad": line %d: unknown key "colour"`, len(strings.Split(lineStudy, "\n"))+2)},
		{name: "resolve: --set makes an entry invalid", yaml: lineStudy, sets: []string{"budget_grads=0"},
			want: fmt.Sprintf(`space[1] "epochs" (line %d): epochs = 0: train.epochs 0 without a gradient budget`, epochs)},
		{name: "resolve: fixing an entry keeps its line", yaml: lineStudy, sets: []string{"epochs=0", "budget_grads=0"},
			want: fmt.Sprintf(`space[1] "epochs" (line %d): epochs = 0: train.epochs 0 without a gradient budget`, epochs)},
		{name: "resolve: after a budget", yaml: lineStudy + "budgets:\n  short:\n    trials: 1\n", budget: "short", sets: []string{"budget_grads=0"},
			want: fmt.Sprintf(`space[1] "epochs" (line %d)`, epochs)},
		{name: "resolve: a grid value from --set", yaml: lineStudy, sets: []string{"grid.momentum=[0.9]"},
			want: "grid.momentum: momentum = 0.9 lies outside [0, 0.5]", wantNoLine: true},
		{name: "resolve: a space from --set", yaml: lineStudy, sets: []string{"space=[{name: momentum, type: float, low: 1, high: 0}]", "grid={}"},
			want: `space[0] "momentum": low 1 > high 0`, wantNoLine: true},
		{name: "resolve: a value of the wrong type from --set", yaml: lineStudy, sets: []string{"trials=many"},
			want: "cannot unmarshal !!str `many` into int", wantNoLine: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := Parse([]byte(c.yaml), "lines.yaml")
			if err == nil && (c.budget != "" || c.sets != nil) {
				_, err = s.Resolve(c.budget, c.sets)
			}
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q\ndoes not contain %q", err, c.want)
			}
			if c.wantNoLine && strings.Contains(err.Error(), "line ") {
				t.Errorf("error %q names a line, but the value came from --set", err)
			}
		})
	}
	// Clone keeps the lines.
	s, err := Parse([]byte(lineStudy), "lines.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := s.Clone().Param("epochs"); p.where(1) != fmt.Sprintf(`space[1] "epochs" (line %d)`, epochs) {
		t.Errorf("clone: %s", p.where(1))
	}
}

// TestLoadFileLimits: LoadFile refuses files that are not regular and
// files over MaxFileSize, naming the file and the limit.
func TestLoadFileLimits(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, append([]byte("name: x\n#"), bytes.Repeat([]byte("x"), MaxFileSize)...), 0o644); err != nil {
		t.Fatal(err)
	}
	exact := filepath.Join(dir, "exact.yaml")
	body := "name: x\n"
	if err := os.WriteFile(exact, []byte(body+"#"+strings.Repeat("x", MaxFileSize-len(body)-2)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		path string
		want []string
	}{
		{"/dev/zero", []string{"/dev/zero", "a character device, not a regular file"}},
		{dir, []string{dir, "a folder, not a regular file"}},
		{big, []string{big, "larger than 1048576 bytes (1 MiB)"}},
		{exact, []string{exact, "optimizer: missing"}}, // read whole: at the limit is allowed
		{filepath.Join(dir, "none.yaml"), []string{"none.yaml", "no such file"}},
	}
	for _, c := range cases {
		_, err := Load(c.path)
		for _, w := range c.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("Load(%s): err = %v, want it to contain %q", c.path, err, w)
			}
		}
	}
}

// TestTable1CPUBudget: table1's cpu budget is compute-matched (300 epochs
// of SGD's gradients on the gradient clock, the schedule scaled to them),
// cpu-e200 keeps the first, 200-epoch version and cpu-epochs keeps the
// paper's epoch accounting.
func TestTable1CPUBudget(t *testing.T) {
	s, err := Load("table1")
	if err != nil {
		t.Fatal(err)
	}
	cpu, err := s.Resolve(BudgetCPU, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := cpu.Train.config(cpu.Model, cpu.Dataset)
	if cfg.Epochs != 300 || cfg.Clock != train.ClockGrads || cfg.BatchSize != 128 || cpu.Baseline != "sgd" ||
		!slices.Equal(cfg.Schedule.Milestones, []float64{128.571, 214.286}) {
		t.Errorf("table1 cpu: %+v, baseline %q", cfg, cpu.Baseline)
	}
	e200, err := s.Resolve("cpu-e200", nil)
	if err != nil {
		t.Fatal(err)
	}
	if e200.Train.Epochs != 200 || e200.Train.Clock != train.ClockGrads ||
		!slices.Equal(e200.Train.Schedule.Milestones, []float64{85.7143, 142.857}) {
		t.Errorf("table1 cpu-e200: epochs %d clock %q milestones %v", e200.Train.Epochs, e200.Train.Clock, e200.Train.Schedule.Milestones)
	}
	ep, err := s.Resolve("cpu-epochs", nil)
	if err != nil {
		t.Fatal(err)
	}
	if ep.Train.Epochs != 20 || ep.Train.Clock != "" {
		t.Errorf("table1 cpu-epochs: epochs %d clock %q, want 20 on the epoch clock", ep.Train.Epochs, ep.Train.Clock)
	}
}

// TestLRFactorParam: a space parameter lr_factor sets the schedule's decay
// factor of the trial's trainer (small-batch's cpu-factor budget sweeps
// it), and a factor the trainer refuses is refused by the study.
func TestLRFactorParam(t *testing.T) {
	s, err := Load("small-batch")
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Resolve("cpu-factor", nil)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := r.TotalTrials(); n != 2*5*2 || r.Seeds != 2 {
		t.Errorf("small-batch cpu-factor: %d grid points, %d seeds; want 20 (2 optimizers × 5 batches × 2 factors), 2 seeds", n, r.Seeds)
	}
	pts, err := r.GridPoints()
	if err != nil {
		t.Fatal(err)
	}
	gs, err := goptuna.CreateStudy("t", goptuna.StudyOptionLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	last := pts[len(pts)-1] // lrsgd-c, batch 64, factor 0.9
	if err := gs.EnqueueTrial(last); err != nil {
		t.Fatal(err)
	}
	var got Assignment
	err = gs.Optimize(func(tr goptuna.Trial) (float64, error) {
		a, err := r.Suggest(&tr)
		got = a
		return 0, err
	}, 1)
	if err != nil {
		t.Fatal(err)
	}
	cfg := r.Config(got, "data")
	if cfg.Schedule.Factor != 0.9 || cfg.BatchSize != 64 || got.Params["lr_factor"] != "0.9" || got.Optimizer != "lrsgd-c" {
		t.Errorf("assignment %+v: schedule %+v batch %d, want factor 0.9 at batch 64 for lrsgd-c", got, cfg.Schedule, cfg.BatchSize)
	}
	if _, ok := got.Hyperparams["lr_factor"]; ok {
		t.Errorf("lr_factor went to the optimizer: %v", got.Hyperparams)
	}
	_, err = s.Resolve("cpu", []string{`space=[{name: lr_factor, type: categorical, choices: ["-1"]}]`})
	if want := "train.schedule.factor -1: want a finite number ≥ 0"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("lr_factor -1: err = %v, want %q", err, want)
	}
}
