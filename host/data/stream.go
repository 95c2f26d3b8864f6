package data

import (
	"encoding/binary"
	"fmt"
)

// Pad is the zero padding, in pixels on every side, of the random-crop
// augmentation (torchvision's RandomCrop(32, padding=4)).
const Pad = 4

// Stream draws training minibatches the way the reference code's shuffled
// DataLoader does: passes over the set, each in a fresh random permutation,
// with optional augmentation (zero padding by Pad, a random crop back to
// H×W, a random horizontal flip, then per-channel normalisation).
//
// Batches have a fixed size and run across pass boundaries: when a pass
// has fewer than batch images left, the batch is completed from the start
// of the next pass, so every image is drawn exactly once per pass (the
// reference DataLoader instead yields a short last batch).
//
// The permutation of pass p is a function of (seed, p) alone, and the
// augmentation of the draw at (pass p, offset k) a function of (seed, p, k)
// alone, so the position (State) is all a resumed run needs.
//
// A Stream is not safe for concurrent use.
type Stream struct {
	set     *Set
	batch   int
	seed    uint64
	augment bool
	lut     []float32 // C*256 normalisation table
	perm    []int32   // permutation of the current pass
	pass    int       // current pass; perm belongs to it
	offset  int       // next position in perm
}

// State is a Stream's position: enough to continue bit-identically. It is
// a plain struct of integers (and implements encoding.BinaryMarshaler).
type State struct {
	Seed   uint64 // the stream's seed (permutations and augmentation derive from it)
	N      int    // size of the set the state belongs to (checked by SetState)
	Pass   int    // current pass, from 0
	Offset int    // draws already taken from the current pass (N at a pass's end, before the next draw starts pass+1)
}

// NewStream returns a stream over s with the given batch size and seed,
// positioned at the start of pass 0. With augment, every image is padded
// by Pad zero pixels, randomly cropped back to H×W and flipped
// horizontally with probability 1/2 before normalisation.
func NewStream(s *Set, batch int, seed uint64, augment bool) *Stream {
	if s.N == 0 {
		panic(fmt.Sprintf("data: NewStream over empty set %q", s.Name))
	}
	if batch <= 0 {
		panic(fmt.Sprintf("data: NewStream batch %d, expected > 0", batch))
	}
	st := &Stream{
		set:     s,
		batch:   batch,
		seed:    seed,
		augment: augment,
		lut:     s.normLUT(),
		perm:    make([]int32, s.N),
	}
	st.startPass(0)
	return st
}

// Batch returns the stream's batch size.
func (st *Stream) Batch() int { return st.batch }

// Set returns the set the stream draws from.
func (st *Stream) Set() *Set { return st.set }

// State returns the stream's position.
func (st *Stream) State() State {
	return State{Seed: st.seed, N: st.set.N, Pass: st.pass, Offset: st.offset}
}

// SetState moves the stream to a position returned by State (on this or
// another stream over an identical set); the next batch is then the one
// that stream would have drawn.
func (st *Stream) SetState(s State) error {
	if s.N != st.set.N {
		return fmt.Errorf("stream over %q: state is for a set of %d images, this one has %d", st.set.Name, s.N, st.set.N)
	}
	if s.Pass < 0 || s.Offset < 0 || s.Offset > s.N {
		return fmt.Errorf("stream over %q: state pass %d offset %d, expected pass >= 0 and offset 0..%d", st.set.Name, s.Pass, s.Offset, s.N)
	}
	st.seed = s.Seed
	st.startPass(s.Pass)
	st.offset = s.Offset
	return nil
}

// startPass makes perm the permutation of pass p.
func (st *Stream) startPass(p int) {
	for i := range st.perm {
		st.perm[i] = int32(i)
	}
	r := newRNG(mix(st.seed, domPerm, uint64(p)))
	r.ShuffleInt32(st.perm)
	st.pass = p
	st.offset = 0
}

// Next writes the next batch: images into x (batch*C*H*W float32, NCHW,
// normalised, augmented if the stream augments), labels into y (batch) and,
// when idx is not nil, the set indices drawn into idx (batch). It does not
// allocate (except every pass's reshuffle, which reuses its buffer).
func (st *Stream) Next(x []float32, y []int, idx []int) {
	s := st.set
	sz := s.ImageSize()
	if len(x) != st.batch*sz || len(y) != st.batch || (idx != nil && len(idx) != st.batch) {
		panic(fmt.Sprintf("data: Stream.Next: x has %d values, y %d, idx %d; expected %d, %d and %d (or nil idx)",
			len(x), len(y), len(idx), st.batch*sz, st.batch, st.batch))
	}
	for b := 0; b < st.batch; b++ {
		if st.offset == s.N {
			st.startPass(st.pass + 1)
		}
		i := int(st.perm[st.offset])
		dst := x[b*sz : (b+1)*sz]
		src := s.Images[i*sz : (i+1)*sz]
		if st.augment {
			dx, dy, flip := augmentParams(st.seed, st.pass, st.offset)
			st.writeAugmented(dst, src, dx, dy, flip)
		} else {
			st.writePlain(dst, src)
		}
		y[b] = int(s.Labels[i])
		if idx != nil {
			idx[b] = i
		}
		st.offset++
	}
}

