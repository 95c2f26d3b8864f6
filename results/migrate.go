package results

import (
	"fmt"

	"gorm.io/gorm"
)

// hpPrefix is how schema version 1 named a hyperparameter in the tables
// that held it: "hp.NAME".
const hpPrefix = "hp."

// migrateV1 moves a version-1 store's hyperparameters into
// trial_hyperparams, their one place from version 2 on. Version 1 kept
// them as "hp.NAME" rows: in trial_run_meta_extra for trials filed by tune,
// in trial_user_attributes for trials filed by train --storage. Those rows
// are moved (copied, then deleted), so no fact is left in two places. It
// also removes the final metrics that version 1 copied into trial user
// attributes (as text) for tune's trials: trial_metrics holds them. It runs
// inside Open's migration transaction.
func migrateV1(tx *gorm.DB) error {
	for _, src := range []string{TableRunMetaExtra, "trial_user_attributes"} {
		var rows []struct {
			TrialID int
			Key     string
			Value   string
		}
		if err := tx.Raw(`SELECT trial_id, key, value FROM `+src+` WHERE key LIKE ?`, hpPrefix+"%").Scan(&rows).Error; err != nil {
			return fmt.Errorf("read %s: %w", src, err)
		}
		for _, r := range rows {
			name := r.Key[len(hpPrefix):]
			if name == "" {
				continue
			}
			var n int64
			if err := tx.Model(&hyperparamRow{}).Where("trial_id = ? AND name = ?", r.TrialID, name).Count(&n).Error; err != nil {
				return fmt.Errorf("trial %d hyperparameter %s: %w", r.TrialID, name, err)
			}
			if n > 0 {
				continue
			}
			if err := tx.Create(&hyperparamRow{TrialID: r.TrialID, Name: name, Value: r.Value}).Error; err != nil {
				return fmt.Errorf("trial %d hyperparameter %s: %w", r.TrialID, name, err)
			}
		}
		if err := tx.Exec(`DELETE FROM `+src+` WHERE key LIKE ?`, hpPrefix+"%").Error; err != nil {
			return fmt.Errorf("clear %s: %w", src, err)
		}
	}
	// Metric copies: user attributes whose key is a metric of the same
	// trial in trial_metrics.
	err := tx.Exec(`DELETE FROM trial_user_attributes WHERE EXISTS (
  SELECT 1 FROM ` + TableMetrics + ` m WHERE m.trial_id = trial_user_attributes.trial_id AND m.name = trial_user_attributes.key)`).Error
	if err != nil {
		return fmt.Errorf("clear metric attributes: %w", err)
	}
	return nil
}
