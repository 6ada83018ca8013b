package dispatch

import (
	"errors"
	"fmt"
)

// Error codes returned to clients. They are part of the wire contract.
const (
	CodeInvalid       = "invalid_argument"
	CodeNotFound      = "not_found"
	CodePrecondition  = "failed_precondition"
	CodeConflict      = "conflict"
	CodePermission    = "permission_denied"
	CodeUnauth        = "unauthenticated"
	CodeRateLimited   = "rate_limited"
	CodeOfferTaken    = "offer_taken"
	CodeOfferExpired  = "offer_expired"
	CodeOfferCanceled = "offer_cancelled"
	CodeStaleFix      = "stale_fix"
	CodeUnavailable   = "unavailable"
	CodeInternal      = "internal"
)

// Error is a domain error with a stable code and a message safe to show to
// clients.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Sentinel errors returned by stores and lockers.
var (
	// ErrNotFound is returned by stores when a record does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict is returned by a compare-and-set whose expected version
	// is not the stored one: someone else wrote first.
	ErrConflict = errors.New("version conflict")
	// ErrLockNotObtained is returned by a Locker that could not take a lock
	// before its context ended.
	ErrLockNotObtained = errors.New("lock not obtained")
)

// ErrorCode returns the code of err: the Code of an *Error in its chain,
// not_found / conflict for the store sentinels, internal otherwise.
func ErrorCode(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Code
	case errors.Is(err, ErrNotFound):
		return CodeNotFound
	case errors.Is(err, ErrConflict):
		return CodeConflict
	case errors.Is(err, ErrLockNotObtained):
		return CodeUnavailable
	}
	return CodeInternal
}

// ErrorMessage returns a client-safe message for err. Internal errors are
// not leaked.
func ErrorMessage(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Message
	case errors.Is(err, ErrNotFound):
		return "not found"
	case errors.Is(err, ErrConflict):
		return "concurrent update, retry"
	case errors.Is(err, ErrLockNotObtained):
		return "busy, retry"
	}
	return "internal error"
}
