package topo

import (
	"errors"
	"fmt"
)

// InputError is bad input: a flag, a topology file field or a lab name.
// The CLI reports it with exit code 2; it is always raised before anything
// in the kernel changed.
type InputError struct{ Msg string }

func (e *InputError) Error() string { return e.Msg }

// Inputf returns an InputError.
func Inputf(format string, a ...any) error { return &InputError{Msg: fmt.Sprintf(format, a...)} }

// IsInput reports whether err is bad input.
func IsInput(err error) bool {
	var ie *InputError
	return errors.As(err, &ie)
}
