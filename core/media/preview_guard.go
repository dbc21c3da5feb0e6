package media

import (
	"fmt"
	"net/http"
	"time"

	"github.com/gatehouse-chat/gatehouse/internal/netguard"
)

// ErrBlockedAddress is returned when a preview would connect to an address
// in url_preview_ip_range_blacklist.
var ErrBlockedAddress = netguard.ErrBlocked

// maxRedirects follows Synapse's URL previewer.
const maxRedirects = 5

// newPreviewClient builds the HTTP client previews use: every hop of a
// redirect chain is dialled through the guard.
func newPreviewClient(g *netguard.Guard, timeout time.Duration) *http.Client {
	return &http.Client{
		Transport: g.Transport(timeout),
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
