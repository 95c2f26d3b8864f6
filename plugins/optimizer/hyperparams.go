package optimizer

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Value is one hyperparameter value parsed by ParseValue. Type is the
// spec's type and says which of the other fields holds the value.
type Value struct {
	Type  ParamType
	Float float64 // the value of a Float hyperparameter
	Int   int     // the value of an Int hyperparameter
	Bool  bool    // the value of a Bool hyperparameter
	Enum  string  // the value of an Enum hyperparameter: one of the spec's Choices
}

// ValueError reports a value that its HyperparamSpec refuses. Its message
// names the hyperparameter, the value as given, what is wrong with it and
// the valid values, e.g.
//
//	hyperparameter gamma="2": out of range; valid: float [1e-06, 1]
type ValueError struct {
	Spec  HyperparamSpec
	Value string // the value as given, before white space is trimmed
	// Reason says what is wrong: "not a number", "not an integer",
	// "not a boolean", "not one of the choices" or "out of range".
	Reason string
}

// Error implements error.
func (e *ValueError) Error() string {
	return fmt.Sprintf("hyperparameter %s=%q: %s; valid: %s %s", e.Spec.Name, e.Value, e.Reason, e.Spec.Type, ValidRange(e.Spec))
}

// ParseValue parses raw, a value written as on the command line, against
// the spec s. Leading and trailing white space is ignored. It accepts
//
//   - for Float, what strconv.ParseFloat accepts (including "Inf" and
//     hexadecimal floats) except NaN, within [Min, Max];
//   - for Int, a base-10 integer that fits in an int (no fraction, no
//     exponent: "1e3" is refused), within [Min, Max];
//   - for Bool, what strconv.ParseBool accepts (true, false, 1, 0, t, f, ...);
//   - for Enum, exactly one of Choices.
//
// A refused value is reported as a *ValueError. A spec of unknown type is
// an error in the spec, reported as such.
func ParseValue(s HyperparamSpec, raw string) (Value, error) {
	bad := func(reason string) (Value, error) {
		return Value{}, &ValueError{Spec: s, Value: raw, Reason: reason}
	}
	v := strings.TrimSpace(raw)
	switch s.Type {
	case Float:
		x, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(x) {
			return bad("not a number")
		}
		if x < s.Min || x > s.Max {
			return bad("out of range")
		}
		return Value{Type: Float, Float: x}, nil
	case Int:
		x, err := strconv.ParseInt(v, 10, strconv.IntSize)
		if err != nil {
			return bad("not an integer")
		}
		if float64(x) < s.Min || float64(x) > s.Max {
			return bad("out of range")
		}
		return Value{Type: Int, Int: int(x)}, nil
	case Bool:
		b, err := strconv.ParseBool(v)
		if err != nil {
			return bad("not a boolean")
		}
		return Value{Type: Bool, Bool: b}, nil
	case Enum:
		if !slices.Contains(s.Choices, v) {
			return bad("not one of the choices")
		}
		return Value{Type: Enum, Enum: v}, nil
	}
	return Value{}, fmt.Errorf("hyperparameter %s: unknown type %q in the optimizer's description", s.Name, s.Type)
}

// ValidRange formats the valid values of s: "[min, max]" for float and int
// (an infinite bound shows as -Inf or +Inf), "true|false" for bool and the
// choices joined by "|" for enum.
func ValidRange(s HyperparamSpec) string {
	switch s.Type {
	case Float, Int:
		return "[" + formatBound(s.Min) + ", " + formatBound(s.Max) + "]"
	case Bool:
		return "true|false"
	case Enum:
		return strings.Join(s.Choices, "|")
	}
	return "?"
}

func formatBound(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }

