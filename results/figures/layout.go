package figures

import (
	"fmt"
	"image/color"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// colour is the i-th colour of the figures' palette (plotutil's).
func colour(i int) color.Color { return plotutil.Color(i) }

// dashes is the i-th dash pattern of the figures (plotutil's).
func dashes(i int) []vg.Length { return plotutil.Dashes(i) }

// legendRows is the number of legend entries per column of the band under
// a figure of several panels, which holds its legend and notes: legends
// never sit on the data.
const legendRows = 3

// bandFont is the size of the band's text.
const bandFont = 7

// panel is one plot of a figure, optionally with a second Y axis on its
// right.
type panel struct {
	*plot.Plot
	right *rightAxis
}

// rightAxis is a second Y axis drawn on a panel's right edge: values v on
// it are drawn at the panel's Y coordinate to(v), which maps [Min, Max]
// onto the panel's Y range.
type rightAxis struct {
	Label    string
	Min, Max float64
}

// to maps a value of the right axis onto the panel's Y axis.
func (r *rightAxis) to(p *plot.Plot, v float64) float64 {
	return p.Y.Min + (v-r.Min)/(r.Max-r.Min)*(p.Y.Max-p.Y.Min)
}

// entry is one line of a figure's legend.
type entry struct {
	label  string
	thumbs []plot.Thumbnailer
}

// figure is a grid of panels with a band below for the legend and notes.
type figure struct {
	cols   int
	panels []*panel
	legend []entry
	notes  []string
}

func (f *figure) add(label string, thumbs ...plot.Thumbnailer) {
	if !slices.ContainsFunc(f.legend, func(e entry) bool { return e.label == label }) {
		f.legend = append(f.legend, entry{label, thumbs})
	}
}

func (f *figure) note(format string, a ...any) { f.notes = append(f.notes, fmt.Sprintf(format, a...)) }

// grid returns the figure's columns and rows of panels.
func (f *figure) grid() (cols, rows int) {
	cols = max(1, min(f.cols, len(f.panels)))
	return cols, max(1, (len(f.panels)+cols-1)/cols)
}

// size returns the figure's width and height: opt.Width × opt.Height per
// panel, plus the band for the legend and the notes.
func (f *figure) size(opt Options) (w, h, band vg.Length) {
	cols, rows := f.grid()
	w = vg.Length(cols) * opt.Width
	band = bandHeight(f.legend, f.notes, w-bandMargin*2)
	return w, vg.Length(rows)*opt.Height + band, band
}

// bandMargin is the band's left and right margin.
const bandMargin = 8

// bandStyle is the text style of the band.
func bandStyle() text.Style {
	sty := text.Style{Font: plot.DefaultFont, Handler: plot.DefaultTextHandler}
	sty.Font.Size = vg.Points(bandFont)
	return sty
}

// bandLine is the height of a line of the band.
func bandLine(sty text.Style) vg.Length { return sty.Height("Xg") * 1.25 }

// bandHeight is the height the legend (legendRows entries a column) and
// the notes (wrapped to width) need.
func bandHeight(entries []entry, notes []string, width vg.Length) vg.Length {
	sty := bandStyle()
	lines := min(len(entries), legendRows)
	for _, n := range notes {
		lines += len(wrap(sty, n, width))
	}
	return vg.Length(lines)*bandLine(sty) + vg.Points(10)
}

// save draws the figure into a PNG file.
func (f *figure) save(name string, opt Options) error {
	w, h, bandH := f.size(opt)
	img := vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(opt.DPI))
	dc := draw.New(img)
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())
	cols, rows := f.grid()
	area := draw.Crop(dc, 0, 0, bandH, 0)
	tiles := draw.Tiles{Rows: rows, Cols: cols, PadTop: vg.Points(4), PadBottom: vg.Points(4),
		PadLeft: vg.Points(4), PadRight: vg.Points(6), PadX: vg.Points(12), PadY: vg.Points(8)}
	for i, p := range f.panels {
		c := tiles.At(area, i%cols, i/cols)
		if p.right != nil {
			c = draw.Crop(c, 0, -p.right.width(p.Plot), 0, 0)
		}
		p.Draw(c)
		if p.right != nil {
			p.right.draw(p.Plot, c)
		}
	}
	band := draw.Crop(dc, vg.Points(bandMargin), -vg.Points(bandMargin), 0, -(h - bandH))
	drawBand(band, f.legend, f.notes)
	out, err := os.Create(name)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(out); err != nil {
		out.Close()
		return fmt.Errorf("write %s: %w", name, err)
	}
	return out.Close()
}

