package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"

	"time"

	"github.com/roomcast/roomcast/internal/errcode"
)

// Error is the body of every error response.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// RetryAfterMs: for UNAVAILABLE, when to retry (also sent as the
	// Retry-After header, in whole seconds).
	RetryAfterMs uint32 `json:"retryAfterMs,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(body); err != nil {
		status = http.StatusInternalServerError
		buf.Reset()
		_ = json.NewEncoder(&buf).Encode(Error{Code: CodeInternal, Message: "encode response: " + err.Error()})
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// writeError answers with st's status and code, and its retry hint.
func writeError(w http.ResponseWriter, st errcode.Status, msg string) {
	if st.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((st.RetryAfter+time.Second-1)/time.Second)))
	}
	writeJSON(w, st.HTTP, errorBody(st, msg))
}

func errorBody(st errcode.Status, msg string) Error {
	return Error{Code: st.Name(), Message: msg, RetryAfterMs: st.RetryAfterMs()}
}

// decode reads the request body into v: JSON only, at most
// Config.MaxBodyBytes, no unknown fields, nothing after the value. An empty
// body is an error.
func (c *call) decode(v any) error {
	r, max := c.r, c.h.cfg.MaxBodyBytes
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return fmt.Errorf("%w, got %q", ErrMediaType, ct)
		}
	}
	body := http.MaxBytesReader(c.w, r.Body, max)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooLarge *http.MaxBytesError
		switch {
		case errors.Is(err, ErrInvalid):
			return err
		case errors.As(err, &tooLarge):
			return fmt.Errorf("%w: over %d bytes", ErrBodyTooLarge, max)
		case errors.Is(err, io.EOF):
			return fmt.Errorf("%w: empty body", ErrBadJSON)
		}
		return fmt.Errorf("%w: %v", ErrBadJSON, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return fmt.Errorf("%w: over %d bytes", ErrBodyTooLarge, max)
		}
		return fmt.Errorf("%w: data after the JSON value", ErrBadJSON)
	}
	return nil
}

// Duration is a Go duration in JSON as a string ("90s", "10m", "1h30m").
// Zero or absent means no end.
type Duration time.Duration

// UnmarshalJSON parses a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("%w: duration must be a string like \"10m\"", ErrInvalid)
	}
	if s == "" {
		*d = 0
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		return fmt.Errorf("%w: duration %q: want a non-negative Go duration like \"90s\" or \"1h\"", ErrInvalid, s)
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON writes the duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }
