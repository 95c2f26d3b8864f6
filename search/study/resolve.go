package study

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// setAliases map short --set keys to their place in the document.
var setAliases = map[string]string{
	"epochs":        "train.epochs",
	"batch_size":    "train.batch_size",
	"train_size":    "train.train_size",
	"test_size":     "train.test_size",
	"budget_grads":  "train.budget_grads",
	"eval_every":    "train.eval_every",
	"hit_threshold": "train.hit_threshold",
	"augment":       "train.augment",
	"seed":          "train.seed",
	"subset_seed":   "train.subset_seed",
	"data_seed":     "train.data_seed",
	"lr":            "train.schedule.lr",
	"schedule":      "train.schedule.kind",
	"metric":        "objective.metric",
	"direction":     "objective.direction",
	"sampler_seed":  "seed",
	"pruner":        "pruner.kind",
	"replace":       "stability.replace",
}

// topLevel are the document's top-level keys that --set may address by path.
var topLevel = []string{"name", "description", "optimizer", "optimizers", "model", "dataset", "train",
	"hyperparams", "space", "grid", "objective", "trials", "sampler", "seed", "pruner", "stability", "retries", "seeds", "kind", "baseline", "tuning_trials", "target"}

// SetKeys describes the --set keys for help texts.
func SetKeys() string {
	aliases := slices.Sorted(maps.Keys(setAliases))
	return "a search-space parameter (fixes it), OPTIMIZER.HYPERPARAM or hp.HYPERPARAM, " +
		strings.Join(aliases, ", ") + ", or a dotted path (" + strings.Join(topLevel, ", ") + ", e.g. train.schedule.milestones=[5,8])"
}

// Resolve returns a copy of s with the budget overlay applied (budget ""
// means "default" when the study defines it) and then each override
// "key=value" of sets, checked again as a whole. See [SetKeys] for keys.
// Values are YAML scalars or flow sequences.
//
// Errors about the search space and the grid name the lines of the entries
// in the file the study was parsed from (or in its budget overlay); values
// given by sets have no line.
func (s *Study) Resolve(budget string, sets []string) (*Study, error) {
	doc, err := toMap(s)
	if err != nil {
		return nil, err
	}
	l := s.lines.clone()
	if budget == "" {
		if _, ok := s.Budgets[BudgetDefault]; ok {
			budget = BudgetDefault
		}
	}
	if budget != "" {
		n, ok := s.Budgets[budget]
		if !ok {
			return nil, fmt.Errorf("study %s: no budget %q (it has %s)", s.Name, budget, strings.Join(slices.Sorted(maps.Keys(s.Budgets)), ", "))
		}
		overlay, err := decodeOverlay(&n)
		if err != nil {
			return nil, fmt.Errorf("study %s: budget %q: %w", s.Name, budget, err)
		}
		merge(doc, overlay)
		l = l.overlay(s.lines.budgets[budget])
	}
	for _, kv := range sets {
		path, err := applySet(doc, s, kv)
		if err != nil {
			return nil, fmt.Errorf("--set %s: %w", kv, err)
		}
		l.forget(path)
	}
	r, err := redecode(doc)
	if err != nil {
		return nil, fmt.Errorf("study %s with budget %q and overrides %q: %w", s.Name, budget, sets, err)
	}
	r.setLines(l)
	r.Source, r.Budget, r.Sets = s.Source, budget, slices.Clone(sets)
	for _, w := range s.Warnings {
		r.Warnings = appendOnce(r.Warnings, w)
	}
	if err := r.validate(); err != nil {
		return nil, fmt.Errorf("study %s with budget %q and overrides %q: %w", s.Name, budget, sets, err)
	}
	return r, nil
}

// withOverlay merges the overlay n of the named budget and checks the
// result (used to check every budget when a study is parsed).
func (s *Study) withOverlay(budget string, n *yaml.Node) (*Study, error) {
	overlay, err := decodeOverlay(n)
	if err != nil {
		return nil, err
	}
	doc, err := toMap(s)
	if err != nil {
		return nil, err
	}
	merge(doc, overlay)
	r, err := redecode(doc)
	if err != nil {
		return nil, err
	}
	r.setLines(s.lines.overlay(s.lines.budgets[budget]))
	return r, r.validate()
}

// decodeOverlay decodes a budget overlay into a generic mapping. It first
// decodes it as a study, so that a value of the wrong type is reported at
// its line in the file rather than in the re-marshalled document.
func decodeOverlay(n *yaml.Node) (map[string]any, error) {
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if k := n.Content[i]; !slices.Contains(topLevel, k.Value) {
				return nil, fmt.Errorf("line %d: unknown key %q; a budget sets %s", k.Line, k.Value, strings.Join(topLevel, ", "))
			}
		}
	}
	var typed Study
	if err := n.Decode(&typed); err != nil {
		return nil, err
	}
	var overlay map[string]any
	if err := n.Decode(&overlay); err != nil {
		return nil, err
	}
	return overlay, nil
}

// redecode marshals a merged document and decodes it strictly as a study.
// Its errors lose yaml.v3's line numbers, which would be those of the
// marshalled text; the caller gives the study its file's lines (setLines).
func redecode(doc map[string]any) (*Study, error) {
	b, err := yaml.Marshal(doc)
	if err != nil {
		return nil, err
	}
	r, err := decodeStrict(b)
	if err != nil {
		return nil, withoutLines(err)
	}
	return r, nil
}