// width is the room the right axis needs beside the panel.
func (r *rightAxis) width(p *plot.Plot) vg.Length {
	var w vg.Length
	for _, t := range (cleanTicks{}).Ticks(r.Min, r.Max) {
		w = max(w, p.Y.Tick.Label.Width(t.Label))
	}
	return p.Y.Tick.Length + 2*p.Y.Tick.Label.Width(" ") + w + p.Y.Label.TextStyle.Height(r.Label) + p.Y.Label.Padding
}

// draw draws the right axis of p, which was drawn into c.
func (r *rightAxis) draw(p *plot.Plot, c draw.Canvas) {
	dc := p.DataCanvas(c)
	x0 := dc.Max.X
	c.StrokeLine2(p.Y.LineStyle, x0, dc.Min.Y, x0, dc.Max.Y)
	sty := p.Y.Tick.Label
	sty.XAlign, sty.YAlign = draw.XLeft, draw.YCenter
	var widest vg.Length
	for _, t := range (cleanTicks{}).Ticks(r.Min, r.Max) {
		if t.Value < r.Min || t.Value > r.Max {
			continue
		}
		y := dc.Y(p.Y.Norm(r.to(p, t.Value)))
		l := p.Y.Tick.Length
		if t.IsMinor() {
			l /= 2
		}
		c.StrokeLine2(p.Y.Tick.LineStyle, x0, y, x0+l, y)
		if !t.IsMinor() {
			c.FillText(sty, vg.Point{X: x0 + p.Y.Tick.Length + sty.Width(" "), Y: y}, t.Label)
			widest = max(widest, sty.Width(t.Label))
		}
	}
	// The label as gonum draws the left one: rotated a quarter turn,
	// reading upwards.
	ls := p.Y.Label.TextStyle
	ls.Rotation += math.Pi / 2
	x := x0 + p.Y.Tick.Length + 2*sty.Width(" ") + widest + p.Y.Label.Padding + ls.Height(r.Label)
	c.FillText(ls, vg.Point{X: x - ls.FontExtents().Descent, Y: (dc.Min.Y + dc.Max.Y) / 2}, r.Label)
}

// drawBand draws the legend in columns of legendRows entries, then the
// notes, wrapped to the band's width.
func drawBand(c draw.Canvas, entries []entry, notes []string) {
	sty := bandStyle()
	lineH := bandLine(sty)
	c.Max.Y -= vg.Points(2)
	x := c.Min.X
	for i := 0; i < len(entries); i += legendRows {
		l := plot.NewLegend()
		l.TextStyle = sty
		l.Left, l.Top = true, true
		l.ThumbnailWidth = vg.Points(18)
		l.Padding = lineH - sty.Height("Xg")
		for _, e := range entries[i:min(i+legendRows, len(entries))] {
			l.Add(e.label, e.thumbs...)
		}
		lc := c
		lc.Min.X = x
		l.Draw(lc)
		r := l.Rectangle(lc)
		x += r.Max.X - r.Min.X + vg.Points(14)
	}
	y := c.Max.Y - vg.Length(min(len(entries), legendRows))*lineH
	sty.XAlign, sty.YAlign = draw.XLeft, draw.YTop
	for _, n := range notes {
		for _, ln := range wrap(sty, n, c.Max.X-c.Min.X) {
			c.FillText(sty, vg.Point{X: c.Min.X, Y: y}, ln)
			y -= lineH
		}
	}
}

// wrap breaks s into lines no wider than w.
func wrap(sty text.Style, s string, w vg.Length) []string {
	var lines []string
	cur := ""
	for _, word := range strings.Fields(s) {
		next := strings.TrimSpace(cur + " " + word)
		if cur != "" && sty.Width(next) > w {
			lines = append(lines, cur)
			next = word
		}
		cur = next
	}
	return append(lines, cur)
}

// span is a range of values that an axis must show.
type span struct{ lo, hi float64 }

func emptySpan() span { return span{math.Inf(1), math.Inf(-1)} }

// add widens the span to v (NaN and ±Inf are ignored).
func (s *span) add(vs ...float64) {
	for _, v := range vs {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			s.lo, s.hi = min(s.lo, v), max(s.hi, v)
		}
	}
}

