package study

import (
	"maps"
	"regexp"

	"gopkg.in/yaml.v3"
)

// lines are where the search-space entries and the grid's keys stand in
// the user's file, so that an error names the line the user wrote even
// after Resolve: Resolve merges the budget overlay and the --set overrides
// into a generic document and decodes it again, and the lines yaml.v3
// reports for that document are those of the re-marshalled text, not of
// the file.
type lines struct {
	space map[string]int // entry's line by parameter name (the first entry of a repeated name)
	grid  map[string]int // key's line by parameter name
	// budgets holds the lines of each budget overlay's own space and grid.
	budgets map[string]lines
}

// linesOf reads the lines of a study document or a budget overlay: n is
// the document node or its top mapping. Budgets are read from the
// document's budgets: mapping when withBudgets is set.
func linesOf(n *yaml.Node, withBudgets bool) lines {
	var l lines
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	if space := mappingValue(n, "space"); space != nil && space.Kind == yaml.SequenceNode {
		l.space = map[string]int{}
		for _, e := range space.Content {
			if name := mappingValue(e, "name"); name != nil && name.Kind == yaml.ScalarNode {
				if _, seen := l.space[name.Value]; !seen {
					l.space[name.Value] = e.Line
				}
			}
		}
	}
	if grid := mappingValue(n, "grid"); grid != nil && grid.Kind == yaml.MappingNode {
		l.grid = map[string]int{}
		for i := 0; i+1 < len(grid.Content); i += 2 {
			l.grid[grid.Content[i].Value] = grid.Content[i].Line
		}
	}
	if budgets := mappingValue(n, "budgets"); withBudgets && budgets != nil && budgets.Kind == yaml.MappingNode {
		l.budgets = map[string]lines{}
		for i := 0; i+1 < len(budgets.Content); i += 2 {
			l.budgets[budgets.Content[i].Value] = linesOf(budgets.Content[i+1], false)
		}
	}
	return l
}

// mappingValue returns the value of key in the mapping node n, or nil.
func mappingValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// clone returns a copy of l that can be changed without changing l.
func (l lines) clone() lines {
	return lines{space: maps.Clone(l.space), grid: maps.Clone(l.grid), budgets: l.budgets}
}

// overlay returns l with a budget overlay's lines merged as Resolve merges
// the overlay: a space: replaces the whole space, grid: keys replace keys.
func (l lines) overlay(o lines) lines {
	r := l.clone()
	if o.space != nil {
		r.space = o.space
	}
	for k, v := range o.grid {
		if r.grid == nil {
			r.grid = map[string]int{}
		}
		r.grid[k] = v
	}
	return r
}

// forget drops the lines of what a --set override wrote at path (a dotted
// key split at its dots): those values come from the command line.
func (l *lines) forget(path []string) {
	switch {
	case len(path) == 0:
	case path[0] == "space":
		l.space = nil
	case path[0] == "grid" && len(path) == 1:
		l.grid = nil
	case path[0] == "grid":
		l.grid = maps.Clone(l.grid)
		delete(l.grid, path[1])
	}
}

// setLines gives the search-space entries of a re-decoded study the lines
// of l, by name (0, shown as no line, for entries that are not in the
// file), and keeps l for the grid's errors.
func (s *Study) setLines(l lines) {
	s.lines = l
	for i := range s.Space {
		s.Space[i].line = l.space[s.Space[i].Name]
	}
}

// redecodedLine matches the "line N: " prefixes yaml.v3 puts on the errors
// of a document: for a re-marshalled document they name lines the user
// never wrote.
var redecodedLine = regexp.MustCompile(`\bline \d+: `)

// withoutLines strips the line prefixes from an error of decoding a
// re-marshalled document, keeping what it says.
func withoutLines(err error) error {
	if err == nil {
		return nil
	}
	return lineFreeError{msg: redecodedLine.ReplaceAllString(err.Error(), ""), err: err}
}

type lineFreeError struct {
	msg string
	err error
}

func (e lineFreeError) Error() string { return e.msg }
func (e lineFreeError) Unwrap() error { return e.err }
