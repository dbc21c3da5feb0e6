package media

import (
	"errors"
	"net/netip"
	"strconv"
	"strings"
)

// MaxMediaIDLength bounds media IDs accepted from clients and other
// servers; ours are 24 characters, and a longer one is never a real ID.
const MaxMediaIDLength = 255

// ErrInvalidMXC is returned by ParseMXC for anything that is not a
// well-formed mxc://server/mediaId URI.
var ErrInvalidMXC = errors.New("invalid mxc URI")

// ParseMXC splits "mxc://server/mediaId" into its server name and media ID,
// validating both against the spec's grammar.
func ParseMXC(uri string) (serverName, mediaID string, err error) {
	rest, ok := strings.CutPrefix(uri, "mxc://")
	if !ok {
		return "", "", ErrInvalidMXC
	}
	serverName, mediaID, ok = strings.Cut(rest, "/")
	if !ok || !ValidServerName(serverName) || !ValidMediaID(mediaID) {
		return "", "", ErrInvalidMXC
	}
	return serverName, mediaID, nil
}

// MXC formats a content URI.
func MXC(serverName, mediaID string) string {
	return "mxc://" + serverName + "/" + mediaID
}

// ValidMediaID reports whether id matches the spec's media ID grammar
// [A-Za-z0-9_-]+. Every media ID reaches the filesystem only after this
// check, so it is also what keeps "..", "/" and NUL out of paths.
func ValidMediaID(id string) bool {
	if id == "" || len(id) > MaxMediaIDLength {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// ValidServerName applies the spec's server name grammar: a DNS name, an
// IPv4 literal or a bracketed IPv6 literal, with an optional ":port".
func ValidServerName(name string) bool {
	if name == "" || len(name) > 255 {
		return false
	}
	host := name
	if i := strings.LastIndexByte(name, ':'); i >= 0 && !strings.HasSuffix(name, "]") {
		host = name[:i]
		port := name[i+1:]
		n, err := strconv.Atoi(port)
		if err != nil || len(port) > 5 || n < 1 || n > 65535 || port[0] == '+' {
			return false
		}
	}
	if strings.HasPrefix(host, "[") {
		if !strings.HasSuffix(host, "]") {
			return false
		}
		a, err := netip.ParseAddr(host[1 : len(host)-1])
		return err == nil && a.Is6() && a.Zone() == ""
	}
	if host == "" {
		return false
	}
	for i := 0; i < len(host); i++ {
		c := host[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}
