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
//	m_policy   uint32 length + StatefulPolicy.Save of the M_t policy (0 bytes if it is stateless)
//	inner_lr   uint32 length + the same for the inner-lr policy
//	lambda     uint32 length + the same for the λ schedule
//	-- all --
//	rule       uint32 length + StatefulRule.AppendState (0 bytes if the rule is stateless)
//
// Version 1, written by blocks 1.0.0 before the policies were values of
// their own, is still read. Its proximal part after lambda was
//
//	pcg        uint16 length + rand.PCG.MarshalBinary (the geometric policy's state)
//	g2, s2     float64 bits                          \
//	sketchInit uint8                                  > the psi policy's state
//	sketch     uint32 count + float64 bits each      /
//
// for every m_policy, with the fields of the policies not chosen holding
// their unused initial values.
const (
	blobMagic   = "LRSGDBLK"
	blobVersion = 2
)

// Save implements optimizer.Optimizer.
func (o *loop) Save(ctx context.Context) ([]byte, error) {
	if !o.ready {
		return nil, fmt.Errorf("%s: save: not initialised", o.name)
	}
	b := make([]byte, 0, 128)
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
		for _, sl := range o.pol.slots() {
			var ps []byte
			if sp, ok := sl.pol.(StatefulPolicy); ok {
				var err error
				if ps, err = sp.Save(); err != nil {
					return nil, fmt.Errorf("%s: save: %s=%s: %w", o.name, sl.param, sl.name, err)
				}
			}
			b = binary.LittleEndian.AppendUint32(b, uint32(len(ps)))
			b = append(b, ps...)
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
	version := r.u16()
	if r.err == nil && version != 1 && version != blobVersion {
		return fmt.Errorf("blob version %d, this build reads versions 1 to %d", version, blobVersion)
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
		t, k, m int64
		lambda  float64
		pol     policies
		states  [3][]byte // the policies' Save bytes, in slots order
	)
	if o.prox {
		// The policies that receive the state are new values, so that a
		// refused blob leaves the running ones untouched.
		var err error
		if pol, err = o.newPolicies(o.values, o.info); err != nil {
			return err
		}
		t, k, m = int64(r.u64()), int64(r.u64()), int64(r.u64())
		lambda = r.f64()
		if version == 1 {
			if states, err = readV1Policies(r, pol); err != nil {
				return err
			}
		} else {
			for i := range states {
				states[i] = r.take(int(r.u32()))
			}
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
	if o.prox {
		for i, sl := range pol.slots() {
			sp, ok := sl.pol.(StatefulPolicy)
			switch {
			case ok && (version > 1 || states[i] != nil):
				if err := sp.Restore(states[i]); err != nil {
					if version == 1 {
						return err
					}
					return fmt.Errorf("%s=%s: %w", sl.param, sl.name, err)
				}
			case ok:
				return fmt.Errorf("a version-1 blob holds no state for %s=%s", sl.param, sl.name)
			case len(states[i]) != 0:
				return fmt.Errorf("%d bytes of state for the stateless %s=%s", len(states[i]), sl.param, sl.name)
			}
		}
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
		o.pol = pol
	}
	return nil
}

// readV1Policies reads the policy part of a version-1 blob (see the
// layout above) and returns it as the state of the policies in pol, in
// slots order: the generator for geometric, the estimators for psi.
// Fields for a policy not chosen are checked as version 1 checked them
// and dropped.
func readV1Policies(r *reader, pol policies) ([3][]byte, error) {
	var states [3][]byte
	p := r.take(int(r.u16()))
	if r.err == nil {
		var pcg rand.PCG
		if err := pcg.UnmarshalBinary(p); err != nil {
			return states, fmt.Errorf("rng state: %w", err)
		}
	}
	est := r.b
	r.f64() // g2
	r.f64() // s2
	si, cnt := r.u8(), r.u32()
	psi, isPsi := pol.m.(*psiPolicy)
	want := 0
	if isPsi {
		want = len(psi.sketch)
	}
	if r.err == nil && (si > 1 || int(cnt) != want) {
		return states, sketchError(si, cnt, want)
	}
	for range cnt {
		r.f64()
	}
	if r.err != nil {
		return states, nil // reported by the caller as truncation
	}
	switch pol.m.(type) {
	case *geometricPolicy:
		states[0] = p
	case *psiPolicy:
		states[0] = est[:len(est)-len(r.b)]
	}
	return states, nil
}
