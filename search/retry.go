package search

import (
	"context"
	"sync"
	"time"

	"github.com/c-bata/goptuna"

	"github.com/lrsgd-lab/lrsgd/internal/owner"
	"github.com/lrsgd-lab/lrsgd/results"
)

// DefaultStoreRetry is how long store operations are retried while the
// store cannot be reached, when Config.StoreRetry is 0.
const DefaultStoreRetry = 2 * time.Minute

// retrier retries an operation with exponential backoff (0.1 s, doubling,
// at most 5 s between tries) while it fails with a results.Transient error,
// for at most limit; an outage is logged when it starts and when it ends.
type retrier struct {
	limit time.Duration
	logf  func(format string, args ...any)

	mu     sync.Mutex
	outage bool
}

func retry[T any](r *retrier, op string, f func() (T, error)) (T, error) {
	deadline := time.Now().Add(r.limit)
	wait := 100 * time.Millisecond
	for {
		v, err := f()
		if err == nil {
			r.mu.Lock()
			if r.outage {
				r.outage = false
				r.logf("store reachable again (%s)", op)
			}
			r.mu.Unlock()
			return v, nil
		}
		if !results.Transient(err) || time.Now().After(deadline) {
			return v, err
		}
		r.mu.Lock()
		if !r.outage {
			r.outage = true
			r.logf("store unreachable (%s: %v); retrying for up to %v", op, err, r.limit)
		}
		r.mu.Unlock()
		time.Sleep(wait)
		wait = min(2*wait, 5*time.Second)
	}
}

func retry0(r *retrier, op string, f func() error) error {
	_, err := retry(r, op, func() (struct{}, error) { return struct{}{}, f() })
	return err
}

// retryStore is a Store whose operations ride out short outages of the
// store (a PostgreSQL restart, a network blip): each is retried by r.
type retryStore struct {
	Store
	r *retrier
	s retryStorage
}

func withRetry(st Store, r *retrier) *retryStore {
	return &retryStore{Store: st, r: r, s: retryStorage{Storage: st.Storage(), r: r}}
}

func (s *retryStore) Storage() goptuna.Storage { return s.s }

func (s *retryStore) AddCurvePoints(ctx context.Context, pts ...results.CurvePoint) error {
	return retry0(s.r, "add curve points", func() error { return s.Store.AddCurvePoints(ctx, pts...) })
}

func (s *retryStore) PutRunMeta(ctx context.Context, m results.RunMeta) error {
	return retry0(s.r, "put run metadata", func() error { return s.Store.PutRunMeta(ctx, m) })
}

func (s *retryStore) PutMetrics(ctx context.Context, id int, m map[string]float64) error {
	return retry0(s.r, "put metrics", func() error { return s.Store.PutMetrics(ctx, id, m) })
}

func (s *retryStore) PutHyperparams(ctx context.Context, id int, hp map[string]string) error {
	return retry0(s.r, "put hyperparameters", func() error { return s.Store.PutHyperparams(ctx, id, hp) })
}

func (s *retryStore) HeartbeatOwner(ctx context.Context, id int, worker string, o owner.Owner) error {
	return s.Store.HeartbeatOwner(ctx, id, worker, o) // a missed beat is tried again at the next tick
}

func (s *retryStore) RunningTrials(ctx context.Context, studyID int) ([]results.Running, error) {
	return retry(s.r, "running trials", func() ([]results.Running, error) { return s.Store.RunningTrials(ctx, studyID) })
}

func (s *retryStore) PutCheckpoint(ctx context.Context, id int, data []byte) error {
	return retry0(s.r, "put checkpoint", func() error { return s.Store.PutCheckpoint(ctx, id, data) })
}

func (s *retryStore) GetCheckpoint(ctx context.Context, id int) ([]byte, bool, error) {
	var ok bool
	data, err := retry(s.r, "get checkpoint", func() ([]byte, error) {
		d, found, err := s.Store.GetCheckpoint(ctx, id)
		ok = found
		return d, err
	})
	return data, ok, err
}

func (s *retryStore) DeleteCheckpoint(ctx context.Context, id int) error {
	return retry0(s.r, "delete checkpoint", func() error { return s.Store.DeleteCheckpoint(ctx, id) })
}

