package study

import (
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/c-bata/goptuna"
)

// Assignment is what one trial runs: the study with its sampled values
// filled in.
type Assignment struct {
	Optimizer string
	// Hyperparams are the optimizer's hyperparameters: the study's fixed
	// ones, fixed space entries and sampled values.
	Hyperparams map[string]string
	// Train is the study's trainer settings with sampled values applied.
	Train Train
	// Params are the sampled values (and the optimizer, when several),
	// formatted, keyed by parameter name.
	Params map[string]string
}

// Distribution returns goptuna's distribution of a sampled parameter, or
// nil for a fixed one.
func (p Param) Distribution() any {
	switch p.Type {
	case TypeFloat:
		return goptuna.UniformDistribution{Low: float64(p.Low), High: float64(p.High)}
	case TypeLogFloat:
		return goptuna.LogUniformDistribution{Low: float64(p.Low), High: float64(p.High)}
	case TypeInt:
		if p.Step > 1 {
			return goptuna.StepIntUniformDistribution{Low: int(p.Low), High: int(p.High), Step: p.Step}
		}
		return goptuna.IntUniformDistribution{Low: int(p.Low), High: int(p.High)}
	case TypeCategorical:
		return goptuna.CategoricalDistribution{Choices: slices.Clone(p.Choices)}
	}
	return nil
}

// OptimizerDistribution is the categorical over the study's optimizers, or
// nil when it has one.
func (s *Study) OptimizerDistribution() any {
	if len(s.Optimizers) == 0 {
		return nil
	}
	return goptuna.CategoricalDistribution{Choices: slices.Clone(s.Optimizers)}
}

// Distributions returns every parameter the study may sample, with its
// distribution, keyed by name (the optimizer categorical included).
func (s *Study) Distributions() map[string]any {
	m := map[string]any{}
	if d := s.OptimizerDistribution(); d != nil {
		m[OptimizerParam] = d
	}
	for _, p := range s.Space {
		if d := p.Distribution(); d != nil {
			m[p.Name] = d
		}
	}
	return m
}

// Suggest samples one trial's values through goptuna (the optimizer
// first, then the space in order, skipping parameters that do not apply
// to the chosen optimizer) and returns the assignment.
func (s *Study) Suggest(t *goptuna.Trial) (Assignment, error) {
	a := Assignment{Train: s.Train, Params: map[string]string{}, Hyperparams: map[string]string{}}
	a.Optimizer = s.Optimizer
	if len(s.Optimizers) > 0 {
		o, err := t.SuggestCategorical(OptimizerParam, s.Optimizers)
		if err != nil {
			return a, fmt.Errorf("suggest %s: %w", OptimizerParam, err)
		}
		a.Optimizer = o
		a.Params[OptimizerParam] = o
	}
	maps.Copy(a.Hyperparams, s.Hyperparams[a.Optimizer])
	for _, p := range s.Space {
		if !p.AppliesTo(a.Optimizer) {
			continue
		}
		v, err := suggestParam(t, p)
		if err != nil {
			return a, err
		}
		if p.Type != TypeFixed {
			a.Params[p.Name] = v
		}
		if IsTrainerParam(p.Name) {
			if err := a.Train.set(p.Name, v); err != nil {
				return a, err
			}
		} else {
			a.Hyperparams[p.Name] = v
		}
	}
	return a, nil
}

func suggestParam(t *goptuna.Trial, p Param) (string, error) {
	var (
		v   string
		err error
	)
	switch p.Type {
	case TypeFixed:
		return p.Value, nil
	case TypeFloat:
		var x float64
		x, err = t.SuggestFloat(p.Name, float64(p.Low), float64(p.High))
		v = p.Format(x)
	case TypeLogFloat:
		var x float64
		x, err = t.SuggestLogFloat(p.Name, float64(p.Low), float64(p.High))
		v = p.Format(x)
	case TypeInt:
		var x int
		if p.Step > 1 {
			x, err = t.SuggestStepInt(p.Name, int(p.Low), int(p.High), p.Step)
		} else {
			x, err = t.SuggestInt(p.Name, int(p.Low), int(p.High))
		}
		v = strconv.Itoa(x)
	case TypeCategorical:
		v, err = t.SuggestCategorical(p.Name, p.Choices)
	default:
		err = fmt.Errorf("unknown type %q", p.Type)
	}
	if err != nil {
		return "", fmt.Errorf("suggest %s: %w", p.Name, err)
	}
	return v, nil
}

// set applies a sampled trainer parameter.
func (t *Train) set(name, v string) error {
	x, err := ParseNumber(v)
	if err != nil {
		return fmt.Errorf("trainer parameter %s: %w", name, err)
	}
	switch name {
	case "lr":
		t.Schedule.LR = x
	case "lr_factor":
		t.Schedule.Factor = x
	case "batch_size":
		t.BatchSize = int(x)
	case "epochs":
		t.Epochs = int(x)
	case "seed":
		t.Seed = uint64(x)
	case "budget_grads":
		t.BudgetGrads = int64(x)
	default:
		return fmt.Errorf("unknown trainer parameter %q", name)
	}
	return nil
}
