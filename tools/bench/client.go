package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"
)

// homeserver is a minimal Matrix client over plain net/http. The benchmark
// measures the server, so the client does as little as it can: one shared
// keep-alive transport, no retries, no parsing beyond what a check needs.
type homeserver struct {
	base string
	http *http.Client
}

func newHomeserver(base string) *homeserver {
	tr := &http.Transport{
		MaxIdleConns:        512,
		MaxIdleConnsPerHost: 512,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &homeserver{base: base, http: &http.Client{Transport: tr, Timeout: 2 * time.Minute}}
}

// httpError is a non-200 answer.
type httpError struct {
	Method, Path string
	Status       int
	Body         []byte
}

func (e *httpError) Error() string {
	return fmt.Sprintf("%s %s: %d %s", e.Method, e.Path, e.Status, bytes.TrimSpace(e.Body))
}

// do sends in as JSON (nil for no body) and decodes a 200 answer into out
// (nil to discard it).
func (h *homeserver) do(ctx context.Context, method, path, token string, in, out any) error {
	data, err := h.doRaw(ctx, method, path, token, in)
	if err != nil {
		return err
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s %s: decode: %w", method, path, err)
		}
	}
	return nil
}

func (h *homeserver) doRaw(ctx context.Context, method, path, token string, in any) ([]byte, error) {
	var body io.Reader
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, h.base+path, body)
	if err != nil {
		return nil, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := h.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &httpError{Method: method, Path: path, Status: resp.StatusCode, Body: data}
	}
	return data, nil
}

// account is a registered, logged-in user.
type account struct {
	hs     *homeserver
	UserID string
	Token  string
	txn    atomic.Int64
}

// register creates name with the m.login.dummy flow.
func (h *homeserver) register(ctx context.Context, name string) (*account, error) {
	req := map[string]any{"username": name, "password": name + "-bench-password", "initial_device_display_name": "bench"}
	var out struct {
		UserID      string `json:"user_id"`
		AccessToken string `json:"access_token"`
	}
	err := h.do(ctx, "POST", "/_matrix/client/v3/register", "", req, &out)
	var he *httpError
	if errors.As(err, &he) && he.Status == http.StatusUnauthorized {
		var uia struct {
			Session string `json:"session"`
		}
		_ = json.Unmarshal(he.Body, &uia)
		req["auth"] = map[string]any{"type": "m.login.dummy", "session": uia.Session}
		err = h.do(ctx, "POST", "/_matrix/client/v3/register", "", req, &out)
	}
	if err != nil {
		return nil, fmt.Errorf("register %s: %w", name, err)
	}
	if out.AccessToken == "" {
		return nil, fmt.Errorf("register %s: no access_token", name)
	}
	return &account{hs: h, UserID: out.UserID, Token: out.AccessToken}, nil
}

func (a *account) createRoom(ctx context.Context, preset, name string) (string, error) {
	var out struct {
		RoomID string `json:"room_id"`
	}
	err := a.hs.do(ctx, "POST", "/_matrix/client/v3/createRoom", a.Token, map[string]any{"preset": preset, "name": name}, &out)
	return out.RoomID, err
}

func (a *account) join(ctx context.Context, roomID string) error {
	return a.hs.do(ctx, "POST", "/_matrix/client/v3/join/"+url.PathEscape(roomID), a.Token, map[string]any{}, nil)
}

// send sends a text message with a fresh transaction ID.
func (a *account) send(ctx context.Context, roomID, body string) (string, error) {
	txn := strconv.FormatInt(time.Now().UnixNano(), 36) + "-" + strconv.FormatInt(a.txn.Add(1), 10)
	path := "/_matrix/client/v3/rooms/" + url.PathEscape(roomID) + "/send/m.room.message/" + txn
	var out struct {
		EventID string `json:"event_id"`
	}
	if err := a.hs.do(ctx, "PUT", path, a.Token, map[string]any{"msgtype": "m.text", "body": body}, &out); err != nil {
		return "", err
	}
	if out.EventID == "" {
		return "", fmt.Errorf("send: no event_id")
	}
	return out.EventID, nil
}

// uploadFilter stores a filter and returns its ID, or the filter itself as
// inline JSON when the server cannot store filters (clients fall back so too).
func (a *account) uploadFilter(ctx context.Context, filter map[string]any) string {
	var out struct {
		FilterID string `json:"filter_id"`
	}
	err := a.hs.do(ctx, "POST", "/_matrix/client/v3/user/"+url.PathEscape(a.UserID)+"/filter", a.Token, filter, &out)
	if err != nil || out.FilterID == "" {
		inline, _ := json.Marshal(filter)
		return string(inline)
	}
	return out.FilterID
}

// syncRaw runs one /sync and returns the body and when it was fully read.
func (a *account) syncRaw(ctx context.Context, since, filter string, timeoutMS int) ([]byte, time.Time, error) {
	q := url.Values{"timeout": {strconv.Itoa(timeoutMS)}}
	if since != "" {
		q.Set("since", since)
	}
	if filter != "" {
		q.Set("filter", filter)
	}
	data, err := a.hs.doRaw(ctx, "GET", "/_matrix/client/v3/sync?"+q.Encode(), a.Token, nil)
	return data, time.Now(), err
}

// syncSummary is the part of a /sync answer the benchmark checks.
type syncSummary struct {
	NextBatch string `json:"next_batch"`
	Rooms     struct {
		Join map[string]struct {
			Timeline struct {
				Events []struct {
					EventID string `json:"event_id"`
				} `json:"events"`
				Limited bool `json:"limited"`
			} `json:"timeline"`
		} `json:"join"`
	} `json:"rooms"`
}

func parseSync(data []byte) (*syncSummary, error) {
	var s syncSummary
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, err
	}
	if s.NextBatch == "" {
		return nil, errors.New("/sync without next_batch")
	}
	return &s, nil
}

// has reports whether eventID is in room's timeline.
func (s *syncSummary) has(room, eventID string) bool {
	for _, ev := range s.Rooms.Join[room].Timeline.Events {
		if ev.EventID == eventID {
			return true
		}
	}
	return false
}
