// Package netguard keeps the server's outbound HTTP (URL previews, push
// gateways, later federation) away from addresses it must not reach, as
// Synapse's ip_range_blacklist / ip_range_whitelist do. The check runs at
// dial time on the resolved address, so a hostname that resolves, or
// re-resolves (DNS rebinding), to a blocked address is refused, and so is
// every redirect hop.
package netguard

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"time"
)

// ErrBlocked is wrapped by every refusal.
var ErrBlocked = errors.New("IP address is blocked")

// Guard decides which addresses outbound requests may connect to.
type Guard struct {
	blocked, allowed []netip.Prefix
	// what names the config key in errors, e.g. "ip_range_blacklist".
	what string
}

// New parses the block and allow lists (CIDRs or bare addresses). what
// names the blacklist's config key, for error messages.
func New(what string, blacklist, whitelist []string) (*Guard, error) {
	blocked, err := ParsePrefixes(blacklist)
	if err != nil {
		return nil, err
	}
	allowed, err := ParsePrefixes(whitelist)
	if err != nil {
		return nil, err
	}
	return &Guard{blocked: blocked, allowed: allowed, what: what}, nil
}

// ParsePrefixes reads CIDRs and bare addresses, as config accepts both.
func ParsePrefixes(list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for _, s := range list {
		s = strings.TrimSpace(s)
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not a CIDR range or IP address", s)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

var (
	nat64Prefix = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour   = netip.MustParsePrefix("2002::/16")
)

// Permits applies the whitelist, then the blacklist. Unspecified addresses
// (0.0.0.0, ::) reach the local host on Linux, so they are refused whatever
// the lists say; IPv4 hidden in IPv6 forms (mapped, NAT64, 6to4) is judged
// as the IPv4 address it reaches.
func (g *Guard) Permits(a netip.Addr) bool {
	a = a.WithZone("").Unmap()
	if !a.IsValid() || a.IsUnspecified() {
		return false
	}
	if inner, ok := embeddedIPv4(a); ok && !g.Permits(inner) {
		return false
	}
	for _, p := range g.allowed {
		if p.Contains(a) {
			return true
		}
	}
	for _, p := range g.blocked {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

func embeddedIPv4(a netip.Addr) (netip.Addr, bool) {
	if !a.Is6() {
		return netip.Addr{}, false
	}
	b := a.As16()
	switch {
	case nat64Prefix.Contains(a):
		return netip.AddrFrom4([4]byte(b[12:16])), true
	case sixToFour.Contains(a):
		return netip.AddrFrom4([4]byte(b[2:6])), true
	}
	return netip.Addr{}, false
}

// Control is a net.Dialer Control function: it runs after DNS resolution,
// on the exact address about to be dialled.
func (g *Guard) Control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil || !g.Permits(ap.Addr()) {
		return fmt.Errorf("%w by %s: %s", ErrBlocked, g.what, address)
	}
	return nil
}

// Transport returns an HTTP transport that dials only permitted
// addresses. It ignores proxy environment variables: a proxy would make the
// dial-time check see the proxy's address rather than the target's.
func (g *Guard) Transport(responseTimeout time.Duration) *http.Transport {
	dialer := &net.Dialer{Timeout: 10 * time.Second, Control: g.Control}
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: responseTimeout,
		MaxIdleConns:          16,
		IdleConnTimeout:       30 * time.Second,
		ForceAttemptHTTP2:     true,
	}
}
