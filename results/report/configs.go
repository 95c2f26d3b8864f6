package report

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/lrsgd-lab/lrsgd/host/metrics"
	"github.com/lrsgd-lab/lrsgd/results"
	"github.com/lrsgd-lab/lrsgd/results/report/stats"
)

// Trial attributes the report groups and compares by (written by tune;
// see search).
const (
	AttrConfig    = "config_key" // user: the configuration's sampled values, sorted name=value pairs
	AttrSeedIndex = "seed_index" // system: which of its configuration's runs a trial is
	AttrPhase     = "phase"      // user: "tune" or "final" in a compare study
	AttrOptimizer = "optimizer"  // user: the trial's optimizer plugin
)

// Values at the matched fit: read from each run's curve at the first
// evaluation whose train loss is at most the study's target.
const (
	GradsAtTarget           = "grads_at_target"            // gradient evaluations
	OuterAtTarget           = "outer_at_target"            // outer steps (iterations)
	WallAtTarget            = "wall_at_target"             // seconds since the run started
	GapAtTarget             = "gap_at_target"              // test − train loss
	EpsilonAtTarget         = "epsilon_at_target"          // the probe's epsilon_mean
	ParamDivergenceAtTarget = "param_divergence_at_target" // the probe's ‖w − v‖
)

// LateGain is the per-configuration summary of each run's test accuracy
// gained over the last LateWindow of its gradient evaluations: the last
// evaluation's test accuracy minus that of the last evaluation at or
// before (1 − LateWindow) of the run's gradients. Near zero, the run's
// accuracy had plateaued before it ended.
const LateGain = "late_gain"

// LateWindow is the share of a run's gradient evaluations over which
// LateGain is measured.
const LateWindow = 0.1

// endMetrics are the end-of-run metrics (from trial_metrics) summarised
// per configuration.
var endMetrics = []string{
	metrics.TestAccuracy, metrics.TrainLoss, metrics.TestLoss, metrics.GeneralizationGap,
	metrics.HittingTimeGrads, metrics.EpsilonMean, metrics.ParamDivergence,
}

// targetMetrics are the values at the target (from the curves) summarised
// per configuration.
var targetMetrics = []string{
	GradsAtTarget, OuterAtTarget, WallAtTarget, GapAtTarget, EpsilonAtTarget, ParamDivergenceAtTarget,
}

// Stat summarises one metric over a configuration's runs.
type Stat struct {
	Mean Float `json:"mean"`
	// Std is the sample standard deviation (n − 1); null when n < 2.
	Std Float `json:"std"`
	// CI95 is the 95% Student t interval of the mean with n − 1 degrees of
	// freedom; null when n < 2.
	CI95 *[2]Float `json:"ci95"`
	// N counts the runs with a value.
	N int `json:"n"`
	// Never counts, for a hitting time, the runs that never reached the
	// threshold (−1); they are not in N.
	Never int `json:"never,omitempty"`
	// Note says why there is no interval.
	Note string `json:"note,omitempty"`

	sum stats.Summary
}

// NoIntervalNote is the note of a Stat over one run.
const NoIntervalNote = "one run: no interval"

// newStat summarises xs (NaN left out).
func newStat(xs []float64) Stat {
	s := stats.Summarize(xs)
	st := Stat{Mean: Float(s.Mean), Std: Float(s.Std), N: s.N, sum: s}
	if s.HasInterval() {
		st.CI95 = &[2]Float{Float(s.Lo), Float(s.Hi)}
	} else if s.N == 1 {
		st.Note = NoIntervalNote
	}
	return st
}

// Summary returns the statistics behind the Stat.
func (s Stat) Summary() stats.Summary { return s.sum }

// ConfigRun is one run (trial) of a configuration, with its values at the
// target.
type ConfigRun struct {
	TrialID   int     `json:"trial_id"`
	Number    int     `json:"number"`
	SeedIndex *int    `json:"seed_index,omitempty"`
	Seed      *uint64 `json:"seed,omitempty"` // the trainer's seed (trial_run_meta.seed)
	// MinTrainLoss is the lowest train loss on the run's curve (null when
	// it has none).
	MinTrainLoss Float `json:"min_train_loss"`
	// Reached is whether the run's train loss reached the target.
	Reached bool `json:"reached"`
	// AtTarget holds the run's values at the target (GradsAtTarget, …);
	// empty when it never reached it.
	AtTarget map[string]Float `json:"at_target,omitempty"`
	// LateGain is the run's test accuracy gained over its last LateWindow
	// of gradient evaluations; null when its curve is too short to say.
	LateGain Float `json:"late_gain"`
}