func toMap(s *Study) (map[string]any, error) {
	b, err := yaml.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("study %s: %w", s.Name, err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("study %s: %w", s.Name, err)
	}
	return doc, nil
}

// merge copies src over dst, recursing into mappings; sequences and
// scalars replace.
func merge(dst, src map[string]any) {
	for k, v := range src {
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				merge(dm, sm)
				continue
			}
		}
		dst[k] = v
	}
}

func parseValue(raw string) (any, error) {
	if strings.TrimSpace(raw) == "" {
		return "", nil
	}
	var v any
	if err := yaml.Unmarshal([]byte(raw), &v); err != nil {
		return nil, fmt.Errorf("value %q: %w", raw, err)
	}
	return v, nil
}

// applySet applies one override "key=value" to doc. It returns the
// dotted path it wrote when the key was one (nil for the other kinds of
// keys), so that Resolve knows which values came from the command line.
func applySet(doc map[string]any, s *Study, kv string) ([]string, error) {
	key, raw, ok := strings.Cut(kv, "=")
	if !ok || strings.TrimSpace(key) == "" {
		return nil, errors.New("want key=value")
	}
	key = strings.ReplaceAll(strings.ToLower(strings.TrimSpace(key)), "-", "_")
	raw = strings.TrimSpace(raw)
	opts := s.OptimizerNames()

	// A search-space parameter: fix it.
	if p, ok := s.Param(key); ok {
		space, _ := doc["space"].([]any)
		for _, e := range space {
			m := e.(map[string]any)
			if m["name"] != p.Name {
				continue
			}
			for _, f := range []string{"low", "high", "step", "choices"} {
				delete(m, f)
			}
			m["type"], m["value"] = TypeFixed, raw
		}
		if g, ok := doc["grid"].(map[string]any); ok {
			delete(g, key)
			if len(g) == 0 {
				delete(doc, "grid")
			}
		}
		return nil, nil
	}
	// The optimizer of a study over several: narrow it to one.
	if key == OptimizerParam && len(s.Optimizers) > 0 {
		if !slices.Contains(s.Optimizers, raw) {
			return nil, fmt.Errorf("%q is not an optimizer of study %s (%s)", raw, s.Name, strings.Join(opts, ", "))
		}
		doc["optimizer"] = raw
		delete(doc, "optimizers")
		if g, ok := doc["grid"].(map[string]any); ok {
			delete(g, OptimizerParam)
			if len(g) == 0 {
				delete(doc, "grid")
			}
		}
		if hp, ok := doc["hyperparams"].(map[string]any); ok {
			for o := range hp {
				if o != raw {
					delete(hp, o)
				}
			}
		}
		if space, ok := doc["space"].([]any); ok {
			kept := space[:0]
			for _, e := range space {
				m := e.(map[string]any)
				if ol, ok := m["optimizers"].([]any); ok {
					if !slices.Contains(ol, any(raw)) {
						continue
					}
					delete(m, "optimizers")
				}
				kept = append(kept, e)
			}
			doc["space"] = kept
		}
		return nil, nil
	}
	// The optimizer of a single-optimizer study: swap it, its fixed
	// hyperparameters go along (and are checked against the new plugin).
	if key == OptimizerParam && s.Optimizer != "" {
		doc["optimizer"] = raw
		if hp, ok := doc["hyperparams"].(map[string]any); ok && raw != s.Optimizer {
			if v, ok := hp[s.Optimizer]; ok {
				hp[raw] = v
				delete(hp, s.Optimizer)
			}
		}
		return nil, nil
	}
	// An optimizer hyperparameter: OPT.NAME or hp.NAME.
	if first, rest, ok := strings.Cut(key, "."); ok && (first == "hp" || slices.Contains(opts, first)) {
		targets := []string{first}
		if first == "hp" {
			if len(opts) != 1 {
				return nil, fmt.Errorf("study %s has several optimizers (%s): write OPTIMIZER.%s=VALUE", s.Name, strings.Join(opts, ", "), rest)
			}
			targets = opts
		}
		hp, _ := doc["hyperparams"].(map[string]any)
		if hp == nil {
			hp = map[string]any{}
			doc["hyperparams"] = hp
		}
		for _, o := range targets {
			m, _ := hp[o].(map[string]any)
			if m == nil {
				m = map[string]any{}
				hp[o] = m
			}
			m[rest] = raw
		}
		return nil, nil
	}
	if a, ok := setAliases[key]; ok {
		key = a
	}
	path := strings.Split(key, ".")
	if !slices.Contains(topLevel, path[0]) {
		return nil, fmt.Errorf("unknown key %q; keys are %s", key, SetKeys())
	}
	v, err := parseValue(raw)
	if err != nil {
		return nil, err
	}
	m := doc
	for _, k := range path[:len(path)-1] {
		next, ok := m[k].(map[string]any)
		if !ok {
			if m[k] != nil {
				return nil, fmt.Errorf("%s is not a mapping", k)
			}
			next = map[string]any{}
			m[k] = next
		}
		m = next
	}
	m[path[len(path)-1]] = v
	return path, nil
}
