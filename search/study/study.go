// Package study defines the studies that `tune` runs: which optimizer
// plugins to train, on which model and data set, for how long, over which
// search space, towards which objective, with which sampler and pruner.
//
// A study is a YAML document (see docs/search.md for the format). The
// shipped studies are embedded in the binary and listed by [Names]; any
// other file can be read with [Parse] or [LoadFile]. [Load] resolves a name
// or a path. [Study.Resolve] applies a budget ("default" or "paper") and
// --set overrides and checks the result; [Study.Check] checks every
// optimizer hyperparameter against the plugin's own ranges.
package study

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"gopkg.in/yaml.v3"

	"github.com/lrsgd-lab/lrsgd/host/data"
	"github.com/lrsgd-lab/lrsgd/host/metrics"
	"github.com/lrsgd-lab/lrsgd/host/models"
	"github.com/lrsgd-lab/lrsgd/host/train"
)

//go:embed studies/*.yaml
var shipped embed.FS

// Budget names every shipped study defines.
const (
	BudgetDefault = "default" // sized to finish on a 2-core CPU in minutes
	BudgetCPU     = "cpu"     // all of CIFAR-10, converging, within about 3 hours on a 2-core CPU
	BudgetPaper   = "paper"   // the paper's protocol
)

// Sampler names.
const (
	SamplerTPE    = "tpe"
	SamplerRandom = "random"
	SamplerCMAES  = "cmaes"
	SamplerGrid   = "grid"
)

// Pruner kinds.
const (
	PrunerNone              = "none"
	PrunerMedian            = "median"
	PrunerSuccessiveHalving = "successive-halving"
)

// Parameter types of a search-space entry.
const (
	TypeFloat       = "float"
	TypeLogFloat    = "log-float"
	TypeInt         = "int"
	TypeCategorical = "categorical"
	TypeFixed       = "fixed"
)

// OptimizerParam is the reserved parameter name of the categorical over
// optimizers of a study that names several.
const OptimizerParam = "optimizer"

// trainerParams are the parameter names that go to the trainer rather
// than to the optimizer plugin.
var trainerParams = []string{"lr", "lr_factor", "batch_size", "epochs", "seed", "budget_grads"}

// IsTrainerParam reports whether a search-space parameter of that name sets
// a trainer field (lr, lr_factor: the schedule's decay factor, batch_size,
// epochs, seed, budget_grads) rather than an optimizer hyperparameter.
func IsTrainerParam(name string) bool { return slices.Contains(trainerParams, name) }

