package config

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestUnknownKeysAllReported(t *testing.T) {
	got := problemsOf(t, `server_nme: example.org
database:
  nme: sqlite3
  args:
    databse: x.db
    cp_mn: 2
listeners:
  - port: 8008
    bind: ['::']
    resources:
      - names: [client]
        compres: true
totally_unrelated_key: 1
`)
	wantProblems(t, got,
		`1: server_nme: unknown key (did you mean "server_name"?)`,
		`3: database.nme: unknown key (did you mean "name"?)`,
		`5: database.args.databse: unknown key (did you mean "database"?)`,
		`6: database.args.cp_mn: unknown key (did you mean "cp_min"?)`,
		`9: listeners[0].bind: unknown key`,
		`12: listeners[0].resources[0].compres: unknown key (did you mean "compress"?)`,
		`13: totally_unrelated_key: unknown key`,
	)
	if strings.Contains(got[6], "did you mean") {
		t.Errorf("suggested a key for an unrelated name: %s", got[6])
	}
}

func TestWrongTypesAllReported(t *testing.T) {
	got := problemsOf(t, `server_name: [a, b]
listeners: {port: 1}
database:
  args:
    port: abc
    cp_max: 1.5
enable_registration: maybe
rc_message: 3
rc_login:
  address:
    per_second: fast
ip_range_blacklist: 10.0.0.0/8
max_upload_size: 50Q
turn_user_lifetime: [1h]
log: info
email:
  smtp_port: 99999999999999999999
`)
	wantProblems(t, got,
		`1: server_name: must be a string (got a list)`,
		`2: listeners: must be a list (got a mapping)`,
		`5: database.args.port: must be an integer (got "abc")`,
		`6: database.args.cp_max: must be an integer (got "1.5")`,
		`7: enable_registration: must be true or false (got "maybe")`,
		`8: rc_message: must be a mapping (got "3")`,
		`11: rc_login.address.per_second: must be a number (got "fast")`,
		`12: ip_range_blacklist: must be a list (got "10.0.0.0/8")`,
		`13: max_upload_size: invalid size "50Q": unknown suffix "Q"`,
		`14: turn_user_lifetime: invalid duration: must be a value such as 1h (got a list)`,
		`15: log: must be a mapping (got "info")`,
		`17: email.smtp_port: must be an integer (got "99999999999999999999")`,
	)
}

func TestDuplicateKeys(t *testing.T) {
	got := problemsOf(t, "server_name: a.org\ndatabase:\n  name: sqlite3\n  name: postgres\nserver_name: b.org\n")
	wantProblems(t, got,
		`4: database.name: duplicate key (first set on line 3)`,
		`5: server_name: duplicate key (first set on line 1)`,
	)
}

func TestNonScalarKey(t *testing.T) {
	wantProblems(t, problemsOf(t, "? [a]\n: 1\n"), `1: : keys must be plain names (got a list)`)
}

func TestLenientScalars(t *testing.T) {
	c := mustParse(t, `default_room_version: 10
enable_registration: yes
enable_registration_without_verification: "true"
url_preview_enabled: Off
database: {args: {cp_max: "20", cp_min: +2}}
rc_message: {per_second: 1, burst_count: "2.5"}
listeners: [{port: 08448, resources: [{names: [client]}]}]
`)
	if c.DefaultRoomVersion != "10" || !c.EnableRegistration || !c.EnableRegistrationWithoutVerification || c.URLPreviewEnabled {
		t.Errorf("scalars decoded wrongly: %+v", c)
	}
	if c.Database.Args.CPMax != 20 || c.Database.Args.CPMin != 2 {
		t.Errorf("args = %+v", c.Database.Args)
	}
	if c.RcMessage != (RateLimit{1, 2.5}) {
		t.Errorf("rc_message = %+v", c.RcMessage)
	}
	if c.Listeners[0].Port != 8448 {
		t.Errorf("leading zero port = %d, want decimal 8448", c.Listeners[0].Port)
	}
}

func TestRejectedNumbers(t *testing.T) {
	for _, v := range []string{".nan", ".inf", "0x10", "1_0", "1e400"} {
		got := problemsOf(t, "rc_message: {per_second: "+v+"}\n")
		wantProblems(t, got, `1: rc_message.per_second: must be a number`)
	}
	for _, v := range []string{"0x10", "1e3", "8008.0", "true"} {
		got := problemsOf(t, "email: {smtp_port: "+v+"}\n")
		wantProblems(t, got, `1: email.smtp_port: must be an integer`)
	}
}

