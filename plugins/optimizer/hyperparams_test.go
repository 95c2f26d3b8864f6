package optimizer_test

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/lrsgd-lab/lrsgd/plugins/optimizer"
)

var (
	floatSpec = optimizer.HyperparamSpec{Name: "gamma", Type: optimizer.Float, Default: "0.1", Min: 1e-6, Max: 1}
	infSpec   = optimizer.HyperparamSpec{Name: "lambda", Type: optimizer.Float, Default: "1", Min: 0, Max: math.Inf(1)}
	intSpec   = optimizer.HyperparamSpec{Name: "m", Type: optimizer.Int, Default: "10", Min: 1, Max: 1e6}
	boolSpec  = optimizer.HyperparamSpec{Name: "nesterov", Type: optimizer.Bool, Default: "false"}
	enumSpec  = optimizer.HyperparamSpec{Name: "m_policy", Type: optimizer.Enum, Default: "geometric", Choices: []string{"geometric", "constant"}}
)

func TestParseValue(t *testing.T) {
	tests := []struct {
		spec   optimizer.HyperparamSpec
		raw    string
		want   optimizer.Value
		reason string // the ValueError's Reason; "" when accepted
	}{
		{floatSpec, "0.5", optimizer.Value{Type: optimizer.Float, Float: 0.5}, ""},
		{floatSpec, " 0.5\t", optimizer.Value{Type: optimizer.Float, Float: 0.5}, ""}, // white space is trimmed
		{floatSpec, "1", optimizer.Value{Type: optimizer.Float, Float: 1}, ""},        // bounds are inclusive
		{floatSpec, "1e-6", optimizer.Value{Type: optimizer.Float, Float: 1e-6}, ""},
		{floatSpec, "0x1p-2", optimizer.Value{Type: optimizer.Float, Float: 0.25}, ""}, // as strconv.ParseFloat
		{floatSpec, "1/2", optimizer.Value{}, "not a number"},
		{floatSpec, "NaN", optimizer.Value{}, "not a number"},
		{floatSpec, "", optimizer.Value{}, "not a number"},
		{floatSpec, "1e400", optimizer.Value{}, "not a number"}, // overflows float64
		{floatSpec, "0", optimizer.Value{}, "out of range"},
		{floatSpec, "1.0000001", optimizer.Value{}, "out of range"},
		{infSpec, "+Inf", optimizer.Value{Type: optimizer.Float, Float: math.Inf(1)}, ""},
		{infSpec, "-Inf", optimizer.Value{}, "out of range"},
		{intSpec, "7", optimizer.Value{Type: optimizer.Int, Int: 7}, ""},
		{intSpec, "+7 ", optimizer.Value{Type: optimizer.Int, Int: 7}, ""},
		{intSpec, "1000000", optimizer.Value{Type: optimizer.Int, Int: 1000000}, ""},
		{intSpec, "1e3", optimizer.Value{}, "not an integer"}, // no exponent
		{intSpec, "2.0", optimizer.Value{}, "not an integer"}, // no fraction
		{intSpec, "1_000", optimizer.Value{}, "not an integer"},
		{intSpec, "0x10", optimizer.Value{}, "not an integer"}, // base 10 only
		{intSpec, "99999999999999999999", optimizer.Value{}, "not an integer"},
		{intSpec, "0", optimizer.Value{}, "out of range"},
		{intSpec, "1000001", optimizer.Value{}, "out of range"},
		{boolSpec, "true", optimizer.Value{Type: optimizer.Bool, Bool: true}, ""},
		{boolSpec, " 0", optimizer.Value{Type: optimizer.Bool}, ""},
		{boolSpec, "yes", optimizer.Value{}, "not a boolean"},
		{enumSpec, "constant ", optimizer.Value{Type: optimizer.Enum, Enum: "constant"}, ""},
		{enumSpec, "Constant", optimizer.Value{}, "not one of the choices"}, // case matters
		{enumSpec, "", optimizer.Value{}, "not one of the choices"},
	}
	for _, tt := range tests {
		got, err := optimizer.ParseValue(tt.spec, tt.raw)
		if tt.reason == "" {
			if err != nil || got != tt.want {
				t.Errorf("ParseValue(%s, %q) = %+v, %v; want %+v", tt.spec.Name, tt.raw, got, err, tt.want)
			}
			continue
		}
		var ve *optimizer.ValueError
		if !errors.As(err, &ve) || ve.Reason != tt.reason || ve.Value != tt.raw || ve.Spec.Name != tt.spec.Name {
			t.Errorf("ParseValue(%s, %q) = %+v, %v; want a ValueError %q", tt.spec.Name, tt.raw, got, err, tt.reason)
		}
	}
	if _, err := optimizer.ParseValue(optimizer.HyperparamSpec{Name: "x", Type: "complex"}, "1"); err == nil ||
		!strings.Contains(err.Error(), `hyperparameter x: unknown type "complex"`) {
		t.Errorf("ParseValue with an unknown type: %v", err)
	}
}

