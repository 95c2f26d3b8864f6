package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

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
	plugins := &cobra.Command{
		Use:   "plugins",
		Short: "List the optimizer plugins found, with their hyperparameters",
		RunE: func(cmd *cobra.Command, _ []string) error {
			infos, err := loader.List(cmd.Context(), loaderOptions(pdir, pman, false))
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
	return plugins
}

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
	total, _ := s.TotalTrials()
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

// describer answers from one listing of the plugin folder.
func describer(infos []loader.Info, dir string) study.Describer {
	return func(_ context.Context, name string) (optimizer.Description, error) {
		var names []string
		for _, in := range infos {
			if in.Name == name {
				if in.Err != nil {
					return optimizer.Description{}, fmt.Errorf("plugin %s refused: %w", in.Path, in.Err)
				}
				return in.Desc, nil
			}
			if in.Err == nil {
				names = append(names, in.Name)
			}
		}
		slices.Sort(names)
		if len(names) == 0 {
			return optimizer.Description{}, fmt.Errorf("unknown optimizer: no plugins in %s (build them with make, or set --plugins-dir or $%s)", dir, loader.EnvDir)
		}
		return optimizer.Description{}, fmt.Errorf("unknown optimizer: no plugin of that name in %s (found %s)", dir, strings.Join(names, ", "))
	}
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
			n, err := r.TotalTrials()
			if err != nil {
				return err
			}
			counts = append(counts, fmt.Sprint(n))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", name, strings.Join(s.OptimizerNames(), ","), s.Sampler, strings.Join(counts, "/"), s.Description)
	}
	return tw.Flush()
}
