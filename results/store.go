// Package results is the result store of the LRSGD lab: goptuna's rdb.v2
// tables (studies, trials, parameters, intermediate values, attributes) and
// this package's own tables beside them — per-trial learning curves, run
// metadata, final metrics and worker heartbeats — in one SQLite file or one
// PostgreSQL database.
//
// Open migrates every table once, serialised across processes, so that any
// number of workers in any number of processes can then share the store.
// docs/results.md documents the schema for users who query it with sqlite3
// or psql directly.
package results

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/c-bata/goptuna"
	rdbv2 "github.com/c-bata/goptuna/rdb.v2"
	"golang.org/x/sys/unix"

	"github.com/lrsgd-lab/lrsgd/internal/owner"
	"gorm.io/driver/postgres"
	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/logger"
)

// migrateLockKey is the PostgreSQL advisory lock key that serialises
// migrations across processes (an arbitrary constant: "lrsgd" in ASCII).
const migrateLockKey = 0x6c72736764

// Store is an open result store. Its methods are safe for concurrent use by
// many goroutines; many processes may open the same store.
type Store struct {
	db      *gorm.DB
	storage *rdbv2.Storage
	kind    Kind
	masked  string
	secrets []string
	file    string // the SQLite file, "" for PostgreSQL
}

// Open opens the store named by dsn, creating and migrating its tables if
// needed.
//
// dsn "" means $LRSGD_STORAGE when set, else the SQLite file lrsgd.db in the
// working folder. "postgres://...", "postgresql://..." and libpq key=value
// strings starting with "host=" open PostgreSQL (connect_timeout=10 is added
// unless given); anything else — "sqlite://path", "file:path?...", a plain
// path — opens SQLite with _journal_mode=WAL, _txlock=immediate and
// _busy_timeout=30000 added unless the DSN sets them.
//
// Open migrates goptuna's tables and this package's own tables inside one
// transaction that holds the database's write lock (SQLite: BEGIN
// IMMEDIATE; PostgreSQL: pg_advisory_xact_lock), so concurrent Opens from
// several processes do not race. Call it once per process, before workers
// start, and share the Store. Errors never contain the DSN's password.
func Open(ctx context.Context, dsn string) (*Store, error) {
	return open(ctx, dsn, false)
}

// OpenExisting is Open for readers such as reports: a SQLite file must
// already exist (a mistyped path is an error, not a new empty store), and
// must pass SQLite's PRAGMA quick_check (a corrupt file is an error
// matching ErrCorrupt, not a store that looks empty or half full).
func OpenExisting(ctx context.Context, dsn string) (*Store, error) {
	return open(ctx, dsn, true)
}

// ErrNotDatabase is matched (errors.Is) by the error of Open and
// OpenExisting for an existing file that is not a SQLite database.
var ErrNotDatabase = errors.New("not a SQLite database")

// ErrCorrupt is matched (errors.Is) by the error of OpenExisting for a
// SQLite store that fails PRAGMA quick_check.
var ErrCorrupt = errors.New("the SQLite file is corrupt")

// ErrInMemory is matched (errors.Is) by the error of Open, OpenExisting
// and CheckDSN for an in-memory SQLite database (":memory:",
// "file::memory:", "mode=memory"): its results would vanish when the
// process exits.
var ErrInMemory = errors.New("an in-memory SQLite database vanishes when the process exits")

// ErrUnsupported is matched (errors.Is) by the error of Open, OpenExisting
// and CheckDSN for a URL of an engine the lab does not speak (mysql://...).
var ErrUnsupported = errors.New("unsupported store")