func (s span) ok() bool { return s.lo <= s.hi }

// padded returns the span widened by 8% of its length on each side (by
// a fixed amount when it is a point), so that no marker, bar or band
// touches the frame.
func (s span) padded() (float64, float64) {
	if !s.ok() {
		return 0, 1
	}
	d := 0.08 * (s.hi - s.lo)
	if d == 0 {
		d = 0.1 * math.Max(math.Abs(s.lo), 1)
	}
	return s.lo - d, s.hi + d
}

// paddedLog is padded for a log axis: 8% of the span's length in log
// space (a factor 1.5 for a single value).
func (s span) paddedLog() (float64, float64) {
	if !s.ok() || s.lo <= 0 {
		return s.padded()
	}
	f := math.Pow(s.hi/s.lo, 0.08)
	if f == 1 {
		f = 1.5
	}
	return s.lo / f, s.hi * f
}

// valueLabel formats a swept value: "1/n" when it is the reciprocal of an
// integer n ≥ 2 (as the paper writes γ), else with 4 significant digits.
func valueLabel(v float64) string {
	if v > 0 && v < 1 {
		n := math.Round(1 / v)
		if n >= 2 && math.Abs(1/v-n) < 1e-6*n {
			return "1/" + strconv.Itoa(int(n))
		}
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

// valueTicks labels an axis at the given values: every value when there
// are at most 8, else 8 of them spread evenly, the others as unlabelled
// minor ticks.
func valueTicks(values []float64) plot.ConstantTicks {
	vs := slices.Clone(values)
	slices.Sort(vs)
	vs = slices.Compact(vs)
	step := 1
	if len(vs) > 8 {
		step = (len(vs) + 7) / 8
	}
	ticks := make(plot.ConstantTicks, len(vs))
	for i, v := range vs {
		ticks[i] = plot.Tick{Value: v}
		if i%step == 0 {
			ticks[i].Label = valueLabel(v)
		}
	}
	return ticks
}

// errPoints are points with asymmetric Y errors.
type errPoints struct {
	plotter.XYs
	plotter.YErrors
}

// xyErrPoints are points with X and Y errors.
type xyErrPoints struct {
	plotter.XYs
	plotter.XErrors
	plotter.YErrors
}

// band is a shaded region between lo and hi over the x values.
func band(xs, lo, hi []float64, c color.Color) *plotter.Polygon {
	pts := make(plotter.XYs, 0, 2*len(xs))
	for i := range xs {
		pts = append(pts, plotter.XY{X: xs[i], Y: hi[i]})
	}
	for i := len(xs) - 1; i >= 0; i-- {
		pts = append(pts, plotter.XY{X: xs[i], Y: lo[i]})
	}
	poly, err := plotter.NewPolygon(pts)
	if err != nil {
		return nil
	}
	r, g, b, _ := c.RGBA()
	poly.Color = color.NRGBA{R: uint8(r >> 8), G: uint8(g >> 8), B: uint8(b >> 8), A: 60}
	poly.LineStyle.Width = 0
	return poly
}

// cleanTicks are gonum's default ticks with their labels written with up
// to 4 significant digits and no trailing zeros ("250", not "250.00").
type cleanTicks struct{}

// Ticks implements plot.Ticker.
func (cleanTicks) Ticks(lo, hi float64) []plot.Tick {
	ticks := plot.DefaultTicks{}.Ticks(lo, hi)
	for i, t := range ticks {
		if t.Label != "" {
			ticks[i].Label = strconv.FormatFloat(t.Value, 'g', 4, 64)
		}
	}
	return ticks
}

// newPanel returns a plot for a panel of a figure: a grid, no legend of
// its own (the figure's band holds it), small fonts.
func newPanel(title, x, y string) *panel {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font.Size = vg.Points(10)
	p.X.Label.Text, p.Y.Label.Text = x, y
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font.Size = vg.Points(8)
		a.Tick.Label.Font.Size = vg.Points(7)
	}
	p.X.Tick.Marker, p.Y.Tick.Marker = cleanTicks{}, cleanTicks{}
	p.Add(plotter.NewGrid())
	return &panel{Plot: p}
}

// setRange fixes an axis to a padded span.
func setRange(a *plot.Axis, s span, log bool) {
	if log {
		a.Min, a.Max = s.paddedLog()
		return
	}
	a.Min, a.Max = s.padded()
}

// noDataPanel marks a panel without data.
func noDataPanel(p *panel) {
	p.Title.Text += " (no data)"
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 0, 1, 0, 1
}

// pointLabels writes a label beside each of its points, at the first of
// six places around the point's marker (right above, right below, left
// above, left below, above, below) where it overlaps no other label or
// marker and stays inside the data area: labels of nearby points do not
// pile up.
type pointLabels struct {
	pts    plotter.XYs
	texts  []string
	radius []vg.Length // each point's marker radius, kept clear
	style  text.Style
}

func newPointLabels(size vg.Length) *pointLabels {
	sty := text.Style{Font: plot.DefaultFont, Handler: plot.DefaultTextHandler, XAlign: draw.XLeft, YAlign: draw.YBottom}
	sty.Font.Size = size
	return &pointLabels{style: sty}
}

func (l *pointLabels) add(pt plotter.XY, label string, radius vg.Length) {
	l.pts, l.texts, l.radius = append(l.pts, pt), append(l.texts, label), append(l.radius, radius)
}

// Plot implements plot.Plotter.
func (l *pointLabels) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	var taken []vg.Rectangle
	for i, pt := range l.pts {
		x, y, r := trX(pt.X), trY(pt.Y), l.radius[i]
		taken = append(taken, vg.Rectangle{Min: vg.Point{X: x - r, Y: y - r}, Max: vg.Point{X: x + r, Y: y + r}})
	}
	gap := vg.Points(2)
	for i, pt := range l.pts {
		x, y, r := trX(pt.X), trY(pt.Y), l.radius[i]
		w, h := l.style.Width(l.texts[i]), l.style.Height(l.texts[i])
		places := []vg.Point{
			{X: x + r + gap, Y: y + gap}, {X: x + r + gap, Y: y - h - gap},
			{X: x - r - gap - w, Y: y + gap}, {X: x - r - gap - w, Y: y - h - gap},
			{X: x - w/2, Y: y + r + gap}, {X: x - w/2, Y: y - r - gap - h},
		}
		best := places[0]
		for _, at := range places {
			box := vg.Rectangle{Min: at, Max: vg.Point{X: at.X + w, Y: at.Y + h}}
			inside := box.Min.X >= c.Min.X && box.Max.X <= c.Max.X && box.Min.Y >= c.Min.Y && box.Max.Y <= c.Max.Y
			if inside && !slices.ContainsFunc(taken, func(o vg.Rectangle) bool { return overlaps(box, o) }) {
				best = at
				break
			}
		}
		taken = append(taken, vg.Rectangle{Min: best, Max: vg.Point{X: best.X + w, Y: best.Y + h}})
		c.FillText(l.style, best, l.texts[i])
	}
}