func TestValueErrorAndValidRange(t *testing.T) {
	tests := []struct {
		spec  optimizer.HyperparamSpec
		raw   string
		valid string // ValidRange
		err   string // ParseValue's error
	}{
		{floatSpec, "2", "[1e-06, 1]", `hyperparameter gamma="2": out of range; valid: float [1e-06, 1]`},
		{infSpec, "x", "[0, +Inf]", `hyperparameter lambda="x": not a number; valid: float [0, +Inf]`},
		{intSpec, " 2.5", "[1, 1e+06]", `hyperparameter m=" 2.5": not an integer; valid: int [1, 1e+06]`},
		{boolSpec, "yes", "true|false", `hyperparameter nesterov="yes": not a boolean; valid: bool true|false`},
		{enumSpec, "psi", "geometric|constant", `hyperparameter m_policy="psi": not one of the choices; valid: enum geometric|constant`},
	}
	for _, tt := range tests {
		if got := optimizer.ValidRange(tt.spec); got != tt.valid {
			t.Errorf("ValidRange(%s) = %q, want %q", tt.spec.Name, got, tt.valid)
		}
		if _, err := optimizer.ParseValue(tt.spec, tt.raw); err == nil || err.Error() != tt.err {
			t.Errorf("ParseValue(%s, %q) error %v, want %q", tt.spec.Name, tt.raw, err, tt.err)
		}
	}
}

func TestCheckHyperparams(t *testing.T) {
	d := optimizer.Description{Name: "x", Hyperparams: []optimizer.HyperparamSpec{floatSpec, intSpec, boolSpec}}
	tests := []struct {
		hp   map[string]string
		want string // the error; "" for none
	}{
		{nil, ""},
		{map[string]string{"gamma": "0.5", "m": "3", "nesterov": "1"}, ""},
		{map[string]string{"gama": "0.5"}, `x: unknown hyperparameter "gama"; valid names: gamma, m, nesterov`},
		{map[string]string{"m": "0"}, `x: hyperparameter m="0": out of range; valid: int [1, 1e+06]`},
		// The first bad name in sorted order is reported.
		{map[string]string{"zeta": "1", "gamma": "7"}, `x: hyperparameter gamma="7": out of range; valid: float [1e-06, 1]`},
		{map[string]string{"nesterov": "maybe", "a": "1"}, `x: unknown hyperparameter "a"; valid names: gamma, m, nesterov`},
	}
	for _, tt := range tests {
		err := optimizer.CheckHyperparams(d, tt.hp)
		if (err == nil) != (tt.want == "") || err != nil && err.Error() != tt.want {
			t.Errorf("CheckHyperparams(%v) = %v, want %q", tt.hp, err, tt.want)
		}
	}
}

func TestCheckSpecs(t *testing.T) {
	tests := []struct {
		specs []optimizer.HyperparamSpec
		want  string // substring of the error; "" for none
	}{
		{[]optimizer.HyperparamSpec{floatSpec, intSpec, boolSpec, enumSpec}, ""},
		{[]optimizer.HyperparamSpec{{Type: optimizer.Bool, Default: "true"}}, "hyperparameter with empty name"},
		{[]optimizer.HyperparamSpec{floatSpec, floatSpec}, `hyperparameter "gamma" declared twice`},
		{[]optimizer.HyperparamSpec{{Name: "a", Type: optimizer.Float, Default: "1", Min: math.NaN(), Max: 2}}, `hyperparameter "a": bounds [NaN, 2], want numbers`},
		{[]optimizer.HyperparamSpec{{Name: "a", Type: optimizer.Int, Default: "3", Min: 0, Max: 2}}, `default of a: hyperparameter a="3": want an integer in [0, 2]`},
		{[]optimizer.HyperparamSpec{{Name: "a", Type: optimizer.Enum, Default: "c", Choices: []string{"b"}}}, `default of a: hyperparameter a="c": want one of b`},
	}
	for _, tt := range tests {
		err := optimizer.CheckSpecs(tt.specs)
		if (err == nil) != (tt.want == "") || err != nil && !strings.Contains(err.Error(), tt.want) {
			t.Errorf("CheckSpecs(%+v) = %v, want %q", tt.specs, err, tt.want)
		}
	}
}

func TestCheckDescription(t *testing.T) {
	tests := []struct {
		d    optimizer.Description
		want string // the error; "" for none
	}{
		{optimizer.Description{Name: "x", StateVectors: 2, Hyperparams: []optimizer.HyperparamSpec{floatSpec, enumSpec}}, ""},
		{optimizer.Description{Name: "x"}, ""},
		{optimizer.Description{Name: "x", StateVectors: -1}, "-1 state vectors, want at least 0"},
		{optimizer.Description{Name: "x", Hyperparams: []optimizer.HyperparamSpec{floatSpec, floatSpec}}, `hyperparameter "gamma" declared twice`},
		{optimizer.Description{Name: "x", Hyperparams: []optimizer.HyperparamSpec{{Name: "a", Type: optimizer.Float, Default: "5", Min: 0, Max: 1}}},
			`default of a: hyperparameter a="5": want a number in [0, 1]`},
		{optimizer.Description{Name: "x", Hyperparams: []optimizer.HyperparamSpec{{Name: "a", Type: "complex", Default: "1"}}},
			`default of a: hyperparameter a: unknown type "complex" in the optimizer's description`},
	}
	for _, tt := range tests {
		err := optimizer.CheckDescription(tt.d)
		if (err == nil) != (tt.want == "") || err != nil && err.Error() != tt.want {
			t.Errorf("CheckDescription(%+v) = %v, want %q", tt.d, err, tt.want)
		}
	}
}

