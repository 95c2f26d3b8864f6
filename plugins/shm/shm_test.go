package shm

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

func TestNewLayout(t *testing.T) {
	tests := []struct {
		n, s                       int
		params, grads, state, size int64
	}{
		// n=10: 40 bytes per vector, each start rounded up to 64.
		{10, 2, 64, 128, 192, 192 + 128},
		// n=16: 64 bytes per vector, already aligned.
		{16, 1, 64, 128, 192, 256},
		{0, 3, 64, 64, 64, 64},
		// n=62006: 248024 bytes -> 248064.
		{62006, 2, 64, 64 + 248064, 64 + 2*248064, 64 + 2*248064 + 496064},
	}
	for _, tt := range tests {
		l, err := NewLayout(tt.n, tt.s)
		if err != nil {
			t.Fatalf("NewLayout(%d, %d): %v", tt.n, tt.s, err)
		}
		got := [4]int64{l.ParamsOffset, l.GradsOffset, l.StateOffset, l.Size}
		want := [4]int64{tt.params, tt.grads, tt.state, tt.size}
		if got != want {
			t.Errorf("NewLayout(%d, %d) offsets/size = %v, want %v", tt.n, tt.s, got, want)
		}
		for _, off := range got {
			if off%Align != 0 {
				t.Errorf("NewLayout(%d, %d): offset %d not %d-byte aligned", tt.n, tt.s, off, Align)
			}
		}
		if err := l.Check(); err != nil {
			t.Errorf("Check of NewLayout(%d, %d): %v", tt.n, tt.s, err)
		}
	}
}

func TestLayoutErrors(t *testing.T) {
	if _, err := NewLayout(-1, 0); err == nil || !strings.Contains(err.Error(), "-1") {
		t.Errorf("NewLayout(-1, 0) error = %v, want one naming -1", err)
	}
	if _, err := NewLayout(1, -2); err == nil || !strings.Contains(err.Error(), "-2") {
		t.Errorf("NewLayout(1, -2) error = %v, want one naming -2", err)
	}
	l, _ := NewLayout(10, 2)
	l.GradsOffset += 4
	if err := l.Check(); err == nil {
		t.Error("Check accepted a layout with a moved Grads offset")
	}
}

func newMapped(t *testing.T, n, s int) (*os.File, Layout, *Mapping) {
	t.Helper()
	f, err := Create("test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	l, err := NewLayout(n, s)
	if err != nil {
		t.Fatal(err)
	}
	if err := Resize(f, l.Size); err != nil {
		t.Fatal(err)
	}
	m, err := Map(f, l)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Unmap() })
	return f, l, m
}

func TestBuffersShareMemory(t *testing.T) {
	f, l, m1 := newMapped(t, 10, 2)
	m2, err := Map(f, l)
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Unmap()
	b1, b2 := m1.Buffers(), m2.Buffers()
	if len(b1.Params) != 10 || len(b1.Grads) != 10 || len(b1.State) != 20 {
		t.Fatalf("lengths %d %d %d, want 10 10 20", len(b1.Params), len(b1.Grads), len(b1.State))
	}
	for i := range b1.Params {
		b1.Params[i] = float32(i) + 0.5
		b1.Grads[i] = -float32(i)
	}
	b1.State[19] = 7
	for i := range b2.Params {
		if b2.Params[i] != float32(i)+0.5 || b2.Grads[i] != -float32(i) {
			t.Fatalf("second mapping sees params[%d]=%v grads[%d]=%v", i, b2.Params[i], i, b2.Grads[i])
		}
	}
	if b2.State[19] != 7 {
		t.Fatalf("second mapping sees state[19]=%v, want 7", b2.State[19])
	}
	// The vectors must not overlap and must start where the layout says.
	base := uintptr(unsafe.Pointer(&m1.data[0]))
	for _, c := range []struct {
		p   *float32
		off int64
	}{{&b1.Params[0], l.ParamsOffset}, {&b1.Grads[0], l.GradsOffset}, {&b1.State[0], l.StateOffset}} {
		if got := uintptr(unsafe.Pointer(c.p)) - base; int64(got) != c.off {
			t.Errorf("vector at offset %d, want %d", got, c.off)
		}
		if uintptr(unsafe.Pointer(c.p))%Align != 0 {
			t.Errorf("vector at offset %d not %d-byte aligned in memory", c.off, Align)
		}
	}
}

func TestResizeZeroes(t *testing.T) {
	f, l, m := newMapped(t, 5, 1)
	m.Buffers().Params[3] = 1
	m.Unmap()
	if err := Resize(f, l.Size); err != nil {
		t.Fatal(err)
	}
	m2, err := Map(f, l)
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Unmap()
	if v := m2.Buffers().Params[3]; v != 0 {
		t.Fatalf("after Resize params[3] = %v, want 0", v)
	}
}

func TestMapRefusesShortFile(t *testing.T) {
	f, err := Create("short")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	l, _ := NewLayout(100, 1)
	if err := Resize(f, l.Size-64); err != nil {
		t.Fatal(err)
	}
	_, err = Map(f, l)
	if err == nil || !strings.Contains(err.Error(), "layout needs") {
		t.Fatalf("Map of a short file: error %v, want one saying the layout needs more bytes", err)
	}
}

func TestHeader(t *testing.T) {
	_, _, m := newMapped(t, 7, 3)
	m.WriteHeader(0xfeed)
	if err := m.CheckHeader(0xfeed); err != nil {
		t.Fatalf("CheckHeader after WriteHeader: %v", err)
	}
	if err := m.CheckHeader(0xbeef); err == nil || !strings.Contains(err.Error(), "nonce") {
		t.Fatalf("CheckHeader with another nonce: %v, want a nonce error", err)
	}
	m.data[0] ^= 1
	if err := m.CheckHeader(0xfeed); err == nil || !strings.Contains(err.Error(), "magic") {
		t.Fatalf("CheckHeader with a broken magic: %v, want a magic error", err)
	}
}

// TestCrossProcess passes the memfd to a child process as fd 3, exactly as
// the loader does, and checks that the child's writes are seen here.
func TestCrossProcess(t *testing.T) {
	f, l, m := newMapped(t, 1000, 1)
	m.WriteHeader(42)
	b := m.Buffers()
	for i := range b.Grads {
		b.Grads[i] = float32(i)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperChild$")
	cmd.Env = append(os.Environ(), "SHM_HELPER_CHILD=1",
		"SHM_HELPER_N="+strconv.Itoa(l.NumParams), "SHM_HELPER_S="+strconv.Itoa(l.StateVectors))
	cmd.ExtraFiles = []*os.File{f}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	for i := range b.Params {
		if b.Params[i] != 2*float32(i) || b.State[i] != 1 {
			t.Fatalf("after child: params[%d]=%v state[%d]=%v, want %v and 1", i, b.Params[i], i, b.State[i], 2*float32(i))
		}
	}
}

// TestHelperChild is the child half of TestCrossProcess.
func TestHelperChild(t *testing.T) {
	if os.Getenv("SHM_HELPER_CHILD") != "1" {
		t.Skip("helper process for TestCrossProcess")
	}
	n, _ := strconv.Atoi(os.Getenv("SHM_HELPER_N"))
	s, _ := strconv.Atoi(os.Getenv("SHM_HELPER_S"))
	l, err := NewLayout(n, s)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Map(os.NewFile(3, "inherited memfd"), l)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Unmap()
	if err := m.CheckHeader(42); err != nil {
		t.Fatal(err)
	}
	b := m.Buffers()
	for i := range b.Params {
		b.Params[i] = 2 * b.Grads[i]
		b.State[i] = 1
	}
}
