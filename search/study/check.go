package study

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/lrsgd-lab/lrsgd/plugins/optimizer"
)

// Describer returns the description of the optimizer plugin of that name
// (for example by listing the plugins directory). An unknown name is an
// error naming what is available.
type Describer func(ctx context.Context, name string) (optimizer.Description, error)

// Check validates the study against the plugins' own descriptions: every
// optimizer exists, every fixed hyperparameter parses within its valid
// range, and every sampled hyperparameter's range (and grid) lies within
// the plugin's. (The model, the data set and the trainer fields were
// checked when the study was parsed and resolved.) Call it before anything
// is written to a store.
func (s *Study) Check(ctx context.Context, describe Describer) error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	descs := map[string]optimizer.Description{}
	for _, o := range s.OptimizerNames() {
		d, err := describe(ctx, o)
		if err != nil {
			bad("optimizer %q: %v", o, err)
			continue
		}
		descs[o] = d
	}
	for o, hp := range s.Hyperparams {
		d, ok := descs[o]
		if !ok {
			continue
		}
		for _, k := range slices.Sorted(maps.Keys(hp)) {
			spec, ok := findSpec(d, k)
			if !ok {
				bad("hyperparams.%s.%s: %s has no hyperparameter %q (it has %s)", o, k, o, k, specNames(d))
				continue
			}
			if err := checkValue(spec, hp[k]); err != nil {
				bad("hyperparams.%s.%s: %v", o, k, err)
			}
		}
	}
	for i, p := range s.Space {
		w := p.where(i)
		if IsTrainerParam(p.Name) {
			continue // checked with the trainer's own check by validate
		}
		for _, o := range s.OptimizerNames() {
			d, ok := descs[o]
			if !ok || !p.AppliesTo(o) {
				continue
			}
			spec, ok := findSpec(d, p.Name)
			if !ok {
				bad("%s: optimizer %s has no hyperparameter %q (it has %s); restrict the parameter with optimizers: [...]", w, o, p.Name, specNames(d))
				continue
			}
			if err := checkParamAgainst(p, spec); err != nil {
				bad("%s: optimizer %s: %v", w, o, err)
			}
		}
	}
	return errors.Join(errs...)
}

func findSpec(d optimizer.Description, name string) (optimizer.HyperparamSpec, bool) {
	for _, s := range d.Hyperparams {
		if s.Name == name {
			return s, true
		}
	}
	return optimizer.HyperparamSpec{}, false
}

func specNames(d optimizer.Description) string {
	names := make([]string, len(d.Hyperparams))
	for i, s := range d.Hyperparams {
		names[i] = s.Name
	}
	return strings.Join(names, ", ")
}

// validRange renders what a spec accepts, as the plugin's own refusal does.
func validRange(s optimizer.HyperparamSpec) string {
	return string(s.Type) + " " + optimizer.ValidRange(s)
}

// checkValue checks a hyperparameter value string against its spec with the
// parser the plugin server and the optimizers use (optimizer.ParseValue),
// so a study refuses exactly what the plugin would.
func checkValue(s optimizer.HyperparamSpec, raw string) error {
	if _, err := optimizer.ParseValue(s, raw); err != nil {
		return fmt.Errorf("%s=%q is outside its valid range: want %s", s.Name, strings.TrimSpace(raw), validRange(s))
	}
	return nil
}

func checkParamAgainst(p Param, s optimizer.HyperparamSpec) error {
	switch p.Type {
	case TypeFixed:
		return checkValue(s, p.Value)
	case TypeCategorical:
		for _, c := range p.Choices {
			if err := checkValue(s, c); err != nil {
				return err
			}
		}
		return nil
	case TypeInt:
		if s.Type != optimizer.Int && s.Type != optimizer.Float {
			return fmt.Errorf("int parameter for a %s hyperparameter", s.Type)
		}
	case TypeFloat, TypeLogFloat:
		if s.Type != optimizer.Float {
			return fmt.Errorf("%s parameter for a %s hyperparameter (want %s)", p.Type, s.Type, validRange(s))
		}
	}
	if float64(p.Low) < s.Min || float64(p.High) > s.Max {
		return fmt.Errorf("range [%g, %g] is outside the valid range of %s: want %s", p.Low, p.High, s.Name, validRange(s))
	}
	return nil
}

// checkTrainerParam checks that a trainer parameter of the space has
// values of the right kind: numbers, and integers for all but lr. Whether
// they are in range is the trainer's check (Study.checkTrainerValues).
func checkTrainerParam(p Param) error {
	var vals []float64
	switch p.Type {
	case TypeFixed:
		x, err := ParseNumber(p.Value)
		if err != nil {
			return err
		}
		vals = []float64{x}
	case TypeCategorical:
		for _, c := range p.Choices {
			x, err := ParseNumber(c)
			if err != nil {
				return fmt.Errorf("choice %v", err)
			}
			vals = append(vals, x)
		}
	default:
		vals = []float64{float64(p.Low), float64(p.High)}
	}
	if p.Name == "lr" || p.Name == "lr_factor" {
		return nil
	}
	for _, x := range vals {
		if x != math.Trunc(x) {
			return fmt.Errorf("%s takes integers, have %g", p.Name, x)
		}
		if p.Name == "seed" && x < 0 {
			return fmt.Errorf("seed must be >= 0, have %g", x)
		}
	}
	if p.Type == TypeFloat || p.Type == TypeLogFloat {
		return fmt.Errorf("%s takes integers: use type int, categorical or fixed", p.Name)
	}
	return nil
}
