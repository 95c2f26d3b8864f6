package data

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"runtime"
	"sync"
)

// The synthetic set: 3×32×32 images of 10 classes, each image
//
//	clip(0.5 + a·T_k(x−sx, y−sy) + b·U(x, y) + σ·ε)
//
// where T_k is class k's smooth template (a sum of synthComponents random
// plane waves per channel with 1..3 cycles per image), shifted circularly
// by a random (sx, sy) in −synthShift..synthShift, a a random contrast,
// U a per-image smooth nuisance field of the same kind and ε white noise.
// The shifts and nuisance make classes overlap, so a nearest-class-mean
// classifier lands well below 100% (see TestSyntheticNotTrivial), while
// the class structure stays learnable by a small convolutional net.
const (
	synthVersion    = "synthetic/v1"
	synthClasses    = 10
	synthC, synthH  = 3, 32
	synthW          = 32
	synthComponents = 4
	synthShift      = 6
	synthNuisance   = 0.18 // b
	synthNoise      = 0.10 // σ
	synthTrain      = 5000 // default sizes
	synthTest       = 1000
)

// Synthetic normalisation constants: the generator centres pixels on 0.5,
// and the per-channel std of its output is 0.28 ± 0.005 across seeds
// (TestSyntheticStats checks both).
var (
	synthMean = []float32{0.5, 0.5, 0.5}
	synthStd  = []float32{0.28, 0.28, 0.28}
)

// wave is one plane wave A·cos(2π(fx·x + fy·y)/32 + φ).
type wave struct {
	fx, fy int
	amp    float64
	phase  float64
}

func randomWaves(r *rng, n int, amp float64) []wave {
	ws := make([]wave, n)
	for i := range ws {
		for ws[i].fx == 0 && ws[i].fy == 0 {
			ws[i].fx = r.Intn(7) - 3
			ws[i].fy = r.Intn(4) // fy >= 0 covers every direction once with fx of both signs
		}
		ws[i].amp = amp * (0.5 + r.Float64())
		ws[i].phase = 2 * math.Pi * r.Float64()
	}
	return ws
}

// addWaves adds scale·Σ waves, shifted by (sx, sy), to the H×W plane f.
func addWaves(f []float64, ws []wave, scale float64, sx, sy int, cosX, sinX, cosY, sinY []float64) {
	for _, w := range ws {
		ph := w.phase - 2*math.Pi*float64(w.fx*sx+w.fy*sy)/synthW
		// cos(a+b) = cos a cos b − sin a sin b with a = 2π fx x/W + ph, b = 2π fy y/H.
		for x := 0; x < synthW; x++ {
			a := 2*math.Pi*float64(w.fx*x)/synthW + ph
			cosX[x], sinX[x] = math.Cos(a), math.Sin(a)
		}
		for y := 0; y < synthH; y++ {
			b := 2 * math.Pi * float64(w.fy*y) / synthH
			cosY[y], sinY[y] = math.Cos(b), math.Sin(b)
		}
		amp := scale * w.amp
		for y := 0; y < synthH; y++ {
			row := f[y*synthW : (y+1)*synthW]
			cy, sy := amp*cosY[y], amp*sinY[y]
			for x := range row {
				row[x] += cosX[x]*cy - sinX[x]*sy
			}
		}
	}
}

// generateSynthetic builds the synthetic train and test sets.
func generateSynthetic(ctx context.Context, src Source) (train, test *Set, err error) {
	nTrain, nTest := src.TrainSize, src.TestSize
	if nTrain == 0 {
		nTrain = synthTrain
	}
	if nTest == 0 {
		nTest = synthTest
	}
	// Templates: class k, channel c.
	tr := newRNG(mix(src.Seed, domSynthTemplate))
	templates := make([][]wave, synthClasses*synthC)
	for i := range templates {
		templates[i] = randomWaves(&tr, synthComponents, 0.12)
	}
	if train, err = synthSet(ctx, src.Seed, "train", 0, nTrain, templates); err != nil {
		return nil, nil, err
	}
	if test, err = synthSet(ctx, src.Seed, "test", 1, nTest, templates); err != nil {
		return nil, nil, err
	}
	return train, test, nil
}

// synthSet generates n images of one split. Image i depends only on
// (seed, split, i) and the templates, so a smaller set is a prefix of a
// larger one. Labels cycle 0..9, so classes are balanced.
func synthSet(ctx context.Context, seed uint64, name string, split uint64, n int, templates [][]wave) (*Set, error) {
	s := &Set{
		Name: "synthetic/" + name, N: n, C: synthC, H: synthH, W: synthW, Classes: synthClasses,
		Images: make([]uint8, n*synthC*synthH*synthW),
		Labels: make([]uint8, n),
		Mean:   append([]float32(nil), synthMean...),
		Std:    append([]float32(nil), synthStd...),
	}
	for k := 0; k < synthClasses; k++ {
		s.ClassNames = append(s.ClassNames, fmt.Sprintf("class%d", k))
	}
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s split=%s seed=%d n=%d", synthVersion, name, seed, n)))
	s.Checksum = hex.EncodeToString(sum[:])

	// The 256 quantiles of the standard normal at (k+0.5)/256: a random
	// byte indexes a normal variate (discretised, variance 0.98).
	noise := new([256]float64)
	for k := range noise {
		noise[k] = math.Sqrt2 * math.Erfinv(2*(float64(k)+0.5)/256-1)
	}
	workers := min(runtime.GOMAXPROCS(0), 8)
	var wg sync.WaitGroup
	errs := make([]error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			f := make([]float64, synthH*synthW)
			tmp := make([]float64, 4*synthW)
			for i := w; i < n; i += workers {
				if i%1024 == w {
					if err := checkCtx(ctx, "generate synthetic"); err != nil {
						errs[w] = err
						return
					}
				}
				synthImage(s, i, mix(seed, domSynthSample, split, uint64(i)), templates, noise, f, tmp)
			}
		}(w)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return s, nil
}

func synthImage(s *Set, i int, key uint64, templates [][]wave, noise *[256]float64, f, tmp []float64) {
	r := newRNG(key)
	k := i % synthClasses
	s.Labels[i] = uint8(k)
	sx, sy := r.Intn(2*synthShift+1)-synthShift, r.Intn(2*synthShift+1)-synthShift
	contrast := 0.6 + 0.8*r.Float64()
	cosX, sinX, cosY, sinY := tmp[:synthW], tmp[synthW:2*synthW], tmp[2*synthW:3*synthW], tmp[3*synthW:]
	hw := synthH * synthW
	for c := 0; c < synthC; c++ {
		// White noise: 8 discretised normals per 64-bit draw.
		for p := 0; p < len(f); p += 8 { // H*W is a multiple of 8
			u := r.Uint64()
			for q := 0; q < 8; q++ {
				f[p+q] = 0.5 + synthNoise*noise[u&0xff]
				u >>= 8
			}
		}
		addWaves(f, templates[k*synthC+c], contrast, sx, sy, cosX, sinX, cosY, sinY)
		nuisance := randomWaves(&r, 3, synthNuisance)
		addWaves(f, nuisance, 1, 0, 0, cosX, sinX, cosY, sinY)
		out := s.Images[i*synthC*hw+c*hw : i*synthC*hw+(c+1)*hw]
		for p, v := range f {
			out[p] = uint8(math.Round(255 * min(1, max(0, v))))
		}
	}
}
