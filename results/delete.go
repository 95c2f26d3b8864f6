package results

import (
	"context"
	"fmt"

	"gorm.io/gorm"
)

// DeleteStudy removes the named study and everything about its trials —
// goptuna's rows and this package's (curves, metrics, run metadata,
// hyperparameters, heartbeats, checkpoints) — in one transaction, and
// returns how many trials it held. A name that names no study wraps
// ErrNoStudy.
func (s *Store) DeleteStudy(ctx context.Context, name string) (int, error) {
	st, err := s.StudyByName(ctx, name)
	if err != nil {
		return 0, err
	}
	var trials int64
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Table("trials").Where("study_id = ?", st.ID).Count(&trials).Error; err != nil {
			return err
		}
		ids := tx.Table("trials").Select("trial_id").Where("study_id = ?", st.ID)
		for _, table := range []string{TableCurves, TableRunMeta, TableRunMetaExtra, TableMetrics, TableHeartbeats,
			TableHyperparams, TableCheckpoints, "trial_user_attributes", "trial_system_attributes", "trial_params", "trial_values"} {
			if err := tx.Exec("DELETE FROM "+table+" WHERE trial_id IN (?)", ids).Error; err != nil {
				return fmt.Errorf("%s: %w", table, err)
			}
		}
		for _, table := range []string{"trials", "study_user_attributes", "study_system_attributes", "studies"} {
			if err := tx.Exec("DELETE FROM "+table+" WHERE study_id = ?", st.ID).Error; err != nil {
				return fmt.Errorf("%s: %w", table, err)
			}
		}
		return nil
	})
	return int(trials), s.wrap(fmt.Sprintf("delete study %s", name), err)
}
