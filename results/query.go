package results

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/c-bata/goptuna"
)

// ErrNoStudy reports a study name or ID that names no study in the store.
var ErrNoStudy = errors.New("no such study")

// Study is a row of goptuna's studies table with its attributes.
type Study struct {
	ID          int
	Name        string
	Direction   string // "MINIMIZE" or "MAXIMIZE"
	UserAttrs   map[string]string
	SystemAttrs map[string]string
}

// Trial is everything the store holds about one trial except its curve:
// goptuna's row, parameters, intermediate values and attributes, and this
// package's metrics and run metadata.
type Trial struct {
	ID       int // trials.trial_id, unique in the store
	StudyID  int
	Number   int    // trials.number, 0-based within the study
	State    string // COMPLETE, PRUNED, FAIL, RUNNING or WAITING
	Value    *float64
	Start    *time.Time
	Complete *time.Time
	// Params holds parameters in goptuna's external representation
	// (float64, int or, for categorical parameters, string).
	Params map[string]any
	// Distributions holds each parameter's distribution JSON as stored.
	Distributions map[string]string
	Intermediate  map[int]float64
	Metrics       map[string]float64
	UserAttrs     map[string]string
	SystemAttrs   map[string]string
	// Hyperparams are the values given to the optimizer plugin (from
	// trial_hyperparams), as strings.
	Hyperparams map[string]string
	Run         *RunMeta // nil when none was recorded
}

// Studies returns every study in the store, ordered by ID.
func (s *Store) Studies(ctx context.Context) ([]Study, error) {
	var rows []struct {
		StudyID   int
		StudyName string
		Direction string
	}
	db := s.db.WithContext(ctx)
	if err := db.Raw(`SELECT study_id, study_name, direction FROM studies ORDER BY study_id`).Scan(&rows).Error; err != nil {
		return nil, s.wrap("list studies", err)
	}
	out := make([]Study, len(rows))
	idx := make(map[int]int, len(rows))
	for i, r := range rows {
		out[i] = Study{ID: r.StudyID, Name: r.StudyName, Direction: r.Direction,
			UserAttrs: map[string]string{}, SystemAttrs: map[string]string{}}
		idx[r.StudyID] = i
	}
	for _, t := range []struct {
		table string
		sys   bool
	}{{"study_user_attributes", false}, {"study_system_attributes", true}} {
		var attrs []struct {
			StudyID int
			Key     string
			Value   string
		}
		if err := db.Raw(`SELECT study_id, key, value FROM ` + t.table).Scan(&attrs).Error; err != nil {
			return nil, s.wrap("list study attributes", err)
		}
		for _, a := range attrs {
			i, ok := idx[a.StudyID]
			if !ok {
				continue
			}
			if t.sys {
				out[i].SystemAttrs[a.Key] = a.Value
			} else {
				out[i].UserAttrs[a.Key] = a.Value
			}
		}
	}
	return out, nil
}

// StudyByName returns the named study; when there is none the error wraps
// ErrNoStudy and lists the studies the store holds.
func (s *Store) StudyByName(ctx context.Context, name string) (Study, error) {
	all, err := s.Studies(ctx)
	if err != nil {
		return Study{}, err
	}
	names := make([]string, len(all))
	for i, st := range all {
		if st.Name == name {
			return st, nil
		}
		names[i] = Printable(st.Name)
	}
	have := "none"
	if len(names) > 0 {
		have = strings.Join(names, ", ")
	}
	return Study{}, fmt.Errorf("study %q: %w (the store holds: %s)", name, ErrNoStudy, have)
}

// Printable returns a name read from the store (a study's, say) as it may
// be printed on a terminal: the name itself, or the name quoted with Go's
// escapes (%q) when it holds control or other invisible characters, which
// printed raw could rewrite the terminal. Stores written by older versions
// of the lab, or by goptuna directly, may hold such names.
func Printable(name string) string {
	if strings.ContainsFunc(name, func(r rune) bool { return !unicode.IsPrint(r) && r != ' ' }) {
		return strconv.Quote(name)
	}
	return name
}

// TrialsOf returns the trials of the named study (see StudyByName and
// Trials).
func (s *Store) TrialsOf(ctx context.Context, study string) ([]Trial, error) {
	st, err := s.StudyByName(ctx, study)
	if err != nil {
		return nil, err
	}
	return s.Trials(ctx, st.ID)
}