func TestNullKeepsDefault(t *testing.T) {
	c := mustParse(t, "server_name:\ndatabase:\n  args:\n    cp_max: ~\nip_range_blacklist:\nlisteners: null\n")
	d := Defaults()
	if c.ServerName != d.ServerName || c.Database.Args.CPMax != d.Database.Args.CPMax ||
		!reflect.DeepEqual(c.IPRangeBlacklist, d.IPRangeBlacklist) || !reflect.DeepEqual(c.Listeners, d.Listeners) {
		t.Errorf("null did not keep defaults: %+v", c)
	}
}

func TestListsReplaceDefaults(t *testing.T) {
	c := mustParse(t, "ip_range_blacklist: ['10.0.0.0/8']\nurl_preview_ip_range_blacklist: []\n")
	if !reflect.DeepEqual(c.IPRangeBlacklist, []string{"10.0.0.0/8"}) || len(c.URLPreviewIPRangeBlacklist) != 0 {
		t.Errorf("lists = %v / %v", c.IPRangeBlacklist, c.URLPreviewIPRangeBlacklist)
	}
}

func TestListenerElementDefaults(t *testing.T) {
	c := mustParse(t, "listeners:\n  - port: 8448\n    resources: [{names: [federation]}]\n")
	want := Listener{Port: 8448, BindAddresses: []string{"::", "0.0.0.0"}, Type: "http",
		Resources: []Resource{{Names: []string{"federation"}}}}
	if len(c.Listeners) != 1 || !reflect.DeepEqual(c.Listeners[0], want) {
		t.Errorf("listeners = %+v, want [%+v]", c.Listeners, want)
	}
}

func TestAliasesAndMerge(t *testing.T) {
	c := mustParse(t, `rc_message: &rl {per_second: 1, burst_count: 5}
rc_registration: *rl
rc_login:
  address: *rl
  account:
    <<: *rl
    burst_count: 7
  failed_attempts:
    burst_count: 9
    <<: [*rl]
`)
	rl := RateLimit{1, 5}
	if c.RcMessage != rl || c.RcRegistration != rl || c.RcLogin.Address != rl {
		t.Errorf("aliases: %+v %+v %+v", c.RcMessage, c.RcRegistration, c.RcLogin)
	}
	if c.RcLogin.Account != (RateLimit{1, 7}) || c.RcLogin.FailedAttempts != (RateLimit{1, 9}) {
		t.Errorf("explicit keys must win over merged ones: %+v", c.RcLogin)
	}
}

func TestMergeUnknownKey(t *testing.T) {
	got := problemsOf(t, "x: &x {per_secnd: 1}\nrc_message: {<<: *x}\n")
	wantProblems(t, got,
		`1: x: unknown key`,
		`1: rc_message.per_secnd: unknown key (did you mean "per_second"?)`,
	)
}

// TestHostileDocuments feeds documents whose node graph is tiny but whose
// expansion is huge or infinite; the decoder must stop early.
func TestHostileDocuments(t *testing.T) {
	loop := "rc_message: &a {<<: *a}\n"
	// m9 merges m8 ten times, which merges m7 ten times...: 10^9 mappings.
	bomb := "x:\n  - &m0 {per_second: 1}\n"
	for i := 1; i <= 9; i++ {
		refs := strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*m%d, ", i-1), 10), ", ")
		bomb += fmt.Sprintf("  - &m%d {<<: [%s]}\n", i, refs)
	}
	bomb += "rc_message: {<<: *m9}\n"
	for name, src := range map[string]string{"merge loop": loop, "merge bomb": bomb} {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			got := problemsOf(t, src)
			if !slices.ContainsFunc(got, func(s string) bool { return strings.Contains(s, "too large or too deeply nested") }) {
				t.Errorf("problems = %q, want a size-limit problem", got)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %v", d)
			}
		})
	}
}

func TestProblemCap(t *testing.T) {
	var b strings.Builder
	for i := range 150 {
		b.WriteString("unknown_" + strings.Repeat("x", i%5) + string(rune('a'+i%26)) + "_" + strings.Repeat("y", i) + ": 1\n")
	}
	got := problemsOf(t, b.String())
	if len(got) != maxProblems+1 || !strings.HasSuffix(got[maxProblems], "50 more problems not shown") {
		t.Errorf("got %d problems, last %q", len(got), got[len(got)-1])
	}
}

// TestEditDistance pins the typo matcher the "did you mean" hints rely on.
func TestEditDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{{"", "", 0}, {"name", "name", 0}, {"nme", "name", 1}, {"nmae", "name", 2}, {"", "abc", 3}, {"kitten", "sitting", 3}} {
		if got := editDistance(tc.a, tc.b); got != tc.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}
