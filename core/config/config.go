// Package config owns gatehouse.yaml: the Config struct every other package
// receives explicitly, its defaults, its validation (every error at once, each
// with its YAML path) and the commented example that generate-config prints.
//
// Key names follow Synapse's homeserver.yaml wherever the meaning is the same,
// so admins coming from Synapse guides recognise them. This package must not
// import any other Gatehouse package.
package config

// Config is the whole of gatehouse.yaml. Paths are resolved relative to the
// directory of the config file by Load.
type Config struct {
	// ServerName is the part after the colon in user IDs (@alice:example.org).
	ServerName string `yaml:"server_name"`
	// PublicBaseURL is where clients reach the client API, e.g. https://matrix.example.org/.
	PublicBaseURL string `yaml:"public_baseurl"`
	// ServeServerWellKnown makes Gatehouse answer /.well-known/matrix/server itself.
	ServeServerWellKnown bool `yaml:"serve_server_wellknown"`
	// ServeClientWellKnown makes Gatehouse answer /.well-known/matrix/client itself.
	ServeClientWellKnown bool `yaml:"serve_client_wellknown"`

	Listeners []Listener `yaml:"listeners"`
	Database  Database   `yaml:"database"`
	Log       Log        `yaml:"log"`

	SigningKeyPath string `yaml:"signing_key_path"`
	MediaStorePath string `yaml:"media_store_path"`
	// MaxUploadSize is a size with an optional K/M/G suffix, as in Synapse ("50M").
	MaxUploadSize ByteSize `yaml:"max_upload_size"`
	// URLPreviewEnabled turns on /preview_url; off by default, as in Synapse.
	URLPreviewEnabled bool `yaml:"url_preview_enabled"`
	// URLPreviewIPRangeBlacklist lists CIDRs previews never fetch from.
	URLPreviewIPRangeBlacklist []string `yaml:"url_preview_ip_range_blacklist"`
	// URLPreviewIPRangeWhitelist lists CIDRs previews may reach despite the blacklist.
	URLPreviewIPRangeWhitelist []string `yaml:"url_preview_ip_range_whitelist"`
	// IPRangeBlacklist lists CIDRs outbound requests (federation, push
	// gateways) never reach.
	IPRangeBlacklist []string `yaml:"ip_range_blacklist"`
	// IPRangeWhitelist lists CIDRs outbound requests may reach despite
	// IPRangeBlacklist.
	IPRangeWhitelist []string `yaml:"ip_range_whitelist"`

	EnableRegistration                    bool   `yaml:"enable_registration"`
	EnableRegistrationWithoutVerification bool   `yaml:"enable_registration_without_verification"`
	RegistrationSharedSecret              string `yaml:"registration_shared_secret"`
	RegistrationRequiresToken             bool   `yaml:"registration_requires_token"`

	AllowPublicRoomsOverFederation bool `yaml:"allow_public_rooms_over_federation"`
	AllowPublicRoomsWithoutAuth    bool `yaml:"allow_public_rooms_without_auth"`

	// DefaultRoomVersion is used by createRoom when the client names none.
	DefaultRoomVersion string `yaml:"default_room_version"`
	// EncryptionEnabledByDefaultForRoomType is "all", "invite" or "off".
	EncryptionEnabledByDefaultForRoomType string `yaml:"encryption_enabled_by_default_for_room_type"`

	AppServiceConfigFiles []string `yaml:"app_service_config_files"`
	// AppServiceDoublePuppet lists registration IDs of external appservices
	// that may act as local users who opted in (see Bridges for in-tree ones).
	AppServiceDoublePuppet []string `yaml:"app_service_double_puppet"`
	// Bridges holds one section per in-tree bridge (bridges.discord, ...).
	// This package keeps them raw: the bridge host decodes and validates
	// them through the Check passed to Load, so their problems are reported
	// with everyone else's.
	Bridges Bridges `yaml:"bridges"`

	TurnURIs         []string `yaml:"turn_uris"`
	TurnSharedSecret string   `yaml:"turn_shared_secret"`
	TurnUsername     string   `yaml:"turn_username"`
	TurnPassword     string   `yaml:"turn_password"`
	// TurnUserLifetime is a duration such as "1h" (Synapse syntax: ms, s, m, h, d, w, y).
	TurnUserLifetime Duration `yaml:"turn_user_lifetime"`
	TurnAllowGuests  bool     `yaml:"turn_allow_guests"`

	Email Email `yaml:"email"`

	RcMessage      RateLimit `yaml:"rc_message"`
	RcRegistration RateLimit `yaml:"rc_registration"`
	RcLogin        RcLogin   `yaml:"rc_login"`
}

// Listener is one entry of `listeners`, as in Synapse.
type Listener struct {
	Port          int        `yaml:"port"`
	BindAddresses []string   `yaml:"bind_addresses"`
	Type          string     `yaml:"type"` // only "http"
	TLS           bool       `yaml:"tls"`
	TLSCertPath   string     `yaml:"tls_certificate_path"`
	TLSKeyPath    string     `yaml:"tls_private_key_path"`
	XForwarded    bool       `yaml:"x_forwarded"`
	Resources     []Resource `yaml:"resources"`
}

// Resource selects what a listener serves: names from "client", "federation", "media", "keys", "openid", "health", "metrics".
type Resource struct {
	Names    []string `yaml:"names"`
	Compress bool     `yaml:"compress"`
}

// Database is Synapse's `database` section. Name is "sqlite3" or "postgres"
// ("psycopg2" is accepted as an alias so Synapse configs carry over).
type Database struct {
	Name string       `yaml:"name"`
	Args DatabaseArgs `yaml:"args"`
}

// DatabaseArgs holds the driver arguments. For sqlite3 only Database (a file
// path) is used. For postgres either DSN or the libpq-style fields are used.
type DatabaseArgs struct {
	Database string `yaml:"database"` // sqlite3: file path; postgres: database name
	DSN      string `yaml:"dsn"`      // postgres: full connection string, overrides the fields below
	User     string `yaml:"user"`
	Password string `yaml:"password"`
	Host     string `yaml:"host"`
	Port     int    `yaml:"port"`
	SSLMode  string `yaml:"sslmode"`
	CPMin    int    `yaml:"cp_min"`
	CPMax    int    `yaml:"cp_max"`
}

// Log configures zerolog output.
type Log struct {
	Level  string `yaml:"level"`  // trace, debug, info, warn, error
	Format string `yaml:"format"` // "pretty" or "json"
}

// Email is Synapse's `email` section; used for notifications and password resets.
type Email struct {
	SMTPHost                 string `yaml:"smtp_host"`
	SMTPPort                 int    `yaml:"smtp_port"`
	SMTPUser                 string `yaml:"smtp_user"`
	SMTPPass                 string `yaml:"smtp_pass"`
	RequireTransportSecurity bool   `yaml:"require_transport_security"`
	ForceTLS                 bool   `yaml:"force_tls"`
	NotifFrom                string `yaml:"notif_from"`
	EnableNotifs             bool   `yaml:"enable_notifs"`
	AppName                  string `yaml:"app_name"`
}

// RateLimit is Synapse's token bucket: PerSecond refill, BurstCount capacity.
type RateLimit struct {
	PerSecond  float64 `yaml:"per_second"`
	BurstCount float64 `yaml:"burst_count"`
}

// RcLogin is Synapse's rc_login.
type RcLogin struct {
	Address        RateLimit `yaml:"address"`
	Account        RateLimit `yaml:"account"`
	FailedAttempts RateLimit `yaml:"failed_attempts"`
}
