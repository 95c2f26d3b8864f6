package runner

import (
	"context"
	"errors"

	"github.com/lrsgd-lab/lrsgd/host/train"
	"github.com/lrsgd-lab/lrsgd/plugins/optimizer"
	"github.com/lrsgd-lab/lrsgd/search"
)

// trainTrial is replaced by the call to train.Run when the trainer lands.
func trainTrial(ctx context.Context, spec search.TrialSpec, opt optimizer.Optimizer, hooks train.Hooks) (train.Result, string, error) {
	return train.Result{}, "", errors.New("PENDING: host/train.Run has not landed")
}