// want phrases what s accepts, for the errors of ParseValues:
// "a number in [0, 1]", "an integer in [1, 10]", "true or false",
// "one of a, b".
func want(s HyperparamSpec) string {
	switch s.Type {
	case Bool:
		return "true or false"
	case Enum:
		return "one of " + strings.Join(s.Choices, ", ")
	case Int:
		return "an integer in [" + formatBound(s.Min) + ", " + formatBound(s.Max) + "]"
	}
	return "a number in [" + formatBound(s.Min) + ", " + formatBound(s.Max) + "]"
}

// wantError is how ParseValues and ResolveValues report a *ValueError:
// by what is wanted, e.g. `hyperparameter m="0": want an integer in
// [1, 1e+06]`. errors.As still finds the ValueError.
type wantError struct{ err *ValueError }

// Error implements error.
func (e wantError) Error() string {
	return fmt.Sprintf("hyperparameter %s=%q: want %s", e.err.Spec.Name, e.err.Value, want(e.err.Spec))
}

// Unwrap returns the *ValueError.
func (e wantError) Unwrap() error { return e.err }

// asWant rewrites a *ValueError from ParseValue into a wantError and
// passes other errors through.
func asWant(err error) error {
	if ve, ok := err.(*ValueError); ok {
		return wantError{ve}
	}
	return err
}

// unknownName reports a name that specs do not declare.
func unknownName(name string, specs []HyperparamSpec) error {
	valid := make([]string, len(specs))
	for i, s := range specs {
		valid[i] = s.Name
	}
	return fmt.Errorf("unknown hyperparameter %q; valid names: %s", name, strings.Join(valid, ", "))
}

// CheckHyperparams reports whether every entry of hp names a hyperparameter
// of d and holds a value ParseValue accepts for it. Names are checked in
// sorted order and the first bad one is reported, prefixed with the
// optimizer's name:
//
//	lrsgd-r: unknown hyperparameter "gama"; valid names: preset, lambda_mode, ...
//	lrsgd-r: hyperparameter gamma="2": out of range; valid: float [1e-06, 1]
//
// The plugin server runs it before Init, so every plugin refuses bad
// hyperparameters the same way whatever its own Init checks. It checks
// only the names given, not the defaults.
func CheckHyperparams(d Description, hp map[string]string) error {
	for _, name := range sortedKeys(hp) {
		i := slices.IndexFunc(d.Hyperparams, func(s HyperparamSpec) bool { return s.Name == name })
		if i < 0 {
			return fmt.Errorf("%s: %w", d.Name, unknownName(name, d.Hyperparams))
		}
		if _, err := ParseValue(d.Hyperparams[i], hp[name]); err != nil {
			return fmt.Errorf("%s: %w", d.Name, err)
		}
	}
	return nil
}

// CheckSpecs validates a list of hyperparameter declarations: every name
// is non-empty and declared once, no float or int bound is NaN, and every
// Default is accepted by ParseValue. Its errors are programming errors in
// whatever declared the list.
func CheckSpecs(specs []HyperparamSpec) error {
	seen := make(map[string]bool, len(specs))
	for _, s := range specs {
		if s.Name == "" {
			return fmt.Errorf("hyperparameter with empty name")
		}
		if seen[s.Name] {
			return fmt.Errorf("hyperparameter %q declared twice", s.Name)
		}
		seen[s.Name] = true
		if (s.Type == Float || s.Type == Int) && (math.IsNaN(s.Min) || math.IsNaN(s.Max)) {
			return fmt.Errorf("hyperparameter %q: bounds [%g, %g], want numbers", s.Name, s.Min, s.Max)
		}
		if _, err := ParseValue(s, s.Default); err != nil {
			return fmt.Errorf("default of %s: %w", s.Name, asWant(err))
		}
	}
	return nil
}

// origin records where a resolved value came from.
type origin uint8

const (
	fromSpec     origin = iota // the spec's Default
	fromDefaults               // the defaults passed to ResolveValues
	fromGiven                  // the hyperparameters given
)

