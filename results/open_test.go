package results

import (
	"context"
	"encoding/binary"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// corruptLastPage overwrites the last page of the SQLite file at path with
// 0xFF bytes, so that PRAGMA quick_check fails while the header stays
// intact.
func corruptLastPage(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	page := int(binary.BigEndian.Uint16(b[16:18])) // the header's page size; 1 means 65536
	if page == 1 {
		page = 65536
	}
	if len(b) < 2*page {
		t.Fatalf("%s has %d bytes, fewer than two pages of %d", path, len(b), page)
	}
	for i := len(b) - page; i < len(b); i++ {
		b[i] = 0xff
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestOpenRefusesWhatIsNoStore: CheckDSN, Open and OpenExisting refuse
// DSNs that name no store — in-memory databases, other engines' URLs,
// files that are not SQLite databases — each with an error matching its
// sentinel and saying what is wrong, and OpenExisting refuses a corrupt
// store.
func TestOpenRefusesWhatIsNoStore(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	good := filepath.Join(dir, "good.db")
	corrupt := filepath.Join(dir, "corrupt.db")
	for _, p := range []string{good, corrupt} {
		s, err := Open(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
	corruptLastPage(t, corrupt)
	text := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(text, []byte("these are notes, not a store\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	errSkip := errors.New("not checked") // Open's behaviour on a corrupt file is the driver's
	cases := []struct {
		name                  string
		dsn                   string
		check, open, existing error // nil: succeeds
		want                  string
	}{
		{"file", good, nil, nil, nil, ""},
		{"new file", filepath.Join(dir, "new.db"), nil, nil, fs.ErrNotExist, "new.db"},
		{":memory:", ":memory:", ErrInMemory, ErrInMemory, ErrInMemory, "vanishes when the process exits"},
		{"file::memory:", "file::memory:?cache=shared", ErrInMemory, ErrInMemory, ErrInMemory, "vanishes"},
		{"sqlite://:memory:", "sqlite://:memory:", ErrInMemory, ErrInMemory, ErrInMemory, "vanishes"},
		{"mode=memory", "file:" + good + "?mode=memory", nil, ErrInMemory, ErrInMemory, "vanishes"},
		{"another engine", "mysql://u@host/db", ErrUnsupported, ErrUnsupported, ErrUnsupported, `unsupported store "mysql://"`},
		{"text file", text, ErrNotDatabase, ErrNotDatabase, ErrNotDatabase, "notes.txt: not a SQLite database"},
		{"folder", dir, ErrNotDatabase, ErrNotDatabase, ErrNotDatabase, "not a regular file"},
		{"corrupt", corrupt, nil, errSkip, ErrCorrupt, "PRAGMA quick_check found: "},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, op := range []struct {
				name string
				want error
				run  func() error
			}{
				{"CheckDSN", c.check, func() error { return CheckDSN(c.dsn) }},
				{"OpenExisting", c.existing, func() error { return closed(OpenExisting(ctx, c.dsn)) }},
				{"Open", c.open, func() error { return closed(Open(ctx, c.dsn)) }},
			} {
				err := op.run()
				switch {
				case op.want == errSkip:
				case op.want == nil && err != nil:
					t.Errorf("%s(%q): %v", op.name, c.dsn, err)
				case op.want != nil && !errors.Is(err, op.want):
					t.Errorf("%s(%q): %v, want an error matching %q", op.name, c.dsn, err, op.want)
				case op.want != nil && !strings.Contains(err.Error(), c.want):
					t.Errorf("%s(%q): %q does not say %q", op.name, c.dsn, err, c.want)
				}
			}
		})
	}
	if b, err := os.ReadFile(text); err != nil || string(b) != "these are notes, not a store\n" {
		t.Errorf("the text file changed: %q, %v", b, err)
	}
}

// closed closes a store that opened and returns the error of opening it.
func closed(s *Store, err error) error {
	if s != nil {
		s.Close()
	}
	return err
}