// Trials returns the study's trials ordered by number, with their
// parameters, intermediate values, attributes, metrics and run metadata.
func (s *Store) Trials(ctx context.Context, studyID int) ([]Trial, error) {
	db := s.db.WithContext(ctx)
	var rows []struct {
		TrialID          int
		Number           int
		State            string
		Value            sql.NullFloat64
		DatetimeStart    *time.Time
		DatetimeComplete *time.Time
	}
	err := db.Raw(`SELECT trial_id, number, state, value, datetime_start, datetime_complete
FROM trials WHERE study_id = ? ORDER BY number, trial_id`, studyID).Scan(&rows).Error
	if err != nil {
		return nil, s.wrap(fmt.Sprintf("trials of study %d", studyID), err)
	}
	out := make([]Trial, len(rows))
	idx := make(map[int]*Trial, len(rows))
	for i, r := range rows {
		t := &out[i]
		*t = Trial{ID: r.TrialID, StudyID: studyID, Number: r.Number, State: r.State,
			Start: r.DatetimeStart, Complete: r.DatetimeComplete,
			Params: map[string]any{}, Distributions: map[string]string{}, Intermediate: map[int]float64{},
			Metrics: map[string]float64{}, UserAttrs: map[string]string{}, SystemAttrs: map[string]string{},
			Hyperparams: map[string]string{}}
		if r.Value.Valid {
			v := r.Value.Float64
			t.Value = &v
		}
		idx[r.TrialID] = t
	}
	join := ` JOIN trials t ON t.trial_id = x.trial_id WHERE t.study_id = ?`

	var params []struct {
		TrialID          int
		ParamName        string
		ParamValue       float64
		DistributionJSON string
	}
	if err := db.Raw(`SELECT x.trial_id, x.param_name, x.param_value, x.distribution_json FROM trial_params x`+join+` ORDER BY x.param_id`, studyID).Scan(&params).Error; err != nil {
		return nil, s.wrap(fmt.Sprintf("parameters of study %d", studyID), err)
	}
	for _, p := range params {
		t := idx[p.TrialID]
		d, err := goptuna.JSONToDistribution([]byte(p.DistributionJSON))
		if err != nil {
			return nil, fmt.Errorf("trial %d parameter %s: distribution %q: %w", p.TrialID, p.ParamName, p.DistributionJSON, err)
		}
		xr, err := goptuna.ToExternalRepresentation(d, p.ParamValue)
		if err != nil {
			return nil, fmt.Errorf("trial %d parameter %s: %w", p.TrialID, p.ParamName, err)
		}
		t.Params[p.ParamName] = xr
		t.Distributions[p.ParamName] = p.DistributionJSON
	}

	var values []struct {
		TrialID int
		Step    int
		Value   sql.NullFloat64
	}
	if err := db.Raw(`SELECT x.trial_id, x.step, x.value FROM trial_values x`+join, studyID).Scan(&values).Error; err != nil {
		return nil, s.wrap(fmt.Sprintf("intermediate values of study %d", studyID), err)
	}
	for _, v := range values {
		idx[v.TrialID].Intermediate[v.Step] = nanIfNull(v.Value)
	}

	var metrics []struct {
		TrialID int
		Name    string
		Value   sql.NullFloat64
	}
	if err := db.Raw(`SELECT x.trial_id, x.name, x.value FROM trial_metrics x`+join, studyID).Scan(&metrics).Error; err != nil {
		return nil, s.wrap(fmt.Sprintf("metrics of study %d", studyID), err)
	}
	for _, m := range metrics {
		idx[m.TrialID].Metrics[m.Name] = nanIfNull(m.Value)
	}

	var hps []hyperparamRow
	if err := db.Raw(`SELECT x.* FROM `+TableHyperparams+` x`+join, studyID).Scan(&hps).Error; err != nil {
		return nil, s.wrap(fmt.Sprintf("hyperparameters of study %d", studyID), err)
	}
	for _, h := range hps {
		idx[h.TrialID].Hyperparams[h.Name] = h.Value
	}

	for _, table := range []string{"trial_user_attributes", "trial_system_attributes"} {
		var attrs []struct {
			TrialID int
			Key     string
			Value   string
		}
		if err := db.Raw(`SELECT x.trial_id, x.key, x.value FROM `+table+` x`+join, studyID).Scan(&attrs).Error; err != nil {
			return nil, s.wrap(fmt.Sprintf("trial attributes of study %d", studyID), err)
		}
		for _, a := range attrs {
			if table == "trial_user_attributes" {
				idx[a.TrialID].UserAttrs[a.Key] = a.Value
			} else {
				idx[a.TrialID].SystemAttrs[a.Key] = a.Value
			}
		}
	}

	var metas []runMetaRow
	if err := db.Raw(`SELECT x.* FROM trial_run_meta x`+join, studyID).Scan(&metas).Error; err != nil {
		return nil, s.wrap(fmt.Sprintf("run metadata of study %d", studyID), err)
	}
	for _, m := range metas {
		rm := metaFromRow(m)
		idx[m.TrialID].Run = &rm
	}
	var extras []runMetaExtraRow
	if err := db.Raw(`SELECT x.* FROM trial_run_meta_extra x`+join, studyID).Scan(&extras).Error; err != nil {
		return nil, s.wrap(fmt.Sprintf("run metadata of study %d", studyID), err)
	}
	for _, e := range extras {
		t := idx[e.TrialID]
		if t.Run == nil {
			t.Run = &RunMeta{TrialID: e.TrialID}
		}
		if t.Run.Extra == nil {
			t.Run.Extra = map[string]string{}
		}
		t.Run.Extra[e.Key] = e.Value
	}
	return out, nil
}