// augmentParams returns the crop offsets (dx, dy in 0..2*Pad, the top-left
// corner of the crop window in the padded image) and the flip of the draw
// at (pass, offset).
func augmentParams(seed uint64, pass, offset int) (dx, dy int, flip bool) {
	h := mix(seed, domAugment, uint64(pass), uint64(offset))
	const n = 2*Pad + 1
	// Multiply-shift on disjoint bit fields: dx from the top 32 bits, dy
	// from bits 1..31, flip from bit 0.
	dx = int((h >> 32) * n >> 32)
	dy = int(((h >> 1) & 0x7fffffff) * n >> 31)
	flip = h&1 == 1
	return dx, dy, flip
}

// writePlain normalises one image without augmentation.
func (st *Stream) writePlain(dst []float32, src []uint8) {
	s := st.set
	hw := s.H * s.W
	for c := 0; c < s.C; c++ {
		lut := (*[256]float32)(st.lut[c*256 : c*256+256])
		in := src[c*hw : (c+1)*hw]
		out := dst[c*hw : (c+1)*hw]
		out = out[:len(in)]
		for k, v := range in {
			out[k] = lut[v]
		}
	}
}

// writeAugmented writes out[y][x] = padded[y+dy][x'+dx] with x' = x, or
// W-1-x when flipped (crop, then flip, as torchvision's RandomCrop followed
// by RandomHorizontalFlip), where padded is the image with Pad zero pixels
// on every side. Zero pixels normalise to (0-mean)/std, as in torchvision,
// where the padding is applied to the raw image before ToTensor/Normalize.
func (st *Stream) writeAugmented(dst []float32, src []uint8, dx, dy int, flip bool) {
	s := st.set
	H, W := s.H, s.W
	hw := H * W
	sx, sy := dx-Pad, dy-Pad // source = output + shift
	// Crop columns j in [x0, x1) come from source columns j+sx, inside the
	// image; the rest is padding. Flipped, output column k shows crop
	// column W-1-k, so the image part is k in [W-x1, W-x0).
	x0, x1 := max(0, -sx), min(W, W-sx)
	k0, k1 := x0, x1
	if flip {
		k0, k1 = W-x1, W-x0
	}
	for c := 0; c < s.C; c++ {
		lut := (*[256]float32)(st.lut[c*256 : c*256+256])
		zero := lut[0]
		plane := src[c*hw : (c+1)*hw]
		out := dst[c*hw : (c+1)*hw]
		for y := 0; y < H; y++ {
			row := out[y*W : (y+1)*W]
			yy := y + sy
			if yy < 0 || yy >= H {
				for k := range row {
					row[k] = zero
				}
				continue
			}
			for k := 0; k < k0; k++ {
				row[k] = zero
			}
			for k := k1; k < W; k++ {
				row[k] = zero
			}
			in := plane[yy*W+x0+sx : yy*W+x1+sx]
			seg := row[k0:k1]
			seg = seg[:len(in)]
			if !flip {
				for k, v := range in {
					seg[k] = lut[v]
				}
				continue
			}
			last := len(seg) - 1
			for k, v := range in {
				seg[last-k] = lut[v]
			}
		}
	}
}

// MarshalBinary encodes the state as four little-endian 64-bit words.
func (s State) MarshalBinary() ([]byte, error) {
	b := make([]byte, 32)
	binary.LittleEndian.PutUint64(b[0:], s.Seed)
	binary.LittleEndian.PutUint64(b[8:], uint64(s.N))
	binary.LittleEndian.PutUint64(b[16:], uint64(s.Pass))
	binary.LittleEndian.PutUint64(b[24:], uint64(s.Offset))
	return b, nil
}

// UnmarshalBinary decodes a state written by MarshalBinary.
func (s *State) UnmarshalBinary(b []byte) error {
	if len(b) != 32 {
		return fmt.Errorf("stream state: %d bytes, expected 32", len(b))
	}
	s.Seed = binary.LittleEndian.Uint64(b[0:])
	s.N = int(binary.LittleEndian.Uint64(b[8:]))
	s.Pass = int(binary.LittleEndian.Uint64(b[16:]))
	s.Offset = int(binary.LittleEndian.Uint64(b[24:]))
	return nil
}
