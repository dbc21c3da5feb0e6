package push

import (
	"encoding/json"
	"strings"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
)

// Kind is a push rule kind, in the order rules are checked.
type Kind string

const (
	Override  Kind = "override"
	Content   Kind = "content"
	Room      Kind = "room"
	Sender    Kind = "sender"
	Underride Kind = "underride"
)

// Kinds lists the kinds in evaluation order.
var Kinds = []Kind{Override, Content, Room, Sender, Underride}

// ParseKind validates a kind from a URL.
func ParseKind(s string) (Kind, error) {
	for _, k := range Kinds {
		if string(k) == s {
			return k, nil
		}
	}
	return "", httpx.InvalidParam("Unknown push rule kind %q", s)
}

// Condition is one push condition as the spec defines it. Pattern is a
// pointer because "" is a meaningful pattern (.m.rule.tombstone's state_key).
type Condition struct {
	Kind    string          `json:"kind"`
	Key     string          `json:"key,omitempty"`
	Pattern *string         `json:"pattern,omitempty"`
	Value   json.RawMessage `json:"value,omitempty"`
	Is      string          `json:"is,omitempty"`
}

// Rule is one push rule. Kind is not serialised: the ruleset groups rules by kind.
type Rule struct {
	Kind       Kind        `json:"-"`
	RuleID     string      `json:"rule_id"`
	Default    bool        `json:"default"`
	Enabled    bool        `json:"enabled"`
	Actions    []any       `json:"actions"`
	Conditions []Condition `json:"conditions,omitempty"`
	Pattern    *string     `json:"pattern,omitempty"`
}

// MarshalJSON always emits conditions for override and underride rules
// (as [] when empty) and pattern only for content rules, as clients expect.
func (r Rule) MarshalJSON() ([]byte, error) {
	type plain struct {
		RuleID     string       `json:"rule_id"`
		Default    bool         `json:"default"`
		Enabled    bool         `json:"enabled"`
		Actions    []any        `json:"actions"`
		Conditions *[]Condition `json:"conditions,omitempty"`
		Pattern    *string      `json:"pattern,omitempty"`
	}
	p := plain{RuleID: r.RuleID, Default: r.Default, Enabled: r.Enabled, Actions: r.Actions}
	if p.Actions == nil {
		p.Actions = []any{}
	}
	switch r.Kind {
	case Override, Underride:
		conds := r.Conditions
		if conds == nil {
			conds = []Condition{}
		}
		p.Conditions = &conds
	case Content:
		p.Pattern = r.Pattern
	}
	return json.Marshal(p)
}

// Ruleset is the "global" ruleset returned by GET /pushrules/ and carried by
// the m.push_rules account data event.
type Ruleset struct {
	Override  []Rule `json:"override"`
	Content   []Rule `json:"content"`
	Room      []Rule `json:"room"`
	Sender    []Rule `json:"sender"`
	Underride []Rule `json:"underride"`
}

// Rules returns the rules of one kind.
func (rs *Ruleset) Rules(k Kind) []Rule {
	switch k {
	case Override:
		return rs.Override
	case Content:
		return rs.Content
	case Room:
		return rs.Room
	case Sender:
		return rs.Sender
	default:
		return rs.Underride
	}
}

// Find returns the rule with the given kind and ID, or nil.
func (rs *Ruleset) Find(k Kind, ruleID string) *Rule {
	rules := rs.Rules(k)
	for i := range rules {
		if rules[i].RuleID == ruleID {
			return &rules[i]
		}
	}
	return nil
}

// RuleBody is the body of PUT /pushrules/global/{kind}/{ruleId}.
type RuleBody struct {
	Actions    []any       `json:"actions"`
	Conditions []Condition `json:"conditions"`
	Pattern    *string     `json:"pattern"`
}

// ValidateActions checks a list of actions: strings (notify, and the
// deprecated no-ops dont_notify and coalesce) or set_tweak objects.
func ValidateActions(actions []any) error {
	if actions == nil {
		return httpx.BadJSON("actions is required")
	}
	for _, a := range actions {
		switch v := a.(type) {
		case string:
			if v != "notify" && v != "dont_notify" && v != "coalesce" {
				return httpx.BadJSON("Unknown push action %q", v)
			}
		case map[string]any:
			if tweak, ok := v["set_tweak"].(string); !ok || tweak == "" {
				return httpx.BadJSON("Push action objects need a set_tweak string")
			}
		default:
			return httpx.BadJSON("Push actions must be strings or objects")
		}
	}
	return nil
}

// NewRule validates a client's rule of kind k with ID ruleID.
func NewRule(k Kind, ruleID string, body RuleBody) (Rule, error) {
	if ruleID == "" || strings.HasPrefix(ruleID, ".") {
		return Rule{}, httpx.InvalidParam("Rule IDs starting with '.' are reserved for server-default rules")
	}
	if err := ValidateActions(body.Actions); err != nil {
		return Rule{}, err
	}
	r := Rule{Kind: k, RuleID: ruleID, Enabled: true, Actions: body.Actions}
	switch k {
	case Override, Underride:
		for _, c := range body.Conditions {
			if c.Kind == "" {
				return Rule{}, httpx.BadJSON("Every condition needs a kind")
			}
		}
		r.Conditions = body.Conditions
		if r.Conditions == nil {
			r.Conditions = []Condition{}
		}
	case Content:
		if body.Pattern == nil {
			return Rule{}, httpx.BadJSON("Content rules need a pattern")
		}
		r.Pattern = body.Pattern
	case Room:
		if !strings.HasPrefix(ruleID, "!") {
			return Rule{}, httpx.InvalidParam("The rule ID of a room rule must be a room ID")
		}
	case Sender:
		if !strings.HasPrefix(ruleID, "@") {
			return Rule{}, httpx.InvalidParam("The rule ID of a sender rule must be a user ID")
		}
	}
	return r, nil
}
