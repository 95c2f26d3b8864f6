// Command sgd is the "sgd" optimizer plugin: SGD with momentum and coupled weight decay (λ = 0, M_t = 1).
// It serves blocks.NewSGD() over the go-plugin protocol of package sdk; the
// host starts it (see package loader), it is not meant to be run by hand.
//
// Build: go build -o bin/plugins/sgd ./plugins/sgd
package main

import (
	"github.com/lrsgd-lab/lrsgd/plugins/blocks"
	"github.com/lrsgd-lab/lrsgd/plugins/sdk"
)

func main() { sdk.Serve(blocks.NewSGD()) }