func open(ctx context.Context, dsn string, mustExist bool) (*Store, error) {
	dsn = ResolveDSN(dsn)
	s := &Store{kind: KindOf(dsn), masked: MaskDSN(dsn), secrets: passwords(dsn)}
	cfg := &gorm.Config{
		Logger:               logger.Discard,
		DisableAutomaticPing: true,
	}
	var dial gorm.Dialector
	switch s.kind {
	case KindPostgres:
		dial = postgres.New(postgres.Config{DSN: postgresDSN(dsn)})
	default:
		driverDSN, path, err := sqliteDSN(dsn)
		if err == nil && inMemory(driverDSN) {
			err = errInMemory()
		}
		if err == nil {
			err = checkSQLiteName(path)
		}
		if err == nil && mustExist {
			if _, err = os.Stat(path); err != nil {
				err = fmt.Errorf("SQLite file %s: %w", path, err)
			}
		}
		if err == nil {
			err = checkSQLitePath(path)
		}
		if err != nil {
			return nil, fmt.Errorf("open store %q: %w", s.masked, s.mask(err))
		}
		dial = sqlite.Open(driverDSN)
		s.file = path
	}
	db, err := gorm.Open(dial, cfg)
	if err != nil {
		return nil, fmt.Errorf("open store %q: %w", s.masked, s.mask(corruption(err)))
	}
	s.db = db
	sqlDB, err := db.DB()
	if err != nil {
		return nil, fmt.Errorf("open store %q: %w", s.masked, s.mask(err))
	}
	if err := sqlDB.PingContext(ctx); err != nil {
		sqlDB.Close()
		return nil, fmt.Errorf("open store %q: connect: %w", s.masked, s.mask(corruption(err)))
	}
	if mustExist && s.kind == KindSQLite {
		if err := quickCheck(ctx, db); err != nil {
			sqlDB.Close()
			return nil, fmt.Errorf("open store %q: %w", s.masked, s.mask(err))
		}
	}
	if err := s.migrate(ctx); err != nil {
		sqlDB.Close()
		return nil, fmt.Errorf("open store %q: migrate: %w", s.masked, s.mask(corruption(err)))
	}
	s.storage = rdbv2.NewStorage(db)
	return s, nil
}

