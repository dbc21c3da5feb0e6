package client

import (
	"net/http"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/push"
)

// GET /_matrix/client/v3/pushrules/ returns all rulesets (only "global" exists).
func (h *syncAPI) getPushRules(r *http.Request) (any, error) {
	rs, err := h.src.Push.Ruleset(r.Context(), httpx.CallerFrom(r).UserID)
	if err != nil {
		return nil, err
	}
	return map[string]any{"global": rs}, nil
}

// GET /_matrix/client/v3/pushrules/global/ returns the global ruleset.
func (h *syncAPI) getGlobalPushRules(r *http.Request) (any, error) {
	return h.src.Push.Ruleset(r.Context(), httpx.CallerFrom(r).UserID)
}

// syncRuleTarget parses {kind} and {ruleId}.
func syncRuleTarget(r *http.Request) (push.Kind, string, error) {
	k, err := push.ParseKind(r.PathValue("kind"))
	if err != nil {
		return "", "", err
	}
	ruleID := r.PathValue("ruleId")
	if ruleID == "" {
		return "", "", httpx.InvalidParam("Missing rule ID")
	}
	return k, ruleID, nil
}

// GET /_matrix/client/v3/pushrules/global/{kind}/{ruleId} returns one rule.
func (h *syncAPI) getPushRule(r *http.Request) (any, error) {
	k, ruleID, err := syncRuleTarget(r)
	if err != nil {
		return nil, err
	}
	return h.src.Push.Rule(r.Context(), httpx.CallerFrom(r).UserID, k, ruleID)
}

// PUT /_matrix/client/v3/pushrules/global/{kind}/{ruleId} creates or replaces a user rule.
func (h *syncAPI) putPushRule(r *http.Request) (any, error) {
	k, ruleID, err := syncRuleTarget(r)
	if err != nil {
		return nil, err
	}
	var body push.RuleBody
	if err := httpx.Decode(r, &body); err != nil {
		return nil, err
	}
	rule, err := push.NewRule(k, ruleID, body)
	if err != nil {
		return nil, err
	}
	q := r.URL.Query()
	if err := h.src.Push.PutRule(r.Context(), httpx.CallerFrom(r).UserID, rule, q.Get("before"), q.Get("after")); err != nil {
		return nil, err
	}
	return httpx.Empty, nil
}

// DELETE /_matrix/client/v3/pushrules/global/{kind}/{ruleId} deletes a user rule.
func (h *syncAPI) deletePushRule(r *http.Request) (any, error) {
	k, ruleID, err := syncRuleTarget(r)
	if err != nil {
		return nil, err
	}
	if err := h.src.Push.DeleteRule(r.Context(), httpx.CallerFrom(r).UserID, k, ruleID); err != nil {
		return nil, err
	}
	return httpx.Empty, nil
}

// GET /_matrix/client/v3/pushrules/global/{kind}/{ruleId}/enabled says whether a rule is enabled.
func (h *syncAPI) getPushRuleEnabled(r *http.Request) (any, error) {
	k, ruleID, err := syncRuleTarget(r)
	if err != nil {
		return nil, err
	}
	rule, err := h.src.Push.Rule(r.Context(), httpx.CallerFrom(r).UserID, k, ruleID)
	if err != nil {
		return nil, err
	}
	return map[string]bool{"enabled": rule.Enabled}, nil
}

// PUT /_matrix/client/v3/pushrules/global/{kind}/{ruleId}/enabled enables or disables a rule.
func (h *syncAPI) putPushRuleEnabled(r *http.Request) (any, error) {
	k, ruleID, err := syncRuleTarget(r)
	if err != nil {
		return nil, err
	}
	var body struct {
		Enabled *bool `json:"enabled"`
	}
	if err := httpx.Decode(r, &body); err != nil {
		return nil, err
	}
	if body.Enabled == nil {
		return nil, httpx.BadJSON("enabled is required")
	}
	if err := h.src.Push.SetEnabled(r.Context(), httpx.CallerFrom(r).UserID, k, ruleID, *body.Enabled); err != nil {
		return nil, err
	}
	return httpx.Empty, nil
}

// GET /_matrix/client/v3/pushrules/global/{kind}/{ruleId}/actions returns a rule's actions.
func (h *syncAPI) getPushRuleActions(r *http.Request) (any, error) {
	k, ruleID, err := syncRuleTarget(r)
	if err != nil {
		return nil, err
	}
	rule, err := h.src.Push.Rule(r.Context(), httpx.CallerFrom(r).UserID, k, ruleID)
	if err != nil {
		return nil, err
	}
	actions := rule.Actions
	if actions == nil {
		actions = []any{}
	}
	return map[string]any{"actions": actions}, nil
}

// PUT /_matrix/client/v3/pushrules/global/{kind}/{ruleId}/actions replaces a rule's actions.
func (h *syncAPI) putPushRuleActions(r *http.Request) (any, error) {
	k, ruleID, err := syncRuleTarget(r)
	if err != nil {
		return nil, err
	}
	var body struct {
		Actions []any `json:"actions"`
	}
	if err := httpx.Decode(r, &body); err != nil {
		return nil, err
	}
	if err := h.src.Push.SetActions(r.Context(), httpx.CallerFrom(r).UserID, k, ruleID, body.Actions); err != nil {
		return nil, err
	}
	return httpx.Empty, nil
}
