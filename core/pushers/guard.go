package pushers

import (
	"fmt"
	"net/http"
	"time"

	"github.com/gatehouse-chat/gatehouse/internal/netguard"
)

// ErrBlockedAddress is returned when a gateway would be reached at an
// address in ip_range_blacklist.
var ErrBlockedAddress = netguard.ErrBlocked

func newIPGuard(blacklist, whitelist []string) (*netguard.Guard, error) {
	g, err := netguard.New("ip_range_blacklist", blacklist, whitelist)
	if err != nil {
		return nil, fmt.Errorf("ip_range_blacklist/whitelist: %w", err)
	}
	return g, nil
}

// newClient builds the client gateways are posted to. It follows no
// redirects: a gateway answers the POST itself, and a redirect is reported
// as the failure it is.
func newClient(g *netguard.Guard, timeout time.Duration) *http.Client {
	tr := g.Transport(timeout)
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost, tr.IdleConnTimeout = 64, 8, 90*time.Second
	return &http.Client{
		Transport: tr,
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}