// Study is one study as written in YAML.
type Study struct {
	// Name identifies the study in the store; the same name on the same
	// storage resumes it.
	Name        string `yaml:"name"`
	Description string `yaml:"description,omitempty"`
	// Optimizer names the optimizer plugin; Optimizers names several, and
	// then the study samples a categorical parameter "optimizer" over them.
	// Exactly one of the two is set.
	Optimizer  string   `yaml:"optimizer,omitempty"`
	Optimizers []string `yaml:"optimizers,omitempty"`
	Model      string   `yaml:"model"`
	Dataset    string   `yaml:"dataset"`
	Train      Train    `yaml:"train"`
	// Hyperparams holds fixed optimizer hyperparameters per optimizer name.
	Hyperparams map[string]map[string]string `yaml:"hyperparams,omitempty"`
	// Space is the search space, sampled in this order.
	Space []Param `yaml:"space,omitempty"`
	// Grid lists values per parameter; their Cartesian product is run
	// first (every point exactly once), then the sampler takes over. With
	// sampler "grid" only the grid runs.
	Grid      map[string][]string `yaml:"grid,omitempty"`
	Objective Objective           `yaml:"objective"`
	// Trials is the number of trials the study runs in total (0 with the
	// grid sampler: one per grid point).
	Trials  int    `yaml:"trials"`
	Sampler string `yaml:"sampler,omitempty"`
	// Seed seeds the sampler.
	Seed      int64      `yaml:"seed"`
	Pruner    Pruner     `yaml:"pruner,omitempty"`
	Stability *Stability `yaml:"stability,omitempty"`
	// Retries is how many times a trial that failed through no fault of
	// its parameters is run again (nil: the tuner's default).
	Retries *int `yaml:"retries,omitempty"`
	// Seeds runs every configuration the sampler proposes (or every grid
	// point) this many times, with trainer seeds train.seed, +1, …, each
	// its own trial (0 = 1).
	Seeds int `yaml:"seeds,omitempty"`
	// Kind is "" (a search) or "compare": a fair comparison of the study's
	// optimizers (see compare.go).
	Kind string `yaml:"kind,omitempty"`
	// Baseline is the optimizer a compare study measures the others
	// against; a search over several optimizers may name one too, and
	// reports then compare every optimizer's runs with its runs.
	Baseline string `yaml:"baseline,omitempty"`
	// TuningTrials is the number of tuning trials each optimizer of a
	// compare study gets over its own space.
	TuningTrials int `yaml:"tuning_trials,omitempty"`
	// Target is the train loss at which speed and stability are compared
	// ("auto", the default, or a number); reports read it.
	Target string `yaml:"target,omitempty"`
	// Budgets are overlays merged over the study by [Study.Resolve]; each
	// may set any field (trials, train.epochs, ...).
	Budgets map[string]yaml.Node `yaml:"budgets,omitempty"`

	// Source is the file or the embedded name the study came from.
	Source string `yaml:"-"`
	// Budget is the budget applied by Resolve ("" before).
	Budget string `yaml:"-"`
	// Sets are the overrides applied by Resolve, as given.
	Sets []string `yaml:"-"`
	// Warnings are notes on deprecated keys the study used; tune prints
	// them.
	Warnings []string `yaml:"-"`

	lines lines // where the space's entries and the grid's keys stand in the file
}

// Train holds the trainer fields of a study.
type Train struct {
	Epochs    int `yaml:"epochs"`
	BatchSize int `yaml:"batch_size"`
	// TrainSize and TestSize take subsets of the data set (0 = all).
	TrainSize int `yaml:"train_size"`
	TestSize  int `yaml:"test_size"`
	// BudgetGrads, when positive, stops a run after that many gradient
	// evaluations (compute-matched comparisons).
	BudgetGrads int64          `yaml:"budget_grads,omitempty"`
	Schedule    train.Schedule `yaml:"schedule"`
	// EvalEvery is the number of epochs between evaluations.
	EvalEvery float64 `yaml:"eval_every"`
	// Clock is what an epoch counts in epochs, eval_every and the
	// schedule's milestones: "epochs" ("" too: outer steps) or "grads"
	// (gradient evaluations, so that every optimizer gets SGD's compute;
	// see train.Config.Clock).
	Clock string `yaml:"clock,omitempty"`
	// HitThreshold is the train loss that defines the hitting time.
	HitThreshold float64 `yaml:"hit_threshold"`
	Augment      bool    `yaml:"augment"`
	// Seed seeds the run: initialisation, optimizer draws, minibatches.
	Seed uint64 `yaml:"seed"`
	// SubsetSeed fixes the data subset (and the generated images) so that
	// trials with different seeds see the same data (0 = 1).
	SubsetSeed uint64 `yaml:"subset_seed,omitempty"`
	// DataSeed is the old name of SubsetSeed, still read (with a warning).
	DataSeed uint64 `yaml:"data_seed,omitempty"`
}

// Param is one entry of the search space.
type Param struct {
	Name string `yaml:"name"`
	// Type is float, log-float, int, categorical or fixed.
	Type string `yaml:"type"`
	// Low and High bound float, log-float and int parameters (inclusive);
	// fractions such as 1/20 are accepted.
	Low  Num `yaml:"low,omitempty"`
	High Num `yaml:"high,omitempty"`
	// Step quantises an int parameter (0 = 1).
	Step int `yaml:"step,omitempty"`
	// Choices are the values of a categorical parameter.
	Choices []string `yaml:"choices,omitempty"`
	// Value is the value of a fixed parameter.
	Value string `yaml:"value,omitempty"`
	// Optimizers restricts the parameter to trials of these optimizers
	// (empty: all of the study's optimizers).
	Optimizers []string `yaml:"optimizers,omitempty"`

	line int // line in the source file, 0 when unknown
}

