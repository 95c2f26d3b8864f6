package blocks

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/lrsgd-lab/lrsgd/plugins/optimizer"
)

// Values holds hyperparameter values after they have been parsed and
// checked against their HyperparamSpecs. A Rule reads its own
// hyperparameters from Values in Configure. The getters panic on a name
// that was not declared, or on a getter that does not match the declared
// type: both are programming errors in the Rule, not user errors.
type Values struct {
	specs map[string]optimizer.HyperparamSpec
	vals  map[string]value
	given map[string]bool
}

type value struct {
	f float64
	i int
	b bool
	s string
}

func (v Values) get(name string, t optimizer.ParamType) value {
	s, ok := v.specs[name]
	if !ok {
		panic(fmt.Sprintf("blocks: hyperparameter %q was not declared", name))
	}
	if s.Type != t {
		panic(fmt.Sprintf("blocks: hyperparameter %q is %s, read as %s", name, s.Type, t))
	}
	return v.vals[name]
}

// Float returns the value of a float hyperparameter.
func (v Values) Float(name string) float64 { return v.get(name, optimizer.Float).f }

// Int returns the value of an int hyperparameter.
func (v Values) Int(name string) int { return v.get(name, optimizer.Int).i }

// Bool returns the value of a bool hyperparameter.
func (v Values) Bool(name string) bool { return v.get(name, optimizer.Bool).b }

// Enum returns the value of an enum hyperparameter.
func (v Values) Enum(name string) string { return v.get(name, optimizer.Enum).s }

// Given reports whether name was set explicitly in the InitConfig rather
// than taking its (preset) default.
func (v Values) Given(name string) bool { return v.given[name] }

// canonical returns "name=value;" pairs sorted by name, with every value
// formatted exactly; its hash fingerprints a configuration in Save blobs.
func (v Values) canonical() string {
	names := make([]string, 0, len(v.vals))
	for n := range v.vals {
		names = append(names, n)
	}
	slices.Sort(names)
	var sb strings.Builder
	for _, n := range names {
		x := v.vals[n]
		switch v.specs[n].Type {
		case optimizer.Float:
			fmt.Fprintf(&sb, "%s=%x;", n, math.Float64bits(x.f))
		case optimizer.Int:
			fmt.Fprintf(&sb, "%s=%d;", n, x.i)
		case optimizer.Bool:
			fmt.Fprintf(&sb, "%s=%t;", n, x.b)
		default:
			fmt.Fprintf(&sb, "%s=%s;", n, x.s)
		}
	}
	return sb.String()
}

// formatRange renders the valid values of a spec for error messages.
func formatRange(s optimizer.HyperparamSpec) string {
	switch s.Type {
	case optimizer.Bool:
		return "true or false"
	case optimizer.Enum:
		return "one of " + strings.Join(s.Choices, ", ")
	case optimizer.Int:
		return fmt.Sprintf("an integer in [%s, %s]", fmtNum(s.Min), fmtNum(s.Max))
	default:
		return fmt.Sprintf("a number in [%s, %s]", fmtNum(s.Min), fmtNum(s.Max))
	}
}

func fmtNum(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }

// parseValue parses raw against spec s. The error names the
// hyperparameter, the value and the valid range.
func parseValue(s optimizer.HyperparamSpec, raw string) (value, error) {
	bad := func() (value, error) {
		return value{}, fmt.Errorf("hyperparameter %s=%q: want %s", s.Name, raw, formatRange(s))
	}
	raw = strings.TrimSpace(raw)
	switch s.Type {
	case optimizer.Float:
		f, err := strconv.ParseFloat(raw, 64)
		if err != nil || math.IsNaN(f) || f < s.Min || f > s.Max {
			return bad()
		}
		return value{f: f}, nil
	case optimizer.Int:
		i, err := strconv.Atoi(raw)
		if err != nil || float64(i) < s.Min || float64(i) > s.Max {
			return bad()
		}
		return value{i: i}, nil
	case optimizer.Bool:
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return bad()
		}
		return value{b: b}, nil
	case optimizer.Enum:
		if !slices.Contains(s.Choices, raw) {
			return bad()
		}
		return value{s: raw}, nil
	}
	return value{}, fmt.Errorf("hyperparameter %s: unknown type %q", s.Name, s.Type)
}

// checkSpecs validates a spec list: unique names, known types, defaults
// that parse. It reports programming errors in a Rule or a constructor.
func checkSpecs(specs []optimizer.HyperparamSpec) error {
	seen := make(map[string]bool, len(specs))
	for _, s := range specs {
		if s.Name == "" {
			return fmt.Errorf("hyperparameter with empty name")
		}
		if seen[s.Name] {
			return fmt.Errorf("hyperparameter %q declared twice", s.Name)
		}
		seen[s.Name] = true
		if _, err := parseValue(s, s.Default); err != nil {
			return fmt.Errorf("default of %s: %w", s.Name, err)
		}
	}
	return nil
}

// resolve parses the user's hyperparameters against specs, filling the
// rest from presetDefaults (name -> value for the chosen preset) and
// then from each spec's Default. Unknown names are refused.
func resolve(specs []optimizer.HyperparamSpec, user map[string]string, presetDefaults func(preset string) map[string]string) (Values, error) {
	v := Values{
		specs: make(map[string]optimizer.HyperparamSpec, len(specs)),
		vals:  make(map[string]value, len(specs)),
		given: make(map[string]bool, len(user)),
	}
	for _, s := range specs {
		v.specs[s.Name] = s
	}
	// Refuse unknown names first, in sorted order so the error is stable.
	names := make([]string, 0, len(user))
	for n := range user {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if _, ok := v.specs[n]; !ok {
			known := make([]string, 0, len(specs))
			for _, s := range specs {
				known = append(known, s.Name)
			}
			return Values{}, fmt.Errorf("unknown hyperparameter %q (known: %s)", n, strings.Join(known, ", "))
		}
	}
	preset := ""
	if ps, ok := v.specs["preset"]; ok {
		raw, given := user["preset"]
		if !given {
			raw = ps.Default
		}
		pv, err := parseValue(ps, raw)
		if err != nil {
			return Values{}, err
		}
		preset = pv.s
	}
	var pd map[string]string
	if presetDefaults != nil {
		pd = presetDefaults(preset)
	}
	for _, s := range specs {
		raw, given := user[s.Name]
		if given {
			v.given[s.Name] = true
		} else if d, ok := pd[s.Name]; ok {
			raw = d
		} else {
			raw = s.Default
		}
		x, err := parseValue(s, raw)
		if err != nil {
			return Values{}, err
		}
		v.vals[s.Name] = x
	}
	return v, nil
}

// ParseValues checks hp against specs and fills in the defaults, as Init
// does (without presets). It lets a Rule be configured on its own, e.g.
// in its tests: rule.Configure(blocks.ParseValues(rule.Hyperparams(), hp)).
func ParseValues(specs []optimizer.HyperparamSpec, hp map[string]string) (Values, error) {
	if err := checkSpecs(specs); err != nil {
		return Values{}, err
	}
	return resolve(specs, hp, nil)
}
