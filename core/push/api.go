package push

import (
	"context"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
)

func errNoRule() error { return httpx.NotFound("The push rule was not found.") }

// Rule returns one effective rule.
func (s *Service) Rule(ctx context.Context, user id.UserID, k Kind, ruleID string) (*Rule, error) {
	rs, err := s.Ruleset(ctx, user)
	if err != nil {
		return nil, err
	}
	r := rs.Find(k, ruleID)
	if r == nil {
		return nil, errNoRule()
	}
	return r, nil
}

// PutRule creates or replaces a user-defined rule. before and after name
// user-defined rules of the same kind to place it relative to; a new rule
// without either becomes the most important of its kind.
func (s *Service) PutRule(ctx context.Context, user id.UserID, rule Rule, before, after string) error {
	return s.update(ctx, user, func(ur *userRules, _ *Ruleset) error {
		if ur.Rules == nil {
			ur.Rules = map[Kind][]Rule{}
		}
		rules := ur.Rules[rule.Kind]
		at := -1
		for i, r := range rules {
			if r.RuleID == rule.RuleID {
				at = i
			}
		}
		if at >= 0 && before == "" && after == "" {
			rules[at] = rule
			return nil
		}
		if at >= 0 {
			rules = append(rules[:at:at], rules[at+1:]...)
		}
		pos := 0
		if before != "" || after != "" {
			anchor, ok := before, true
			if anchor == "" {
				anchor = after
			}
			pos, ok = indexOf(rules, anchor)
			if !ok {
				return httpx.BadRequest("before/after rule not found: %s", anchor)
			}
			if before == "" {
				pos++
			}
		}
		rules = append(rules[:pos], append([]Rule{rule}, rules[pos:]...)...)
		ur.Rules[rule.Kind] = rules
		return nil
	})
}

func indexOf(rules []Rule, ruleID string) (int, bool) {
	for i, r := range rules {
		if r.RuleID == ruleID {
			return i, true
		}
	}
	return 0, false
}

// DeleteRule removes a user-defined rule; server-default rules cannot be deleted.
func (s *Service) DeleteRule(ctx context.Context, user id.UserID, k Kind, ruleID string) error {
	if isDefaultID(user, k, ruleID) {
		return httpx.BadRequest("Server-default rules cannot be deleted")
	}
	return s.update(ctx, user, func(ur *userRules, _ *Ruleset) error {
		i, ok := indexOf(ur.Rules[k], ruleID)
		if !ok {
			return errNoRule()
		}
		ur.Rules[k] = append(ur.Rules[k][:i:i], ur.Rules[k][i+1:]...)
		if len(ur.Rules[k]) == 0 {
			delete(ur.Rules, k)
		}
		return nil
	})
}

// SetEnabled enables or disables any rule.
func (s *Service) SetEnabled(ctx context.Context, user id.UserID, k Kind, ruleID string, enabled bool) error {
	return s.update(ctx, user, func(ur *userRules, rs *Ruleset) error {
		if rs.Find(k, ruleID) == nil {
			return errNoRule()
		}
		if i, ok := indexOf(ur.Rules[k], ruleID); ok {
			ur.Rules[k][i].Enabled = enabled
			return nil
		}
		if ur.Enabled == nil {
			ur.Enabled = map[string]bool{}
		}
		ur.Enabled[string(k)+"/"+ruleID] = enabled
		return nil
	})
}

// SetActions replaces the actions of any rule, server-default ones included.
func (s *Service) SetActions(ctx context.Context, user id.UserID, k Kind, ruleID string, actions []any) error {
	if err := ValidateActions(actions); err != nil {
		return err
	}
	return s.update(ctx, user, func(ur *userRules, rs *Ruleset) error {
		if rs.Find(k, ruleID) == nil {
			return errNoRule()
		}
		if i, ok := indexOf(ur.Rules[k], ruleID); ok {
			ur.Rules[k][i].Actions = actions
			return nil
		}
		if ur.Actions == nil {
			ur.Actions = map[string][]any{}
		}
		ur.Actions[string(k)+"/"+ruleID] = actions
		return nil
	})
}
