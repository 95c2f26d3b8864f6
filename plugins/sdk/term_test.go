package sdk_test

import (
	"context"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lrsgd-lab/lrsgd/plugins/loader"
	"github.com/lrsgd-lab/lrsgd/plugins/loader/loadertest"
	"github.com/lrsgd-lab/lrsgd/plugins/optimizer"
)

// TestPluginIgnoresSIGTERM sends SIGTERM to a served plugin (a scheduler
// signalling the whole process group): the plugin keeps serving, so that
// its host can checkpoint the run before it stops the plugin.
func TestPluginIgnoresSIGTERM(t *testing.T) {
	dir := loadertest.BuildPlugin(t, "github.com/lrsgd-lab/lrsgd/plugins/sgd", "sgd")
	opt, _ := loadertest.Start(t, "sgd", loader.Options{Dir: dir}, optimizer.InitConfig{NumParams: 8, Seed: 1})
	out, err := exec.Command("pgrep", "-f", dir+"/sgd").Output()
	if err != nil {
		t.Fatalf("pgrep: %v", err)
	}
	for _, f := range strings.Fields(string(out)) {
		pid, _ := strconv.Atoi(f)
		if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(300 * time.Millisecond)
	if _, err := opt.Step(context.Background(), optimizer.StepRequest{Step: 0, LR: 0.1}); err != nil {
		t.Fatalf("Step after SIGTERM: %v", err)
	}
}
