// Package shm lays out and maps the shared-memory file through which a host
// and an optimizer plugin share parameters, gradients and optimizer state.
//
// The host creates the file with Create (a Linux memfd), sizes it with
// Resize, maps it with Map and writes the header; the plugin process
// receives the same file as an inherited descriptor, maps it with Map and
// checks the header. Both sides then see the same float32 vectors through
// Mapping.Buffers; nothing is copied.
//
// The file starts with a HeaderSize-byte header, then Params, Grads and the
// State block, each starting at a multiple of Align bytes. The state
// vectors inside the State block are contiguous, as optimizer.Buffers
// requires (vector i at [i*n, (i+1)*n)), so they are themselves 64-byte
// aligned only when n is a multiple of 16.
package shm

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/lrsgd-lab/lrsgd/plugins/optimizer"
)

const (
	// Align is the byte alignment of the start of Params, Grads and State.
	Align = 64
	// HeaderSize is the size in bytes of the header at the start of the file.
	HeaderSize = 64
	// Version is the version of the header and layout format.
	Version = 1

	magic    = 0x314d48534447534c // "LSGDSHM1" read little-endian
	floatLen = 4
	// maxFloats bounds NumParams*(2+StateVectors) so that sizes fit in int64
	// and slices in int with room to spare.
	maxFloats = 1 << 40
)

// Layout says where the vectors lie in the shared-memory file. All offsets
// and sizes are in bytes.
type Layout struct {
	NumParams    int
	StateVectors int
	ParamsOffset int64
	GradsOffset  int64
	StateOffset  int64
	Size         int64 // total file size
}

// NewLayout returns the layout for numParams parameters and stateVectors
// state vectors.
func NewLayout(numParams, stateVectors int) (Layout, error) {
	if numParams < 0 {
		return Layout{}, fmt.Errorf("shm layout: number of parameters %d, want >= 0", numParams)
	}
	if stateVectors < 0 {
		return Layout{}, fmt.Errorf("shm layout: number of state vectors %d, want >= 0", stateVectors)
	}
	if numParams > 0 && (2+stateVectors) > maxFloats/numParams {
		return Layout{}, fmt.Errorf("shm layout: %d parameters x %d vectors exceeds %d floats", numParams, 2+stateVectors, int64(maxFloats))
	}
	n := int64(numParams)
	l := Layout{NumParams: numParams, StateVectors: stateVectors}
	l.ParamsOffset = HeaderSize
	l.GradsOffset = roundUp(l.ParamsOffset + n*floatLen)
	l.StateOffset = roundUp(l.GradsOffset + n*floatLen)
	l.Size = roundUp(l.StateOffset + int64(stateVectors)*n*floatLen)
	return l, nil
}

// Check reports whether l is a layout NewLayout would return, so that a
// plugin can trust a layout it received over RPC before mapping it.
func (l Layout) Check() error {
	want, err := NewLayout(l.NumParams, l.StateVectors)
	if err != nil {
		return err
	}
	if l != want {
		return fmt.Errorf("shm layout %+v does not match the layout for %d parameters and %d state vectors %+v",
			l, l.NumParams, l.StateVectors, want)
	}
	return nil
}

func roundUp(x int64) int64 { return (x + Align - 1) / Align * Align }

// Create makes a new anonymous shared-memory file (memfd) of size zero. The
// descriptor is close-on-exec; pass it to a child with exec.Cmd.ExtraFiles,
// which clears that flag on the child's copy.
func Create(name string) (*os.File, error) {
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("memfd_create %q: %w", name, err)
	}
	return os.NewFile(uintptr(fd), "memfd:"+name), nil
}

// Resize sets the size of f to size bytes and zeroes its contents: it
// truncates the file to zero length first, which frees the old pages.
// Mappings of f made before Resize must not be used afterwards.
func Resize(f *os.File, size int64) error {
	if size < 0 {
		return fmt.Errorf("resize %s: size %d, want >= 0", f.Name(), size)
	}
	if err := unix.Ftruncate(int(f.Fd()), 0); err != nil {
		return fmt.Errorf("resize %s to 0: %w", f.Name(), err)
	}
	if err := unix.Ftruncate(int(f.Fd()), size); err != nil {
		return fmt.Errorf("resize %s to %d bytes: %w", f.Name(), size, err)
	}
	return nil
}

