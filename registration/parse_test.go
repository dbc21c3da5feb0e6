package registration

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const discordYAML = `id: discord
url: http://127.0.0.1:29334
as_token: as_discord
hs_token: hs_discord
sender_localpart: discordbot
rate_limited: false
namespaces:
  users:
    - regex: ^@discord_[0-9]+:example\.org$
      exclusive: true
    - regex: ^@discordbot:example\.org$
      exclusive: true
  aliases:
    - regex: ^#discord_.+:example\.org$
      exclusive: true
  rooms: []
protocols: [discord]
receive_ephemeral: true
org.matrix.msc3202: true
io.element.msc4190: true
`

// doublePuppetYAML is the registration mautrix's docs tell admins to add
// for double puppeting: no URL and a non-exclusive catch-all namespace.
const doublePuppetYAML = `id: doublepuppet
url:
as_token: as_doublepuppet
hs_token: hs_doublepuppet_unused
sender_localpart: doublepuppet_bot
rate_limited: false
namespaces:
  users:
  - regex: '@.*:example\.org'
    exclusive: false
`

func TestParseGood(t *testing.T) {
	r, err := Parse("discord.yaml", []byte(discordYAML))
	if err != nil {
		t.Fatal(err)
	}
	if r.ID != "discord" || r.URL != "http://127.0.0.1:29334" || r.ASToken != "as_discord" || r.HSToken != "hs_discord" ||
		r.SenderLocalpart != "discordbot" || r.RateLimited || !r.ReceiveEphemeral || !r.MSC3202 || !r.MSC4190 ||
		len(r.Protocols) != 1 || r.Protocols[0] != "discord" {
		t.Fatalf("parsed %+v", r)
	}
	if !r.MatchUser("@discord_123:example.org", true) || r.MatchUser("@discord_x:example.org", false) ||
		!r.MatchAlias("#discord_general:example.org", true) || r.MatchRoom("!x:example.org", false) {
		t.Fatal("namespace matching is wrong")
	}
	if r.SenderUserID("example.org") != "@discordbot:example.org" {
		t.Fatalf("sender = %s", r.SenderUserID("example.org"))
	}

	dp, err := Parse("doublepuppet.yaml", []byte(doublePuppetYAML))
	if err != nil {
		t.Fatal(err)
	}
	if dp.HasURL() || !dp.MatchUser("@alice:example.org", false) || dp.MatchUser("@alice:example.org", true) || dp.RateLimited {
		t.Fatalf("double puppet parsed %+v", dp)
	}
	if err := ValidateSet([]*Registration{r, dp}, "example.org"); err != nil {
		t.Fatalf("double puppet registration beside a bridge: %v", err)
	}

	// The MSC2409 name alone turns ephemeral delivery on; defaults apply.
	soru, err := Parse("soru.yaml", []byte("id: x\nas_token: a\nhs_token: h\nsender_localpart: x\nurl: null\nde.sorunome.msc2409.push_ephemeral: true\nip_range_whitelist: [127.0.0.1, 10.0.0.0/8]\nnamespaces:\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !soru.ReceiveEphemeral || !soru.RateLimited || soru.MSC3202 {
		t.Fatalf("soru parsed %+v", soru)
	}
	if !soru.Allows(netip.MustParseAddr("10.1.2.3")) || !soru.Allows(netip.MustParseAddr("::ffff:127.0.0.1")) || soru.Allows(netip.MustParseAddr("192.168.1.1")) {
		t.Fatal("ip_range_whitelist not applied")
	}
}

func TestParseBad(t *testing.T) {
	base := "id: x\nas_token: a\nhs_token: h\nsender_localpart: bot\n"
	cases := []struct {
		name, yaml string
		want       []string // each must appear in the error, which starts with the file name
	}{
		{"not yaml", "id: [", []string{"bad.yaml: not valid YAML"}},
		{"empty", "", []string{"bad.yaml: file is empty"}},
		{"list", "- a\n", []string{"bad.yaml:1: must be a YAML mapping"}},
		{"missing keys", "url: http://localhost\n", []string{"id: required key is missing", "as_token: required key is missing",
			"hs_token: required key is missing", "sender_localpart: required key is missing"}},
		{"empty token", strings.Replace(base, "as_token: a", "as_token: \"\"", 1), []string{"bad.yaml:2: as_token: must be a non-empty string"}},
		{"null token", strings.Replace(base, "hs_token: h", "hs_token:", 1), []string{"bad.yaml:3: hs_token: must be a non-empty string"}},
		{"token is a list", strings.Replace(base, "as_token: a", "as_token: [a]", 1), []string{"as_token: must be a non-empty string"}},
		{"bool id", strings.Replace(base, "id: x", "id: true", 1), []string{"bad.yaml:1: id: must be a string, not a boolean"}},
		{"bad localpart", strings.Replace(base, "bot", "Bot Name", 1), []string{"sender_localpart: \"Bot Name\" may only contain"}},
		{"bad url scheme", base + "url: ftp://x\n", []string{"bad.yaml:5: url: \"ftp://x\" must start with http:// or https://"}},
		{"url without host", base + "url: http://\n", []string{"url: \"http://\" has no host"}},
		{"rate_limited string", base + "rate_limited: nope\n", []string{"bad.yaml:5: rate_limited: must be true or false, not \"nope\""}},
		{"msc3202 number", base + "org.matrix.msc3202: 1\n", []string{"org.matrix.msc3202: must be true or false, not a number"}},
		{"ephemeral list", base + "receive_ephemeral: [true]\n", []string{"receive_ephemeral: must be true or false, not a list"}},
		{"namespaces list", base + "namespaces: [a]\n", []string{"namespaces: must be a mapping"}},
		{"users not list", base + "namespaces:\n  users: '@a'\n", []string{"namespaces.users: must be a list"}},
		{"entry not mapping", base + "namespaces:\n  users: ['@a']\n", []string{"namespaces.users[0]: must be a mapping"}},
		{"no exclusive", base + "namespaces:\n  users:\n    - regex: '@a'\n", []string{"bad.yaml:7: namespaces.users[0].exclusive: required key is missing"}},
		{"no regex", base + "namespaces:\n  rooms:\n    - exclusive: true\n", []string{"namespaces.rooms[0].regex: required key is missing"}},
		{"bad regex", base + "namespaces:\n  aliases:\n    - regex: '#(a'\n      exclusive: true\n", []string{"bad.yaml:7: namespaces.aliases[0].regex: invalid regular expression (Go RE2 syntax): missing closing )"}},
		{"lookahead", base + "namespaces:\n  users:\n    - regex: '@(?!admin)'\n      exclusive: true\n", []string{"namespaces.users[0].regex: invalid regular expression"}},
		{"empty regex", base + "namespaces:\n  users:\n    - regex: ''\n      exclusive: true\n", []string{"namespaces.users[0].regex: must be a non-empty"}},
		{"exclusive string", base + "namespaces:\n  users:\n    - regex: '@a'\n      exclusive: 'yes'\n", []string{"namespaces.users[0].exclusive: must be true or false"}},
		{"duplicate key", base + "id: y\n", []string{"bad.yaml:5: id: key appears twice"}},
		{"protocols map", base + "protocols: {a: b}\n", []string{"protocols: must be a list of strings"}},
		{"protocol slash", base + "protocols: [a/b]\n", []string{"protocols[0]: protocol \"a/b\" must be non-empty"}},
		{"bad cidr", base + "ip_range_whitelist: [nope]\n", []string{"ip_range_whitelist[0]: \"nope\" is not an IP address"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := Parse("bad.yaml", []byte(c.yaml))
			if err == nil {
				t.Fatalf("accepted: %+v", r)
			}
			if r != nil {
				t.Fatal("a registration was returned with an error")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "bad.yaml") {
				t.Errorf("error does not name the file: %s", msg)
			}
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q\ndoes not contain %q", msg, w)
				}
			}
		})
	}
}