// UnmarshalYAML records the line of the entry for error messages. (A
// study that Resolve decoded again gets its entries' lines from the file it
// was parsed from, not from the re-marshalled document.)
func (p *Param) UnmarshalYAML(n *yaml.Node) error {
	type plain Param
	var q plain
	if err := n.Decode(&q); err != nil {
		return err
	}
	*p = Param(q)
	p.line = n.Line
	return nil
}

// gridWhere names the grid's key name, with its line in the file when
// known.
func (s *Study) gridWhere(name string) string {
	if line := s.lines.grid[name]; line > 0 {
		return fmt.Sprintf("grid.%s (line %d)", name, line)
	}
	return "grid." + name
}

func (p Param) where(i int) string {
	if p.line > 0 {
		return fmt.Sprintf("space[%d] %q (line %d)", i, p.Name, p.line)
	}
	return fmt.Sprintf("space[%d] %q", i, p.Name)
}

// Num is a float64 that may be written as a fraction ("1/3") in YAML.
type Num float64

// UnmarshalYAML accepts a number or a fraction a/b.
func (x *Num) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want a number, have a %s", n.Line, kindName(n.Kind))
	}
	f, err := ParseNumber(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*x = Num(f)
	return nil
}

// MarshalYAML writes the number in its shortest exact form.
func (x Num) MarshalYAML() (any, error) { return float64(x), nil }

func kindName(k yaml.Kind) string {
	switch k {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "sequence"
	case yaml.AliasNode:
		return "alias"
	}
	return "scalar"
}

// ParseNumber parses a decimal number or a fraction a/b ("1/20").
func ParseNumber(s string) (float64, error) {
	s = strings.TrimSpace(s)
	if a, b, ok := strings.Cut(s, "/"); ok {
		num, err1 := strconv.ParseFloat(strings.TrimSpace(a), 64)
		den, err2 := strconv.ParseFloat(strings.TrimSpace(b), 64)
		if err1 != nil || err2 != nil || den == 0 {
			return 0, fmt.Errorf("%q is not a number or a fraction a/b", s)
		}
		return num / den, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	return f, nil
}

// Objective names the scalar the study optimises.
type Objective struct {
	// Metric is one of [Metrics].
	Metric string `yaml:"metric"`
	// Direction is "maximize" or "minimize".
	Direction string `yaml:"direction"`
}

// Pruner configures early stopping on the per-evaluation values.
type Pruner struct {
	// Kind is none, median or successive-halving.
	Kind string `yaml:"kind,omitempty"`
	// Metric is the per-evaluation value reported to the pruner (default:
	// the objective's metric when it has per-evaluation values).
	Metric string `yaml:"metric,omitempty"`
	// StartupTrials: the median pruner prunes nothing until this many
	// trials completed (default 5).
	StartupTrials int `yaml:"startup_trials,omitempty"`
	// WarmupSteps: the median pruner ignores the first evaluations.
	WarmupSteps int `yaml:"warmup_steps,omitempty"`
	// MinResource, ReductionFactor and MinEarlyStoppingRate configure
	// successive halving (defaults 1, 4, 0).
	MinResource          int `yaml:"min_resource,omitempty"`
	ReductionFactor      int `yaml:"reduction_factor,omitempty"`
	MinEarlyStoppingRate int `yaml:"min_early_stopping_rate,omitempty"`
}

// Stability asks for the stability probe (twin runs on S and S') per
// trial; Replace is the number of replaced indices K (0 = the control).
type Stability struct {
	Replace int `yaml:"replace"`
}

// MetricByName returns the objective metric of that name (see package
// host/metrics: a study may optimise the metrics marked Objective).
func MetricByName(name string) (metrics.Metric, bool) {
	m, ok := metrics.ByName(name)
	if !ok || !m.Objective {
		return metrics.Metric{}, false
	}
	return m, true
}

// Names returns the names of the shipped studies, sorted.
func Names() []string {
	entries, err := fs.ReadDir(shipped, "studies")
	if err != nil {
		panic(err) // the embedded folder always exists
	}
	var names []string
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), ".yaml"); ok {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names
}

