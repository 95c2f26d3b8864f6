// Command testplugin serves the sdktest toy optimizer and misbehaves on
// request, for the loader's failure tests:
//
//	LRSGD_TEST_TOUCH=path        create path at start (proves the binary ran)
//	LRSGD_TEST_CRASH_AT_STEP=N   SIGKILL itself in the middle of step N
//	LRSGD_TEST_HANG_AT_STEP=N    never answer step N
//	LRSGD_TEST_PROTOCOL=V        speak plugin protocol version V instead
//	LRSGD_TEST_BUSY_MS=N         compute for N ms (spinning) in every step
package main

import (
	"context"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/hashicorp/go-plugin"

	"github.com/lrsgd-lab/lrsgd/plugins/optimizer"
	"github.com/lrsgd-lab/lrsgd/plugins/sdk"
	"github.com/lrsgd-lab/lrsgd/plugins/sdk/sdktest"
)

type faulty struct {
	*sdktest.Toy
	crashAt, hangAt int64
	busy            time.Duration
}

func (f *faulty) Step(ctx context.Context, req optimizer.StepRequest) (optimizer.StepResult, error) {
	if req.Step == f.hangAt {
		select {}
	}
	if req.Step == f.crashAt {
		_, _ = f.Toy.Step(ctx, req) // update the shared memory, then die before answering
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {}
	}
	for t0 := time.Now(); time.Since(t0) < f.busy; {
	}
	return f.Toy.Step(ctx, req)
}

func envInt(name string) int64 {
	v, err := strconv.ParseInt(os.Getenv(name), 10, 64)
	if err != nil {
		return -1
	}
	return v
}

func main() {
	if p := os.Getenv("LRSGD_TEST_TOUCH"); p != "" {
		_ = os.WriteFile(p, []byte("ran\n"), 0o644)
	}
	opt := &faulty{Toy: sdktest.New(), crashAt: envInt("LRSGD_TEST_CRASH_AT_STEP"), hangAt: envInt("LRSGD_TEST_HANG_AT_STEP"),
		busy: time.Duration(max(0, envInt("LRSGD_TEST_BUSY_MS"))) * time.Millisecond}
	cfg := sdk.ServeConfig(opt, sdk.NewLogger("testplugin"))
	if v := envInt("LRSGD_TEST_PROTOCOL"); v >= 0 {
		cfg.VersionedPlugins = map[int]plugin.PluginSet{int(v): cfg.VersionedPlugins[sdk.ProtocolVersion]}
		cfg.ProtocolVersion = uint(v)
	}
	plugin.Serve(cfg)
}
