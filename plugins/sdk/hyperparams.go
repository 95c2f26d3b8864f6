package sdk

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/lrsgd-lab/lrsgd/plugins/optimizer"
)

// CheckHyperparams reports whether every entry of hp names a hyperparameter
// of d and holds a valid value for it: a number within [Min, Max] for
// float and int, true/false for bool, one of Choices for enum. The error
// names the optimizer, the hyperparameter and the valid range or the valid
// names. The plugin server runs it before Init, so every plugin refuses bad
// hyperparameters the same way whatever its own Init checks.
func CheckHyperparams(d optimizer.Description, hp map[string]string) error {
	names := make([]string, 0, len(hp))
	for name := range hp {
		names = append(names, name)
	}
	slices.Sort(names) // report the first bad name deterministically
	for _, name := range names {
		i := slices.IndexFunc(d.Hyperparams, func(s optimizer.HyperparamSpec) bool { return s.Name == name })
		if i < 0 {
			valid := make([]string, len(d.Hyperparams))
			for j, s := range d.Hyperparams {
				valid[j] = s.Name
			}
			return fmt.Errorf("%s: unknown hyperparameter %q; valid names: %s", d.Name, name, strings.Join(valid, ", "))
		}
		if err := CheckValue(d.Hyperparams[i], hp[name]); err != nil {
			return fmt.Errorf("%s: %w", d.Name, err)
		}
	}
	return nil
}

// CheckValue reports whether v is a valid value for the hyperparameter s.
func CheckValue(s optimizer.HyperparamSpec, v string) error {
	bad := func(what string) error {
		return fmt.Errorf("hyperparameter %s=%q: %s; valid: %s %s", s.Name, v, what, s.Type, ValidRange(s))
	}
	switch s.Type {
	case optimizer.Float:
		x, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || math.IsNaN(x) {
			return bad("not a number")
		}
		if x < s.Min || x > s.Max {
			return bad("out of range")
		}
	case optimizer.Int:
		x, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return bad("not an integer")
		}
		if float64(x) < s.Min || float64(x) > s.Max {
			return bad("out of range")
		}
	case optimizer.Bool:
		if _, err := strconv.ParseBool(strings.TrimSpace(v)); err != nil {
			return bad("not a boolean")
		}
	case optimizer.Enum:
		if !slices.Contains(s.Choices, strings.TrimSpace(v)) {
			return bad("not one of the choices")
		}
	default:
		return fmt.Errorf("hyperparameter %s: unknown type %q in the optimizer's description", s.Name, s.Type)
	}
	return nil
}

// ValidRange formats the valid values of s: "[min, max]" for float and int
// (an infinite bound shows as -Inf or +Inf), "true|false" for bool and the
// choices joined by "|" for enum.
func ValidRange(s optimizer.HyperparamSpec) string {
	switch s.Type {
	case optimizer.Float, optimizer.Int:
		return "[" + formatBound(s.Min) + ", " + formatBound(s.Max) + "]"
	case optimizer.Bool:
		return "true|false"
	case optimizer.Enum:
		return strings.Join(s.Choices, "|")
	}
	return "?"
}

func formatBound(x float64) string {
	return strconv.FormatFloat(x, 'g', -1, 64)
}
