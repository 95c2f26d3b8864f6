// Command report prints what a result store holds: its studies, their
// trials with parameters and metrics, the best trials, the Pareto front of
// hitting time against generalization gap (and against measured
// ε-stability when the stability probe ran) and the front's sweet spot; with
// --plot it also draws the paper-style figures as PNG files.
//
//	report --storage lrsgd.db --study gamma-sweep --format markdown --plot fig.png
//
// Every number comes from the store's tables (see docs/results.md).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/lrsgd-lab/lrsgd/cmd/internal/cli"
	"github.com/lrsgd-lab/lrsgd/results"
	"github.com/lrsgd-lab/lrsgd/results/figures"
	"github.com/lrsgd-lab/lrsgd/results/report"
)

func main() { cli.Main(newRoot) }

// options are the command's flags.
type options struct {
	storage string
	study   string
	format  string
	plot    string
	param   string
	trials  []int
}

// newRoot is the command: it writes the report to stdout; messages about
// written figures go to stderr so that stdout stays one document.
func newRoot(stdout, stderr io.Writer) *cobra.Command {
	var o options
	cmd := &cobra.Command{
		Use:   "report",
		Short: "Report the studies, trials, Pareto front and sweet spot held in a result store",
		Long: `report reads a result store (SQLite file or PostgreSQL database) and prints its
studies, their trials with parameters and metrics, the best trials, the Pareto front of
hitting time (hitting_time_grads, never = +Inf) against generalization gap — and against
epsilon_mean when the stability probe ran — and the sweet spot:
` + report.SweetSpotRule + `.

--plot FILE.png writes one PNG per figure: FILE-gap.png, FILE-hitting.png (against --param),
FILE-front.png, FILE-curves.png (learning curves of --trials), FILE-history.png and, when the
stability probe ran, FILE-divergence.png.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd.Context(), stdout, stderr)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.storage, "storage", "", "store DSN: a SQLite path, sqlite://path, file:..., postgres://... or host=... (default $"+results.EnvStorage+", else "+results.DefaultSQLiteFile+")")
	f.StringVar(&o.study, "study", "", "report only this study (default: every study)")
	f.StringVar(&o.format, "format", "table", "output format: "+strings.Join(report.Formats(), ", "))
	f.StringVar(&o.plot, "plot", "", "write figures as PNG files named after FILE.png (FILE-gap.png, ...)")
	f.StringVar(&o.param, "param", "", "swept parameter for the gap and hitting-time figures (default: the study's first)")
	f.IntSliceVar(&o.trials, "trials", nil, "trial numbers whose learning curves and divergence are drawn, e.g. 1,2,3 (default: sweet spot, best accuracy, best)")
	cmd.SetOut(stdout)
	return cmd
}

func (o *options) run(ctx context.Context, stdout, stderr io.Writer) error {
	if !slices.Contains(report.Formats(), o.format) {
		return cli.Bad("--format %q: want one of %s", o.format, strings.Join(report.Formats(), ", "))
	}
	if o.plot == "" && (o.param != "" || len(o.trials) > 0) {
		return cli.Bad("--param and --trials choose what --plot draws: give --plot FILE.png too")
	}
	if o.plot != "" && !strings.EqualFold(fileExt(o.plot), ".png") {
		return cli.Bad("--plot %q: want a file name ending in .png", o.plot)
	}
	s, err := results.OpenExisting(ctx, o.storage)
	if errors.Is(err, fs.ErrNotExist) {
		return cli.BadInput{Err: err}
	}
	if err != nil {
		return err
	}
	defer s.Close()
	rep, err := report.Build(ctx, s, report.Options{Study: o.study})
	if errors.Is(err, results.ErrNoStudy) {
		return cli.BadInput{Err: err}
	}
	if err != nil {
		return err
	}
	if o.plot != "" {
		if len(rep.Studies) != 1 {
			names := make([]string, len(rep.Studies))
			for i, st := range rep.Studies {
				names[i] = st.Name
			}
			return cli.Bad("--plot draws one study: name it with --study (the store holds %d: %s)", len(names), strings.Join(names, ", "))
		}
		files, err := figures.Write(ctx, s, &rep.Studies[0], o.plot, figures.Options{Param: o.param, Trials: o.trials})
		if errors.Is(err, figures.ErrNotInStudy) {
			return cli.BadInput{Err: err}
		}
		if err != nil {
			return err
		}
		for _, f := range files {
			fmt.Fprintln(stderr, "wrote", f)
		}
	}
	return report.Write(stdout, rep, o.format)
}

func fileExt(name string) string {
	i := strings.LastIndexByte(name, '.')
	if i < 0 || strings.ContainsRune(name[i:], '/') {
		return ""
	}
	return name[i:]
}
