// Package report turns a result store into reports: studies, their trials
// with parameters and metrics, the best trials, the Pareto front of hitting
// time against generalization gap (and against measured ε-stability when
// the stability probe ran), and the front's sweet spot; the study's
// configurations over seeds with 95% intervals, compared at a matched
// train loss (the target), their front, its sweet spot with a bootstrap
// probability; and for a compare study each optimizer against the
// baseline with Welch's interval.
//
// Every stored number in a report is read from the store with SQL and
// printed as stored: the report recomputes no metric. What it derives —
// values at the target read from the stored curves, summaries over seeds,
// bootstrap shares — is named as such (see ConfigSweetSpotRule and
// docs/results.md).
package report

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/lrsgd-lab/lrsgd/host/metrics"
	"github.com/lrsgd-lab/lrsgd/results"
	"github.com/lrsgd-lab/lrsgd/results/pareto"
)

// SweetSpotRule states how the sweet spot is chosen; reports print it.
const SweetSpotRule = "knee of the Pareto front: among trials that reached the loss threshold, " +
	"min-max normalise both objectives over the front and take the trial farthest from the line " +
	"joining the front's two extremes, towards the ideal point; ties go to the smaller Y"

// Options selects what a report covers.
type Options struct {
	// Study names one study; "" reports every study in the store.
	Study string
	// Target is the train loss at which runs are compared: "auto" or a
	// number (see ParseTarget); "" means the study's target attribute,
	// else auto.
	Target string
	// MinProbability is the least share of bootstrap resamples in which a
	// configuration must be the knee to be named the sweet spot, in
	// (0, 1]; zero means DefaultMinProbability.
	MinProbability float64
	// Resamples is the number of bootstrap resamples B; zero means
	// pareto.DefaultResamples.
	Resamples int
	// Baseline names the optimizer whose runs the others are compared
	// with (Welch's interval); "" means the study's baseline attribute
	// (a compare study's, or a search's that names one), else no
	// comparison.
	Baseline string
}

// Float is a float64 that encodes NaN and ±Inf as JSON null.
type Float float64

// MarshalJSON implements json.Marshaler.
func (f Float) MarshalJSON() ([]byte, error) {
	v := float64(f)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, v, 'g', -1, 64), nil
}

// Run is a trial's run metadata (results.RunMeta) in JSON form.
type Run struct {
	Plugin        string            `json:"plugin"`
	PluginVersion string            `json:"plugin_version"`
	PluginSHA256  string            `json:"plugin_sha256"`
	Dataset       string            `json:"dataset"`
	DatasetSHA256 string            `json:"dataset_sha256"`
	Model         string            `json:"model"`
	Seed          uint64            `json:"seed"`
	Commit        string            `json:"commit"`
	Machine       string            `json:"machine"`
	GoVersion     string            `json:"go_version"`
	BLAS          string            `json:"blas"`
	Extra         map[string]string `json:"extra,omitempty"`
}

// Trial is one trial in a report.
type Trial struct {
	TrialID int    `json:"trial_id"` // unique in the store
	Number  int    `json:"number"`   // 0-based within the study
	State   string `json:"state"`    // COMPLETE, PRUNED, FAIL, RUNNING or WAITING
	// Value is the objective value: set for COMPLETE trials, and for PRUNED
	// ones that reported an intermediate value (goptuna stores the last
	// one); null otherwise.
	Value            *Float            `json:"value"`
	Params           map[string]any    `json:"params"`
	Metrics          map[string]Float  `json:"metrics"`
	UserAttrs        map[string]string `json:"user_attrs,omitempty"`
	Hyperparams      map[string]string `json:"hyperparams,omitempty"` // given to the optimizer plugin
	Run              *Run              `json:"run,omitempty"`
	DatetimeStart    *time.Time        `json:"datetime_start,omitempty"`
	DatetimeComplete *time.Time        `json:"datetime_complete,omitempty"`

	systemAttrs map[string]string
}

// Metric returns the trial's metric and whether it is recorded and not NaN.
func (t *Trial) Metric(name string) (float64, bool) {
	v, ok := t.Metrics[name]
	return float64(v), ok && !math.IsNaN(float64(v))
}

