package config

import "time"

// privateRanges is Synapse's default ip_range_blacklist: loopback, private,
// link-local, carrier-grade NAT, documentation, benchmarking and multicast
// ranges. Outbound requests to these would let remote users probe the
// homeserver's own network.
var privateRanges = []string{
	"127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
	"100.64.0.0/10", "192.0.0.0/24", "169.254.0.0/16", "192.88.99.0/24",
	"198.18.0.0/15", "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24",
	"224.0.0.0/4", "::1/128", "fe80::/10", "fc00::/7", "2001:db8::/32",
	"ff00::/8", "fec0::/10",
}

// Defaults returns the configuration used for every key gatehouse.yaml
// leaves out. The values match Synapse's defaults where Synapse has one, so
// a Synapse admin's expectations hold. Each call returns fresh slices, so
// callers may modify the result freely.
func Defaults() Config {
	return Config{
		ServerName:     "localhost",
		Listeners:      []Listener{defaultListener()},
		Database:       Database{Name: "sqlite3", Args: DatabaseArgs{Database: "gatehouse.db", CPMin: 5, CPMax: 10}},
		Log:            Log{Level: "info", Format: "pretty"},
		SigningKeyPath: "signing.key",
		MediaStorePath: "media",
		MaxUploadSize:  50 * MiB,

		URLPreviewIPRangeBlacklist: append([]string{}, privateRanges...),
		IPRangeBlacklist:           append([]string{}, privateRanges...),
		URLPreviewIPRangeWhitelist: []string{},
		IPRangeWhitelist:           []string{},

		DefaultRoomVersion:                    "11",
		EncryptionEnabledByDefaultForRoomType: "invite",

		AppServiceConfigFiles:  []string{},
		AppServiceDoublePuppet: []string{},
		Bridges:                Bridges{},
		TurnURIs:               []string{},
		TurnUserLifetime:       Duration(time.Hour),
		TurnAllowGuests:        true, // Synapse's default: guests in a call need relays too.

		Email: Email{SMTPPort: 25, AppName: "Matrix"},

		RcMessage:      RateLimit{PerSecond: 0.2, BurstCount: 10},
		RcRegistration: RateLimit{PerSecond: 0.17, BurstCount: 3},
		RcLogin: RcLogin{
			Address:        RateLimit{PerSecond: 0.17, BurstCount: 3},
			Account:        RateLimit{PerSecond: 0.17, BurstCount: 3},
			FailedAttempts: RateLimit{PerSecond: 0.17, BurstCount: 3},
		},
	}
}

// defaultListener is the single plain-HTTP listener on loopback that a
// fresh install gets: safe behind a reverse proxy, unreachable otherwise.
func defaultListener() Listener {
	return Listener{
		Port:          8008,
		BindAddresses: []string{"127.0.0.1"},
		Type:          "http",
		Resources:     []Resource{{Names: []string{"client", "federation", "media"}}},
	}
}

// listenerElementDefaults is what a listener written in the file starts
// from before its keys are applied. Synapse binds to every interface when
// bind_addresses is left out, and "http" is the only type Gatehouse has, so
// omitting either behaves as it would in Synapse.
func listenerElementDefaults() Listener {
	return Listener{BindAddresses: []string{"::", "0.0.0.0"}, Type: "http"}
}
