package push

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/rs/zerolog"
	"github.com/tidwall/gjson"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/storage/storagetest"
	"github.com/gatehouse-chat/gatehouse/core/stream"
)

func newTestService(t *testing.T, db *storage.DB) *Service {
	w, err := stream.NewWriter(context.Background(), db, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	return New(db, w, "x", zerolog.Nop())
}

func code(err error) string {
	var he *httpx.Error
	if errors.As(err, &he) {
		return he.ErrCode
	}
	return ""
}

func ids(rules []Rule) []string {
	var out []string
	for _, r := range rules {
		out = append(out, r.RuleID)
	}
	return out
}

func TestRuleCRUD(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		s := newTestService(t, db)
		ctx := context.Background()
		user := id.UserID("@bob:x")
		rs, err := s.Ruleset(ctx, user)
		if err != nil {
			t.Fatal(err)
		}
		wantOverride := []string{".m.rule.master", ".m.rule.suppress_notices", ".m.rule.invite_for_me", ".m.rule.member_event",
			".m.rule.is_user_mention", ".m.rule.contains_display_name", ".m.rule.is_room_mention", ".m.rule.roomnotif",
			".m.rule.tombstone", ".m.rule.reaction", ".m.rule.room.server_acl", ".m.rule.suppress_edits"}
		if got := ids(rs.Override); len(got) != len(wantOverride) {
			t.Fatalf("override = %v", got)
		}
		if got := ids(rs.Underride); len(got) != 5 || got[0] != ".m.rule.call" || got[4] != ".m.rule.encrypted" {
			t.Errorf("underride = %v", got)
		}
		if rs.Content[0].RuleID != ".m.rule.contains_user_name" || *rs.Content[0].Pattern != "bob" {
			t.Errorf("content = %+v", rs.Content)
		}
		raw, _ := json.Marshal(rs)
		if !gjson.GetBytes(raw, "override.0.conditions").IsArray() || gjson.GetBytes(raw, "override.0.enabled").Bool() ||
			gjson.GetBytes(raw, `override.#(rule_id==".m.rule.tombstone").conditions.1.pattern`).Str != "" ||
			!gjson.GetBytes(raw, `override.#(rule_id==".m.rule.tombstone").conditions.1.pattern`).Exists() {
			t.Errorf("ruleset JSON: %s", raw)
		}

		add := func(ruleID, before, after string) {
			t.Helper()
			r, err := NewRule(Override, ruleID, RuleBody{Actions: []any{"notify"}, Conditions: []Condition{match("type", "x")}})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.PutRule(ctx, user, r, before, after); err != nil {
				t.Fatalf("put %s: %v", ruleID, err)
			}
		}
		add("a", "", "")
		add("b", "", "")  // new rules go first
		add("c", "", "a") // after a
		add("d", "b", "") // before b
		add("a", "", "")  // update keeps the place
		rs, _ = s.Ruleset(ctx, user)
		if got := ids(rs.Override)[1:5]; got[0] != "d" || got[1] != "b" || got[2] != "a" || got[3] != "c" {
			t.Errorf("order = %v", ids(rs.Override))
		}
		r, _ := NewRule(Override, "e", RuleBody{Actions: []any{}})
		if err := s.PutRule(ctx, user, r, ".m.rule.master", ""); code(err) != "M_UNKNOWN" {
			t.Errorf("before a default rule: %v", err)
		}
		if _, err := NewRule(Override, ".m.rule.mine", RuleBody{Actions: []any{}}); code(err) != "M_INVALID_PARAM" {
			t.Errorf("dot rule ID: %v", err)
		}
		if _, err := NewRule(Override, "x", RuleBody{Actions: []any{"explode"}}); code(err) != "M_BAD_JSON" {
			t.Errorf("bad action: %v", err)
		}

		if err := s.SetEnabled(ctx, user, Override, ".m.rule.master", true); err != nil {
			t.Fatal(err)
		}
		if err := s.SetActions(ctx, user, Underride, ".m.rule.message", []any{}); err != nil {
			t.Fatal(err)
		}
		if err := s.SetEnabled(ctx, user, Override, "nope", true); code(err) != "M_NOT_FOUND" {
			t.Errorf("enable unknown: %v", err)
		}
		rule, _ := s.Rule(ctx, user, Override, ".m.rule.master")
		msg, _ := s.Rule(ctx, user, Underride, ".m.rule.message")
		if !rule.Enabled || len(msg.Actions) != 0 {
			t.Errorf("master %+v, message %+v", rule, msg)
		}
		if err := s.DeleteRule(ctx, user, Override, "b"); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteRule(ctx, user, Override, "b"); code(err) != "M_NOT_FOUND" {
			t.Errorf("delete twice: %v", err)
		}
		if err := s.DeleteRule(ctx, user, Override, ".m.rule.master"); err == nil {
			t.Error("deleted a default rule")
		}
		// The change is account data for the user's next sync.
		content, err := s.AccountDataSince(ctx, user, 1)
		if err != nil || !gjson.GetBytes(content, `global.override.#(rule_id=="a")`).Exists() {
			t.Errorf("m.push_rules: %s %v", content, err)
		}
		if other, _ := s.AccountDataSince(ctx, "@alice:x", 1); other != nil {
			t.Error("unchanged user has m.push_rules news")
		}
	})
}