// Front is a Pareto front of two metrics, both minimised.
type Front struct {
	X string `json:"x"` // metric on the X axis (hitting time; never = +Inf)
	Y string `json:"y"` // metric on the Y axis
	// Trials are the front's trials ordered by X, then Y.
	Trials []Trial `json:"trials"`
	// SweetSpot is the front's knee (SweetSpotRule), nil when no trial on
	// the front reached the threshold.
	SweetSpot *Trial `json:"sweet_spot"`
	// Candidates counts the COMPLETE trials that had both metrics.
	Candidates int `json:"candidates"`
}

// Study is the report of one study.
type Study struct {
	ID         int            `json:"id"`
	Name       string         `json:"name"`
	Direction  string         `json:"direction"` // MINIMIZE or MAXIMIZE
	Counts     map[string]int `json:"counts"`    // trials per state
	ParamNames []string       `json:"param_names"`
	Trials     []Trial        `json:"trials"`
	// Best is the COMPLETE trial with the best objective value.
	Best *Trial `json:"best"`
	// BestAccuracy is the COMPLETE trial with the highest test_accuracy.
	BestAccuracy *Trial `json:"best_accuracy"`
	// Pareto and SweetSpot: hitting_time_grads against generalization_gap.
	Pareto    []Trial `json:"pareto"`
	SweetSpot *Trial  `json:"sweet_spot"`
	// Fronts holds every front: "gap" (as Pareto) and, when the stability
	// probe's epsilon_mean metric exists, "epsilon" (hitting time against
	// epsilon_mean).
	Fronts        map[string]*Front `json:"fronts"`
	SweetSpotRule string            `json:"sweet_spot_rule"`

	// Target is the train loss at which runs are compared.
	Target *Target `json:"target"`
	// Configs are the study's configurations (COMPLETE trials grouped by
	// config_key), in the order of their first trial.
	Configs []*Config `json:"configs"`
	// ConfigFronts holds the fronts of configurations at the target:
	// "gap" (grads_at_target against gap_at_target) and, when the curves
	// hold the probe's ε, "epsilon" (against epsilon_at_target).
	ConfigFronts map[string]*ConfigFront `json:"config_fronts"`
	// SweetSpotConfig is the "gap" front's sweet spot: null when there is
	// no clear one (SweetSpotVerdict says why).
	SweetSpotConfig     *SweetSpot `json:"sweet_spot_config"`
	SweetSpotVerdict    string     `json:"sweet_spot_verdict"`
	ConfigSweetSpotRule string     `json:"config_sweet_spot_rule"`
	// Comparison is set for a compare study, or a study with a baseline
	// (Options.Baseline or its baseline attribute) (study attribute kind =
	// compare).
	Comparison *Comparison `json:"comparison,omitempty"`
	// Curves holds the curves of the COMPLETE trials by trial ID, for
	// figures; it is not part of the JSON.
	Curves map[int][]results.CurvePoint `json:"-"`
}

// Report is a report of one or more studies.
type Report struct {
	Store   string  `json:"store"` // the store's DSN, password masked
	Studies []Study `json:"studies"`
}

// Build reads the report from the store.
func Build(ctx context.Context, s *results.Store, opt Options) (*Report, error) {
	if opt.Target != "" {
		if _, err := ParseTarget(opt.Target); err != nil {
			return nil, err
		}
	}
	if opt.MinProbability < 0 || opt.MinProbability > 1 {
		return nil, fmt.Errorf("minimum probability %v: want a share in (0, 1]", opt.MinProbability)
	}
	var studies []results.Study
	if opt.Study != "" {
		st, err := s.StudyByName(ctx, opt.Study)
		if err != nil {
			return nil, err
		}
		studies = []results.Study{st}
	} else {
		var err error
		if studies, err = s.Studies(ctx); err != nil {
			return nil, err
		}
	}
	rep := &Report{Store: s.String(), Studies: []Study{}}
	for _, st := range studies {
		sr, err := buildStudy(ctx, s, st, opt)
		if err != nil {
			return nil, fmt.Errorf("report study %q: %w", st.Name, err)
		}
		rep.Studies = append(rep.Studies, sr)
	}
	return rep, nil
}

