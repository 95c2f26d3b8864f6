package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/lrsgd-lab/lrsgd/plugins/loader"
	"github.com/lrsgd-lab/lrsgd/plugins/optimizer"
	"github.com/lrsgd-lab/lrsgd/search/study"
)

// studiesCommand is `tune studies`.
func studiesCommand(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "studies",
		Short: "List the shipped studies",
		RunE:  func(*cobra.Command, []string) error { return listStudies(stdout) },
	}
}

// pluginsCommand is `tune plugins`.
func pluginsCommand(stdout io.Writer) *cobra.Command {
	var pdir, pman string
	var timeout time.Duration
	plugins := &cobra.Command{
		Use:   "plugins",
		Short: "List the optimizer plugins found, with their hyperparameters",
		RunE: func(cmd *cobra.Command, _ []string) error {
			infos, err := loader.List(cmd.Context(), loaderOptions(pdir, pman, timeout, false))
			if err != nil {
				return err
			}
			if len(infos) == 0 {
				return fmt.Errorf("no plugins in %s (build them with make, or point --plugins-dir or $%s at them)", loader.ResolveDir(pdir), loader.EnvDir)
			}
			fmt.Fprintf(stdout, "plugins in %s:\n\n", loader.ResolveDir(pdir))
			return loader.FormatList(stdout, infos)
		},
	}
	plugins.Flags().StringVar(&pdir, "plugins-dir", "", "optimizer plugin folder (default $"+loader.EnvDir+", else "+loader.DefaultDir+")")
	plugins.Flags().StringVar(&pman, "plugin-manifest", "", "sha256 manifest pinning the plugins")
	plugins.Flags().DurationVar(&timeout, "rpc-timeout", 0, rpcTimeoutUsage)
	return plugins
}

// rpcTimeoutUsage is the help of the --rpc-timeout flags.
var rpcTimeoutUsage = fmt.Sprintf("deadline of each plugin call (0 = %v; a plugin's start and Init get %d×)", loader.DefaultRPCTimeout, loader.InitTimeoutFactor)

// rpcTimeout holds tune's --rpc-timeout flag.
var rpcTimeout time.Duration

// printResolved writes the study as it would run and its grid.
func printResolved(w io.Writer, s *study.Study) error {
	c := *s
	c.Budgets = nil
	b, err := yaml.Marshal(&c)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "# study %s from %s, budget %s, overrides %q\n%s", s.Name, s.Source, orNone(s.Budget), s.Sets, b)
	pts, err := s.GridPoints()
	if err != nil {
		return err
	}
	total, _ := s.Runs()
	fmt.Fprintf(w, "# %d trials in all; %d grid points run first:\n", total, len(pts))
	for i, p := range pts {
		fmt.Fprintf(w, "#   %d: %s\n", i, s.FormatPoint(p))
	}
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// checkStudy checks the study against the plugins it names, and no
// other: each is opened once (loader.Open, which also refuses a plugin
// whose Describe is invalid), Study.Check compares the study with their
// descriptions, and checkCombinations has each plugin judge the
// hyperparameter combinations the study fixes. The plugins are closed
// before it returns.
func checkStudy(ctx context.Context, s *study.Study, opts loader.Options) error {
	opened := map[string]optimizer.Optimizer{}
	defer func() {
		for _, opt := range opened {
			opt.Close()
		}
	}()
	describe := func(ctx context.Context, name string) (optimizer.Description, error) {
		opt, err := loader.Open(ctx, name, opts)
		if err != nil {
			return optimizer.Description{}, openError(err)
		}
		opened[name] = opt
		return opt.Describe(ctx)
	}
	if err := s.Check(ctx, describe); err != nil {
		return err
	}
	return checkCombinations(ctx, s, opened)
}

// openError words loader.Open's error for a name without a plugin file as
// an unknown optimizer, naming the plugins there are; other refusals (not
// executable, not a plugin, failing its checksum) pass unchanged.
func openError(err error) error {
	var nf *loader.NotFoundError
	switch {
	case !errors.As(err, &nf):
		return err
	case nf.DirErr != nil:
		return fmt.Errorf("%w (build the plugins with make)", nf.DirErr)
	case len(nf.Found) == 0:
		return fmt.Errorf("unknown optimizer: no plugins in %s (build them with make, or set --plugins-dir or $%s)", nf.Dir, loader.EnvDir)
	}
	return fmt.Errorf("unknown optimizer: no plugin of that name in %s (found %s)", nf.Dir, strings.Join(nf.Found, ", "))
}

// combination is one set of hyperparameters a study runs an optimizer
// with, and the lr its trials start at.
type combination struct {
	where string // which part of the study it comes from
	hp    map[string]string
	lr    float64
}

