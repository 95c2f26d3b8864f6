// Command testplugin serves the sdktest toy optimizer and misbehaves on
// request, for the loader's failure tests. The variables start with
// LRSGD_PLUGIN_ so that they reach the plugin's clean environment:
//
//	LRSGD_PLUGIN_TEST_TOUCH=path        create path at start (proves the binary ran)
//	LRSGD_PLUGIN_TEST_CRASH_AT_STEP=N   SIGKILL itself in the middle of step N
//	LRSGD_PLUGIN_TEST_HANG_AT_STEP=N    never answer step N
//	LRSGD_PLUGIN_TEST_PROTOCOL=V        speak plugin protocol version V instead
//	LRSGD_PLUGIN_TEST_BUSY_MS=N         compute for N ms (spinning) in every step
//	LRSGD_PLUGIN_TEST_DESCRIBE=K        describe itself badly: K is "duplicate" (a
//	                                    name declared twice) or "default" (a
//	                                    default outside its own range)
//	LRSGD_PLUGIN_TEST_OLD=1             behave as a plugin built before the Check
//	                                    RPC: answer it Unimplemented
//
// Its Check (optimizer.Checker) refuses nesterov=true with momentum 0, and
// an lr above 10.
package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lrsgd-lab/lrsgd/plugins/optimizer"
	pb "github.com/lrsgd-lab/lrsgd/plugins/proto"
	"github.com/lrsgd-lab/lrsgd/plugins/sdk"
	"github.com/lrsgd-lab/lrsgd/plugins/sdk/sdktest"
)

type faulty struct {
	*sdktest.Toy
	crashAt, hangAt int64
	busy            time.Duration
	describe        string
}

func (f *faulty) Describe(ctx context.Context) (optimizer.Description, error) {
	d, err := f.Toy.Describe(ctx)
	switch f.describe {
	case "duplicate":
		d.Hyperparams = append(d.Hyperparams, d.Hyperparams[0])
	case "default":
		d.Hyperparams[0].Default = "7"
	}
	return d, err
}

func (f *faulty) Check(_ context.Context, cfg optimizer.CheckConfig) error {
	if cfg.Hyperparams["nesterov"] == "true" && cfg.Hyperparams["momentum"] == "0" {
		return fmt.Errorf("toy: nesterov=true needs momentum > 0")
	}
	if cfg.LR > 10 {
		return fmt.Errorf("toy: lr=%g, want at most 10", cfg.LR)
	}
	return nil
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

// withoutCheck makes the server answer Check as a server generated before
// the RPC existed does.
func withoutCheck(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if info.FullMethod == pb.Optimizer_Check_FullMethodName {
		return nil, status.Errorf(codes.Unimplemented, "unknown method Check for service lrsgd.optimizer.v1.Optimizer")
	}
	return handler(ctx, req)
}

func main() {
	if p := os.Getenv("LRSGD_PLUGIN_TEST_TOUCH"); p != "" {
		_ = os.WriteFile(p, []byte("ran\n"), 0o644)
	}
	opt := &faulty{Toy: sdktest.New(), crashAt: envInt("LRSGD_PLUGIN_TEST_CRASH_AT_STEP"), hangAt: envInt("LRSGD_PLUGIN_TEST_HANG_AT_STEP"),
		busy:     time.Duration(max(0, envInt("LRSGD_PLUGIN_TEST_BUSY_MS"))) * time.Millisecond,
		describe: os.Getenv("LRSGD_PLUGIN_TEST_DESCRIBE")}
	cfg := sdk.ServeConfig(opt, sdk.NewLogger("testplugin"))
	if v := envInt("LRSGD_PLUGIN_TEST_PROTOCOL"); v >= 0 {
		cfg.VersionedPlugins = map[int]plugin.PluginSet{int(v): cfg.VersionedPlugins[sdk.ProtocolVersion]}
		cfg.ProtocolVersion = uint(v)
	}
	if os.Getenv("LRSGD_PLUGIN_TEST_OLD") == "1" {
		newServer := cfg.GRPCServer
		cfg.GRPCServer = func(opts []grpc.ServerOption) *grpc.Server {
			return newServer(append(opts, grpc.ChainUnaryInterceptor(withoutCheck)))
		}
	}
	plugin.Serve(cfg)
}
