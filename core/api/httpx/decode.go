package httpx

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
)

// MaxJSONBody bounds JSON request bodies (events are at most 64 KiB; key
// uploads and filters are the largest legitimate bodies).
const MaxJSONBody = 1 << 20

// ReadBody reads a JSON body up to MaxJSONBody bytes.
func ReadBody(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, MaxJSONBody+1))
	if err != nil {
		return nil, BadRequest("Failed to read request body: %v", err)
	}
	if len(data) > MaxJSONBody {
		return nil, TooLarge("Request body is larger than %d bytes", MaxJSONBody)
	}
	return data, nil
}

// Decode reads the body into v. An empty body decodes as {}. Malformed JSON
// is M_NOT_JSON; JSON of the wrong shape is M_BAD_JSON.
func Decode(r *http.Request, v any) error {
	data, err := ReadBody(r)
	if err != nil {
		return err
	}
	return DecodeBytes(data, v)
}

// DecodeBytes is Decode for an already-read body.
func DecodeBytes(data []byte, v any) error {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		data = []byte("{}")
	}
	if !json.Valid(data) {
		return NotJSON("Request body is not valid JSON")
	}
	if data[0] != '{' {
		return BadJSON("Request body must be a JSON object")
	}
	if err := json.Unmarshal(data, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return BadJSON("Field %q has the wrong type: expected %s", te.Field, te.Type.String())
		}
		return BadJSON("Request body has the wrong shape: %v", err)
	}
	return nil
}

// QueryInt parses an integer query parameter, returning def when absent.
func QueryInt(r *http.Request, name string, def int64) (int64, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, InvalidParam("Query parameter %q must be an integer", name)
	}
	return n, nil
}
