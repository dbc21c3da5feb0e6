package appservice

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"sync"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
)

// API implements the client API's appservice endpoints
// (client.AppServiceAPI): ping and third-party lookups, answered by calling
// the appservices.
type API struct {
	reg    *Registry
	client *Client
	pusher *Pusher
}

// NewAPI returns the endpoints' implementation. pusher may be nil (no
// delivery running); when set, a successful ping wakes its worker.
func NewAPI(reg *Registry, client *Client, pusher *Pusher) *API {
	return &API{reg: reg, client: client, pusher: pusher}
}

// Ping implements client.AppServiceAPI. A bridge pings at startup, so a
// success also cuts short the backoff of its transaction worker: events
// queued while it was down start flowing at once.
func (a *API) Ping(ctx context.Context, asID, txnID string) (int64, error) {
	as := a.reg.Get(asID)
	if as == nil {
		return 0, httpx.NotFound("Unknown appservice %q", asID)
	}
	if !as.HasURL() {
		return 0, httpx.NewError(http.StatusBadRequest, "M_URL_NOT_SET", "Appservice %q has no URL configured", asID)
	}
	d, status, body, err := a.client.ping(ctx, as, txnID)
	if err != nil {
		if isTimeout(err) {
			return 0, httpx.NewError(http.StatusGatewayTimeout, "M_CONNECTION_TIMEOUT", "Connection to appservice timed out")
		}
		return 0, httpx.NewError(http.StatusBadGateway, "M_CONNECTION_FAILED", "Connection to appservice failed: %v", err)
	}
	if status/100 != 2 {
		return 0, httpx.NewError(http.StatusBadGateway, "M_BAD_STATUS", "Appservice answered HTTP %d", status).
			With("status", status).With("body", string(body))
	}
	if a.pusher != nil {
		a.pusher.Poke(asID)
	}
	return d.Milliseconds(), nil
}

// Protocols implements client.AppServiceAPI. As in Synapse, appservices
// registering the same protocol share its metadata (the first answer's)
// and their instances are concatenated, each tagged with an instance_id
// of "appserviceID|network_id".
func (a *API) Protocols(ctx context.Context) (map[string]json.RawMessage, error) {
	names := map[string]bool{}
	for _, as := range a.reg.withURL {
		for _, p := range as.Protocols {
			names[p] = true
		}
	}
	out := map[string]json.RawMessage{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for p := range names {
		wg.Go(func() {
			if info := a.protocol(ctx, p); info != nil {
				mu.Lock()
				out[p] = info
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return out, nil
}

// Protocol implements client.AppServiceAPI.
func (a *API) Protocol(ctx context.Context, protocol string) (json.RawMessage, error) {
	if info := a.protocol(ctx, protocol); info != nil {
		return info, nil
	}
	return nil, httpx.NotFound("Unknown third-party protocol %q", protocol)
}

func (a *API) protocol(ctx context.Context, protocol string) json.RawMessage {
	answers := a.ask(ctx, protocol, "/_matrix/app/v1/thirdparty/protocol/"+url.PathEscape(protocol), nil)
	var merged []byte
	instances := []json.RawMessage{}
	for _, ans := range answers {
		inst := gjson.GetBytes(ans.body, "instances")
		if !gjson.ValidBytes(ans.body) || !gjson.ParseBytes(ans.body).IsObject() || !inst.IsArray() {
			continue
		}
		if merged == nil {
			merged = ans.body
		}
		for _, in := range inst.Array() {
			raw := []byte(in.Raw)
			if nid := in.Get("network_id"); nid.Type == gjson.String {
				raw, _ = sjson.SetBytes(raw, "instance_id", ans.as.ID+"|"+nid.Str)
			}
			instances = append(instances, raw)
		}
	}
	if merged == nil {
		return nil
	}
	list, _ := json.Marshal(instances)
	merged, _ = sjson.SetRawBytes(merged, "instances", list)
	return merged
}

// Lookup implements client.AppServiceAPI. Results that do not have the
// spec's shape (a string protocol and alias/userid, an object of fields)
// are dropped, as are appservices that fail to answer.
func (a *API) Lookup(ctx context.Context, kind, protocol string, query url.Values) ([]json.RawMessage, error) {
	path := "/_matrix/app/v1/thirdparty/" + kind
	key := "alias"
	if kind == "user" {
		key = "userid"
	}
	if protocol != "" {
		path += "/" + url.PathEscape(protocol)
	}
	out := []json.RawMessage{}
	for _, ans := range a.ask(ctx, protocol, path, query) {
		res := gjson.ParseBytes(ans.body)
		if !gjson.ValidBytes(ans.body) || !res.IsArray() {
			continue
		}
		for _, r := range res.Array() {
			if r.Get(key).Type == gjson.String && r.Get("protocol").Type == gjson.String && r.Get("fields").IsObject() {
				out = append(out, json.RawMessage(r.Raw))
			}
		}
	}
	return out, nil
}

type answer struct {
	as   *AppService
	body []byte
}

// ask sends GET path to every appservice with a URL that registered
// protocol (any protocol when it is ""), concurrently, and returns the
// successful answers in registration order.
func (a *API) ask(ctx context.Context, protocol, path string, query url.Values) []answer {
	ctx, cancel := context.WithTimeout(ctx, QueryTimeout)
	defer cancel()
	var targets []*AppService
	for _, as := range a.reg.withURL {
		if protocol != "" && as.HasProtocol(protocol) || protocol == "" && len(as.Protocols) > 0 {
			targets = append(targets, as)
		}
	}
	res := make([]answer, len(targets))
	var wg sync.WaitGroup
	for i, as := range targets {
		wg.Go(func() {
			status, body, err := a.client.call(ctx, as, http.MethodGet, path, query, nil)
			if err == nil && status/100 == 2 {
				res[i] = answer{as: as, body: body}
			}
		})
	}
	wg.Wait()
	out := res[:0]
	for _, r := range res {
		if r.as != nil {
			out = append(out, r)
		}
	}
	return out
}
