package blocks_test

import (
	"context"
	"fmt"
	"log"
	"slices"

	"github.com/lrsgd-lab/lrsgd/plugins/blocks"
	"github.com/lrsgd-lab/lrsgd/plugins/optimizer"
)

// growing is a third party's M_t policy: M_t = t, at most m_limit. It
// reads its own hyperparameter; M_t depends only on t, so it has no state
// to save.
type growing struct{ limit int }

func (p *growing) Hyperparams() []optimizer.HyperparamSpec {
	return []optimizer.HyperparamSpec{{Name: "m_limit", Type: optimizer.Int, Default: "3", Min: 1, Max: 1000, Doc: "largest M_t"}}
}

func (p *growing) Configure(v blocks.Values, _ blocks.InitInfo) error {
	p.limit = v.Int("m_limit")
	return nil
}

func (p *growing) M(o blocks.OuterInfo) (int, error) { return int(min(o.T, int64(p.limit))), nil }

// An M_t policy of one's own becomes a choice of m_policy, next to the
// built-in ones, without changing package blocks.
func ExampleWithMPolicy() {
	ctx := context.Background()
	opt := blocks.NewProximal(blocks.NewSGDRule(), "growing-m", "0.1.0",
		blocks.WithMPolicy("growing", func() blocks.MPolicy { return &growing{} }),
		blocks.WithDefaults(map[string]string{"m_policy": "growing"}))
	d, err := opt.Describe(ctx)
	if err != nil {
		log.Fatal(err)
	}
	i := slices.IndexFunc(d.Hyperparams, func(s optimizer.HyperparamSpec) bool { return s.Name == "m_policy" })
	fmt.Println("m_policy:", d.Hyperparams[i].Choices, "default", d.Hyperparams[i].Default)

	buf, err := opt.Init(ctx, optimizer.InitConfig{NumParams: 2, Hyperparams: map[string]string{"m_limit": "3"}})
	if err != nil {
		log.Fatal(err)
	}
	var ms []int
	for step := int64(0); len(ms) < 5; step++ {
		copy(buf.Grads, buf.Params)
		r, err := opt.Step(ctx, optimizer.StepRequest{Step: step, LR: 0.1})
		if err != nil {
			log.Fatal(err)
		}
		if r.OuterEnded {
			ms = append(ms, r.M)
		}
	}
	fmt.Println("M_t:", ms)
	// Output:
	// m_policy: [geometric constant psi growing] default growing
	// M_t: [1 2 3 3 3]
}
