// Package httpx turns typed Matrix handlers into http.Handlers: it decodes
// request bodies with size limits, renders Matrix errors with the spec's
// errcode and status, recovers panics into M_UNKNOWN (never a dropped
// connection), and carries the authenticated caller. The HTTP surfaces in
// core/api/* build on it; it knows no domain.
package httpx

import (
	"fmt"
	"net/http"
)

// Error is a Matrix error response.
type Error struct {
	Status  int            `json:"-"`
	ErrCode string         `json:"errcode"`
	Message string         `json:"error"`
	Extra   map[string]any `json:"-"`
}

func (e *Error) Error() string { return fmt.Sprintf("%s (%d): %s", e.ErrCode, e.Status, e.Message) }

// With returns a copy of e carrying an extra top-level field.
func (e *Error) With(key string, value any) *Error {
	c := *e
	c.Extra = map[string]any{}
	for k, v := range e.Extra {
		c.Extra[k] = v
	}
	c.Extra[key] = value
	return &c
}

func body(e *Error) map[string]any {
	m := map[string]any{"errcode": e.ErrCode, "error": e.Message}
	for k, v := range e.Extra {
		m[k] = v
	}
	return m
}

// NewError builds an error with a formatted message.
func NewError(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, ErrCode: code, Message: fmt.Sprintf(format, args...)}
}

// Constructors for the spec's common errors.
func Forbidden(format string, a ...any) *Error {
	return NewError(http.StatusForbidden, "M_FORBIDDEN", format, a...)
}
func NotFound(format string, a ...any) *Error {
	return NewError(http.StatusNotFound, "M_NOT_FOUND", format, a...)
}
func BadJSON(format string, a ...any) *Error {
	return NewError(http.StatusBadRequest, "M_BAD_JSON", format, a...)
}
func NotJSON(format string, a ...any) *Error {
	return NewError(http.StatusBadRequest, "M_NOT_JSON", format, a...)
}
func MissingParam(format string, a ...any) *Error {
	return NewError(http.StatusBadRequest, "M_MISSING_PARAM", format, a...)
}
func InvalidParam(format string, a ...any) *Error {
	return NewError(http.StatusBadRequest, "M_INVALID_PARAM", format, a...)
}
func Unknown(format string, a ...any) *Error {
	return NewError(http.StatusInternalServerError, "M_UNKNOWN", format, a...)
}
func BadRequest(format string, a ...any) *Error {
	return NewError(http.StatusBadRequest, "M_UNKNOWN", format, a...)
}
func MissingToken() *Error {
	return NewError(http.StatusUnauthorized, "M_MISSING_TOKEN", "Missing access token")
}
func UnknownToken() *Error {
	return NewError(http.StatusUnauthorized, "M_UNKNOWN_TOKEN", "Unrecognised access token").With("soft_logout", false)
}
func TooLarge(format string, a ...any) *Error {
	return NewError(http.StatusRequestEntityTooLarge, "M_TOO_LARGE", format, a...)
}
func Unrecognized(format string, a ...any) *Error {
	return NewError(http.StatusNotFound, "M_UNRECOGNIZED", format, a...)
}
func MethodNotAllowed() *Error {
	return NewError(http.StatusMethodNotAllowed, "M_UNRECOGNIZED", "Method not allowed for this endpoint")
}
func LimitExceeded(retryAfterMS int64) *Error {
	return NewError(http.StatusTooManyRequests, "M_LIMIT_EXCEEDED", "Too many requests").With("retry_after_ms", retryAfterMS)
}
func UserInUse() *Error {
	return NewError(http.StatusBadRequest, "M_USER_IN_USE", "User ID already taken")
}
func InvalidUsername(format string, a ...any) *Error {
	return NewError(http.StatusBadRequest, "M_INVALID_USERNAME", format, a...)
}
func Exclusive(format string, a ...any) *Error {
	return NewError(http.StatusBadRequest, "M_EXCLUSIVE", format, a...)
}