func buildStudy(ctx context.Context, s *results.Store, st results.Study, opt Options) (Study, error) {
	trials, err := s.Trials(ctx, st.ID)
	if err != nil {
		return Study{}, err
	}
	counts, err := s.StateCounts(ctx, st.ID)
	if err != nil {
		return Study{}, err
	}
	params, err := s.ParamNames(ctx, st.ID)
	if err != nil {
		return Study{}, err
	}
	out := Study{ID: st.ID, Name: st.Name, Direction: st.Direction, Counts: counts, ParamNames: params,
		Trials: make([]Trial, len(trials)), Pareto: []Trial{}, Fronts: map[string]*Front{}, SweetSpotRule: SweetSpotRule}
	byID := make(map[int]*Trial, len(trials))
	for i, t := range trials {
		out.Trials[i] = convert(t)
		byID[t.ID] = &out.Trials[i]
	}
	if id, ok, err := s.BestTrial(ctx, st.ID); err != nil {
		return Study{}, err
	} else if ok {
		out.Best = byID[id]
	}
	if id, ok, err := s.BestByMetric(ctx, st.ID, metrics.TestAccuracy, true); err != nil {
		return Study{}, err
	} else if ok {
		out.BestAccuracy = byID[id]
	}
	gap := BuildFront(out.Trials, metrics.HittingTimeGrads, metrics.GeneralizationGap)
	out.Fronts["gap"] = gap
	out.Pareto, out.SweetSpot = gap.Trials, gap.SweetSpot
	for _, t := range out.Trials {
		if _, ok := t.Metrics[metrics.EpsilonMean]; ok {
			out.Fronts["epsilon"] = BuildFront(out.Trials, metrics.HittingTimeGrads, metrics.EpsilonMean)
			break
		}
	}
	if err := matchedFit(ctx, s, st, &out, opt); err != nil {
		return Study{}, err
	}
	return out, nil
}

// matchedFit groups the study's COMPLETE trials into configurations,
// reads their curves at the target, builds the fronts of configurations
// with their bootstrap, and, for a compare study, the comparison.
func matchedFit(ctx context.Context, s *results.Store, st results.Study, out *Study, opt Options) error {
	out.ConfigSweetSpotRule = ConfigSweetSpotRule
	out.Curves = map[int][]results.CurvePoint{}
	byID := make(map[int]*Trial, len(out.Trials))
	curves := map[int]*runCurve{}
	for i := range out.Trials {
		t := &out.Trials[i]
		byID[t.TrialID] = t
		if t.State != "COMPLETE" {
			continue
		}
		c, err := s.Curve(ctx, t.TrialID)
		if err != nil {
			return err
		}
		out.Curves[t.TrialID] = c
		curves[t.TrialID] = newRunCurve(c)
	}
	spec, target, err := requestedTarget(opt.Target, st)
	if err != nil {
		return err
	}
	out.Configs = groupConfigs(out.Trials)
	// In a compare study the final runs are what is compared: the auto
	// target and the fronts are theirs when there are any.
	scope := out.Configs
	if finals := slices.DeleteFunc(slices.Clone(out.Configs), func(c *Config) bool { return c.Phase != PhaseFinal }); len(finals) > 0 {
		scope = finals
	}
	resolveTarget(spec, target, scope, curves)
	out.Target = target
	fillConfigs(out.Configs, byID, curves, float64(target.Value))

	fopt := frontOptions{minProbability: opt.MinProbability,
		bootstrap: pareto.BootstrapOptions{Resamples: opt.Resamples, Seed: pareto.DefaultSeed}}
	if fopt.minProbability == 0 {
		fopt.minProbability = DefaultMinProbability
	}
	out.ConfigFronts = map[string]*ConfigFront{"gap": buildConfigFront("gap", scope, GapAtTarget, fopt)}
	if slices.ContainsFunc(scope, func(c *Config) bool { _, ok := c.Stat(EpsilonAtTarget); return ok }) {
		out.ConfigFronts["epsilon"] = buildConfigFront("epsilon", scope, EpsilonAtTarget, fopt)
	}
	gap := out.ConfigFronts["gap"]
	out.SweetSpotConfig, out.SweetSpotVerdict = gap.SweetSpot, gap.Verdict

	atTarget := map[int]map[string]Float{}
	for _, c := range out.Configs {
		for _, r := range c.Runs {
			atTarget[r.TrialID] = r.AtTarget
		}
	}
	out.Comparison = buildComparison(st.UserAttrs, opt.Baseline, out.Trials, atTarget)
	return nil
}