// Config is one configuration of a study: the COMPLETE trials that share a
// config_key (its runs over seeds), with every metric summarised.
type Config struct {
	// Key is the trials' config_key, or for trials without one (stores
	// older than the seeds axis) the trial's parameters as sorted
	// name=value pairs, each trial its own configuration. In a compare
	// study it is prefixed with the phase: "final:optimizer=sgd,lr=0.1".
	Key string `json:"key"`
	// Phase is the phase of a compare study's trials ("tune", "final").
	Phase string `json:"phase,omitempty"`
	// Optimizer is its trials' optimizer attribute, else their optimizer
	// parameter, else the plugin that ran them.
	Optimizer string `json:"optimizer,omitempty"`
	// Params are the sampled values of its first trial (goptuna's
	// external representation).
	Params map[string]any `json:"params"`
	// Seeds is the number of runs.
	Seeds int `json:"seeds"`
	// Converged is whether every run reached the target: only converged
	// configurations have a place on a front.
	Converged bool        `json:"converged"`
	Runs      []ConfigRun `json:"runs"`
	// Stats summarises each metric (endMetrics, targetMetrics) that some
	// run has; in JSON each is a key of the configuration's object.
	Stats map[string]Stat `json:"-"`
	// Fronts says, per front ("gap", "epsilon"), how often the
	// configuration was on it and was its knee over the bootstrap.
	Fronts map[string]*FrontShare `json:"fronts,omitempty"`
}

// FrontShare is a configuration's place on one front of configurations.
type FrontShare struct {
	OnFront bool  `json:"on_front"` // on the front of seed means
	Knee    bool  `json:"knee"`     // the knee of that front
	PFront  Float `json:"p_front"`  // share of bootstrap resamples on the front
	PKnee   Float `json:"p_knee"`   // share of bootstrap resamples as the knee
}

// MarshalJSON writes the configuration with each of its Stats as a key of
// its own ("test_accuracy": {"mean": …, "std": …, "ci95": […], "n": …}).
func (c Config) MarshalJSON() ([]byte, error) {
	type plain Config
	b, err := json.Marshal(plain(c))
	if err != nil {
		return nil, err
	}
	obj := map[string]json.RawMessage{}
	if err := json.Unmarshal(b, &obj); err != nil {
		return nil, err
	}
	for name, s := range c.Stats {
		raw, err := json.Marshal(s)
		if err != nil {
			return nil, fmt.Errorf("config %s metric %s: %w", c.Key, name, err)
		}
		obj[name] = raw
	}
	return json.Marshal(obj)
}

// Stat returns the configuration's summary of a metric.
func (c *Config) Stat(name string) (Stat, bool) {
	s, ok := c.Stats[name]
	return s, ok && s.N > 0
}

// Label names the configuration briefly: its key, "(no parameters)" when
// it has none.
func (c *Config) Label() string {
	if c.Key == "" {
		return "(no parameters)"
	}
	return c.Key
}

// runCurve is what the report reads from one run's curve.
type runCurve struct {
	minTrain float64 // NaN when no point has a finite train loss
	points   []results.CurvePoint
}

func newRunCurve(pts []results.CurvePoint) *runCurve {
	rc := &runCurve{minTrain: math.NaN(), points: pts}
	for _, p := range pts {
		if finite(p.TrainLoss) && (math.IsNaN(rc.minTrain) || p.TrainLoss < rc.minTrain) {
			rc.minTrain = p.TrainLoss
		}
	}
	return rc
}

// lateGain returns the test accuracy gained between the last evaluation
// at or before (1 − window) of the run's gradient evaluations and its last
// evaluation; false when the curve has no such earlier evaluation.
func (rc *runCurve) lateGain(window float64) (float64, bool) {
	var pts []results.CurvePoint
	for _, p := range rc.points {
		if finite(p.TestAcc) {
			pts = append(pts, p)
		}
	}
	if len(pts) < 2 {
		return 0, false
	}
	last := pts[len(pts)-1]
	cut := (1 - window) * float64(last.GradEvals)
	for i := len(pts) - 2; i >= 0; i-- {
		if float64(pts[i].GradEvals) <= cut {
			return last.TestAcc - pts[i].TestAcc, true
		}
	}
	return 0, false
}

