package results

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // "pgx" driver, to create and drop test schemas
)

// EnvTestPostgres names the environment variable holding a PostgreSQL DSN
// for the store's tests; without it the PostgreSQL cases are skipped.
const EnvTestPostgres = "LRSGD_TEST_POSTGRES_DSN"

type backend struct {
	name string
	dsn  func(t *testing.T) string // a fresh, empty store
}

// dsnB is dsn for benchmarks.
func (b backend) dsnB(tb testing.TB) string {
	if b.name == "sqlite" {
		return filepath.Join(tb.TempDir(), "lab.db")
	}
	return freshPostgres(tb)
}

// backends returns SQLite and, when $LRSGD_TEST_POSTGRES_DSN is set,
// PostgreSQL.
func backends() []backend {
	b := []backend{{"sqlite", func(t *testing.T) string { return filepath.Join(t.TempDir(), "lab.db") }}}
	if os.Getenv(EnvTestPostgres) != "" {
		b = append(b, backend{"postgres", func(t *testing.T) string { return freshPostgres(t) }})
	}
	return b
}

// freshPostgres creates a schema of its own in the test database, returns
// a DSN whose search_path points at it, and drops it when the test ends, so
// tests never see each other's tables.
func freshPostgres(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvTestPostgres)
	if base == "" {
		t.Skipf("$%s not set", EnvTestPostgres)
	}
	schema := fmt.Sprintf("lrsgd_test_%d_%d", os.Getpid(), rand.Uint32())
	db, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("open %s: %v", MaskDSN(base), err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatalf("create schema %s: %v", schema, maskError(err, passwords(base)))
	}
	t.Cleanup(func() {
		if _, err := db.Exec("DROP SCHEMA " + schema + " CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return withParam(base, "search_path", schema)
}

// withParam adds key=value to a PostgreSQL DSN in URL or key=value form.
func withParam(dsn, key, value string) string {
	if KindOf(dsn) == KindPostgres && strings.HasPrefix(strings.ToLower(dsn), "host=") {
		return dsn + " " + key + "=" + value
	}
	if strings.Contains(dsn, "?") {
		return dsn + "&" + key + "=" + value
	}
	return dsn + "?" + key + "=" + value
}

func openT(t *testing.T, dsn string) *Store {
	t.Helper()
	s, err := Open(context.Background(), dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// newTrials creates a study with n RUNNING trials through goptuna's
// storage and returns their IDs.
func newTrials(t *testing.T, s *Store, study string, n int) (studyID int, trialIDs []int) {
	t.Helper()
	st := s.Storage()
	studyID, err := st.CreateNewStudy(study)
	if err != nil {
		t.Fatalf("CreateNewStudy: %v", err)
	}
	for range n {
		id, err := st.CreateNewTrial(studyID)
		if err != nil {
			t.Fatalf("CreateNewTrial: %v", err)
		}
		trialIDs = append(trialIDs, id)
	}
	return studyID, trialIDs
}

func count(t *testing.T, s *Store, query string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := s.DB().Raw(query, args...).Scan(&n).Error; err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func ptr(v float64) *float64 { return &v }

func waitTimeout(t *testing.T) time.Duration {
	if d, ok := t.Deadline(); ok {
		return time.Until(d)
	}
	return 5 * time.Minute
}