// combinations returns the hyperparameter combinations of the study for
// the optimizer name that are known before sampling: its fixed
// hyperparameters (hyperparams: and the space's fixed entries) with the
// values of each grid point that applies to it, or alone when no grid
// point does; the lr is the point's, else the space's fixed one, else
// train.schedule.lr. Sampled parameters outside the grid are left out
// (the plugin's defaults stand for them).
func combinations(s *study.Study, name string, points []map[string]float64) ([]combination, error) {
	base := combination{where: "its fixed hyperparameters", hp: maps.Clone(s.Hyperparams[name]), lr: s.Train.Schedule.LR}
	if base.hp == nil {
		base.hp = map[string]string{}
	}
	set := func(c *combination, p study.Param, v string) error {
		switch {
		case p.Name == "lr":
			lr, err := study.ParseNumber(v)
			if err != nil {
				return fmt.Errorf("%s: lr %q: %w", c.where, v, err)
			}
			c.lr = lr
		case !study.IsTrainerParam(p.Name):
			c.hp[p.Name] = v
		}
		return nil
	}
	for _, p := range s.Space {
		if p.Type == study.TypeFixed && p.AppliesTo(name) {
			if err := set(&base, p, p.Value); err != nil {
				return nil, err
			}
		}
	}
	var out []combination
	for i, pt := range points {
		if x, ok := pt[study.OptimizerParam]; ok && s.Optimizers[int(x)] != name {
			continue
		}
		c := combination{where: fmt.Sprintf("grid point %d (%s)", i, s.FormatPoint(pt)), hp: maps.Clone(base.hp), lr: base.lr}
		for _, p := range s.Space {
			x, ok := pt[p.Name]
			if !ok || !p.AppliesTo(name) {
				continue
			}
			if err := set(&c, p, p.Format(x)); err != nil {
				return nil, err
			}
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		out = append(out, base)
	}
	return out, nil
}

// checkCombinations has every opened plugin judge each of its study's
// combinations (see combinations) with optimizer.Checker, the Check RPC:
// the rules across hyperparameters and the lr that the plugin's Init or
// first Step would refuse in every trial. For each optimizer it reports
// how many combinations were refused and the first refusal.
func checkCombinations(ctx context.Context, s *study.Study, opened map[string]optimizer.Optimizer) error {
	points, err := s.GridPoints()
	if err != nil {
		return err
	}
	var errs []error
	for _, name := range s.OptimizerNames() {
		c, ok := opened[name].(optimizer.Checker)
		if !ok {
			continue
		}
		combos, err := combinations(s, name, points)
		if err != nil {
			errs = append(errs, fmt.Errorf("optimizer %s: %w", name, err))
			continue
		}
		var first error
		refused := 0
		for _, cb := range combos {
			err := c.Check(ctx, optimizer.CheckConfig{InitConfig: optimizer.InitConfig{Hyperparams: cb.hp}, LR: cb.lr})
			if err == nil {
				continue
			}
			if ctx.Err() != nil || errors.Is(err, loader.ErrPluginStopped) {
				return fmt.Errorf("optimizer %s: check %s: %w", name, cb.where, err)
			}
			refused++
			if first == nil {
				first = fmt.Errorf("%s {%s} at lr %g: %w", cb.where, formatHyperparams(cb.hp), cb.lr, err)
			}
		}
		if first != nil {
			errs = append(errs, fmt.Errorf("optimizer %s refuses %d of the study's %d hyperparameter combinations; the first: %w", name, refused, len(combos), first))
		}
	}
	return errors.Join(errs...)
}

// formatHyperparams writes hp as "name=value" pairs in name order.
func formatHyperparams(hp map[string]string) string {
	pairs := make([]string, 0, len(hp))
	for _, k := range slices.Sorted(maps.Keys(hp)) {
		pairs = append(pairs, k+"="+hp[k])
	}
	return strings.Join(pairs, " ")
}

func listStudies(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "STUDY\tOPTIMIZERS\tSAMPLER\tTRIALS default/paper\tDESCRIPTION")
	for _, name := range study.Names() {
		s, err := study.Load(name)
		if err != nil {
			return err
		}
		var counts []string
		for _, b := range []string{study.BudgetDefault, study.BudgetPaper} {
			r, err := s.Resolve(b, nil)
			if err != nil {
				return err
			}
			n, err := r.Runs()
			if err != nil {
				return err
			}
			counts = append(counts, fmt.Sprint(n))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", name, strings.Join(s.OptimizerNames(), ","), s.Sampler, strings.Join(counts, "/"), s.Description)
	}
	return tw.Flush()
}
