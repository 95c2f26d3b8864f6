package resultstest

import (
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // "pgx" driver, to create and drop test schemas

	"github.com/lrsgd-lab/lrsgd/results"
)

// EnvPostgres names the environment variable holding a PostgreSQL DSN for
// tests; without it PostgreSQL tests are skipped. docs/results.md says how
// to start a server for it.
const EnvPostgres = "LRSGD_TEST_POSTGRES_DSN"

// PostgresDSN returns a DSN for an empty PostgreSQL store of the test's
// own: it creates a fresh schema in the database of $LRSGD_TEST_POSTGRES_DSN,
// points search_path at it, and drops it when the test ends. It skips the
// test when the variable is unset.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvPostgres)
	if base == "" {
		t.Skipf("$%s not set", EnvPostgres)
	}
	schema := fmt.Sprintf("lrsgd_test_%d_%d", os.Getpid(), rand.Uint32())
	db, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("open %s: %v", results.MaskDSN(base), err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatalf("create schema %s in %s: %s", schema, results.MaskDSN(base), results.MaskDSN(err.Error()))
	}
	t.Cleanup(func() {
		if _, err := db.Exec("DROP SCHEMA " + schema + " CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	if strings.HasPrefix(strings.ToLower(strings.TrimSpace(base)), "host=") {
		return base + " search_path=" + schema
	}
	if strings.Contains(base, "?") {
		return base + "&search_path=" + schema
	}
	return base + "?search_path=" + schema
}