func overlaps(a, b vg.Rectangle) bool {
	return a.Min.X < b.Max.X && b.Min.X < a.Max.X && a.Min.Y < b.Max.Y && b.Min.Y < a.Max.Y
}

// DataRange implements plot.DataRanger.
func (l *pointLabels) DataRange() (xmin, xmax, ymin, ymax float64) {
	return plotter.XYRange(l.pts)
}

// GlyphBoxes implements plot.GlyphBoxer: room for each label at its first
// place, right of its point, so that the plot pads its data area for it.
func (l *pointLabels) GlyphBoxes(p *plot.Plot) []plot.GlyphBox {
	boxes := make([]plot.GlyphBox, len(l.pts))
	for i, pt := range l.pts {
		r := l.radius[i]
		w, h := l.style.Width(l.texts[i]), l.style.Height(l.texts[i])
		boxes[i] = plot.GlyphBox{X: p.X.Norm(pt.X), Y: p.Y.Norm(pt.Y),
			Rectangle: vg.Rectangle{Min: vg.Point{X: -r, Y: -r}, Max: vg.Point{X: r + vg.Points(2) + w, Y: r + h}}}
	}
	return boxes
}

// legendGlyph is a marker of legend size.
func legendGlyph(c color.Color, shape draw.GlyphDrawer) plot.Thumbnailer {
	sc, _ := plotter.NewScatter(plotter.XYs{{}})
	sc.GlyphStyle = draw.GlyphStyle{Color: c, Shape: shape, Radius: vg.Points(3)}
	return sc
}
