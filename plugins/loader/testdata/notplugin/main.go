// Command notplugin is an ordinary program, not an optimizer plugin: the
// loader must refuse it without running it.
package main

import (
	"fmt"
	"os"
)

func main() {
	if p := os.Getenv("LRSGD_PLUGIN_TEST_TOUCH"); p != "" {
		_ = os.WriteFile(p, []byte("ran\n"), 0o644)
	}
	fmt.Println("hello")
}
