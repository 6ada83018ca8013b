package sim

import "errors"

// CodeError is a server error reply with its code.
type CodeError struct {
	Status int
	Code   string
	Msg    string
}

func (e *CodeError) Error() string { return e.Code + ": " + e.Msg }

// ErrorCode returns the server's error code carried by err, "transport"
// for anything else.
func ErrorCode(err error) string {
	var ce *CodeError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return "transport"
}
