# Sourced by .ci/run: starts Debian's PostgreSQL 15 on localhost (as root), creates the
# test role and database, and exports LRSGD_TEST_POSTGRES_DSN for the shared-store tests.
if ! pg_lsclusters --no-header | awk '$1 == 15 && $2 == "main"' | grep -q .; then
  pg_createcluster 15 main --port 5432
fi
pg_ctlcluster 15 main start || true   # exits 2 when already running
for i in $(seq 1 30); do pg_isready -q -h localhost -p 5432 && break; sleep 1; done
pg_isready -h localhost -p 5432
(cd /tmp && su postgres -c "psql -p 5432 -v ON_ERROR_STOP=1 -q") <<'SQL'
SELECT 'CREATE ROLE lrsgd LOGIN PASSWORD ''lrsgd-ci-secret''' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'lrsgd')\gexec
SELECT 'CREATE DATABASE lrsgd OWNER lrsgd' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'lrsgd')\gexec
SQL
LRSGD_TEST_POSTGRES_DSN='postgres://lrsgd:lrsgd-ci-secret@localhost:5432/lrsgd?sslmode=disable'
