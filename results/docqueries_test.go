package results_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/lrsgd-lab/lrsgd/results"
	"github.com/lrsgd-lab/lrsgd/results/resultstest"
)

// docQueries returns the SQL blocks of docs/results.md, with the example
// study name replaced by the fixture's.
func docQueries(t *testing.T) []string {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join("..", "docs", "results.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```sql\n(.*?)```").FindAllStringSubmatch(string(doc), -1)
	var out []string
	for _, b := range blocks {
		out = append(out, strings.ReplaceAll(b[1], "'gamma-sweep'", "'"+resultstest.StudyName+"'"))
	}
	if len(out) < 8 {
		t.Fatalf("docs/results.md has %d sql blocks; want the documented examples", len(out))
	}
	return out
}

// TestDocQueries runs every example query of docs/results.md against a
// store holding the fixture study: each must run and return rows, and the
// Pareto query must return the fixture's front.
func TestDocQueries(t *testing.T) {
	queries := docQueries(t)
	dsns := map[string]func(t *testing.T) string{
		"sqlite": func(t *testing.T) string { return filepath.Join(t.TempDir(), "lab.db") },
	}
	if os.Getenv(resultstest.EnvPostgres) != "" {
		dsns["postgres"] = func(t *testing.T) string { return resultstest.PostgresDSN(t) }
	}
	for name, dsnFor := range dsns {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			dsn := dsnFor(t)
			s, err := results.Open(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if _, err := resultstest.Fill(ctx, s); err != nil {
				t.Fatal(err)
			}
			for i, q := range queries {
				rows, err := s.DB().Raw(q).Rows()
				if err != nil {
					t.Errorf("query %d: %v\n%s", i, err, q)
					continue
				}
				var first []int
				n := 0
				for rows.Next() {
					n++
					var number int
					cols, _ := rows.Columns()
					dest := make([]any, len(cols))
					for j := range dest {
						dest[j] = new(any)
					}
					dest[0] = &number
					if err := rows.Scan(dest...); err == nil {
						first = append(first, number)
					}
				}
				if err := rows.Err(); err != nil {
					t.Errorf("query %d: %v", i, err)
				}
				rows.Close()
				if n == 0 {
					t.Errorf("query %d returned no rows on the fixture:\n%s", i, q)
				}
				if strings.Contains(q, "NOT EXISTS") && !slices.Equal(first, resultstest.WantFront()) {
					t.Errorf("Pareto query returned trials %v, want %v", first, resultstest.WantFront())
				}
			}
			if name != "sqlite" {
				return
			}
			cli, err := exec.LookPath("sqlite3")
			if err != nil {
				t.Log("sqlite3 not installed: queries checked through the Go driver only")
				return
			}
			for i, q := range queries {
				out, err := exec.Command(cli, "-bail", "-csv", dsn, q).CombinedOutput()
				if err != nil || len(strings.TrimSpace(string(out))) == 0 {
					t.Errorf("sqlite3 query %d: %v\n%s\n%s", i, err, out, q)
					continue
				}
				if strings.Contains(q, "NOT EXISTS") {
					var got []int
					for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
						n, _ := strconv.Atoi(strings.Split(line, ",")[0])
						got = append(got, n)
					}
					if !slices.Equal(got, resultstest.WantFront()) {
						t.Errorf("sqlite3 Pareto query: %v, want %v", got, resultstest.WantFront())
					}
				}
			}
		})
	}
}
