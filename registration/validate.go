package registration

import (
	"fmt"
	"net/url"
	"strings"
)

// Validate checks one registration on its own and compiles its namespace
// regexes; call it on registrations built in code before use (Parse and
// LoadFile already did). The error, if any, is an *Errors.
func (r *Registration) Validate() error {
	return errorsOrNil(r.check())
}

// check validates r and compiles its namespaces.
func (r *Registration) check() []Problem {
	ps := &problems{file: r.name()}
	add := func(key, format string, args ...any) { ps.add(r.lines[key], key, format, args...) }
	if r.ID == "" {
		add("id", "must be a non-empty string")
	}
	if r.ASToken == "" {
		add("as_token", "must be a non-empty string")
	}
	if r.HSToken == "" {
		add("hs_token", "must be a non-empty string")
	}
	if err := checkLocalpart(r.SenderLocalpart); err != "" {
		add("sender_localpart", "%s", err)
	}
	if r.URL != "" {
		if err := checkURL(r.URL); err != "" {
			add("url", "%s", err)
		}
	}
	for i, p := range r.Protocols {
		if p == "" || strings.ContainsAny(p, "/?#") {
			add(fmt.Sprintf("protocols[%d]", i), "protocol %q must be non-empty and contain no /, ? or #", p)
		}
	}
	for _, kind := range []struct {
		key  string
		list []Namespace
	}{{"users", r.Namespaces.Users}, {"aliases", r.Namespaces.Aliases}, {"rooms", r.Namespaces.Rooms}} {
		for i := range kind.list {
			n := &kind.list[i]
			key := fmt.Sprintf("namespaces.%s[%d].regex", kind.key, i)
			if n.Regex == "" {
				add(key, "must be a non-empty regular expression")
				continue
			}
			re, err := Compile(n.Regex)
			if err != nil {
				add(key, "invalid regular expression (Go RE2 syntax): %s", strings.TrimPrefix(err.Error(), "error parsing regexp: "))
				continue
			}
			n.re = re
		}
	}
	return ps.list
}

// checkLocalpart applies the spec's user ID grammar to sender_localpart.
func checkLocalpart(lp string) string {
	if lp == "" {
		return "must be a non-empty string"
	}
	if len(lp) > 200 {
		return "must be at most 200 characters"
	}
	for i := 0; i < len(lp); i++ {
		c := lp[i]
		ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte("._=-/+", c) >= 0
		if !ok {
			return fmt.Sprintf("%q may only contain a-z, 0-9 and ._=-/+ (user ID localpart rules)", lp)
		}
	}
	return ""
}

func checkURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Sprintf("%q is not a URL: %v", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Sprintf("%q must start with http:// or https:// (leave url empty or null for an appservice that receives nothing)", raw)
	}
	if u.Host == "" {
		return fmt.Sprintf("%q has no host", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return fmt.Sprintf("%q must not have a query or fragment", raw)
	}
	return ""
}
