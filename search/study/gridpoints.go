package study

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// GridPoints returns the study's grid as goptuna internal parameter values
// (categorical values as choice indices), in order: the first parameter
// (the optimizer, then the space's order) varies slowest. Parameters that
// do not apply to a point's optimizer are left out and duplicate points
// dropped.
//
// With the grid sampler every sampled parameter must have values: the
// optimizer and categorical parameters default to all their choices,
// numeric ones must be listed under grid:. With another sampler only the
// listed parameters form the grid (nil when there is none); the sampler
// fills in the rest.
func (s *Study) GridPoints() ([]map[string]float64, error) {
	type axis struct {
		name   string
		values []float64
		param  Param
	}
	var axes []axis
	pure := s.Sampler == SamplerGrid
	if len(s.Optimizers) > 0 {
		vals := s.Grid[OptimizerParam]
		if vals == nil && pure {
			vals = s.Optimizers
		}
		if vals != nil {
			ax := axis{name: OptimizerParam}
			for _, v := range vals {
				ax.values = append(ax.values, float64(slices.Index(s.Optimizers, v)))
			}
			axes = append(axes, ax)
		}
	}
	var missing []string
	for _, p := range s.Space {
		if p.Type == TypeFixed {
			continue
		}
		vals, listed := s.Grid[p.Name]
		if !listed {
			if !pure {
				continue
			}
			if p.Type != TypeCategorical {
				missing = append(missing, p.Name)
				continue
			}
			vals = p.Choices
		}
		ax := axis{name: p.Name, param: p}
		for _, v := range vals {
			x, err := p.Internal(v)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", s.gridWhere(p.Name), err)
			}
			ax.values = append(ax.values, x)
		}
		axes = append(axes, ax)
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("sampler grid: list values for %s under grid:", strings.Join(missing, ", "))
	}
	if len(axes) == 0 {
		if pure {
			return nil, fmt.Errorf("sampler grid: the study has nothing to vary")
		}
		return nil, nil
	}
	var points []map[string]float64
	seen := map[string]bool{}
	idx := make([]int, len(axes))
	for {
		pt := map[string]float64{}
		opt := s.Optimizer
		if len(axes) > 0 && axes[0].name == OptimizerParam {
			opt = s.Optimizers[int(axes[0].values[idx[0]])]
		}
		var key strings.Builder
		for i, ax := range axes {
			if ax.name != OptimizerParam && !ax.param.AppliesTo(opt) {
				continue
			}
			pt[ax.name] = ax.values[idx[i]]
			key.WriteString(ax.name + "=" + strconv.FormatFloat(ax.values[idx[i]], 'g', -1, 64) + ";")
		}
		if !seen[key.String()] {
			seen[key.String()] = true
			points = append(points, pt)
		}
		// Advance the odometer, last axis fastest.
		i := len(axes) - 1
		for ; i >= 0; i-- {
			idx[i]++
			if idx[i] < len(axes[i].values) {
				break
			}
			idx[i] = 0
		}
		if i < 0 {
			return points, nil
		}
	}
}

// FormatPoint renders a grid point (internal values) for display, e.g.
// "optimizer=sgd seed=2".
func (s *Study) FormatPoint(pt map[string]float64) string {
	var parts []string
	if x, ok := pt[OptimizerParam]; ok && len(s.Optimizers) > 0 {
		parts = append(parts, OptimizerParam+"="+s.Optimizers[int(x)])
	}
	for _, p := range s.Space {
		if x, ok := pt[p.Name]; ok {
			parts = append(parts, p.Name+"="+p.Format(x))
		}
	}
	return strings.Join(parts, " ")
}

// TotalTrials is the number of trials the study runs in total: with the
// grid sampler one per grid point (Trials is ignored); otherwise Trials,
// or the number of grid points when the grid is larger, so that every
// point runs.
func (s *Study) TotalTrials() (int, error) {
	pts, err := s.GridPoints()
	if err != nil {
		return 0, err
	}
	if s.Sampler == SamplerGrid {
		return len(pts), nil
	}
	return max(s.Trials, len(pts)), nil
}
