// Package registration owns appservice registration files in the
// Synapse/mautrix YAML format: loading and validating them (every problem
// reported with its file, key and reason), checking a set of them against
// each other (duplicate IDs and tokens, overlapping exclusive namespaces),
// and generating new ones with random tokens for in-tree bridges.
//
// It is pure: no database, no HTTP, no knowledge of the homeserver beyond
// its server name. The appservice package builds its registry from these
// values; bridges use Generate and the mautrix conversion.
//
// Namespace regexes follow Synapse, the reference for these files: a regex
// is anchored at the start of the string but not at the end (Python's
// re.match), so "@irc_" claims every user ID starting with @irc_. They are
// compiled with Go's RE2 syntax, which has no backreferences or lookaround;
// a file using them is rejected with the compiler's reason.
package registration

import (
	"net/netip"
	"regexp"
	"strings"

	"maunium.net/go/mautrix/id"
)

// Registration is one appservice registration.
type Registration struct {
	// File is the path the registration was loaded from; it prefixes
	// every error about it. Empty for generated registrations.
	File string

	ID string
	// URL is where transactions and queries are sent. Empty means the
	// appservice receives nothing, as in the standard double-puppeting
	// registration (url: null, a non-exclusive @.* user namespace).
	URL             string
	ASToken         string
	HSToken         string
	SenderLocalpart string
	// RateLimited is false when the file says rate_limited: false; the
	// default is true, as in Synapse.
	RateLimited bool
	Protocols   []string
	Namespaces  Namespaces
	// ReceiveEphemeral is receive_ephemeral or its MSC2409 name
	// de.sorunome.msc2409.push_ephemeral: typing, receipts, presence and
	// to-device messages are pushed in transactions.
	ReceiveEphemeral bool
	// MSC3202 (org.matrix.msc3202) adds device lists and one-time key
	// counts to transactions, for appservice-side encryption.
	MSC3202 bool
	// MSC4190 (io.element.msc4190) lets the appservice create and delete
	// its users' devices without /login.
	MSC4190 bool
	// IPRangeWhitelist, when not empty, limits the addresses from which
	// the as_token is accepted (Synapse's ip_range_whitelist).
	IPRangeWhitelist []netip.Prefix

	// lines maps YAML key paths to lines, for problems found after parsing.
	lines map[string]int
}

// Namespaces are the three kinds of identifiers an appservice may claim.
type Namespaces struct {
	Users   []Namespace
	Aliases []Namespace
	Rooms   []Namespace
}

// Namespace is one regex claim. Exclusive claims keep everyone else out.
type Namespace struct {
	Regex     string
	Exclusive bool
	re        *regexp.Regexp
}

// NewNamespace compiles regex with the registration-file semantics
// (anchored at the start only).
func NewNamespace(regex string, exclusive bool) (Namespace, error) {
	re, err := Compile(regex)
	if err != nil {
		return Namespace{}, err
	}
	return Namespace{Regex: regex, Exclusive: exclusive, re: re}, nil
}

// Compile compiles a namespace regex as Synapse matches it: anchored at
// the start of the string, not at its end.
func Compile(regex string) (*regexp.Regexp, error) {
	return regexp.Compile(`^(?:` + regex + `)`)
}

// Matches reports whether s is in the namespace. A namespace that was
// never compiled (a zero value) matches nothing.
func (n Namespace) Matches(s string) bool {
	return n.re != nil && n.re.MatchString(s)
}

// SenderUserID is the appservice's own user on serverName.
func (r *Registration) SenderUserID(serverName string) id.UserID {
	return id.NewUserID(r.SenderLocalpart, serverName)
}

// HasURL reports whether the appservice wants transactions and queries.
func (r *Registration) HasURL() bool { return r.URL != "" }

// TrimmedURL is URL without a trailing slash, ready for appending paths.
func (r *Registration) TrimmedURL() string { return strings.TrimRight(r.URL, "/") }

// MatchUser reports whether userID is in one of the user namespaces;
// with exclusiveOnly, only exclusive ones count.
func (r *Registration) MatchUser(userID string, exclusiveOnly bool) bool {
	return matchAny(r.Namespaces.Users, userID, exclusiveOnly)
}

// MatchAlias is MatchUser for room aliases.
func (r *Registration) MatchAlias(alias string, exclusiveOnly bool) bool {
	return matchAny(r.Namespaces.Aliases, alias, exclusiveOnly)
}

// MatchRoom is MatchUser for room IDs.
func (r *Registration) MatchRoom(roomID string, exclusiveOnly bool) bool {
	return matchAny(r.Namespaces.Rooms, roomID, exclusiveOnly)
}

func matchAny(nss []Namespace, s string, exclusiveOnly bool) bool {
	for _, ns := range nss {
		if (!exclusiveOnly || ns.Exclusive) && ns.Matches(s) {
			return true
		}
	}
	return false
}

// HasProtocol reports whether the appservice registered protocol for
// third-party lookups.
func (r *Registration) HasProtocol(protocol string) bool {
	for _, p := range r.Protocols {
		if p == protocol {
			return true
		}
	}
	return false
}

// Allows reports whether a request from addr may use the as_token.
func (r *Registration) Allows(addr netip.Addr) bool {
	if len(r.IPRangeWhitelist) == 0 {
		return true
	}
	addr = addr.Unmap()
	for _, p := range r.IPRangeWhitelist {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// name is how errors refer to the registration: its file, else its ID.
func (r *Registration) name() string {
	if r.File != "" {
		return r.File
	}
	if r.ID != "" {
		return "registration " + r.ID
	}
	return "registration"
}