// convert turns a stored trial into its report form.
func convert(t results.Trial) Trial {
	r := Trial{TrialID: t.ID, Number: t.Number, State: t.State, Params: t.Params,
		Metrics: make(map[string]Float, len(t.Metrics)), UserAttrs: t.UserAttrs,
		DatetimeStart: t.Start, DatetimeComplete: t.Complete, systemAttrs: t.SystemAttrs}
	if t.Value != nil && (t.State == "COMPLETE" || (t.State == "PRUNED" && len(t.Intermediate) > 0)) {
		v := Float(*t.Value)
		r.Value = &v
	}
	for k, v := range t.Metrics {
		r.Metrics[k] = Float(v)
	}
	if len(r.UserAttrs) == 0 {
		r.UserAttrs = nil
	}
	if len(t.Hyperparams) > 0 {
		r.Hyperparams = t.Hyperparams
	}
	if m := t.Run; m != nil {
		r.Run = &Run{Plugin: m.Plugin, PluginVersion: m.PluginVersion, PluginSHA256: m.PluginSHA256,
			Dataset: m.Dataset, DatasetSHA256: m.DatasetSHA256, Model: m.Model, Seed: m.Seed, Commit: m.Commit,
			Machine: m.Machine, GoVersion: m.GoVersion, BLAS: m.BLAS, Extra: m.Extra}
	}
	return r
}

// HittingX maps a hitting time to the front's X: a negative value (−1:
// the threshold was never reached) becomes +Inf.
func HittingX(v float64) float64 {
	if v < 0 {
		return math.Inf(1)
	}
	return v
}

// BuildFront computes the Pareto front of metrics x and y (both minimised)
// over the COMPLETE trials that have both, x being a hitting time (negative
// = never = +Inf), and its sweet spot.
func BuildFront(trials []Trial, x, y string) *Front {
	f := &Front{X: x, Y: y, Trials: []Trial{}}
	var pts []pareto.Point
	idx := make(map[int]int, len(trials))
	for i := range trials {
		t := &trials[i]
		if t.State != "COMPLETE" {
			continue
		}
		xv, okx := t.Metric(x)
		yv, oky := t.Metric(y)
		if !okx || !oky {
			continue
		}
		pts = append(pts, pareto.Point{ID: t.TrialID, X: HittingX(xv), Y: yv})
		idx[t.TrialID] = i
	}
	f.Candidates = len(pts)
	for _, p := range pareto.Front(pts) {
		f.Trials = append(f.Trials, trials[idx[p.ID]])
	}
	if k, ok := pareto.Knee(pareto.Front(pts)); ok {
		t := trials[idx[k.ID]]
		f.SweetSpot = &t
	}
	return f
}

// preferredMetrics orders the usual metrics first in tables.
var preferredMetrics = []string{
	metrics.TestAccuracy, metrics.TestLoss, metrics.TrainLoss,
	metrics.GeneralizationGap, metrics.HittingTimeGrads, metrics.HittingTimeOuter,
	metrics.ParamDivergence, metrics.EpsilonMean, metrics.EpsilonMax,
}

// MetricNames returns the metric names present in the study's trials, the
// usual ones first, then the rest sorted.
func (st *Study) MetricNames() []string {
	seen := map[string]bool{}
	for _, t := range st.Trials {
		for k := range t.Metrics {
			seen[k] = true
		}
	}
	var out []string
	for _, m := range preferredMetrics {
		if seen[m] {
			out = append(out, m)
			delete(seen, m)
		}
	}
	rest := make([]string, 0, len(seen))
	for k := range seen {
		rest = append(rest, k)
	}
	sort.Strings(rest)
	return append(out, rest...)
}

// TrialByNumber returns the study's trial with the given number.
func (st *Study) TrialByNumber(n int) (*Trial, bool) {
	i := slices.IndexFunc(st.Trials, func(t Trial) bool { return t.Number == n })
	if i < 0 {
		return nil, false
	}
	return &st.Trials[i], true
}