func metaFromRow(m runMetaRow) RunMeta {
	return RunMeta{
		TrialID: m.TrialID, Plugin: m.Plugin, PluginVersion: m.PluginVersion, PluginSHA256: m.PluginSHA256,
		Dataset: m.Dataset, DatasetSHA256: m.DatasetSHA256, Model: m.Model, Seed: uint64(m.Seed),
		Commit: m.Commit, Machine: m.Machine, GoVersion: m.GoVersion, BLAS: m.BLAS,
	}
}

func nanIfNull(v sql.NullFloat64) float64 {
	if !v.Valid {
		return math.NaN()
	}
	return v.Float64
}

func floatOrNaN(p *float64) float64 {
	if p == nil {
		return math.NaN()
	}
	return *p
}

// GetRunMeta returns a trial's run metadata; ok is false when none was
// recorded.
func (s *Store) GetRunMeta(ctx context.Context, trialID int) (m RunMeta, ok bool, err error) {
	db := s.db.WithContext(ctx)
	var rows []runMetaRow
	if err := db.Where("trial_id = ?", trialID).Find(&rows).Error; err != nil {
		return RunMeta{}, false, s.wrap(fmt.Sprintf("run meta of trial %d", trialID), err)
	}
	if len(rows) == 0 {
		return RunMeta{}, false, nil
	}
	m = metaFromRow(rows[0])
	var extras []runMetaExtraRow
	if err := db.Where("trial_id = ?", trialID).Find(&extras).Error; err != nil {
		return RunMeta{}, false, s.wrap(fmt.Sprintf("run meta of trial %d", trialID), err)
	}
	if len(extras) > 0 {
		m.Extra = make(map[string]string, len(extras))
		for _, e := range extras {
			m.Extra[e.Key] = e.Value
		}
	}
	return m, true, nil
}

// GetMetrics returns a trial's final metrics (NULL read back as NaN).
func (s *Store) GetMetrics(ctx context.Context, trialID int) (map[string]float64, error) {
	var rows []metricRow
	if err := s.db.WithContext(ctx).Where("trial_id = ?", trialID).Find(&rows).Error; err != nil {
		return nil, s.wrap(fmt.Sprintf("metrics of trial %d", trialID), err)
	}
	out := make(map[string]float64, len(rows))
	for _, r := range rows {
		out[r.Name] = floatOrNaN(r.Value)
	}
	return out, nil
}

// Curve returns a trial's evaluations in the order they were added.
func (s *Store) Curve(ctx context.Context, trialID int) ([]CurvePoint, error) {
	var rows []curveRow
	if err := s.db.WithContext(ctx).Where("trial_id = ?", trialID).Order("curve_id").Find(&rows).Error; err != nil {
		return nil, s.wrap(fmt.Sprintf("curve of trial %d", trialID), err)
	}
	out := make([]CurvePoint, len(rows))
	for i, r := range rows {
		out[i] = CurvePoint{
			TrialID: r.TrialID, Epoch: r.Epoch, OuterSteps: r.OuterSteps, GradEvals: r.GradEvals, LR: r.LR,
			TrainLoss: floatOrNaN(r.TrainLoss), TrainAcc: floatOrNaN(r.TrainAcc),
			TestLoss: floatOrNaN(r.TestLoss), TestAcc: floatOrNaN(r.TestAcc), Wall: r.Wall,
			ParamDivergence: r.ParamDivergence, EpsilonMean: r.EpsilonMean, EpsilonMax: r.EpsilonMax,
		}
	}
	return out, nil
}

