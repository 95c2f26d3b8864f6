// Command adam-lr is the "adam-lr" optimizer plugin: Adam as the inner solver of LRSGD's proximal loop.
// It serves blocks.NewAdamLR() over the go-plugin protocol of package sdk; the
// host starts it (see package loader), it is not meant to be run by hand.
//
// Build: go build -o bin/plugins/adam-lr ./plugins/adam-lr
package main

import (
	"github.com/lrsgd-lab/lrsgd/plugins/blocks"
	"github.com/lrsgd-lab/lrsgd/plugins/sdk"
)

func main() { sdk.Serve(blocks.NewAdamLR()) }