// Shipped returns the YAML text of a shipped study.
func Shipped(name string) ([]byte, error) {
	b, err := shipped.ReadFile("studies/" + name + ".yaml")
	if err != nil {
		return nil, fmt.Errorf("unknown study %q: the shipped studies are %s (or give a path to a .yaml file)", name, strings.Join(Names(), ", "))
	}
	return b, nil
}

// Load returns the study named nameOrPath: a path when it ends in .yaml or
// .yml or contains a path separator, else a shipped study.
func Load(nameOrPath string) (*Study, error) {
	if strings.HasSuffix(nameOrPath, ".yaml") || strings.HasSuffix(nameOrPath, ".yml") || strings.ContainsRune(nameOrPath, filepath.Separator) {
		return LoadFile(nameOrPath)
	}
	b, err := Shipped(nameOrPath)
	if err != nil {
		return nil, err
	}
	return Parse(b, nameOrPath)
}

// MaxFileSize is the size, in bytes, of the largest study file LoadFile
// reads (1 MiB). A study is a page of YAML; the shipped ones are under 3 kB.
const MaxFileSize = 1 << 20

// LoadFile reads and parses a study file. It refuses anything but a
// regular file (a device such as /dev/zero, a pipe, a folder) and files
// larger than MaxFileSize, reading at most MaxFileSize+1 bytes.
func LoadFile(path string) (*Study, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("read study: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("read study %s: it is %s, not a regular file; want a YAML file", path, fileKind(fi.Mode()))
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read study: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read study: %w", err)
	}
	if len(b) > MaxFileSize {
		return nil, fmt.Errorf("read study %s: larger than %d bytes (1 MiB), the limit for a study file", path, MaxFileSize)
	}
	return Parse(b, path)
}

// fileKind names the kind of a file that is not a regular one.
func fileKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a folder"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	}
	return "a special file (" + m.Type().String() + ")"
}

// Parse decodes a study from YAML, refusing unknown fields, and checks it.
// Errors name the source and, where yaml.v3 knows it, the line.
func Parse(b []byte, source string) (*Study, error) {
	s, err := decodeStrict(b)
	if err != nil {
		return nil, fmt.Errorf("study %s: %w", source, err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err == nil { // it decoded above
		s.lines = linesOf(&doc, true)
	}
	s.Source = source
	if err := s.validate(); err != nil {
		return nil, fmt.Errorf("study %s: %w", source, err)
	}
	for _, name := range slices.Sorted(maps.Keys(s.Budgets)) {
		n := s.Budgets[name]
		if _, err := s.withOverlay(name, &n); err != nil {
			return nil, fmt.Errorf("study %s: budget %q: %w", source, name, err)
		}
	}
	return s, nil
}

func decodeStrict(b []byte) (*Study, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var s Study
	if err := dec.Decode(&s); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("empty document")
		}
		return nil, err
	}
	return &s, nil
}

// Clone returns a deep copy of s.
func (s *Study) Clone() *Study {
	b, err := yaml.Marshal(s)
	if err != nil {
		panic(fmt.Sprintf("study: marshal: %v", err))
	}
	c, err := decodeStrict(b)
	if err != nil {
		panic(fmt.Sprintf("study: re-decode: %v", err))
	}
	c.Source, c.Budget, c.Sets, c.Warnings = s.Source, s.Budget, slices.Clone(s.Sets), slices.Clone(s.Warnings)
	c.setLines(s.lines.clone())
	return c
}