// StateCounts returns how many of the study's trials are in each state.
func (s *Store) StateCounts(ctx context.Context, studyID int) (map[string]int, error) {
	var rows []struct {
		State string
		N     int
	}
	if err := s.db.WithContext(ctx).Raw(`SELECT state, COUNT(*) AS n FROM trials WHERE study_id = ? GROUP BY state`, studyID).Scan(&rows).Error; err != nil {
		return nil, s.wrap(fmt.Sprintf("trial counts of study %d", studyID), err)
	}
	out := make(map[string]int, len(rows))
	for _, r := range rows {
		out[r.State] = r.N
	}
	return out, nil
}

// ParamNames returns the names of the study's parameters in the order they
// were first stored.
func (s *Store) ParamNames(ctx context.Context, studyID int) ([]string, error) {
	var rows []struct {
		ParamName string
		First     int
	}
	err := s.db.WithContext(ctx).Raw(`SELECT x.param_name, MIN(x.param_id) AS first
FROM trial_params x JOIN trials t ON t.trial_id = x.trial_id
WHERE t.study_id = ? GROUP BY x.param_name ORDER BY first`, studyID).Scan(&rows).Error
	if err != nil {
		return nil, s.wrap(fmt.Sprintf("parameter names of study %d", studyID), err)
	}
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.ParamName
	}
	return out, nil
}

// MetricNames returns the names of the metrics stored for the study's
// trials, sorted.
func (s *Store) MetricNames(ctx context.Context, studyID int) ([]string, error) {
	var out []string
	err := s.db.WithContext(ctx).Raw(`SELECT DISTINCT x.name FROM trial_metrics x
JOIN trials t ON t.trial_id = x.trial_id WHERE t.study_id = ?`, studyID).Scan(&out).Error
	if err != nil {
		return nil, s.wrap(fmt.Sprintf("metric names of study %d", studyID), err)
	}
	sort.Strings(out)
	return out, nil
}

// BestTrial returns the ID of the study's best COMPLETE trial by its
// objective value and direction, ties going to the lower number; ok is
// false when no COMPLETE trial has a value.
func (s *Store) BestTrial(ctx context.Context, studyID int) (trialID int, ok bool, err error) {
	var dir []string
	if err := s.db.WithContext(ctx).Raw(`SELECT direction FROM studies WHERE study_id = ?`, studyID).Scan(&dir).Error; err != nil {
		return 0, false, s.wrap(fmt.Sprintf("best trial of study %d", studyID), err)
	}
	if len(dir) == 0 {
		return 0, false, fmt.Errorf("best trial of study %d: %w", studyID, ErrNoStudy)
	}
	order := "ASC"
	if dir[0] == "MAXIMIZE" {
		order = "DESC"
	}
	var ids []int
	err = s.db.WithContext(ctx).Raw(`SELECT trial_id FROM trials
WHERE study_id = ? AND state = 'COMPLETE' AND value IS NOT NULL AND value <> 'NaN'
ORDER BY value `+order+`, number ASC LIMIT 1`, studyID).Scan(&ids).Error
	if err != nil {
		return 0, false, s.wrap(fmt.Sprintf("best trial of study %d", studyID), err)
	}
	if len(ids) == 0 {
		return 0, false, nil
	}
	return ids[0], true, nil
}

// BestByMetric returns the ID of the study's COMPLETE trial with the
// largest (maximize) or smallest value of the named metric, ties going to
// the lower number; ok is false when no COMPLETE trial has the metric.
func (s *Store) BestByMetric(ctx context.Context, studyID int, metric string, maximize bool) (trialID int, ok bool, err error) {
	order := "ASC"
	if maximize {
		order = "DESC"
	}
	var ids []int
	err = s.db.WithContext(ctx).Raw(`SELECT m.trial_id FROM trial_metrics m JOIN trials t ON t.trial_id = m.trial_id
WHERE t.study_id = ? AND t.state = 'COMPLETE' AND m.name = ? AND m.value IS NOT NULL AND m.value <> 'NaN'
ORDER BY m.value `+order+`, t.number ASC LIMIT 1`, studyID, metric).Scan(&ids).Error
	if err != nil {
		return 0, false, s.wrap(fmt.Sprintf("best %s in study %d", metric, studyID), err)
	}
	if len(ids) == 0 {
		return 0, false, nil
	}
	return ids[0], true, nil
}