// Values holds hyperparameter values after they have been parsed and
// checked against their HyperparamSpecs: every declared name has a value,
// given or default. An optimizer (or one of its parts) reads its
// hyperparameters from Values. The getters panic on a name that was not
// declared and on a getter that does not match the declared type: both
// are programming errors in the reader, not user errors.
type Values struct {
	specs  map[string]HyperparamSpec
	vals   map[string]Value
	origin map[string]origin
}

func (v Values) get(name string, t ParamType) Value {
	s, ok := v.specs[name]
	if !ok {
		panic(fmt.Sprintf("optimizer: hyperparameter %q was not declared", name))
	}
	if s.Type != t {
		panic(fmt.Sprintf("optimizer: hyperparameter %q is %s, read as %s", name, s.Type, t))
	}
	return v.vals[name]
}

// Float returns the value of a float hyperparameter.
func (v Values) Float(name string) float64 { return v.get(name, Float).Float }

// Int returns the value of an int hyperparameter.
func (v Values) Int(name string) int { return v.get(name, Int).Int }

// Bool returns the value of a bool hyperparameter.
func (v Values) Bool(name string) bool { return v.get(name, Bool).Bool }

// Enum returns the value of an enum hyperparameter.
func (v Values) Enum(name string) string { return v.get(name, Enum).Enum }

// Given reports whether name was set explicitly (in the hp map of
// ParseValues or ResolveValues) rather than taking a default.
func (v Values) Given(name string) bool { return v.origin[name] == fromGiven }

// Defaulted reports whether name took its spec's declared Default: it was
// neither given nor set by the defaults passed to ResolveValues (for
// instance a preset's). It is false for undeclared names.
func (v Values) Defaulted(name string) bool {
	_, ok := v.specs[name]
	return ok && v.origin[name] == fromSpec
}

// Names returns the declared names, sorted.
func (v Values) Names() []string {
	names := make([]string, 0, len(v.specs))
	for n := range v.specs {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Lookup returns the value of name and whether name was declared.
func (v Values) Lookup(name string) (Value, bool) {
	x, ok := v.vals[name]
	return x, ok
}

// ParseValues checks hp against specs and fills in the specs' defaults.
// Its errors say what is wanted:
//
//	unknown hyperparameter "gama"; valid names: preset, lambda_mode, ...
//	hyperparameter gamma="2": want a number in [1e-06, 1]
//
// Unknown names are reported first (in sorted order), then bad values in
// the order of specs. A refused value's error wraps its *ValueError.
func ParseValues(specs []HyperparamSpec, hp map[string]string) (Values, error) {
	return ResolveValues(specs, hp, nil)
}

// ResolveValues is ParseValues with a second layer of defaults: a name not
// in hp takes defaults[name] if there is one, and only then its spec's
// Default. defaults may name only declared hyperparameters; its values are
// checked as given ones are, and they do not count as given.
func ResolveValues(specs []HyperparamSpec, hp, defaults map[string]string) (Values, error) {
	if err := CheckSpecs(specs); err != nil {
		return Values{}, err
	}
	v := Values{
		specs:  make(map[string]HyperparamSpec, len(specs)),
		vals:   make(map[string]Value, len(specs)),
		origin: make(map[string]origin, len(specs)),
	}
	for _, s := range specs {
		v.specs[s.Name] = s
	}
	for _, n := range sortedKeys(hp) {
		if _, ok := v.specs[n]; !ok {
			return Values{}, unknownName(n, specs)
		}
	}
	for _, n := range sortedKeys(defaults) {
		if _, ok := v.specs[n]; !ok {
			return Values{}, fmt.Errorf("default for undeclared hyperparameter %q", n)
		}
	}
	for _, s := range specs {
		raw, o := s.Default, fromSpec
		if x, ok := hp[s.Name]; ok {
			raw, o = x, fromGiven
		} else if x, ok := defaults[s.Name]; ok {
			raw, o = x, fromDefaults
		}
		x, err := ParseValue(s, raw)
		if err != nil {
			return Values{}, asWant(err)
		}
		v.vals[s.Name], v.origin[s.Name] = x, o
	}
	return v, nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
