// Package sdk is what an optimizer plugin and its host share: the go-plugin
// handshake, the plugin map, and the gRPC adapters between
// optimizer.Optimizer and the Optimizer service of package proto.
//
// A plugin author writes one main package and never touches go-plugin:
//
//	func main() { sdk.Serve(myOptimizer()) }
//
// The host side lives in package loader, which launches the plugin with the
// shared-memory file as its descriptor ShmFD and speaks to it through
// Client.
package sdk

import (
	"context"
	"math"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/lrsgd-lab/lrsgd/plugins/optimizer"
	pb "github.com/lrsgd-lab/lrsgd/plugins/proto"
)

const (
	// ProtocolVersion is the version of the plugin protocol this package
	// speaks. A later, incompatible protocol gets the next number and a
	// second entry in VersionedPlugins, so that hosts and plugins of either
	// generation negotiate the newest version both know.
	ProtocolVersion = 1

	// PluginName is the key of the optimizer in the plugin map.
	PluginName = "optimizer"

	// MagicCookieKey and MagicCookieValue are the go-plugin handshake
	// cookie: a plugin binary started without it refuses to run, and the
	// loader refuses to start a file that does not contain the value.
	MagicCookieKey   = "LRSGD_OPTIMIZER_PLUGIN"
	MagicCookieValue = "lrsgd-optimizer-plugin-9f3c2a7e5b1d4c08"

	// ShmFD is the descriptor number under which a plugin process finds the
	// host's shared-memory file: the first of exec.Cmd.ExtraFiles.
	ShmFD = 3

	// maxMsgSize raises gRPC's 4 MiB default message limit on the server,
	// so that large Save/Restore blobs are not refused.
	maxMsgSize = math.MaxInt32
)

// Handshake returns the go-plugin handshake shared by hosts and plugins.
func Handshake() plugin.HandshakeConfig {
	return plugin.HandshakeConfig{
		ProtocolVersion:  ProtocolVersion,
		MagicCookieKey:   MagicCookieKey,
		MagicCookieValue: MagicCookieValue,
	}
}

// VersionedPlugins returns the plugin sets by protocol version. impl is the
// optimizer to serve; hosts pass nil. logger receives the server's own log
// lines (nil: none).
func VersionedPlugins(impl optimizer.Optimizer, logger hclog.Logger) map[int]plugin.PluginSet {
	return map[int]plugin.PluginSet{
		ProtocolVersion: {PluginName: &GRPCPlugin{Impl: impl, Logger: logger}},
	}
}

// GRPCPlugin is the go-plugin plugin.GRPCPlugin for optimizers.
type GRPCPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	// Impl is the optimizer served (plugin side only).
	Impl optimizer.Optimizer
	// Logger receives the server's log lines (plugin side only; may be nil).
	Logger hclog.Logger
}

// GRPCServer registers the optimizer service (plugin side).
func (p *GRPCPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	pb.RegisterOptimizerServer(s, newServer(p.Impl, p.Logger, openInheritedFD))
	return nil
}

// GRPCClient returns a *Client (host side).
func (p *GRPCPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return &Client{rpc: pb.NewOptimizerClient(c)}, nil
}

// NewLogger returns the logger a plugin should use: JSON lines on stderr,
// which the host's go-plugin client parses and forwards through its own
// hclog logger at the same level.
func NewLogger(name string) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{
		Name:       name,
		Level:      hclog.Trace,
		Output:     os.Stderr,
		JSONFormat: true,
	})
}

// ServeConfig returns the go-plugin configuration Serve uses. It is
// exported for tests and for plugins that need to adjust it.
func ServeConfig(opt optimizer.Optimizer, logger hclog.Logger) *plugin.ServeConfig {
	return &plugin.ServeConfig{
		HandshakeConfig:  Handshake(),
		VersionedPlugins: VersionedPlugins(opt, logger),
		Logger:           logger,
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			opts = append(opts, grpc.MaxRecvMsgSize(maxMsgSize), grpc.MaxSendMsgSize(maxMsgSize))
			return grpc.NewServer(opts...)
		},
	}
}

// Serve serves opt as an optimizer plugin over gRPC until the host closes
// it. It is what a plugin's main function calls; it does not return on
// its own. Started by hand (without the host's handshake cookie) the binary
// prints that it is a plugin and exits with status 1.
//
// If opt implements Binder, it runs directly on the shared memory; if not,
// each Step copies the vectors in and out of opt's own buffers.
//
// A plugin whose host dies without closing it (kill -9, a crash) exits
// within about a second instead of lingering with the shared memory mapped.
//
// The plugin ignores SIGINT (go-plugin does) and SIGTERM: a signal sent to
// the whole process group — Ctrl-C, a scheduler's scancel or time limit —
// is the host's to handle: it checkpoints the run, then stops its plugins.
// A plugin dying first would turn an interruption into a failed step.
func Serve(opt optimizer.Optimizer) {
	logger := NewLogger("optimizer")
	ignoreTerm(logger)
	go exitWithParent(logger, os.Getppid(), time.Second)
	plugin.Serve(ServeConfig(opt, logger))
}

// ignoreTerm receives SIGTERM and drops it.
func ignoreTerm(logger hclog.Logger) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGTERM)
	go func() {
		for range ch {
			logger.Debug("SIGTERM ignored: the host stops its plugins")
		}
	}()
}

// exitWithParent ends the process once its parent changes, i.e. once the
// host that started it has died and the process was re-parented.
func exitWithParent(logger hclog.Logger, ppid int, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for range t.C {
		if os.Getppid() != ppid {
			logger.Warn("host process is gone; exiting", "host_pid", ppid)
			os.Exit(3)
		}
	}
}

func openInheritedFD(fd int) *os.File { return os.NewFile(uintptr(fd), "memfd (inherited)") }