func TestResolveValues(t *testing.T) {
	specs := []optimizer.HyperparamSpec{floatSpec, intSpec, boolSpec, enumSpec}
	v, err := optimizer.ResolveValues(specs, map[string]string{"m": " 3", "nesterov": "true"}, map[string]string{"m": "5", "gamma": "0.5"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name             string
		got, want        any
		given, defaulted bool
	}{
		{"gamma", v.Float("gamma"), 0.5, false, false},             // from defaults
		{"m", v.Int("m"), 3, true, false},                          // given wins over defaults
		{"nesterov", v.Bool("nesterov"), true, true, false},        // given
		{"m_policy", v.Enum("m_policy"), "geometric", false, true}, // the spec's Default
	}
	for _, tt := range tests {
		if tt.got != tt.want || v.Given(tt.name) != tt.given || v.Defaulted(tt.name) != tt.defaulted {
			t.Errorf("%s = %v, given %t, defaulted %t; want %v, %t, %t", tt.name, tt.got, v.Given(tt.name), v.Defaulted(tt.name), tt.want, tt.given, tt.defaulted)
		}
	}
	if v.Given("nosuch") || v.Defaulted("nosuch") {
		t.Error("an undeclared name is reported given or defaulted")
	}
	if got := strings.Join(v.Names(), ","); got != "gamma,m,m_policy,nesterov" {
		t.Errorf("Names() = %s", got)
	}
	if x, ok := v.Lookup("m"); !ok || x != (optimizer.Value{Type: optimizer.Int, Int: 3}) {
		t.Errorf("Lookup(m) = %+v, %t", x, ok)
	}
	if _, ok := v.Lookup("nosuch"); ok {
		t.Error("Lookup(nosuch) found a value")
	}
}

func TestParseValuesErrors(t *testing.T) {
	specs := []optimizer.HyperparamSpec{floatSpec, intSpec, boolSpec, enumSpec}
	tests := []struct {
		hp, defaults map[string]string
		want         string
	}{
		{map[string]string{"gamma": "2"}, nil, `hyperparameter gamma="2": want a number in [1e-06, 1]`},
		{map[string]string{"m": "0"}, nil, `hyperparameter m="0": want an integer in [1, 1e+06]`},
		{map[string]string{"nesterov": "maybe"}, nil, `hyperparameter nesterov="maybe": want true or false`},
		{map[string]string{"m_policy": "psi"}, nil, `hyperparameter m_policy="psi": want one of geometric, constant`},
		// Unknown names first, whatever else is wrong.
		{map[string]string{"gamma": "2", "zz": "1"}, nil, `unknown hyperparameter "zz"; valid names: gamma, m, nesterov, m_policy`},
		// Defaults are checked as given values are.
		{nil, map[string]string{"m": "0"}, `hyperparameter m="0": want an integer in [1, 1e+06]`},
		{nil, map[string]string{"zz": "0"}, `default for undeclared hyperparameter "zz"`},
	}
	for _, tt := range tests {
		_, err := optimizer.ResolveValues(specs, tt.hp, tt.defaults)
		if err == nil || err.Error() != tt.want {
			t.Errorf("ResolveValues(%v, %v) error %v, want %q", tt.hp, tt.defaults, err, tt.want)
		}
	}
	_, err := optimizer.ParseValues(specs, map[string]string{"gamma": "7"})
	var ve *optimizer.ValueError
	if !errors.As(err, &ve) || ve.Reason != "out of range" || ve.Value != "7" {
		t.Errorf("ParseValues(gamma=7): %v does not wrap its ValueError", err)
	}
	if _, err := optimizer.ParseValues([]optimizer.HyperparamSpec{floatSpec, floatSpec}, nil); err == nil || !strings.Contains(err.Error(), "declared twice") {
		t.Errorf("ParseValues with a spec declared twice: %v", err)
	}
}

func TestValuesGettersPanicOnProgrammingErrors(t *testing.T) {
	v, err := optimizer.ParseValues([]optimizer.HyperparamSpec{floatSpec, intSpec}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		read func()
		want string
	}{
		{"undeclared", func() { v.Float("nosuch") }, `hyperparameter "nosuch" was not declared`},
		{"wrong type", func() { v.Int("gamma") }, `hyperparameter "gamma" is float, read as int`},
	}
	for _, tt := range tests {
		func() {
			defer func() {
				if r := recover(); r == nil || !strings.Contains(r.(string), tt.want) {
					t.Errorf("%s: panic %v, want %q", tt.name, r, tt.want)
				}
			}()
			tt.read()
		}()
	}
}
