package config

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// resourceNames are what a listener can serve.
var resourceNames = []string{"client", "federation", "media", "keys", "openid", "health", "metrics"}

// checkServerName applies the spec's grammar (appendix "Server Name"):
// a DNS name, IPv4 literal or bracketed IPv6 literal, optionally ":port".
func checkServerName(p *problems, path, name string) {
	if err := serverNameError(name); err != "" {
		p.add(path, "%s (got %q)", err, name)
	}
}

func serverNameError(name string) string {
	if name == "" {
		return "required"
	}
	if strings.Contains(name, "://") {
		return "must be a bare domain such as example.org, not a URL (the URL goes in public_baseurl)"
	}
	host, port := name, ""
	if i := strings.LastIndexByte(name, ':'); i >= 0 && !strings.HasSuffix(name, "]") {
		host, port = name[:i], name[i+1:]
		if n, err := strconv.Atoi(port); err != nil || len(port) > 5 || n < 1 || n > 65535 {
			return "port must be a number between 1 and 65535"
		}
	}
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		if a, err := netip.ParseAddr(host[1 : len(host)-1]); err != nil || !a.Is6() || a.Zone() != "" {
			return "not a valid IPv6 literal"
		}
		return ""
	}
	if len(host) == 0 || len(host) > 255 {
		return "host name must be 1 to 255 characters"
	}
	for _, r := range host {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.') {
			return "must be a host name or IP literal with an optional :port, like example.org or matrix.example.org:8448"
		}
	}
	return ""
}

// checkBaseURL requires an absolute http(s) URL: clients are sent it in
// .well-known and redirects, and a relative one breaks them silently.
func checkBaseURL(p *problems, path, raw string) {
	if raw == "" {
		return
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		p.add(path, "not a valid URL: %v", err)
	case u.Scheme != "http" && u.Scheme != "https":
		p.add(path, "must start with https:// or http:// (got %q)", raw)
	case u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "":
		p.add(path, "must be a plain URL like https://matrix.example.org/ (got %q)", raw)
	}
}

func checkListeners(p *problems, ls []Listener) {
	if len(ls) == 0 {
		p.add("listeners", "at least one listener is required")
	}
	seen := map[string]string{}
	for i, l := range ls {
		path := fmt.Sprintf("listeners[%d]", i)
		checkPort(p, path+".port", l.Port)
		checkOneOf(p, path+".type", l.Type, "http")
		if len(l.BindAddresses) == 0 {
			p.add(path+".bind_addresses", "at least one address is required")
		}
		for j, a := range l.BindAddresses {
			sub := fmt.Sprintf("%s.bind_addresses[%d]", path, j)
			if net.ParseIP(a) == nil {
				p.add(sub, "must be an IP address such as 127.0.0.1, ::1 or 0.0.0.0 (got %q)", a)
			}
			addr := net.JoinHostPort(a, strconv.Itoa(l.Port))
			if prev, dup := seen[addr]; dup {
				p.add(sub, "%s is already used by %s", addr, prev)
			}
			seen[addr] = path
		}
		if l.TLS {
			checkRequired(p, path+".tls_certificate_path", l.TLSCertPath)
			checkRequired(p, path+".tls_private_key_path", l.TLSKeyPath)
		}
		checkResources(p, path+".resources", l.Resources)
	}
}

func checkResources(p *problems, path string, rs []Resource) {
	if len(rs) == 0 {
		p.add(path, "at least one resource is required, e.g. names: [client, federation]")
	}
	for i, r := range rs {
		if len(r.Names) == 0 {
			p.add(fmt.Sprintf("%s[%d].names", path, i), "at least one name is required")
		}
		for j, n := range r.Names {
			if !slices.Contains(resourceNames, n) {
				p.add(fmt.Sprintf("%s[%d].names[%d]", path, i, j), "must be one of %s (got %q)",
					strings.Join(resourceNames, ", "), n)
			}
		}
	}
}

// checkCIDRs accepts CIDRs and single addresses, as Synapse's IPSet does.
func checkCIDRs(p *problems, path string, cidrs []string) {
	for i, c := range cidrs {
		_, perr := netip.ParsePrefix(c)
		_, aerr := netip.ParseAddr(c)
		if perr != nil && aerr != nil {
			p.add(fmt.Sprintf("%s[%d]", path, i), "not a CIDR range or IP address (got %q)", c)
		}
	}
}

// BaseURL is where clients reach this server: public_baseurl when set,
// otherwise a URL built from the first listener, good enough for a local
// test server. An unspecified bind address (0.0.0.0 or ::) becomes
// "localhost", since it cannot be connected to.
func (c *Config) BaseURL() string {
	if c.PublicBaseURL != "" {
		return c.PublicBaseURL
	}
	scheme, host, port := "http", "localhost", 8008
	if len(c.Listeners) > 0 {
		l := c.Listeners[0]
		port = l.Port
		if l.TLS {
			scheme = "https"
		}
		if len(l.BindAddresses) > 0 {
			if ip := net.ParseIP(l.BindAddresses[0]); ip != nil && !ip.IsUnspecified() {
				host = l.BindAddresses[0]
			}
		}
	}
	return scheme + "://" + net.JoinHostPort(host, strconv.Itoa(port)) + "/"
}