// checkSQLitePath rejects a SQLite path that cannot hold a store, with a
// message that names what is wrong (the driver's own is "unable to open
// database file", or "file is not a database" at the first query): an
// in-memory database, which vanishes at exit; a URL of an engine the lab
// does not speak (mysql://...); an existing file that is not a SQLite
// database; a folder that does not exist; and, for a file that would be
// created, a folder this process cannot write in.
func checkSQLitePath(path string) error {
	if err := checkSQLiteName(path); err != nil {
		return err
	}
	st, err := os.Stat(path)
	switch {
	case err == nil:
		return checkSQLiteFile(path, st)
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("SQLite file %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	if st, err = os.Stat(dir); err != nil {
		return fmt.Errorf("folder %s of SQLite file %s: %w", dir, path, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("%s (folder of SQLite file %s) is not a folder", dir, path)
	}
	if err := unix.Access(dir, unix.W_OK|unix.X_OK); err != nil {
		return fmt.Errorf("folder %s is not writable (%w): the SQLite file %s cannot be created there", dir, err, path)
	}
	return nil
}

// checkSQLiteName rejects SQLite paths that name no file: an in-memory
// database and a URL of another engine.
func checkSQLiteName(path string) error {
	if strings.HasPrefix(path, ":memory:") {
		return errInMemory()
	}
	if scheme, _, ok := strings.Cut(path, "://"); ok && !strings.ContainsAny(scheme, `/\`) {
		return fmt.Errorf("%s: %w %q: want a SQLite file (lab.db, sqlite://lab.db, file:lab.db) or PostgreSQL (postgres://..., postgresql://..., host=...)", path, ErrUnsupported, scheme+"://")
	}
	return nil
}

// errInMemory is the error for an in-memory SQLite DSN.
func errInMemory() error {
	return fmt.Errorf("%w: give a file (e.g. %s) or a PostgreSQL DSN", ErrInMemory, DefaultSQLiteFile)
}

// inMemory reports whether a SQLite driver DSN names an in-memory
// database: ":memory:", "file::memory:", or the URI parameter mode=memory.
func inMemory(driverDSN string) bool {
	base, query, _ := strings.Cut(driverDSN, "?")
	if strings.HasPrefix(strings.TrimPrefix(base, "file:"), ":memory:") {
		return true
	}
	params, err := url.ParseQuery(query)
	return err == nil && params.Get("mode") == "memory"
}

// sqliteHeader is how every SQLite 3 database file begins.
const sqliteHeader = "SQLite format 3\x00"

// checkSQLiteFile checks the existing file at path, of FileInfo st: a
// regular file that is empty (a new database) or starts with the SQLite
// header.
func checkSQLiteFile(path string, st fs.FileInfo) error {
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s: %w: it is not a regular file", path, ErrNotDatabase)
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("SQLite file %s: %w", path, err)
	}
	defer f.Close()
	head := make([]byte, len(sqliteHeader))
	n, err := io.ReadFull(f, head)
	switch {
	case n == 0 && errors.Is(err, io.EOF):
		return nil // an empty file is an empty database
	case err != nil && !errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("SQLite file %s: %w", path, err)
	case string(head[:n]) != sqliteHeader:
		return fmt.Errorf("%s: %w: it does not start with the SQLite header %q; give the file that train or tune wrote", path, ErrNotDatabase, strings.TrimSuffix(sqliteHeader, "\x00"))
	}
	return nil
}

// corruption returns err marked as matching ErrCorrupt when it is SQLite's
// SQLITE_CORRUPT or SQLITE_NOTADB (which a file with a valid header but
// broken pages also gives), and err itself otherwise.
func corruption(err error) error {
	if err == nil || errors.Is(err, ErrCorrupt) {
		return err
	}
	// The messages of mattn/go-sqlite3, which has no exported code to test.
	if msg := err.Error(); strings.Contains(msg, "database disk image is malformed") || strings.Contains(msg, "file is not a database") {
		return fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return err
}

// quickCheck runs PRAGMA quick_check, SQLite's check of every page's
// structure (O(N) in the file's size, without the index-content
// comparisons of integrity_check), and returns an error matching ErrCorrupt
// with SQLite's first findings when the store fails it.
func quickCheck(ctx context.Context, db *gorm.DB) error {
	var rows []string
	if err := db.WithContext(ctx).Raw("PRAGMA quick_check").Scan(&rows).Error; err != nil {
		return fmt.Errorf("PRAGMA quick_check: %w", corruption(err))
	}
	if len(rows) == 1 && rows[0] == "ok" {
		return nil
	}
	var found []string
	for _, r := range rows {
		for _, l := range strings.Split(r, "\n") {
			if l != "" && !strings.HasPrefix(l, "*** in database") {
				found = append(found, l)
			}
		}
	}
	const most = 5
	if len(found) > most {
		found = append(found[:most], fmt.Sprintf("and %d more", len(found)-most))
	}
	return fmt.Errorf("%w: PRAGMA quick_check found: %s; restore the store from a copy, or recover what is readable with sqlite3's .recover", ErrCorrupt, strings.Join(found, "; "))
}

// migrate creates or updates every table in one transaction that holds the
// database's write lock for its whole length.
func (s *Store) migrate(ctx context.Context) error {
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if s.kind == KindPostgres {
			if err := tx.Exec("SELECT pg_advisory_xact_lock(?)", int64(migrateLockKey)).Error; err != nil {
				return fmt.Errorf("advisory lock: %w", err)
			}
		}
		if err := rdbv2.RunAutoMigrate(tx); err != nil {
			return fmt.Errorf("goptuna tables: %w", err)
		}
		var old []schemaRow
		if tx.Migrator().HasTable(&schemaRow{}) {
			if err := tx.Where("key = ?", "schema_version").Find(&old).Error; err != nil {
				return fmt.Errorf("read schema version: %w", err)
			}
		}
		if err := tx.AutoMigrate(ownModels()...); err != nil {
			return fmt.Errorf("results tables: %w", err)
		}
		if len(old) == 1 && old[0].Value == "1" {
			if err := migrateV1(tx); err != nil {
				return fmt.Errorf("schema 1 → 2: %w", err)
			}
		}
		return tx.Save(&schemaRow{Key: "schema_version", Value: SchemaVersion}).Error
	})
}

// mask scrubs the store's passwords from err.
func (s *Store) mask(err error) error { return maskError(err, s.secrets) }

// wrap adds context to a database error and scrubs passwords from it.
func (s *Store) wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", op, s.mask(err))
}

// Storage returns goptuna's rdb.v2 storage on the store's database.
func (s *Store) Storage() goptuna.Storage { return s.storage }

// DB returns the store's gorm handle.
func (s *Store) DB() *gorm.DB { return s.db }

// File is the store's SQLite file, "" for a PostgreSQL store.
func (s *Store) File() string { return s.file }

// Kind tells which engine holds the store.
func (s *Store) Kind() Kind { return s.kind }

// String returns the store's DSN with its password masked.
func (s *Store) String() string { return s.masked }

// Close closes the store's connections.
func (s *Store) Close() error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return s.wrap("close store", err)
	}
	return s.wrap("close store", sqlDB.Close())
}

// CurvePoint is one evaluation of a trial, a row of trial_curves. The
// stability fields are nil when the trial ran without the stability probe.
// A NaN loss or accuracy is stored as NULL in SQLite and read back as NaN.
type CurvePoint struct {
	TrialID         int     // goptuna's trial ID (trials.trial_id)
	Epoch           float64 // epochs completed
	OuterSteps      int64   // outer steps completed
	GradEvals       int64   // minibatch gradient evaluations so far
	LR              float64 // learning rate in force
	TrainLoss       float64
	TrainAcc        float64
	TestLoss        float64
	TestAcc         float64
	Wall            float64  // seconds since the run started
	ParamDivergence *float64 // ‖w − v‖ between the twin runs
	EpsilonMean     *float64 // mean over the test set of |f(w;x) − f(v;x)|
	EpsilonMax      *float64 // max over the test set of |f(w;x) − f(v;x)|
}

// AddCurvePoints appends evaluations to the trials' curves, all in one
// transaction. Every point must name an existing trial.
func (s *Store) AddCurvePoints(ctx context.Context, pts ...CurvePoint) error {
	if len(pts) == 0 {
		return nil
	}
	rows := make([]curveRow, len(pts))
	ids := make([]int, 0, 1)
	for i, p := range pts {
		rows[i] = curveRow{
			TrialID: p.TrialID, Epoch: p.Epoch, OuterSteps: p.OuterSteps, GradEvals: p.GradEvals,
			LR: p.LR, TrainLoss: nullable(p.TrainLoss), TrainAcc: nullable(p.TrainAcc),
			TestLoss: nullable(p.TestLoss), TestAcc: nullable(p.TestAcc), Wall: p.Wall,
			ParamDivergence: p.ParamDivergence, EpsilonMean: p.EpsilonMean, EpsilonMax: p.EpsilonMax,
		}
		ids = append(ids, p.TrialID)
	}
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := checkTrials(tx, ids); err != nil {
			return err
		}
		return tx.CreateInBatches(rows, 200).Error
	})
	return s.wrap("add curve points", err)
}

// nullable returns a pointer to v; NaN becomes nil (NULL) so that SQLite and
// PostgreSQL store the same thing.
func nullable(v float64) *float64 {
	if v != v {
		return nil
	}
	return &v
}

// ErrNoTrial reports a trial ID that names no trial in the store.
var ErrNoTrial = errors.New("no such trial")

// checkTrials verifies that every ID names a trial.
func checkTrials(tx *gorm.DB, ids []int) error {
	uniq := make(map[int]bool, len(ids))
	list := make([]int, 0, len(ids))
	for _, id := range ids {
		if !uniq[id] {
			uniq[id] = true
			list = append(list, id)
		}
	}
	var found []int
	if err := tx.Table("trials").Where("trial_id IN ?", list).Pluck("trial_id", &found).Error; err != nil {
		return err
	}
	if len(found) == len(list) {
		return nil
	}
	have := make(map[int]bool, len(found))
	for _, id := range found {
		have[id] = true
	}
	for _, id := range list {
		if !have[id] {
			return fmt.Errorf("trial_id %d: %w", id, ErrNoTrial)
		}
	}
	return nil
}

// RunMeta describes how a trial was run: what ran, on what data, where.
// Seed is stored as a signed 64-bit integer (bit for bit: seeds ≥ 2⁶³ read
// negative in SQL but round-trip exactly through this package).
type RunMeta struct {
	TrialID       int
	Plugin        string // optimizer plugin name
	PluginVersion string
	PluginSHA256  string // checksum of the plugin executable
	Dataset       string
	DatasetSHA256 string
	Model         string
	Seed          uint64
	Commit        string // git commit of the lab
	Machine       string // host name, CPU
	GoVersion     string
	BLAS          string
	Extra         map[string]string // anything else, one row per key in trial_run_meta_extra
}

// PutRunMeta records (or replaces) a trial's run metadata. Password-like
// values (DSNs with passwords, password=...) are masked before they are
// stored.
func (s *Store) PutRunMeta(ctx context.Context, m RunMeta) error {
	clean := func(v string) string {
		v = MaskDSN(v)
		for _, p := range s.secrets {
			v = strings.ReplaceAll(v, p, Mask)
		}
		return v
	}
	row := runMetaRow{
		TrialID: m.TrialID, Plugin: clean(m.Plugin), PluginVersion: clean(m.PluginVersion),
		PluginSHA256: clean(m.PluginSHA256), Dataset: clean(m.Dataset), DatasetSHA256: clean(m.DatasetSHA256),
		Model: clean(m.Model), Seed: int64(m.Seed), Commit: clean(m.Commit), Machine: clean(m.Machine),
		GoVersion: clean(m.GoVersion), BLAS: clean(m.BLAS), RecordedAt: time.Now().UTC(),
	}
	extras := make([]runMetaExtraRow, 0, len(m.Extra))
	for k, v := range m.Extra {
		if k == "" {
			return fmt.Errorf("put run meta of trial %d: empty key in Extra", m.TrialID)
		}
		extras = append(extras, runMetaExtraRow{TrialID: m.TrialID, Key: k, Value: clean(v)})
	}
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := checkTrials(tx, []int{m.TrialID}); err != nil {
			return err
		}
		if err := tx.Where("trial_id = ?", m.TrialID).Delete(&runMetaRow{}).Error; err != nil {
			return err
		}
		if err := tx.Where("trial_id = ?", m.TrialID).Delete(&runMetaExtraRow{}).Error; err != nil {
			return err
		}
		if err := tx.Create(&row).Error; err != nil {
			return err
		}
		if len(extras) > 0 {
			return tx.Create(&extras).Error
		}
		return nil
	})
	return s.wrap(fmt.Sprintf("put run meta of trial %d", m.TrialID), err)
}

// PutHyperparams records the hyperparameters given to a trial's optimizer
// plugin (name → value as the plugin received it), replacing earlier values
// of the same names. trial_hyperparams is the one place they are kept.
func (s *Store) PutHyperparams(ctx context.Context, trialID int, hp map[string]string) error {
	return putNamed(s, ctx, "hyperparameters", trialID, hp, func(name, v string) hyperparamRow {
		return hyperparamRow{TrialID: trialID, Name: name, Value: v}
	})
}

// PutMetrics records a trial's final metrics, one row per (trial, name),
// replacing earlier values of the same names. Use the names of package
// host/metrics for the trainer's results; NaN is stored as NULL and read
// back as NaN.
func (s *Store) PutMetrics(ctx context.Context, trialID int, metrics map[string]float64) error {
	return putNamed(s, ctx, "metrics", trialID, metrics, func(name string, v float64) metricRow {
		return metricRow{TrialID: trialID, Name: name, Value: nullable(v)}
	})
}

// putNamed writes one row per entry of values for a trial of a table keyed
// by (trial_id, name), replacing earlier rows of the same names, in one
// transaction; what names the values in errors.
func putNamed[V any, R any](s *Store, ctx context.Context, what string, trialID int, values map[string]V, row func(name string, v V) R) error {
	if len(values) == 0 {
		return nil
	}
	rows := make([]R, 0, len(values))
	names := make([]string, 0, len(values))
	for name, v := range values {
		if name == "" {
			return fmt.Errorf("put %s of trial %d: empty name", what, trialID)
		}
		rows = append(rows, row(name, v))
		names = append(names, name)
	}
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := checkTrials(tx, []int{trialID}); err != nil {
			return err
		}
		if err := tx.Where("trial_id = ? AND name IN ?", trialID, names).Delete(new(R)).Error; err != nil {
			return err
		}
		return tx.Create(&rows).Error
	})
	return s.wrap(fmt.Sprintf("put %s of trial %d", what, trialID), err)
}

// Heartbeat records that worker is alive and running trialID, now. goptuna
// has no heartbeat; workers call this periodically and StaleTrials finds the
// trials whose worker stopped beating.
func (s *Store) Heartbeat(ctx context.Context, trialID int, worker string) error {
	return s.HeartbeatOwner(ctx, trialID, worker, owner.Owner{})
}

// HeartbeatOwner is Heartbeat that also records which process the worker
// is, so that a process on the same machine can tell at once that the
// owner of a RUNNING trial is gone (RunningTrials).
func (s *Store) HeartbeatOwner(ctx context.Context, trialID int, worker string, o owner.Owner) error {
	row := heartbeatRow{TrialID: trialID, Worker: worker, BeatAt: time.Now().UTC(),
		OwnerHost: o.Host, OwnerBoot: o.Boot, OwnerPID: o.PID, OwnerStart: int64(o.Start)}
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := checkTrials(tx, []int{trialID}); err != nil {
			return err
		}
		return tx.Clauses(clause.OnConflict{
			Columns:   []clause.Column{{Name: "trial_id"}},
			DoUpdates: clause.AssignmentColumns([]string{"worker", "beat_at", "owner_host", "owner_boot", "owner_pid", "owner_start"}),
		}).Create(&row).Error
	})
	return s.wrap(fmt.Sprintf("heartbeat of trial %d", trialID), err)
}

// Running is a RUNNING trial with its worker's last heartbeat.
type Running struct {
	TrialID int
	Number  int
	Worker  string
	Owner   owner.Owner // zero when the worker recorded none
	// LastSign is the last heartbeat, or the trial's start when it never
	// beat.
	LastSign time.Time
}

// RunningTrials returns the study's RUNNING trials, by trial ID, with
// their workers' last heartbeats and owners.
func (s *Store) RunningTrials(ctx context.Context, studyID int) ([]Running, error) {
	var rows []struct {
		TrialID    int        `gorm:"column:trial_id"`
		Number     int        `gorm:"column:number"`
		Start      *time.Time `gorm:"column:start"`
		BeatAt     *time.Time `gorm:"column:beat_at"`
		Worker     *string    `gorm:"column:worker"`
		OwnerHost  *string    `gorm:"column:owner_host"`
		OwnerBoot  *string    `gorm:"column:owner_boot"`
		OwnerPID   *int       `gorm:"column:owner_pid"`
		OwnerStart *int64     `gorm:"column:owner_start"`
	}
	err := s.db.WithContext(ctx).Raw(`
SELECT t.trial_id AS trial_id, t.number AS number, t.datetime_start AS start, h.beat_at AS beat_at, h.worker AS worker,
  h.owner_host AS owner_host, h.owner_boot AS owner_boot, h.owner_pid AS owner_pid, h.owner_start AS owner_start
FROM trials t LEFT JOIN trial_heartbeats h ON h.trial_id = t.trial_id
WHERE t.study_id = ? AND t.state = 'RUNNING'
ORDER BY t.trial_id`, studyID).Scan(&rows).Error
	if err != nil {
		return nil, s.wrap(fmt.Sprintf("running trials of study %d", studyID), err)
	}
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	out := make([]Running, len(rows))
	for i, r := range rows {
		out[i] = Running{TrialID: r.TrialID, Number: r.Number, Worker: str(r.Worker)}
		switch {
		case r.BeatAt != nil:
			out[i].LastSign = *r.BeatAt
		case r.Start != nil:
			out[i].LastSign = *r.Start
		}
		if r.OwnerPID != nil && r.OwnerStart != nil {
			out[i].Owner = owner.Owner{Host: str(r.OwnerHost), Boot: str(r.OwnerBoot), PID: *r.OwnerPID, Start: uint64(*r.OwnerStart)}
		}
	}
	return out, nil
}

// PutCheckpoint stores a trial's latest checkpoint (replacing the one
// before), for stores that keep checkpoints in the database.
func (s *Store) PutCheckpoint(ctx context.Context, trialID int, data []byte) error {
	row := checkpointRow{TrialID: trialID, Data: data, UpdatedAt: time.Now().UTC()}
	err := s.db.WithContext(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "trial_id"}},
		DoUpdates: clause.AssignmentColumns([]string{"data", "updated_at"}),
	}).Create(&row).Error
	return s.wrap(fmt.Sprintf("put checkpoint of trial %d", trialID), err)
}

// GetCheckpoint returns a trial's checkpoint; ok is false when it has none.
func (s *Store) GetCheckpoint(ctx context.Context, trialID int) (data []byte, ok bool, err error) {
	var rows []checkpointRow
	if err := s.db.WithContext(ctx).Where("trial_id = ?", trialID).Find(&rows).Error; err != nil {
		return nil, false, s.wrap(fmt.Sprintf("checkpoint of trial %d", trialID), err)
	}
	if len(rows) == 0 {
		return nil, false, nil
	}
	return rows[0].Data, true, nil
}

// DeleteCheckpoint removes a trial's checkpoint, if any.
func (s *Store) DeleteCheckpoint(ctx context.Context, trialID int) error {
	err := s.db.WithContext(ctx).Where("trial_id = ?", trialID).Delete(&checkpointRow{}).Error
	return s.wrap(fmt.Sprintf("delete checkpoint of trial %d", trialID), err)
}

// StaleTrials returns, in ascending order, the IDs of the study's RUNNING
// trials whose last heartbeat is older than olderThan — or, for trials that
// never beat, whose start is older than olderThan. The comparison uses this
// machine's clock; hosts sharing a PostgreSQL store need synchronised
// clocks (NTP), and olderThan should be several heartbeat periods.
func (s *Store) StaleTrials(ctx context.Context, studyID int, olderThan time.Duration) ([]int, error) {
	type row struct {
		TrialID int
		Start   *time.Time
		BeatAt  *time.Time
	}
	var rows []row
	err := s.db.WithContext(ctx).Raw(`
SELECT t.trial_id AS trial_id, t.datetime_start AS start, h.beat_at AS beat_at
FROM trials t LEFT JOIN trial_heartbeats h ON h.trial_id = t.trial_id
WHERE t.study_id = ? AND t.state = 'RUNNING'
ORDER BY t.trial_id`, studyID).Scan(&rows).Error
	if err != nil {
		return nil, s.wrap(fmt.Sprintf("stale trials of study %d", studyID), err)
	}
	cutoff := time.Now().Add(-olderThan)
	var stale []int
	for _, r := range rows {
		last := r.BeatAt
		if last == nil {
			last = r.Start
		}
		if last == nil || last.Before(cutoff) {
			stale = append(stale, r.TrialID)
		}
	}
	return stale, nil
}