// atTarget returns the first evaluation whose train loss is at most
// target.
func (rc *runCurve) atTarget(target float64) (results.CurvePoint, bool) {
	if math.IsNaN(target) {
		return results.CurvePoint{}, false
	}
	for _, p := range rc.points {
		if finite(p.TrainLoss) && p.TrainLoss <= target {
			return p, true
		}
	}
	return results.CurvePoint{}, false
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// configKey returns the configuration a trial belongs to; own is true for
// a trial without config_key, which is a configuration of its own.
//
// A parameter named seed is a seed, not part of the configuration: trials
// that differ only in it (a grid over the trainer's seed) are one
// configuration's runs, also in stores whose config_key still holds it.
func configKey(t *Trial) (key string, own bool) {
	key, ok := t.UserAttrs[AttrConfig]
	if ok {
		key = withoutSeed(key)
	} else {
		key = paramsKey(t.Params)
		if _, seeded := t.Params["seed"]; seeded {
			ok = true // its configuration is shared with the other seeds
		}
	}
	if ph := t.UserAttrs[AttrPhase]; ph != "" {
		key = ph + ":" + key
	}
	return key, !ok
}

// withoutSeed drops the seed=… pair from a config_key.
func withoutSeed(key string) string {
	parts := strings.Split(key, ",")
	kept := parts[:0]
	for _, p := range parts {
		if !strings.HasPrefix(p, "seed=") {
			kept = append(kept, p)
		}
	}
	return strings.Join(kept, ",")
}

// configParams is a trial's parameters less the seed.
func configParams(params map[string]any) map[string]any {
	if _, ok := params["seed"]; !ok {
		return params
	}
	out := make(map[string]any, len(params)-1)
	for k, v := range params {
		if k != "seed" {
			out[k] = v
		}
	}
	return out
}

// paramsKey formats parameters, less the seed, as sorted name=value pairs,
// as tune's config_key does.
func paramsKey(params map[string]any) string {
	names := make([]string, 0, len(params))
	for k := range params {
		if k == "seed" {
			continue
		}
		names = append(names, k)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, k := range names {
		parts[i] = k + "=" + paramString(params[k])
	}
	return strings.Join(parts, ",")
}

func paramString(v any) string {
	if f, ok := v.(float64); ok {
		return strconv.FormatFloat(f, 'g', -1, 64)
	}
	return fmt.Sprint(v)
}

// optimizerOf names a trial's optimizer: its optimizer attribute, else its
// optimizer parameter, else the plugin that ran it.
func optimizerOf(t *Trial) string {
	if o := t.UserAttrs[AttrOptimizer]; o != "" {
		return o
	}
	if o, ok := t.Params["optimizer"].(string); ok {
		return o
	}
	if t.Run != nil {
		return t.Run.Plugin
	}
	return ""
}

// groupConfigs groups the COMPLETE trials by configuration, in the order
// of their first trial.
func groupConfigs(trials []Trial) []*Config {
	out := []*Config{}
	byKey := map[string]*Config{}
	for i := range trials {
		t := &trials[i]
		if t.State != "COMPLETE" {
			continue
		}
		key, own := configKey(t)
		c, ok := byKey[key]
		if own && ok {
			// Another trial without config_key has the same parameters:
			// still a configuration of its own, told apart by its number.
			key = fmt.Sprintf("%s (trial #%d)", key, t.Number)
			c, ok = nil, false
		}
		if !ok {
			c = &Config{Key: key, Params: configParams(t.Params), Phase: t.UserAttrs[AttrPhase], Optimizer: optimizerOf(t),
				Stats: map[string]Stat{}}
			byKey[key] = c
			out = append(out, c)
		}
		r := ConfigRun{TrialID: t.TrialID, Number: t.Number, MinTrainLoss: Float(math.NaN())}
		if k, err := strconv.Atoi(t.systemAttrs[AttrSeedIndex]); err == nil {
			r.SeedIndex = &k
		}
		if t.Run != nil {
			seed := t.Run.Seed
			r.Seed = &seed
		}
		c.Runs = append(c.Runs, r)
	}
	return out
}

// fillConfigs reads each run's values at the target and summarises every
// metric of every configuration.
func fillConfigs(configs []*Config, byID map[int]*Trial, curves map[int]*runCurve, target float64) {
	for _, c := range configs {
		c.Seeds = len(c.Runs)
		c.Converged = len(c.Runs) > 0
		values := map[string][]float64{}
		for i := range c.Runs {
			r := &c.Runs[i]
			r.LateGain = Float(math.NaN())
			t := byID[r.TrialID]
			for _, m := range endMetrics {
				if v, ok := t.Metric(m); ok {
					values[m] = append(values[m], v)
				}
			}
			rc := curves[r.TrialID]
			if rc == nil {
				c.Converged = false
				continue
			}
			r.MinTrainLoss = Float(rc.minTrain)
			if g, ok := rc.lateGain(LateWindow); ok {
				r.LateGain = Float(g)
				values[LateGain] = append(values[LateGain], g)
			}
			p, ok := rc.atTarget(target)
			if !ok {
				c.Converged = false
				continue
			}
			r.Reached = true
			r.AtTarget = map[string]Float{
				GradsAtTarget: Float(p.GradEvals), OuterAtTarget: Float(p.OuterSteps),
				WallAtTarget: Float(p.Wall), GapAtTarget: Float(p.TestLoss - p.TrainLoss),
			}
			if p.EpsilonMean != nil {
				r.AtTarget[EpsilonAtTarget] = Float(*p.EpsilonMean)
			}
			if p.ParamDivergence != nil {
				r.AtTarget[ParamDivergenceAtTarget] = Float(*p.ParamDivergence)
			}
			for k, v := range r.AtTarget {
				values[k] = append(values[k], float64(v))
			}
		}
		for _, m := range slices.Concat(endMetrics, targetMetrics, []string{LateGain}) {
			xs, ok := values[m]
			if !ok {
				continue
			}
			if m == metrics.HittingTimeGrads {
				hit := slices.DeleteFunc(slices.Clone(xs), func(v float64) bool { return v < 0 })
				s := newStat(hit)
				s.Never = len(xs) - len(hit)
				c.Stats[m] = s
				continue
			}
			c.Stats[m] = newStat(xs)
		}
	}
}