// Mapping is a MAP_SHARED mapping of a shared-memory file with a Layout.
type Mapping struct {
	layout Layout
	data   []byte
}

// Map maps f, which must be at least l.Size bytes long, read-write and
// shared.
func Map(f *os.File, l Layout) (*Mapping, error) {
	if err := l.Check(); err != nil {
		return nil, fmt.Errorf("map %s: %w", f.Name(), err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return nil, fmt.Errorf("map %s: fstat: %w", f.Name(), err)
	}
	if st.Size < l.Size {
		return nil, fmt.Errorf("map %s: file has %d bytes, layout needs %d", f.Name(), st.Size, l.Size)
	}
	if l.Size > math.MaxInt {
		return nil, fmt.Errorf("map %s: %d bytes exceed the address space", f.Name(), l.Size)
	}
	data, err := unix.Mmap(int(f.Fd()), 0, int(l.Size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("map %s (%d bytes): %w", f.Name(), l.Size, err)
	}
	return &Mapping{layout: l, data: data}, nil
}

// Layout returns the layout the mapping was made with.
func (m *Mapping) Layout() Layout { return m.layout }

// Buffers returns float32 views of the mapped vectors. They stay valid until
// Unmap; using them afterwards faults.
func (m *Mapping) Buffers() optimizer.Buffers {
	l := m.layout
	n := l.NumParams
	return optimizer.Buffers{
		Params: m.floats(l.ParamsOffset, n),
		Grads:  m.floats(l.GradsOffset, n),
		State:  m.floats(l.StateOffset, l.StateVectors*n),
	}
}

func (m *Mapping) floats(off int64, n int) []float32 {
	if n == 0 {
		return []float32{}
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&m.data[off])), n)
}

// WriteHeader writes the header (format version, layout and nonce) at the
// start of the mapping. The host calls it after mapping a resized file.
func (m *Mapping) WriteHeader(nonce uint64) {
	h := m.data[:HeaderSize]
	clear(h)
	binary.LittleEndian.PutUint64(h[0:], magic)
	binary.LittleEndian.PutUint64(h[8:], Version)
	binary.LittleEndian.PutUint64(h[16:], uint64(m.layout.NumParams))
	binary.LittleEndian.PutUint64(h[24:], uint64(m.layout.StateVectors))
	binary.LittleEndian.PutUint64(h[32:], uint64(m.layout.Size))
	binary.LittleEndian.PutUint64(h[40:], nonce)
}

// CheckHeader reports whether the header matches the mapping's layout and
// nonce, i.e. whether the plugin mapped the file the host prepared.
func (m *Mapping) CheckHeader(nonce uint64) error {
	h := m.data[:HeaderSize]
	l := m.layout
	switch {
	case binary.LittleEndian.Uint64(h[0:]) != magic:
		return fmt.Errorf("shared memory header: bad magic %#x, not an LRSGD shared-memory file", binary.LittleEndian.Uint64(h[0:]))
	case binary.LittleEndian.Uint64(h[8:]) != Version:
		return fmt.Errorf("shared memory header: format version %d, want %d", binary.LittleEndian.Uint64(h[8:]), Version)
	case binary.LittleEndian.Uint64(h[16:]) != uint64(l.NumParams),
		binary.LittleEndian.Uint64(h[24:]) != uint64(l.StateVectors),
		binary.LittleEndian.Uint64(h[32:]) != uint64(l.Size):
		return fmt.Errorf("shared memory header: layout %d params, %d state vectors, %d bytes; want %d, %d, %d",
			binary.LittleEndian.Uint64(h[16:]), binary.LittleEndian.Uint64(h[24:]), binary.LittleEndian.Uint64(h[32:]),
			l.NumParams, l.StateVectors, l.Size)
	case binary.LittleEndian.Uint64(h[40:]) != nonce:
		return fmt.Errorf("shared memory header: nonce %#x, want %#x (a different shared-memory file)", binary.LittleEndian.Uint64(h[40:]), nonce)
	}
	return nil
}

// Unmap releases the mapping. It is safe to call more than once.
func (m *Mapping) Unmap() error {
	if m.data == nil {
		return nil
	}
	err := unix.Munmap(m.data)
	m.data = nil
	if err != nil {
		return fmt.Errorf("munmap %d bytes: %w", m.layout.Size, err)
	}
	return nil
}
