package httpx

import (
	"encoding/json"
	"errors"
	"net/http"
	"runtime/debug"

	"github.com/rs/zerolog"
)

// Handler is a typed endpoint: it returns a value encoded as the JSON body
// of a 200, or an error. An *Error is rendered as-is; any other error becomes
// M_UNKNOWN 500 and is logged.
type Handler func(r *http.Request) (any, error)

// Response lets a handler choose the status code or write raw bytes.
type Response struct {
	Status int
	Body   any // encoded as JSON unless it is json.RawMessage or []byte
}

// Writer is returned by handlers that stream their own body (media).
type Writer func(w http.ResponseWriter)

// Empty is the {} body many endpoints answer with.
var Empty = struct{}{}

// ServeHTTP makes Handler an http.Handler.
func (h Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if p := recover(); p != nil {
			zerolog.Ctx(r.Context()).Error().Interface("panic", p).Bytes("stack", debug.Stack()).
				Str("path", r.URL.Path).Msg("Handler panicked")
			WriteError(w, Unknown("Internal server error"))
		}
	}()
	v, err := h(r)
	if err != nil {
		var me *Error
		if !errors.As(err, &me) && r.Context().Err() != nil {
			// The client went away (an abandoned long poll): nobody reads
			// this answer and it is not a server fault.
			return
		}
		if !errors.As(err, &me) {
			zerolog.Ctx(r.Context()).Err(err).Str("method", r.Method).Str("path", r.URL.Path).Msg("Request failed")
			me = Unknown("Internal server error")
		}
		WriteError(w, me)
		return
	}
	switch v := v.(type) {
	case Writer:
		v(w)
	case Response:
		WriteJSON(w, v.Status, v.Body)
	case *Response:
		WriteJSON(w, v.Status, v.Body)
	default:
		WriteJSON(w, http.StatusOK, v)
	}
}

// WriteError renders a Matrix error.
func WriteError(w http.ResponseWriter, e *Error) {
	if e.ErrCode == "M_LIMIT_EXCEEDED" {
		if ms, ok := e.Extra["retry_after_ms"].(int64); ok {
			w.Header().Set("Retry-After", itoa((ms+999)/1000))
		}
	}
	WriteJSON(w, e.Status, body(e))
}

// WriteJSON writes v as a JSON body with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	var data []byte
	switch b := v.(type) {
	case json.RawMessage:
		data = b
	case []byte:
		data = b
	default:
		var err error
		data, err = json.Marshal(v)
		if err != nil {
			status = http.StatusInternalServerError
			data = []byte(`{"errcode":"M_UNKNOWN","error":"failed to encode response"}`)
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(data)
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