// retryStorage is goptuna's storage with every operation retried by r.
// Creating a study or a trial is retried too: should a lost reply hide a
// success, the extra trial stays RUNNING without a heartbeat and is
// recovered as stale.
type retryStorage struct {
	goptuna.Storage
	r *retrier
}

func (s retryStorage) CreateNewStudy(name string) (int, error) {
	return retry(s.r, "create study", func() (int, error) { return s.Storage.CreateNewStudy(name) })
}

func (s retryStorage) SetStudyDirection(id int, d goptuna.StudyDirection) error {
	return retry0(s.r, "set study direction", func() error { return s.Storage.SetStudyDirection(id, d) })
}

func (s retryStorage) SetStudyUserAttr(id int, k, v string) error {
	return retry0(s.r, "set study attribute", func() error { return s.Storage.SetStudyUserAttr(id, k, v) })
}

func (s retryStorage) SetStudySystemAttr(id int, k, v string) error {
	return retry0(s.r, "set study attribute", func() error { return s.Storage.SetStudySystemAttr(id, k, v) })
}

func (s retryStorage) GetStudyIDFromName(name string) (int, error) {
	return retry(s.r, "find study", func() (int, error) { return s.Storage.GetStudyIDFromName(name) })
}

func (s retryStorage) GetStudyDirection(id int) (goptuna.StudyDirection, error) {
	return retry(s.r, "study direction", func() (goptuna.StudyDirection, error) { return s.Storage.GetStudyDirection(id) })
}

func (s retryStorage) GetStudyUserAttrs(id int) (map[string]string, error) {
	return retry(s.r, "study attributes", func() (map[string]string, error) { return s.Storage.GetStudyUserAttrs(id) })
}

func (s retryStorage) GetStudySystemAttrs(id int) (map[string]string, error) {
	return retry(s.r, "study attributes", func() (map[string]string, error) { return s.Storage.GetStudySystemAttrs(id) })
}

func (s retryStorage) CreateNewTrial(id int) (int, error) {
	return retry(s.r, "create trial", func() (int, error) { return s.Storage.CreateNewTrial(id) })
}

func (s retryStorage) CloneTrial(id int, base goptuna.FrozenTrial) (int, error) {
	return retry(s.r, "queue trial", func() (int, error) { return s.Storage.CloneTrial(id, base) })
}

func (s retryStorage) SetTrialValue(id int, v float64) error {
	return retry0(s.r, "set trial value", func() error { return s.Storage.SetTrialValue(id, v) })
}

func (s retryStorage) SetTrialIntermediateValue(id, step int, v float64) error {
	return retry0(s.r, "set intermediate value", func() error { return s.Storage.SetTrialIntermediateValue(id, step, v) })
}

func (s retryStorage) SetTrialParam(id int, name string, v float64, d any) error {
	return retry0(s.r, "set trial parameter", func() error { return s.Storage.SetTrialParam(id, name, v, d) })
}

func (s retryStorage) SetTrialState(id int, st goptuna.TrialState) error {
	return retry0(s.r, "set trial state", func() error { return s.Storage.SetTrialState(id, st) })
}

func (s retryStorage) SetTrialUserAttr(id int, k, v string) error {
	return retry0(s.r, "set trial attribute", func() error { return s.Storage.SetTrialUserAttr(id, k, v) })
}

func (s retryStorage) SetTrialSystemAttr(id int, k, v string) error {
	return retry0(s.r, "set trial attribute", func() error { return s.Storage.SetTrialSystemAttr(id, k, v) })
}

func (s retryStorage) GetTrialNumberFromID(id int) (int, error) {
	return retry(s.r, "trial number", func() (int, error) { return s.Storage.GetTrialNumberFromID(id) })
}

func (s retryStorage) GetTrial(id int) (goptuna.FrozenTrial, error) {
	return retry(s.r, "read trial", func() (goptuna.FrozenTrial, error) { return s.Storage.GetTrial(id) })
}

func (s retryStorage) GetAllTrials(id int) ([]goptuna.FrozenTrial, error) {
	return retry(s.r, "list trials", func() ([]goptuna.FrozenTrial, error) { return s.Storage.GetAllTrials(id) })
}

func (s retryStorage) GetBestTrial(id int) (goptuna.FrozenTrial, error) {
	return retry(s.r, "best trial", func() (goptuna.FrozenTrial, error) { return s.Storage.GetBestTrial(id) })
}
