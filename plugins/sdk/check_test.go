package sdk

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/lrsgd-lab/lrsgd/plugins/optimizer"
	pb "github.com/lrsgd-lab/lrsgd/plugins/proto"
	"github.com/lrsgd-lab/lrsgd/plugins/sdk/sdktest"
)

// checkingToy is the toy optimizer with a Check that refuses Nesterov
// momentum with momentum 0 and records what it was asked.
type checkingToy struct {
	*sdktest.Toy
	got []optimizer.CheckConfig
}

func (c *checkingToy) Check(_ context.Context, cfg optimizer.CheckConfig) error {
	c.got = append(c.got, cfg)
	if cfg.Hyperparams["nesterov"] == "true" && cfg.Hyperparams["momentum"] == "0" {
		return errors.New("toy: nesterov=true needs momentum > 0")
	}
	return nil
}

// checkClient serves impl in-process under the service description desc;
// Check needs no shared memory.
func checkClient(t *testing.T, desc *grpc.ServiceDesc, impl optimizer.Optimizer) *Client {
	t.Helper()
	return NewClient(serveInProcess(t, desc, newServer(impl, nil, func(int) *os.File { return nil })))
}

func TestCheckRPC(t *testing.T) {
	tests := []struct {
		name    string
		checker bool // the optimizer implements optimizer.Checker
		hp      map[string]string
		code    codes.Code
		want    string // substring of the status message
		asked   bool   // the optimizer's Check was called
	}{
		{"accepted", true, map[string]string{"momentum": "0.5", "nesterov": "true"}, codes.OK, "", true},
		{"refused by the optimizer", true, map[string]string{"momentum": "0", "nesterov": "true"}, codes.InvalidArgument, "toy: nesterov=true needs momentum > 0", true},
		{"unknown name, refused before the optimizer", true, map[string]string{"gama": "1"}, codes.InvalidArgument, `toy: unknown hyperparameter "gama"`, false},
		{"out of range, refused before the optimizer", true, map[string]string{"momentum": "2"}, codes.InvalidArgument, `toy: hyperparameter momentum="2": out of range; valid: float [0, 1]`, false},
		{"no Checker: names and ranges only", false, map[string]string{"momentum": "0", "nesterov": "true"}, codes.OK, "", false},
		{"no Checker: out of range", false, map[string]string{"gamma": "0"}, codes.InvalidArgument, `hyperparameter gamma="0": out of range`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			toy := &checkingToy{Toy: sdktest.New()}
			var impl optimizer.Optimizer = toy.Toy
			if tt.checker {
				impl = toy
			}
			c := checkClient(t, &pb.Optimizer_ServiceDesc, impl)
			cfg := optimizer.CheckConfig{InitConfig: optimizer.InitConfig{Hyperparams: tt.hp, NumParams: 1234, Seed: 99}, LR: 0.25}
			err := c.Check(context.Background(), cfg)
			if code(err) != tt.code || (tt.want != "" && !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("Check: %v (code %v), want code %v and %q", err, code(err), tt.code, tt.want)
			}
			if asked := len(toy.got) > 0; asked != tt.asked {
				t.Fatalf("the optimizer's Check was called: %v, want %v", asked, tt.asked)
			}
			if tt.asked {
				got := toy.got[0]
				if got.NumParams != 1234 || got.Seed != 99 || got.LR != 0.25 || len(got.Hyperparams) != len(tt.hp) {
					t.Errorf("the optimizer was asked %+v, want %+v", got, cfg)
				}
			}
		})
	}
}

// TestCheckOldPlugin: a server generated before the Check RPC existed
// answers Unimplemented, which hosts take for "judge on the description".
func TestCheckOldPlugin(t *testing.T) {
	old := pb.Optimizer_ServiceDesc
	old.Methods = slices.DeleteFunc(slices.Clone(old.Methods), func(m grpc.MethodDesc) bool { return m.MethodName == "Check" })
	c := checkClient(t, &old, &checkingToy{Toy: sdktest.New()})
	err := c.Check(context.Background(), optimizer.CheckConfig{LR: 0.1})
	if code(err) != codes.Unimplemented {
		t.Fatalf("Check on an old server: %v (code %v), want Unimplemented", err, code(err))
	}
	if _, err := c.Describe(context.Background()); err != nil {
		t.Fatalf("Describe on the old server: %v", err)
	}
}
