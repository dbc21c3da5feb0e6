package client

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/config"
	"github.com/gatehouse-chat/gatehouse/core/events"
)

// ServerInfo serves what a client asks before logging in: versions,
// capabilities and the .well-known delegation documents.
type ServerInfo struct {
	Config *config.Config
	// Unstable lists unstable features other packages implement (E2EE,
	// appservices); serve.go fills it.
	Unstable map[string]bool
}

// specVersions is the honest list: the client-server API versions whose
// endpoints Gatehouse serves. bridgev2 refuses servers below v1.4.
var specVersions = []string{"r0.6.1", "v1.1", "v1.2", "v1.3", "v1.4", "v1.5", "v1.6", "v1.7", "v1.8", "v1.9", "v1.10", "v1.11", "v1.12"}

// RegisterServerInfo adds the discovery endpoints.
func RegisterServerInfo(rt *httpx.Router, info *ServerInfo) {
	rt.OptionalAuth("GET /_matrix/client/versions", info.versions)
	rt.Authed("GET /_matrix/client/v3/capabilities", info.capabilities)
	rt.Public("GET /.well-known/matrix/client", info.wellKnownClient)
	rt.Public("GET /.well-known/matrix/server", info.wellKnownServer)
}

// versions: GET /_matrix/client/versions lists supported spec versions.
func (s *ServerInfo) versions(r *http.Request) (any, error) {
	unstable := map[string]bool{}
	for k, v := range s.Unstable {
		unstable[k] = v
	}
	// Element reads these to force encryption in its room creation dialog.
	switch s.Config.EncryptionEnabledByDefaultForRoomType {
	case "all":
		unstable["io.element.e2ee_forced.public"] = true
		fallthrough
	case "invite":
		unstable["io.element.e2ee_forced.private"] = true
		unstable["io.element.e2ee_forced.trusted_private"] = true
	}
	return map[string]any{"versions": specVersions, "unstable_features": unstable}, nil
}

// capabilities: GET /_matrix/client/v3/capabilities tells clients what they may do.
func (s *ServerInfo) capabilities(r *http.Request) (any, error) {
	available := map[string]string{}
	for _, v := range events.SupportedVersions {
		available[string(v)] = "stable"
	}
	return map[string]any{"capabilities": map[string]any{
		"m.change_password": map[string]bool{"enabled": true},
		"m.room_versions":   map[string]any{"default": s.Config.DefaultRoomVersion, "available": available},
		"m.set_displayname": map[string]bool{"enabled": true},
		"m.set_avatar_url":  map[string]bool{"enabled": true},
		"m.3pid_changes":    map[string]bool{"enabled": s.Config.Email.SMTPHost != ""}, // email addresses need SMTP
		"m.get_login_token": map[string]bool{"enabled": false},
	}}, nil
}

// wellKnownClient: GET /.well-known/matrix/client points clients at public_baseurl.
func (s *ServerInfo) wellKnownClient(r *http.Request) (any, error) {
	if !s.Config.ServeClientWellKnown {
		return nil, httpx.NotFound("No .well-known/matrix/client configured")
	}
	return map[string]any{"m.homeserver": map[string]string{"base_url": s.Config.BaseURL()}}, nil
}

// wellKnownServer: GET /.well-known/matrix/server delegates federation to
// public_baseurl's host on port 443, as Synapse's serve_server_wellknown does.
func (s *ServerInfo) wellKnownServer(r *http.Request) (any, error) {
	if !s.Config.ServeServerWellKnown {
		return nil, httpx.NotFound("No .well-known/matrix/server configured")
	}
	u, err := url.Parse(s.Config.BaseURL())
	if err != nil || u.Host == "" {
		return nil, httpx.NotFound("public_baseurl is not set")
	}
	host := u.Host
	if !strings.Contains(host, ":") || strings.HasSuffix(host, "]") {
		host += ":443"
	}
	return map[string]string{"m.server": host}, nil
}
