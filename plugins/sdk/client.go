package sdk

import (
	"context"
	"time"

	"github.com/lrsgd-lab/lrsgd/plugins/optimizer"
	pb "github.com/lrsgd-lab/lrsgd/plugins/proto"
	"github.com/lrsgd-lab/lrsgd/plugins/shm"
)

// Client is the host side of the Optimizer service: one method per RPC.
// It moves control only; the caller owns the shared memory (see package
// loader, which builds an optimizer.Optimizer from a Client and a memfd).
// Errors are the gRPC status errors of the call: codes.InvalidArgument
// for refused configurations, codes.FailedPrecondition for calls out of
// order, codes.Internal for a panic in the optimizer, codes.Unavailable
// when the plugin process is gone and codes.DeadlineExceeded when ctx
// expired.
type Client struct {
	rpc pb.OptimizerClient
}

// NewClient returns a Client over a raw gRPC client; go-plugin hosts get
// one from GRPCPlugin.GRPCClient.
func NewClient(c pb.OptimizerClient) *Client { return &Client{rpc: c} }

// Describe asks the plugin for its description.
func (c *Client) Describe(ctx context.Context) (optimizer.Description, error) {
	r, err := c.rpc.Describe(ctx, &pb.DescribeRequest{})
	if err != nil {
		return optimizer.Description{}, err
	}
	return descriptionFromProto(r.GetDescription()), nil
}

// Init tells the plugin the configuration and where the vectors lie in the
// shared-memory file, which the plugin finds as descriptor fd and whose
// header must carry nonce. stepFD, if not 0, is the plugin's descriptor of
// the step channel (see StepConn); Init reports whether the plugin serves
// it (plugins built before the step channel existed do not).
func (c *Client) Init(ctx context.Context, cfg optimizer.InitConfig, l shm.Layout, fd, stepFD int, nonce uint64) (stepChannel bool, err error) {
	r, err := c.rpc.Init(ctx, &pb.InitRequest{
		Hyperparams: cfg.Hyperparams,
		NumParams:   uint64(cfg.NumParams),
		Seed:        cfg.Seed,
		Layout: &pb.Layout{
			Fd:           int32(fd),
			Size:         uint64(l.Size),
			NumParams:    uint64(l.NumParams),
			StateVectors: uint32(l.StateVectors),
			ParamsOffset: uint64(l.ParamsOffset),
			GradsOffset:  uint64(l.GradsOffset),
			StateOffset:  uint64(l.StateOffset),
			Nonce:        nonce,
			StepFd:       int32(stepFD),
		},
	})
	return r.GetStepChannel(), err
}

// Check asks the plugin to judge cfg without starting a run (see
// optimizer.Checker). A refusal is codes.InvalidArgument; a plugin built
// before the Check RPC existed answers codes.Unimplemented.
func (c *Client) Check(ctx context.Context, cfg optimizer.CheckConfig) error {
	_, err := c.rpc.Check(ctx, &pb.CheckRequest{
		Hyperparams: cfg.Hyperparams,
		NumParams:   uint64(max(cfg.NumParams, 0)),
		Seed:        cfg.Seed,
		Lr:          cfg.LR,
	})
	return err
}

// Step asks for one inner step over the shared buffers.
func (c *Client) Step(ctx context.Context, req optimizer.StepRequest) (optimizer.StepResult, error) {
	r, _, err := c.StepTimed(ctx, req)
	return r, err
}

// StepTimed is Step that also returns the time the plugin spent inside
// the optimizer's Step; the rest of the call's wall time is transport.
func (c *Client) StepTimed(ctx context.Context, req optimizer.StepRequest) (optimizer.StepResult, time.Duration, error) {
	r, err := c.rpc.Step(ctx, &pb.StepRequest{Step: req.Step, Lr: req.LR})
	if err != nil {
		return optimizer.StepResult{}, 0, err
	}
	res := optimizer.StepResult{OuterEnded: r.GetOuterEnded(), Inner: int(r.GetInner()), Outer: r.GetOuter(), M: int(r.GetM())}
	return res, time.Duration(r.GetComputeNanos()), nil
}

// Save returns the plugin's non-vector state.
func (c *Client) Save(ctx context.Context) ([]byte, error) {
	r, err := c.rpc.Save(ctx, &pb.SaveRequest{})
	if err != nil {
		return nil, err
	}
	return r.GetState(), nil
}

// Restore loads a Save blob into the plugin.
func (c *Client) Restore(ctx context.Context, blob []byte) error {
	_, err := c.rpc.Restore(ctx, &pb.RestoreRequest{State: blob})
	return err
}

// Close asks the plugin to unmap the shared memory and close its optimizer.
func (c *Client) Close(ctx context.Context) error {
	_, err := c.rpc.Close(ctx, &pb.CloseRequest{})
	return err
}

func descriptionToProto(d optimizer.Description) *pb.Description {
	p := &pb.Description{Name: d.Name, Version: d.Version, Doc: d.Doc, StateVectors: int32(d.StateVectors)}
	for _, h := range d.Hyperparams {
		p.Hyperparams = append(p.Hyperparams, &pb.HyperparamSpec{
			Name: h.Name, Type: string(h.Type), DefaultValue: h.Default,
			Min: h.Min, Max: h.Max, Choices: h.Choices, Doc: h.Doc,
		})
	}
	return p
}

func descriptionFromProto(p *pb.Description) optimizer.Description {
	d := optimizer.Description{Name: p.GetName(), Version: p.GetVersion(), Doc: p.GetDoc(), StateVectors: int(p.GetStateVectors())}
	for _, h := range p.GetHyperparams() {
		d.Hyperparams = append(d.Hyperparams, optimizer.HyperparamSpec{
			Name: h.GetName(), Type: optimizer.ParamType(h.GetType()), Default: h.GetDefaultValue(),
			Min: h.GetMin(), Max: h.GetMax(), Choices: h.GetChoices(), Doc: h.GetDoc(),
		})
	}
	return d
}