// OptimizerNames returns the study's optimizers (one or several).
func (s *Study) OptimizerNames() []string {
	if s.Optimizer != "" {
		return []string{s.Optimizer}
	}
	return slices.Clone(s.Optimizers)
}

// Param returns the search-space entry of that name.
func (s *Study) Param(name string) (Param, bool) {
	for _, p := range s.Space {
		if p.Name == name {
			return p, true
		}
	}
	return Param{}, false
}

// AppliesTo reports whether the parameter is sampled for trials of the
// optimizer opt.
func (p Param) AppliesTo(opt string) bool {
	return len(p.Optimizers) == 0 || slices.Contains(p.Optimizers, opt)
}

// validate checks everything that does not need the plugins.
func (s *Study) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	switch {
	case s.Name == "":
		bad("name: missing")
	case strings.ContainsFunc(s.Name, func(r rune) bool { return !unicode.IsPrint(r) && r != ' ' }):
		bad("name %q: control and other invisible characters are not allowed", s.Name)
	case strings.Contains(s.Name, " "):
		bad("name %q: no spaces allowed", s.Name)
	}
	switch {
	case s.Optimizer == "" && len(s.Optimizers) == 0:
		bad("optimizer: missing (set optimizer: NAME or optimizers: [A, B])")
	case s.Optimizer != "" && len(s.Optimizers) > 0:
		bad("optimizer and optimizers are both set; use one")
	}
	seenOpt := map[string]bool{}
	for _, o := range s.Optimizers {
		if o == "" || seenOpt[o] {
			bad("optimizers: %q is empty or repeated", o)
		}
		seenOpt[o] = true
	}
	opts := s.OptimizerNames()
	if s.Model == "" {
		bad("model: missing (want one of %s)", strings.Join(models.Names(), ", "))
	}
	if s.Dataset == "" {
		bad("dataset: missing (want one of %s)", strings.Join(data.Names(), ", "))
	}
	if s.Train.DataSeed != 0 {
		if s.Train.SubsetSeed == 0 {
			s.Train.SubsetSeed = s.Train.DataSeed
		}
		s.Train.DataSeed = 0
		s.Warnings = appendOnce(s.Warnings, "train.data_seed is deprecated: it is now train.subset_seed (the seed of the data subset); train's --stream-seed seeds the minibatch stream")
	}
	if err := s.Train.check(s.Model, s.Dataset); err != nil {
		bad("%v", err)
	}
	for opt, hp := range s.Hyperparams {
		if !slices.Contains(opts, opt) {
			bad("hyperparams: %q is not an optimizer of this study (%s)", opt, strings.Join(opts, ", "))
		}
		for k := range hp {
			if k == "" {
				bad("hyperparams.%s: empty name", opt)
			}
		}
	}
	names := map[string]map[string]bool{} // name → the optimizers an entry of that name applies to
	for i, p := range s.Space {
		w := p.where(i)
		if p.Name == "" {
			bad("%s: name missing", w)
			continue
		}
		if p.Name == OptimizerParam {
			bad("%s: %q is reserved (list the optimizers in optimizers:)", w, p.Name)
		}
		// A name may repeat for disjoint sets of optimizers (an lr range
		// for Adam, another for SGD).
		covers := p.Optimizers
		if len(covers) == 0 {
			covers = opts
		}
		if names[p.Name] == nil {
			names[p.Name] = map[string]bool{}
		}
		for _, o := range covers {
			if names[p.Name][o] {
				bad("%s: repeated (for optimizer %s)", w, o)
				break
			}
		}
		for _, o := range covers {
			names[p.Name][o] = true
		}
		for _, o := range p.Optimizers {
			if !slices.Contains(opts, o) {
				bad("%s: optimizers: %q is not an optimizer of this study (%s)", w, o, strings.Join(opts, ", "))
			}
		}
		if err := p.check(); err != nil {
			bad("%s: %v", w, err)
		} else if IsTrainerParam(p.Name) {
			if err := checkTrainerParam(p); err != nil {
				bad("%s: %v", w, err)
			} else if err := s.checkTrainerValues(p); err != nil {
				bad("%s: %v", w, err)
			}
		}
	}
	for name, values := range s.Grid {
		gw := s.gridWhere(name)
		if len(values) == 0 {
			bad("%s: no values", gw)
			continue
		}
		if name == OptimizerParam {
			for _, v := range values {
				if !slices.Contains(opts, v) {
					bad("%s: %q is not an optimizer of this study (%s)", gw, v, strings.Join(opts, ", "))
				}
			}
			continue
		}
		p, ok := s.Param(name)
		if !ok {
			bad("%s: not a parameter of the search space", gw)
			continue
		}
		if p.Type == TypeFixed {
			bad("%s: the parameter is fixed", gw)
			continue
		}
		seen := map[float64]bool{}
		for _, v := range values {
			x, err := p.Internal(v)
			if err != nil {
				bad("%s: %v", gw, err)
			} else if seen[x] {
				bad("%s: %q repeated", gw, v)
			}
			seen[x] = true
		}
	}
	if m, ok := MetricByName(s.Objective.Metric); !ok {
		bad("objective.metric: %q, want one of %s", s.Objective.Metric, metrics.ObjectiveNames())
	} else if s.Objective.Direction == "" {
		s.Objective.Direction = m.Direction
	}
	if d := s.Objective.Direction; d != "maximize" && d != "minimize" {
		bad("objective.direction: %q, want maximize or minimize", d)
	}
	if s.Sampler == "" {
		s.Sampler = SamplerTPE
	}
	switch s.Sampler {
	case SamplerTPE, SamplerRandom, SamplerCMAES:
		if s.Trials < 1 && s.Kind != KindCompare { // a compare study counts tuning_trials
			bad("trials: %d, want >= 1", s.Trials)
		}
	case SamplerGrid:
		if s.Trials < 0 {
			bad("trials: %d, want >= 0 (0 = one per grid point)", s.Trials)
		}
		if _, err := s.GridPoints(); err != nil {
			bad("%v", err)
		}
	default:
		bad("sampler: %q, want tpe, random, cmaes or grid", s.Sampler)
	}
	if err := s.checkPruner(); err != nil {
		bad("pruner: %v", err)
	}
	if err := s.checkRetries(); err != nil {
		bad("%v", err)
	}
	if s.Seeds < 0 || s.Seeds > MaxSeeds {
		bad("seeds: %d, want 1 to %d (0 = 1)", s.Seeds, MaxSeeds)
	}
	if err := s.checkCompare(); err != nil {
		bad("%v", err)
	}
	if s.Stability != nil && s.Stability.Replace < 0 {
		bad("stability.replace: %d, want >= 0", s.Stability.Replace)
	}
	if s.Stability != nil && s.Pruner.Kind != PrunerNone {
		bad("stability: the probe runs its twins to the end; it cannot be pruned (set pruner: {kind: none})")
	}
	return errors.Join(errs...)
}

