// Command lrsgd-r is the "lrsgd-r" optimizer plugin: LRSGD-R, the proximal outer loop with geometric M_t.
// It serves blocks.NewLRSGDR() over the go-plugin protocol of package sdk; the
// host starts it (see package loader), it is not meant to be run by hand.
//
// Build: go build -o bin/plugins/lrsgd-r ./plugins/lrsgd-r
package main

import (
	"github.com/lrsgd-lab/lrsgd/plugins/blocks"
	"github.com/lrsgd-lab/lrsgd/plugins/sdk"
)

func main() { sdk.Serve(blocks.NewLRSGDR()) }
