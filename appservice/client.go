package appservice

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"maunium.net/go/mautrix/id"
)

// Timeouts of the calls other than transactions: a client waits for them.
const (
	QueryTimeout = 10 * time.Second
	PingTimeout  = 15 * time.Second
)

// maxResponse bounds what is read from an appservice's answer.
const maxResponse = 4 << 20

// Client makes the homeserver's calls to appservices, authenticated with
// their hs_token. Appservice URLs come from registration files the admin
// installed, so they are trusted and may be loopback or private addresses.
type Client struct {
	reg  *Registry
	http *http.Client
}

// NewClient returns a client for reg's appservices; hc nil means one with
// keep-alive connections and DefaultTimeout.
func NewClient(reg *Registry, hc *http.Client) *Client {
	if hc == nil {
		hc = NewHTTPClient(nil)
	}
	return &Client{reg: reg, http: hc}
}

// NewTransport is the network transport for calls to appservices:
// keep-alive connections, a bounded dial.
func NewTransport() *http.Transport {
	return &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 8,
		IdleConnTimeout:     90 * time.Second,
	}
}

// NewHTTPClient returns the client the homeserver calls appservices with,
// DefaultTimeout per request, over rt (nil means NewTransport(); serve.go
// passes the in-process transport of built-in bridges).
func NewHTTPClient(rt http.RoundTripper) *http.Client {
	if rt == nil {
		rt = NewTransport()
	}
	return &http.Client{Timeout: DefaultTimeout, Transport: rt}
}

// call sends one request and reads the answer.
func (c *Client) call(ctx context.Context, as *AppService, method, path string, query url.Values, body []byte) (int, []byte, error) {
	u := as.TrimmedURL() + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+as.HSToken)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	return resp.StatusCode, data, err
}

// PutTransaction sends PUT /_matrix/app/v1/transactions/{txnId}. Only a
// 2xx answer whose body is a JSON object counts as accepted; anything else
// (an error status, an HTML error page from a proxy, garbage) is an error
// and the transaction will be retried.
func (c *Client) PutTransaction(ctx context.Context, as *AppService, txnID string, body []byte) error {
	status, resp, err := c.call(ctx, as, http.MethodPut, "/_matrix/app/v1/transactions/"+url.PathEscape(txnID), nil, body)
	if err != nil {
		return err
	}
	if status/100 != 2 {
		return fmt.Errorf("appservice answered HTTP %d: %s", status, snippet(resp))
	}
	if !isJSONObject(resp) {
		return fmt.Errorf("appservice answered HTTP %d with a body that is not a JSON object: %s", status, snippet(resp))
	}
	return nil
}

// QueryUser asks the appservices whose user namespaces contain userID
// (exclusive owners first) whether it exists, via GET
// /_matrix/app/v1/users/{userId}. A true answer means the appservice has
// just created the user, so the caller should look it up again. Call it
// when a local user that does not exist is looked up (profile, invite).
func (c *Client) QueryUser(ctx context.Context, userID id.UserID) bool {
	return c.query(ctx, "/_matrix/app/v1/users/"+url.PathEscape(string(userID)), func(as *AppService, exclusive bool) bool {
		return as.MatchUser(string(userID), exclusive)
	})
}

// QueryAlias is QueryUser for room aliases, via GET
// /_matrix/app/v1/rooms/{roomAlias}; on true, the appservice has created
// the room and alias. Call it when a local alias is not found.
func (c *Client) QueryAlias(ctx context.Context, alias id.RoomAlias) bool {
	return c.query(ctx, "/_matrix/app/v1/rooms/"+url.PathEscape(string(alias)), func(as *AppService, exclusive bool) bool {
		return as.MatchAlias(string(alias), exclusive)
	})
}

func (c *Client) query(ctx context.Context, path string, match func(*AppService, bool) bool) bool {
	ctx, cancel := context.WithTimeout(ctx, QueryTimeout)
	defer cancel()
	for _, exclusive := range []bool{true, false} {
		for _, as := range c.reg.withURL {
			if !match(as, exclusive) || (!exclusive && match(as, true)) {
				continue
			}
			status, _, err := c.call(ctx, as, http.MethodGet, path, nil, nil)
			if err == nil && status/100 == 2 {
				return true
			}
		}
	}
	return false
}

// ping sends POST /_matrix/app/v1/ping and measures the round trip.
func (c *Client) ping(ctx context.Context, as *AppService, txnID string) (time.Duration, int, []byte, error) {
	body := []byte("{}")
	if txnID != "" {
		body, _ = json.Marshal(map[string]string{"transaction_id": txnID})
	}
	ctx, cancel := context.WithTimeout(ctx, PingTimeout)
	defer cancel()
	start := time.Now()
	status, resp, err := c.call(ctx, as, http.MethodPost, "/_matrix/app/v1/ping", nil, body)
	return time.Since(start), status, resp, err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

func isJSONObject(b []byte) bool {
	b = bytes.TrimSpace(b)
	return len(b) > 0 && b[0] == '{' && json.Valid(b)
}

// snippet shortens a response body for a log line or error.
func snippet(b []byte) string {
	const n = 200
	if len(b) > n {
		return fmt.Sprintf("%q...", b[:n])
	}
	return fmt.Sprintf("%q", b)
}