func (s *Study) checkPruner() error {
	p := &s.Pruner
	if p.Kind == "" {
		p.Kind = PrunerNone
	}
	switch p.Kind {
	case PrunerNone:
		return nil
	case PrunerMedian, PrunerSuccessiveHalving:
	default:
		return fmt.Errorf("kind %q, want none, median or successive-halving", p.Kind)
	}
	if p.Metric == "" {
		p.Metric = s.Objective.Metric
	}
	m, ok := MetricByName(p.Metric)
	if !ok {
		return fmt.Errorf("metric %q, want one of %s", p.Metric, metrics.ObjectiveNames())
	}
	if !m.PerEval() {
		return fmt.Errorf("metric %q has no per-evaluation values; set pruner.metric to one that has (test_accuracy, test_loss, train_loss, ...)", p.Metric)
	}
	if m.Direction != s.Objective.Direction {
		return fmt.Errorf("metric %q is to %s but the study's direction is %s; the pruner compares in the study's direction", p.Metric, m.Direction, s.Objective.Direction)
	}
	if p.StartupTrials < 0 || p.WarmupSteps < 0 || p.MinResource < 0 || p.ReductionFactor < 0 || p.MinEarlyStoppingRate < 0 {
		return errors.New("negative setting")
	}
	if p.ReductionFactor == 1 {
		return errors.New("reduction_factor 1, want >= 2")
	}
	return nil
}

