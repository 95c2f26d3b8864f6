// Command report prints what a result store holds: its studies, their
// trials with parameters and metrics, the best trials, the Pareto front of
// hitting time against generalization gap (and against measured
// ε-stability when the stability probe ran) and the front's sweet spot;
// the configurations over seeds with intervals, compared at a matched train
// loss, their front and its sweet spot with a bootstrap probability; a
// compare study's optimizers against its baseline; with --plot it also
// draws the paper-style figures as PNG files.
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
	"github.com/lrsgd-lab/lrsgd/results/pareto"
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
	// target, minProbability and resamples set the matched comparison
	// (see report.Options).
	target         string
	minProbability float64
	baseline       string
	resamples      int
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

Runs are also compared at matched fit: the COMPLETE trials are grouped into configurations
by config_key (a study's seeds), each metric gets its mean, std and 95% t interval over seeds,
and speed and stability are read from each run's curve where its train loss first reaches the
target (--target, else the study's target attribute, else auto). The front of configurations
(grads_at_target against gap_at_target, and against epsilon_at_target under the probe) and a
bootstrap over seeds name the sweet spot with its probability, or say there is no clear one:
` + report.ConfigSweetSpotRule + `. A compare study (kind: compare) gets a table of its
optimizers' final runs against the baseline (` + report.WelchRule + `); a study with a
baseline (--baseline, or baseline: in its YAML, as table1) gets the same over all its runs.

--plot FILE.png writes one PNG per figure: FILE-gap.png, FILE-hitting.png (against --param),
FILE-front.png, FILE-curves.png (learning curves of --trials), FILE-history.png and, when the
stability probe ran, FILE-divergence.png; and the paper-style figures of configurations:
FILE-fig2.png (losses, hitting time and gap against --param over seeds), FILE-knee.png (the
front of configurations with knee probabilities), FILE-fig3.png (test accuracy per batch size,
when the study sweeps batch_size), FILE-compare.png (the comparison's bars) and
FILE-stability.png (ε and ‖w − v‖ per optimizer, when the probe ran).`,
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
	f.StringVar(&o.target, "target", "", "train loss at which runs are compared: a number, or auto (default: the study's target attribute, else auto)")
	f.StringVar(&o.baseline, "baseline", "", "optimizer whose runs the others are compared with, by Welch's interval (default: the study's baseline attribute)")
	f.Float64Var(&o.minProbability, "min-probability", report.DefaultMinProbability, "least share of bootstrap resamples in which a configuration must be the knee to be named the sweet spot, in (0, 1]")
	f.IntVar(&o.resamples, "resamples", pareto.DefaultResamples, "bootstrap resamples over seeds (fewer distinct ones are enumerated exactly)")
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
	if o.target != "" {
		if _, err := report.ParseTarget(o.target); err != nil {
			return cli.Bad("--target: %v", err)
		}
	}
	if !(o.minProbability > 0 && o.minProbability <= 1) {
		return cli.Bad("--min-probability %v: want a share in (0, 1]", o.minProbability)
	}
	if o.resamples < 1 {
		return cli.Bad("--resamples %d: want at least 1", o.resamples)
	}
	s, err := results.OpenExisting(ctx, o.storage)
	if isBadStore(err) {
		return cli.BadInput{Err: err}
	}
	if err != nil {
		return err
	}
	defer s.Close()
	rep, err := report.Build(ctx, s, report.Options{Study: o.study, Target: o.target,
		MinProbability: o.minProbability, Resamples: o.resamples, Baseline: o.baseline})
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
				names[i] = results.Printable(st.Name)
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

// isBadStore reports whether err says that --storage names no store: a
// missing file, a file that is not a SQLite database, an in-memory
// database, another engine's URL. (A corrupt store is not the user's typo:
// it exits 1.)
func isBadStore(err error) bool {
	for _, e := range []error{fs.ErrNotExist, results.ErrNotDatabase, results.ErrInMemory, results.ErrUnsupported} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func fileExt(name string) string {
	i := strings.LastIndexByte(name, '.')
	if i < 0 || strings.ContainsRune(name[i:], '/') {
		return ""
	}
	return name[i:]
}
