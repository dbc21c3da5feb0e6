package media

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

// ErrBlockedAddress is returned when a preview would connect to an address
// in url_preview_ip_range_blacklist.
var ErrBlockedAddress = errors.New("IP address blocked by url_preview_ip_range_blacklist")

// parsePrefixes reads CIDRs and bare addresses, as config accepts both.
func parsePrefixes(list []string) ([]netip.Prefix, error) {
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

// ipGuard decides which addresses previews may connect to.
type ipGuard struct {
	blocked, allowed []netip.Prefix
}

var (
	nat64Prefix = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour   = netip.MustParsePrefix("2002::/16")
)

// permits applies the whitelist, then the blacklist. Unspecified
// addresses (0.0.0.0, ::) reach the local host on Linux, so they are
// refused whatever the lists say; IPv4 hidden in IPv6 forms (mapped,
// NAT64, 6to4) is judged as the IPv4 address it reaches.
func (g *ipGuard) permits(a netip.Addr) bool {
	a = a.WithZone("").Unmap()
	if !a.IsValid() || a.IsUnspecified() {
		return false
	}
	if inner, ok := embeddedIPv4(a); ok && !g.permits(inner) {
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

// control runs after DNS resolution, on the exact address about to be
// dialled, so a name that resolves (or re-resolves, DNS rebinding) to a
// blocked address is caught, as is every redirect hop.
func (g *ipGuard) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil || !g.permits(ap.Addr()) {
		return fmt.Errorf("%w: %s", ErrBlockedAddress, address)
	}
	return nil
}

// maxRedirects follows Synapse's URL previewer.
const maxRedirects = 5

// newClient builds the HTTP client previews use. It ignores proxy
// environment variables: a proxy would make the dial-time check see the
// proxy's address rather than the target's.
func (g *ipGuard) newClient(timeout time.Duration) *http.Client {
	dialer := &net.Dialer{Timeout: 10 * time.Second, Control: g.control}
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: timeout,
		MaxIdleConns:          16,
		IdleConnTimeout:       30 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	return &http.Client{
		Transport: tr,
		Timeout:   timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= maxRedirects {
				return fmt.Errorf("stopped after %d redirects", maxRedirects)
			}
			if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
				return fmt.Errorf("redirect to unsupported scheme %q", req.URL.Scheme)
			}
			return nil
		},
	}
}