// check validates one search-space entry on its own.
func (p Param) check() error {
	switch p.Type {
	case TypeFloat, TypeLogFloat:
		if !(p.Low <= p.High) {
			return fmt.Errorf("low %g > high %g", p.Low, p.High)
		}
		if p.Type == TypeLogFloat && !(p.Low > 0) {
			return fmt.Errorf("log-float needs low > 0, have %g", p.Low)
		}
	case TypeInt:
		if p.Low != Num(math.Trunc(float64(p.Low))) || p.High != Num(math.Trunc(float64(p.High))) {
			return fmt.Errorf("int bounds %g and %g are not integers", p.Low, p.High)
		}
		if p.Low > p.High {
			return fmt.Errorf("low %g > high %g", p.Low, p.High)
		}
		if p.Step < 0 {
			return fmt.Errorf("step %d, want >= 1", p.Step)
		}
	case TypeCategorical:
		if len(p.Choices) == 0 {
			return errors.New("categorical without choices")
		}
		seen := map[string]bool{}
		for _, c := range p.Choices {
			if seen[c] {
				return fmt.Errorf("choice %q repeated", c)
			}
			seen[c] = true
		}
	case TypeFixed:
		if p.Value == "" {
			return errors.New("fixed without value")
		}
	default:
		return fmt.Errorf("type %q, want float, log-float, int, categorical or fixed", p.Type)
	}
	if p.Type != TypeFixed && p.Value != "" {
		return fmt.Errorf("value is only for type fixed")
	}
	if p.Type != TypeCategorical && len(p.Choices) > 0 {
		return fmt.Errorf("choices are only for type categorical")
	}
	if p.Type != TypeInt && p.Step != 0 {
		return fmt.Errorf("step is only for type int")
	}
	return nil
}

// Internal converts a value written in a grid or an override to goptuna's
// internal representation of the parameter (the number itself, or the
// index of a categorical choice), checking that it lies in the range.
func (p Param) Internal(v string) (float64, error) {
	switch p.Type {
	case TypeCategorical:
		i := slices.Index(p.Choices, v)
		if i < 0 {
			return 0, fmt.Errorf("%q is not one of %s", v, strings.Join(p.Choices, ", "))
		}
		return float64(i), nil
	case TypeFloat, TypeLogFloat, TypeInt:
		x, err := ParseNumber(v)
		if err != nil {
			return 0, err
		}
		if x < float64(p.Low) || x > float64(p.High) {
			return 0, fmt.Errorf("%s = %g lies outside [%g, %g]", p.Name, x, p.Low, p.High)
		}
		if p.Type == TypeInt {
			if x != math.Trunc(x) {
				return 0, fmt.Errorf("%s = %g is not an integer", p.Name, x)
			}
			if st := p.Step; st > 1 && math.Mod(x-float64(p.Low), float64(st)) != 0 {
				return 0, fmt.Errorf("%s = %g is not on the step %d from %g", p.Name, x, st, p.Low)
			}
		}
		return x, nil
	}
	return 0, fmt.Errorf("%s is %s, it has no values to choose", p.Name, p.Type)
}

// Format renders an internal value of the parameter the way it is passed
// on (to a plugin as a hyperparameter string, or parsed into a trainer
// field).
func (p Param) Format(internal float64) string {
	switch p.Type {
	case TypeCategorical:
		return p.Choices[int(internal)]
	case TypeInt:
		return strconv.FormatInt(int64(math.Round(internal)), 10)
	case TypeFixed:
		return p.Value
	}
	return strconv.FormatFloat(internal, 'g', -1, 64)
}
