package ops

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// task is work split into contiguous chunks [lo, hi) of items; worker is the
// chunk's index, which selects per-worker scratch buffers.
type task interface {
	run(worker, lo, hi int)
}

type job struct {
	t              task
	worker, lo, hi int
}

// pool runs a task over n items on a fixed set of goroutines: chunk 0 on the
// caller, chunks 1.. on parked workers. Chunks are fixed by n and the worker
// count, so floating-point reductions happen in the same order every step.
// Dispatch does not allocate.
type pool struct {
	n    int
	jobs chan job
	wg   sync.WaitGroup

	// Shared queue of runDynamic.
	next, total atomic.Int64
}

// newPool starts n−1 worker goroutines (n ≥ 1). They exit when the pool is
// closed; owner, when not nil, closes it once it is garbage.
func newPool[T any](n int, owner *T) *pool {
	p := &pool{n: max(n, 1), jobs: make(chan job, max(n, 1))}
	for i := 1; i < p.n; i++ {
		go p.work()
	}
	if owner != nil {
		runtime.AddCleanup(owner, func(p *pool) { p.close() }, p)
	}
	return p
}

func (p *pool) work() {
	for {
		j, ok := <-p.jobs
		if !ok {
			return
		}
		if j.lo < 0 {
			p.drain(j.t, j.worker)
		} else {
			j.t.run(j.worker, j.lo, j.hi)
		}
		p.wg.Done()
	}
}

func (p *pool) close() { close(p.jobs) }

// chunks is the number of chunks run uses for n items.
func (p *pool) chunks(n int) int { return max(min(p.n, n), 1) }

// run calls t.run over [0, n) in p.chunks(n) chunks and waits for all of them.
func (p *pool) run(t task, n int) {
	c := p.chunks(n)
	for w := 1; w < c; w++ {
		p.wg.Add(1)
		p.jobs <- job{t: t, worker: w, lo: w * n / c, hi: (w + 1) * n / c}
	}
	t.run(0, 0, n/c)
	p.wg.Wait()
}

// runDynamic calls t.run(worker, i, i+1) for every i in [0, n), handing the
// items out one at a time from a shared counter, so a worker that the OS
// deschedules (other trainings, other processes) does not hold up the rest.
// Which worker runs an item varies from step to step: t must make each
// item's result independent of that (per-item output, per-worker scratch).
func (p *pool) runDynamic(t task, n int) {
	p.next.Store(0)
	p.total.Store(int64(n))
	c := p.chunks(n)
	for w := 1; w < c; w++ {
		p.wg.Add(1)
		p.jobs <- job{t: t, worker: w, lo: -1}
	}
	p.drain(t, 0)
	p.wg.Wait()
}

// fixedChunks is the number of chunks runFixed cuts n items into: it depends
// on n alone, never on the worker count.
const fixedChunks = 8

// chunked maps item i of runDynamic to chunk i of a fixed cut of n items.
type chunked struct {
	t    task
	n, c int
}

func (c *chunked) run(worker, i, _ int) { c.t.run(worker, i*c.n/c.c, (i+1)*c.n/c.c) }

// runFixed calls t.run over [0, n) in min(n, fixedChunks) chunks whose bounds
// depend on n alone, handed out to the workers as they free up. Work whose
// floating-point result depends on how it is cut (a BLAS call over a block
// of rows) then gives the same bits for any GOMAXPROCS. c is scratch owned by
// the caller, so dispatch does not allocate.
func (p *pool) runFixed(c *chunked, t task, n int) {
	p.runFixedRows(c, t, n, 1)
}

// runFixedRows is runFixed with chunks of at least minRows items (fewer
// chunks when n is small), for BLAS calls whose efficiency falls with the
// rows per call: each call packs the whole other operand again. The cut
// still depends on n and minRows alone.
func (p *pool) runFixedRows(c *chunked, t task, n, minRows int) {
	*c = chunked{t: t, n: n, c: max(min(n/max(minRows, 1), fixedChunks), 1)}
	p.runDynamic(c, c.c)
}

func (p *pool) drain(t task, worker int) {
	total := p.total.Load()
	for {
		i := p.next.Add(1) - 1
		if i >= total {
			return
		}
		t.run(worker, int(i), int(i)+1)
	}
}
