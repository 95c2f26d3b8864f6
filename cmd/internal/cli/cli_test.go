package cli

import (
	"errors"
	"io/fs"
	"testing"
)

func TestBadInput(t *testing.T) {
	err := error(BadInput{Err: fs.ErrNotExist})
	var bi BadInput
	if !errors.As(err, &bi) || !errors.Is(err, fs.ErrNotExist) || err.Error() != fs.ErrNotExist.Error() {
		t.Fatalf("BadInput{fs.ErrNotExist}: As %v, Is %v, message %q", errors.As(err, &bi), errors.Is(err, fs.ErrNotExist), err)
	}
	err = Bad("--workers %d: want >= 1", 0)
	if !errors.As(err, &bi) || err.Error() != "--workers 0: want >= 1" {
		t.Fatalf("Bad: %v (%T)", err, err)
	}
}
