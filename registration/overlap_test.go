package registration

import (
	"path/filepath"
	"testing"
)

func TestOverlap(t *testing.T) {
	cases := []struct {
		a, b string
		want bool
	}{
		{`@discord_.*`, `@discord_.*`, true},
		{`@discord_.*`, `@telegram_.*`, false},
		{`^@discord_.+:example\.org$`, `^@discord_bot:example\.org$`, true},
		{`^@discord_.+:example\.org$`, `^@discordbot:example\.org$`, false},
		{`@a_.*:one\.org$`, `@a_.*:two\.org$`, false},
		// Unanchored ends: "@a_:two.org:one.org" is in both.
		{`@a_.*:one\.org`, `@a_.*:two\.org`, true},
		{`@a_.*:one\.org$`, `@a_.*:one\.org\.evil$`, false},
		// Prefix semantics: "@a" claims "@ab..." because nothing anchors the end.
		{`@a`, `@ab:x$`, true},
		{`@a$`, `@ab:x$`, false},
		{`@[0-9]+$`, `@[a-z]+$`, false},
		{`@[0-9]+`, `@[0-9a-f]{3}$`, true},
		{`(?i)@ABC$`, `@abc$`, true},
		{`@abc$`, `@ABC$`, false},
		{`@x|@y`, `@y_.*`, true},
		{`@.*_bot$`, `@irc_.*`, true},
		{`@.*_bot$`, `@irc_.*[^t]$`, false},
		{`.`, `\n`, false},
		{`(?s).`, `\n`, true},
		{`@.`, `@\n`, false}, // . does not match newline in RE2 without (?s)
		{`^$`, `$`, true},
		{`@x\b`, `@xy`, true}, // word boundaries are assumed satisfiable
		{`a^b`, `ab`, false},
	}
	for _, c := range cases {
		got, err := Overlap(c.a, c.b)
		if err != nil {
			t.Fatalf("%q vs %q: %v", c.a, c.b, err)
		}
		if got != c.want {
			t.Errorf("Overlap(%q, %q) = %v, want %v", c.a, c.b, got, c.want)
		}
		if back, _ := Overlap(c.b, c.a); back != got {
			t.Errorf("Overlap is not symmetric for %q, %q", c.a, c.b)
		}
	}
	if _, err := Overlap(`(`, `a`); err == nil {
		t.Error("a bad regex must be an error")
	}
}

func TestGenerateRoundTrip(t *testing.T) {
	users, _ := NewNamespace(`^@telegram_.+:example\.org$`, true)
	r, err := Generate(GenerateOptions{ID: "telegram", URL: "http://127.0.0.1:29317", SenderLocalpart: "telegrambot",
		Namespaces: Namespaces{Users: []Namespace{users}}, Protocols: []string{"telegram"}, Encryption: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.ASToken) != 64 || len(r.HSToken) != 64 || r.ASToken == r.HSToken {
		t.Fatalf("tokens %q %q", r.ASToken, r.HSToken)
	}
	path := filepath.Join(t.TempDir(), "telegram.yaml")
	if err := r.Save(path); err != nil {
		t.Fatal(err)
	}
	back, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if back.ID != r.ID || back.URL != r.URL || back.ASToken != r.ASToken || back.HSToken != r.HSToken ||
		back.RateLimited || !back.ReceiveEphemeral || !back.MSC3202 || !back.MSC4190 ||
		!back.MatchUser("@telegram_1:example.org", true) || back.Protocols[0] != "telegram" {
		t.Fatalf("round trip lost data: %+v", back)
	}
	m := back.ToMautrix()
	if !m.EphemeralEvents || !m.SoruEphemeralEvents || !m.MSC3202 || !m.MSC4190 || *m.RateLimited ||
		m.Namespaces.UserIDs[0].Regex != users.Regex || m.AppToken != r.ASToken {
		t.Fatalf("mautrix form %+v", m)
	}
	again, err := FromMautrix(m)
	if err != nil || again.ASToken != r.ASToken || !again.MatchUser("@telegram_2:example.org", true) {
		t.Fatalf("from mautrix: %+v %v", again, err)
	}
	// A URL-less registration writes url: null, which reads back as none.
	dp := *r
	dp.URL = ""
	data, _ := dp.Marshal()
	back, err = Parse("dp.yaml", data)
	if err != nil || back.HasURL() {
		t.Fatalf("url-less round trip: %v %+v", err, back)
	}
}
