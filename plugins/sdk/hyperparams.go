package sdk

import "github.com/lrsgd-lab/lrsgd/plugins/optimizer"

// ValidRange formats the valid values of s as the plugin server's
// refusals show them; it forwards to optimizer.ValidRange, which owns the
// hyperparameter contract.
func ValidRange(s optimizer.HyperparamSpec) string { return optimizer.ValidRange(s) }
