package config

import (
	"fmt"
	"slices"
	"strings"
)

// Validate checks c and reports every problem at once as an *Errors, each
// with its YAML path. It also normalises values that have more than one
// accepted spelling, so the rest of Gatehouse sees one: database name
// "psycopg2" becomes "postgres" and public_baseurl gains a trailing slash.
// Load calls Validate; call it yourself on a Config built in code.
func (c *Config) Validate() error {
	return errorsOrNil(c.validate())
}

func (c *Config) validate() []Problem {
	c.normalise()
	var p problems
	checkServerName(&p, "server_name", c.ServerName)
	checkBaseURL(&p, "public_baseurl", c.PublicBaseURL)
	checkListeners(&p, c.Listeners)
	checkDatabase(&p, c.Database)
	checkOneOf(&p, "log.level", c.Log.Level, "trace", "debug", "info", "warn", "error")
	checkOneOf(&p, "log.format", c.Log.Format, "pretty", "json")
	checkRequired(&p, "signing_key_path", c.SigningKeyPath)
	checkRequired(&p, "media_store_path", c.MediaStorePath)
	if c.MaxUploadSize <= 0 {
		p.add("max_upload_size", "must be more than 0 (got %d)", c.MaxUploadSize)
	}
	checkCIDRs(&p, "url_preview_ip_range_blacklist", c.URLPreviewIPRangeBlacklist)
	checkCIDRs(&p, "ip_range_blacklist", c.IPRangeBlacklist)
	checkCIDRs(&p, "url_preview_ip_range_whitelist", c.URLPreviewIPRangeWhitelist)
	checkCIDRs(&p, "ip_range_whitelist", c.IPRangeWhitelist)
	c.checkRegistration(&p)
	checkOneOf(&p, "default_room_version", c.DefaultRoomVersion, roomVersions...)
	checkOneOf(&p, "encryption_enabled_by_default_for_room_type",
		c.EncryptionEnabledByDefaultForRoomType, "all", "invite", "off")
	for i, f := range c.AppServiceConfigFiles {
		checkRequired(&p, fmt.Sprintf("app_service_config_files[%d]", i), f)
	}
	c.checkTURN(&p)
	c.checkEmail(&p)
	checkRateLimit(&p, "rc_message", c.RcMessage)
	checkRateLimit(&p, "rc_registration", c.RcRegistration)
	checkRateLimit(&p, "rc_login.address", c.RcLogin.Address)
	checkRateLimit(&p, "rc_login.account", c.RcLogin.Account)
	checkRateLimit(&p, "rc_login.failed_attempts", c.RcLogin.FailedAttempts)
	return p.list
}

// roomVersions are the room versions Gatehouse can create.
// roomVersions are those core/events supports; 12 waits for state resolution v2.1.
var roomVersions = []string{"1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11"}

func (c *Config) normalise() {
	if c.Database.Name == "psycopg2" {
		c.Database.Name = "postgres"
	}
	if c.PublicBaseURL != "" && !strings.HasSuffix(c.PublicBaseURL, "/") {
		c.PublicBaseURL += "/" // Synapse does the same; joins below rely on it.
	}
}

// checkRegistration refuses open registration with no verification at all,
// as Synapse does: such servers are found and filled by spam bots within days.
func (c *Config) checkRegistration(p *problems) {
	if c.EnableRegistration && !c.EnableRegistrationWithoutVerification && !c.RegistrationRequiresToken {
		p.add("enable_registration", "open registration without verification invites spam bots; "+
			"set registration_requires_token: true, or enable_registration_without_verification: true if you really mean it")
	}
}

func (c *Config) checkTURN(p *problems) {
	if c.TurnSharedSecret != "" && c.TurnUsername != "" {
		p.add("turn_shared_secret", "set either turn_shared_secret or turn_username/turn_password, not both")
	}
	if c.TurnUsername != "" && c.TurnPassword == "" {
		p.add("turn_password", "required when turn_username is set")
	}
	for i, uri := range c.TurnURIs {
		if !strings.HasPrefix(uri, "turn:") && !strings.HasPrefix(uri, "turns:") {
			p.add(fmt.Sprintf("turn_uris[%d]", i), "must start with turn: or turns: (got %q)", uri)
		}
	}
	if c.TurnUserLifetime <= 0 {
		p.add("turn_user_lifetime", "must be more than 0 (got %s)", c.TurnUserLifetime)
	}
}

func (c *Config) checkEmail(p *problems) {
	checkPort(p, "email.smtp_port", c.Email.SMTPPort)
	if c.Email.EnableNotifs {
		checkRequired(p, "email.smtp_host", c.Email.SMTPHost)
	}
	if c.Email.EnableNotifs || c.Email.SMTPHost != "" {
		checkNotifFrom(p, c.Email)
	}
}

func checkRateLimit(p *problems, path string, r RateLimit) {
	if r.PerSecond < 0 {
		p.add(path+".per_second", "must not be negative (got %v)", r.PerSecond)
	}
	if r.BurstCount < 0 {
		p.add(path+".burst_count", "must not be negative (got %v)", r.BurstCount)
	}
}

func checkOneOf(p *problems, path, value string, allowed ...string) {
	if !slices.Contains(allowed, value) {
		p.add(path, "must be one of %s (got %q)", strings.Join(allowed, ", "), value)
	}
}

func checkRequired(p *problems, path, value string) {
	if value == "" {
		p.add(path, "required")
	}
}

func checkPort(p *problems, path string, port int) {
	if port < 1 || port > 65535 {
		p.add(path, "must be between 1 and 65535 (got %d)", port)
	}
}
