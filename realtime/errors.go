package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/ridehail/dispatch/dispatch"
)

// wireError maps an error returned by the Dispatcher to the code and the
// client-safe message of an error frame. It is the one place where this
// transport translates errors.
func wireError(err error) (code, msg string) {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return dispatch.CodeUnavailable, "the server is busy, retry"
	case errors.Is(err, context.Canceled):
		return dispatch.CodeUnavailable, "the server is shutting down, retry"
	}
	return dispatch.ErrorCode(err), dispatch.ErrorMessage(err)
}

// revokedReason reports whether err is an accept (or decline) that lost
// the race, and the offer_revoked reason to answer with.
func revokedReason(err error) (string, bool) {
	switch dispatch.ErrorCode(err) {
	case dispatch.CodeOfferTaken:
		return "taken", true
	case dispatch.CodeOfferExpired:
		return "expired", true
	case dispatch.CodeOfferCanceled:
		return "cancelled", true
	}
	return "", false
}

func isStaleFix(err error) bool { return dispatch.ErrorCode(err) == dispatch.CodeStaleFix }

// httpStatus is the HTTP status of an error code, for the refusals sent
// before the WebSocket upgrade.
func httpStatus(code string) int {
	switch code {
	case dispatch.CodeInvalid:
		return http.StatusBadRequest
	case dispatch.CodeUnauth:
		return http.StatusUnauthorized
	case dispatch.CodePermission:
		return http.StatusForbidden
	case dispatch.CodeNotFound:
		return http.StatusNotFound
	case dispatch.CodePrecondition, dispatch.CodeConflict:
		return http.StatusConflict
	case dispatch.CodeRateLimited:
		return http.StatusTooManyRequests
	case dispatch.CodeUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// writeHTTPError refuses a request with the contract's error body
// {"error": {"code": ..., "message": ...}}.
func writeHTTPError(w http.ResponseWriter, code, msg string) {
	status := httpStatus(code)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	if status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", `Bearer realm="dispatch"`)
	}
	w.WriteHeader(status)
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	body.Error.Code, body.Error.Message = code, msg
	_ = json.NewEncoder(w).Encode(body)
}
