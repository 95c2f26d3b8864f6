package ops

// Workspace is scratch memory shared by the GEMM convolutions ([Conv]) of
// one graph: per-worker im2col and staging buffers, and the per-group
// partial filter gradients. The ops of a graph run one at a time on its tape
// machine, so they can share it; graphs that may run concurrently need a
// Workspace each. Sharing keeps the scratch at the size of the largest layer
// instead of the sum over layers. A nil *Workspace gives each op its own.
type Workspace struct {
	perWorker int // floats each worker needs, the maximum over the ops
	partial   int // floats of partial gradients, the maximum over the ops
	bufs      [][]float32
	part      []float32
}

// NewWorkspace returns an empty workspace; the ops that use it size it.
func NewWorkspace() *Workspace { return &Workspace{} }

// reserve records an op's needs; buffers are allocated by ensure.
func (ws *Workspace) reserve(perWorker, partial int) {
	ws.perWorker = max(ws.perWorker, perWorker)
	ws.partial = max(ws.partial, partial)
}

// ensure allocates (or grows) the buffers for n workers. It allocates only
// when a need grew, so after the first step it does not allocate.
func (ws *Workspace) ensure(n int) {
	for len(ws.bufs) < n {
		ws.bufs = append(ws.bufs, nil)
	}
	for i := range ws.bufs {
		if len(ws.bufs[i]) < ws.perWorker {
			ws.bufs[i] = make([]float32, ws.perWorker)
		}
	}
	if len(ws.part) < ws.partial {
		ws.part = make([]float32, ws.partial)
	}
}
