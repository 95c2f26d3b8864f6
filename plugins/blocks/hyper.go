package blocks

import (
	"fmt"
	"math"
	"strings"

	"github.com/lrsgd-lab/lrsgd/plugins/optimizer"
)

// Values is optimizer.Values: the hyperparameters after they have been
// parsed and checked against their HyperparamSpecs. A Rule reads its own
// in Configure, a policy its own and the outer loop's.
type Values = optimizer.Values

// ParseValues checks hp against specs and fills in the defaults, as Init
// does (without presets); it forwards to optimizer.ParseValues. It lets a
// Rule be configured on its own, e.g. in its tests:
// rule.Configure(blocks.ParseValues(rule.Hyperparams(), hp)).
func ParseValues(specs []optimizer.HyperparamSpec, hp map[string]string) (Values, error) {
	return optimizer.ParseValues(specs, hp)
}

// canonical returns "name=value;" pairs sorted by name, with every value
// formatted exactly; its hash fingerprints a configuration in Save blobs.
func canonical(v Values) string {
	var sb strings.Builder
	for _, n := range v.Names() {
		x, _ := v.Lookup(n)
		switch x.Type {
		case optimizer.Float:
			fmt.Fprintf(&sb, "%s=%x;", n, math.Float64bits(x.Float))
		case optimizer.Int:
			fmt.Fprintf(&sb, "%s=%d;", n, x.Int)
		case optimizer.Bool:
			fmt.Fprintf(&sb, "%s=%t;", n, x.Bool)
		default:
			fmt.Fprintf(&sb, "%s=%s;", n, x.Enum)
		}
	}
	return sb.String()
}