func TestLoadFilesOverlap(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	reg := func(id, token, sender, users string, exclusive bool) string {
		ex := "false"
		if exclusive {
			ex = "true"
		}
		return "id: " + id + "\nurl: http://127.0.0.1:1\nas_token: " + token + "\nhs_token: h\nsender_localpart: " + sender +
			"\nnamespaces:\n  users:\n    - regex: '" + users + "'\n      exclusive: " + ex + "\n"
	}
	discord := write("discord.yaml", reg("discord", "t1", "discordbot", `@discord_.*:example\.org`, true))
	dp := write("dp.yaml", doublePuppetYAML)
	telegram := write("telegram.yaml", reg("telegram", "t2", "telegrambot", `@telegram_.*`, true))
	if regs, err := LoadFiles([]string{discord, dp, telegram}, "example.org"); err != nil || len(regs) != 3 {
		t.Fatalf("good set: %v", err)
	}

	cases := []struct {
		name  string
		files []string
		want  []string
	}{
		{"same exclusive prefix", []string{discord, write("d2.yaml", reg("d2", "t3", "d2bot", `@discord_1.*`, true))},
			[]string{"d2.yaml:8: namespaces.users[0].regex: exclusive namespace \"@discord_1.*\" overlaps exclusive namespace \"@discord_.*:example\\\\.org\" (namespaces.users[0]) of appservice \"discord\" in " + discord}},
		{"catch-all exclusive", []string{discord, write("all.yaml", reg("all", "t4", "allbot", `@.*`, true))},
			[]string{"all.yaml:8: namespaces.users[0].regex: exclusive namespace \"@.*\" overlaps"}},
		{"duplicate id and token", []string{discord, write("dup.yaml", reg("discord", "t1", "otherbot", `@other_.*`, true))},
			[]string{"dup.yaml:1: id: appservice ID \"discord\" is already used by " + discord, "dup.yaml:3: as_token: the same as_token is already used by " + discord}},
		{"sender in exclusive namespace", []string{discord, write("s.yaml", reg("s", "t5", "discord_bot", `@s_.*`, true))},
			[]string{"namespaces.users[0].regex: exclusive namespace \"@discord_.*:example\\\\.org\" claims @discord_bot:example.org, the sender of appservice \"s\""}},
		{"missing file", []string{discord, filepath.Join(dir, "nope.yaml")}, []string{"nope.yaml: cannot read"}},
		{"bad file among good", []string{discord, write("broken.yaml", "id: [")}, []string{"broken.yaml: not valid YAML"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			regs, err := LoadFiles(c.files, "example.org")
			if err == nil || regs != nil {
				t.Fatalf("accepted %d registrations", len(regs))
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
		})
	}
}

func TestAnchoring(t *testing.T) {
	// Synapse's re.match: anchored at the start, not at the end.
	ns, err := NewNamespace(`@irc_`, true)
	if err != nil {
		t.Fatal(err)
	}
	for s, want := range map[string]bool{"@irc_bob:x": true, "@irc_": true, "x@irc_bob": false, "@ir": false} {
		if ns.Matches(s) != want {
			t.Errorf("%q matches = %v, want %v", s, !want, want)
		}
	}
	alt, _ := NewNamespace(`@a|@b`, false)
	if !alt.Matches("@b:x") || alt.Matches("x@b") {
		t.Error("alternation must be anchored as a whole")
	}
}
