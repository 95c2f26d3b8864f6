// Command lrsgd-c is the "lrsgd-c" optimizer plugin: LRSGD-C, the proximal outer loop with constant M_t.
// It serves blocks.NewLRSGDC() over the go-plugin protocol of package sdk; the
// host starts it (see package loader), it is not meant to be run by hand.
//
// Build: go build -o bin/plugins/lrsgd-c ./plugins/lrsgd-c
package main

import (
	"github.com/lrsgd-lab/lrsgd/plugins/blocks"
	"github.com/lrsgd-lab/lrsgd/plugins/sdk"
)

func main() { sdk.Serve(blocks.NewLRSGDC()) }
