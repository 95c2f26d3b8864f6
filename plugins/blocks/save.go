package blocks

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
)

// The Save blob, little endian throughout:
//
//	magic      8 bytes "LRSGDBLK"
//	version    uint16 (blobVersion)
//	name       uint16 length + bytes (the optimizer's name)
//	hash       uint64 FNV-1a of name, version, NumParams and every resolved hyperparameter
//	step       int64  inner steps taken
//	-- proximal loops only --
//	t          int64  outer index
//	k, m       int64, int64
//	lambda     float64 bits, λ_t of the current outer step
//	pcg        uint16 length + rand.PCG.MarshalBinary
//	g2, s2     float64 bits
//	sketchInit uint8
//	sketch     uint32 count + float64 bits each
//	-- all --
//	rule       uint32 length + StatefulRule.AppendState (0 bytes if the rule is stateless)
const (
	blobMagic   = "LRSGDBLK"
	blobVersion = 1
)

// Save implements optimizer.Optimizer.
func (o *loop) Save(ctx context.Context) ([]byte, error) {
	if !o.ready {
		return nil, fmt.Errorf("%s: save: not initialised", o.name)
	}
	b := make([]byte, 0, 128+8*len(o.sketch))
	b = append(b, blobMagic...)
	b = binary.LittleEndian.AppendUint16(b, blobVersion)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(o.name)))
	b = append(b, o.name...)
	b = binary.LittleEndian.AppendUint64(b, o.hash)
	b = binary.LittleEndian.AppendUint64(b, uint64(o.step))
	if o.prox {
		b = binary.LittleEndian.AppendUint64(b, uint64(o.t))
		b = binary.LittleEndian.AppendUint64(b, uint64(o.k))
		b = binary.LittleEndian.AppendUint64(b, uint64(o.m))
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(o.lambda))
		p, err := o.pcg.MarshalBinary()
		if err != nil {
			return nil, fmt.Errorf("%s: save: rng: %w", o.name, err)
		}
		b = binary.LittleEndian.AppendUint16(b, uint16(len(p)))
		b = append(b, p...)
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(o.g2))
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(o.s2))
		b = append(b, boolByte(o.sketchInit))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(o.sketch)))
		for _, x := range o.sketch {
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(x))
		}
	}
	var rs []byte
	if o.stateful != nil {
		rs = o.stateful.AppendState(nil)
	}
	b = binary.LittleEndian.AppendUint32(b, uint32(len(rs)))
	b = append(b, rs...)
	return b, nil
}

func boolByte(x bool) byte {
	if x {
		return 1
	}
	return 0
}

// reader decodes a blob, remembering the first error.
type reader struct {
	b   []byte
	err error
}

func (r *reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n > len(r.b) {
		r.err = errors.New("blob truncated")
		return nil
	}
	x := r.b[:n]
	r.b = r.b[n:]
	return x
}

func (r *reader) u8() byte {
	if x := r.take(1); x != nil {
		return x[0]
	}
	return 0
}

func (r *reader) u16() uint16 {
	if x := r.take(2); x != nil {
		return binary.LittleEndian.Uint16(x)
	}
	return 0
}

func (r *reader) u32() uint32 {
	if x := r.take(4); x != nil {
		return binary.LittleEndian.Uint32(x)
	}
	return 0
}

func (r *reader) u64() uint64 {
	if x := r.take(8); x != nil {
		return binary.LittleEndian.Uint64(x)
	}
	return 0
}

func (r *reader) f64() float64 { return math.Float64frombits(r.u64()) }

// Restore implements optimizer.Optimizer. The blob must come from Save of
// an optimizer with the same name, version, NumParams and hyperparameters;
// on any error the optimizer's state is left as it was.
func (o *loop) Restore(ctx context.Context, blob []byte) error {
	if !o.ready {
		return fmt.Errorf("%s: restore: not initialised", o.name)
	}
	if err := o.restore(blob); err != nil {
		return fmt.Errorf("%s: restore: %w", o.name, err)
	}
	return nil
}

func (o *loop) restore(blob []byte) error {
	r := &reader{b: blob}
	if string(r.take(len(blobMagic))) != blobMagic {
		return errors.New("not an optimizer state blob (bad magic)")
	}
	if v := r.u16(); v != blobVersion {
		return fmt.Errorf("blob version %d, this build reads version %d", v, blobVersion)
	}
	name := string(r.take(int(r.u16())))
	if r.err == nil && name != o.name {
		return fmt.Errorf("blob was saved by optimizer %q", name)
	}
	if h := r.u64(); r.err == nil && h != o.hash {
		return errors.New("blob was saved with a different version, NumParams or hyperparameters")
	}
	step := int64(r.u64())
	var (
		t, k, m    int64
		lambda     float64
		pcg        rand.PCG
		g2, s2     float64
		sketchInit bool
		sketch     []float64
	)
	if o.prox {
		t, k, m = int64(r.u64()), int64(r.u64()), int64(r.u64())
		lambda = r.f64()
		p := r.take(int(r.u16()))
		if r.err == nil {
			if err := pcg.UnmarshalBinary(p); err != nil {
				return fmt.Errorf("rng state: %w", err)
			}
		}
		g2, s2 = r.f64(), r.f64()
		si := r.u8()
		cnt := r.u32()
		if r.err == nil && (si > 1 || int(cnt) != len(o.sketch)) {
			return fmt.Errorf("estimator sketch: init flag %d and %d values, want 0 or 1 and %d values", si, cnt, len(o.sketch))
		}
		sketchInit = si == 1
		sketch = make([]float64, cnt)
		for i := range sketch {
			sketch[i] = r.f64()
		}
		if r.err == nil && (step < 0 || t < 0 || k < 0 || m < 0 || k > m || (t == 0) != (m == 0)) {
			return fmt.Errorf("inconsistent counters step=%d t=%d k=%d m=%d", step, t, k, m)
		}
	}
	rs := r.take(int(r.u32()))
	if r.err != nil {
		return r.err
	}
	if len(r.b) != 0 {
		return fmt.Errorf("%d trailing bytes", len(r.b))
	}
	if o.stateful != nil {
		// Validate on the rule itself only after everything else parsed;
		// LoadState leaves the rule unchanged on error.
		if err := o.stateful.LoadState(rs); err != nil {
			return err
		}
	} else if len(rs) != 0 {
		return fmt.Errorf("%d bytes of rule state for a stateless rule", len(rs))
	}
	o.step = step
	if o.prox {
		o.t, o.k, o.m, o.lambda = t, int(k), int(m), lambda
		*o.pcg = pcg
		o.g2, o.s2 = g2, s2
		o.sketchInit = sketchInit
		copy(o.sketch, sketch)
	}
	return nil
}
