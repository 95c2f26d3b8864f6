package results

import "time"

// SchemaVersion is the version of this package's own tables, recorded in the
// lrsgd_schema table. Version 2 added trial_hyperparams; Open migrates a
// version-1 store (see migrateV1).
const SchemaVersion = "2"

// Table names of this package's own tables, beside goptuna's (studies,
// trials, trial_params, trial_values, trial_user_attributes, ...).
const (
	TableCurves       = "trial_curves"
	TableRunMeta      = "trial_run_meta"
	TableRunMetaExtra = "trial_run_meta_extra"
	TableMetrics      = "trial_metrics"
	TableHeartbeats   = "trial_heartbeats"
	TableHyperparams  = "trial_hyperparams"
	TableCheckpoints  = "trial_checkpoints"
	TableSchema       = "lrsgd_schema"
)

// GoptunaTables returns the names of the tables goptuna's rdb.v2 storage
// creates.
func GoptunaTables() []string {
	return []string{
		"studies", "study_user_attributes", "study_system_attributes",
		"trials", "trial_user_attributes", "trial_system_attributes",
		"trial_params", "trial_values",
	}
}

// OwnTables returns the names of the tables this package creates.
func OwnTables() []string {
	return []string{
		TableCurves, TableRunMeta, TableRunMetaExtra, TableMetrics, TableHeartbeats, TableHyperparams, TableCheckpoints, TableSchema,
	}
}

// curveRow is one row of trial_curves.
type curveRow struct {
	ID              int64    `gorm:"column:curve_id;primaryKey;autoIncrement"`
	TrialID         int      `gorm:"column:trial_id;not null;index:idx_trial_curves_trial"`
	Epoch           float64  `gorm:"column:epoch;type:double precision"`
	OuterSteps      int64    `gorm:"column:outer_steps"`
	GradEvals       int64    `gorm:"column:grad_evals"`
	LR              float64  `gorm:"column:lr;type:double precision"`
	TrainLoss       *float64 `gorm:"column:train_loss;type:double precision"`
	TrainAcc        *float64 `gorm:"column:train_acc;type:double precision"`
	TestLoss        *float64 `gorm:"column:test_loss;type:double precision"`
	TestAcc         *float64 `gorm:"column:test_acc;type:double precision"`
	Wall            float64  `gorm:"column:wall_seconds;type:double precision"`
	ParamDivergence *float64 `gorm:"column:param_divergence;type:double precision"`
	EpsilonMean     *float64 `gorm:"column:epsilon_mean;type:double precision"`
	EpsilonMax      *float64 `gorm:"column:epsilon_max;type:double precision"`
}

func (curveRow) TableName() string { return TableCurves }

// runMetaRow is one row of trial_run_meta.
type runMetaRow struct {
	TrialID       int       `gorm:"column:trial_id;primaryKey;autoIncrement:false"`
	Plugin        string    `gorm:"column:plugin;type:varchar(512)"`
	PluginVersion string    `gorm:"column:plugin_version;type:varchar(512)"`
	PluginSHA256  string    `gorm:"column:plugin_sha256;type:varchar(64)"`
	Dataset       string    `gorm:"column:dataset;type:varchar(512)"`
	DatasetSHA256 string    `gorm:"column:dataset_sha256;type:varchar(64)"`
	Model         string    `gorm:"column:model;type:varchar(512)"`
	Seed          int64     `gorm:"column:seed"`
	Commit        string    `gorm:"column:git_commit;type:varchar(512)"`
	Machine       string    `gorm:"column:machine;type:varchar(2048)"`
	GoVersion     string    `gorm:"column:go_version;type:varchar(128)"`
	BLAS          string    `gorm:"column:blas;type:varchar(512)"`
	RecordedAt    time.Time `gorm:"column:recorded_at"`
}

func (runMetaRow) TableName() string { return TableRunMeta }

// runMetaExtraRow is one key/value of RunMeta.Extra.
type runMetaExtraRow struct {
	ID      int64  `gorm:"column:extra_id;primaryKey;autoIncrement"`
	TrialID int    `gorm:"column:trial_id;not null;uniqueIndex:idx_trial_run_meta_extra_key"`
	Key     string `gorm:"column:key;not null;type:varchar(512);uniqueIndex:idx_trial_run_meta_extra_key"`
	Value   string `gorm:"column:value;type:text"`
}

func (runMetaExtraRow) TableName() string { return TableRunMetaExtra }

// metricRow is one final metric of a trial.
type metricRow struct {
	ID      int64    `gorm:"column:metric_id;primaryKey;autoIncrement"`
	TrialID int      `gorm:"column:trial_id;not null;uniqueIndex:idx_trial_metrics_name"`
	Name    string   `gorm:"column:name;not null;type:varchar(512);uniqueIndex:idx_trial_metrics_name"`
	Value   *float64 `gorm:"column:value;type:double precision"`
}

func (metricRow) TableName() string { return TableMetrics }

// hyperparamRow is one hyperparameter given to a trial's optimizer plugin,
// as the plugin received it (a string).
type hyperparamRow struct {
	ID      int64  `gorm:"column:hyperparam_id;primaryKey;autoIncrement"`
	TrialID int    `gorm:"column:trial_id;not null;uniqueIndex:idx_trial_hyperparams_name"`
	Name    string `gorm:"column:name;not null;type:varchar(512);uniqueIndex:idx_trial_hyperparams_name"`
	Value   string `gorm:"column:value;type:text"`
}

func (hyperparamRow) TableName() string { return TableHyperparams }

// checkpointRow is the latest checkpoint of a running trial, for stores
// that keep checkpoints inside the database (PostgreSQL).
type checkpointRow struct {
	TrialID   int       `gorm:"column:trial_id;primaryKey;autoIncrement:false"`
	Data      []byte    `gorm:"column:data"`
	UpdatedAt time.Time `gorm:"column:updated_at;not null"`
}

func (checkpointRow) TableName() string { return TableCheckpoints }

// heartbeatRow is the last sign of life of the worker running a trial,
// and which process it is (see package internal/owner).
type heartbeatRow struct {
	TrialID    int       `gorm:"column:trial_id;primaryKey;autoIncrement:false"`
	Worker     string    `gorm:"column:worker;type:varchar(512)"`
	BeatAt     time.Time `gorm:"column:beat_at;not null"`
	OwnerHost  string    `gorm:"column:owner_host;type:varchar(512)"`
	OwnerBoot  string    `gorm:"column:owner_boot;type:varchar(64)"`
	OwnerPID   int       `gorm:"column:owner_pid"`
	OwnerStart int64     `gorm:"column:owner_start"`
}

func (heartbeatRow) TableName() string { return TableHeartbeats }

// schemaRow is one key/value of the store's own metadata. It never holds
// the DSN.
type schemaRow struct {
	Key   string `gorm:"column:key;primaryKey;type:varchar(128)"`
	Value string `gorm:"column:value;type:varchar(2048)"`
}

func (schemaRow) TableName() string { return TableSchema }

// ownModels lists the models Open migrates, in order.
func ownModels() []any {
	return []any{
		&curveRow{}, &runMetaRow{}, &runMetaExtraRow{}, &metricRow{}, &heartbeatRow{}, &hyperparamRow{}, &checkpointRow{}, &schemaRow{},
	}
}
