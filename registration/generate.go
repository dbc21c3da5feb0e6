package registration

import (
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"

	"gopkg.in/yaml.v3"
	"maunium.net/go/mautrix/appservice"
)

// GenerateOptions describe a new registration.
type GenerateOptions struct {
	ID              string
	URL             string
	SenderLocalpart string
	Namespaces      Namespaces
	Protocols       []string
	// RateLimited defaults to false: bridges send on behalf of many users.
	RateLimited bool
	// Encryption turns on what appservice-side encryption needs:
	// ephemeral events (to-device), MSC3202 and MSC4190.
	Encryption bool
	// Ephemeral turns on ephemeral events without encryption.
	Ephemeral bool
}

// Generate returns a validated registration with fresh random tokens.
func Generate(o GenerateOptions) (*Registration, error) {
	r := &Registration{
		ID: o.ID, URL: o.URL, SenderLocalpart: o.SenderLocalpart,
		ASToken: RandomToken(), HSToken: RandomToken(),
		RateLimited: o.RateLimited, Protocols: o.Protocols, Namespaces: o.Namespaces,
		ReceiveEphemeral: o.Ephemeral || o.Encryption, MSC3202: o.Encryption, MSC4190: o.Encryption,
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return r, nil
}

const tokenAlphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// RandomToken returns 64 random alphanumeric characters (about 380 bits),
// the shape mautrix generates.
func RandomToken() string {
	buf := make([]byte, 64)
	_, _ = rand.Read(buf) // crypto/rand.Read never fails (Go 1.24+)
	for i, b := range buf {
		// 256 is not a multiple of 62: reject-free mapping is slightly biased,
		// so draw from the 248 values that divide evenly and redraw the rest.
		for b >= 248 {
			var one [1]byte
			_, _ = rand.Read(one[:])
			b = one[0]
		}
		buf[i] = tokenAlphabet[int(b)%len(tokenAlphabet)]
	}
	return string(buf)
}

// fileFormat is the YAML layout Synapse and mautrix write, in their order.
type fileFormat struct {
	ID               string         `yaml:"id"`
	URL              *string        `yaml:"url"`
	ASToken          string         `yaml:"as_token"`
	HSToken          string         `yaml:"hs_token"`
	SenderLocalpart  string         `yaml:"sender_localpart"`
	RateLimited      bool           `yaml:"rate_limited"`
	Namespaces       fileNamespaces `yaml:"namespaces"`
	Protocols        []string       `yaml:"protocols,omitempty"`
	ReceiveEphemeral bool           `yaml:"receive_ephemeral,omitempty"`
	PushEphemeral    bool           `yaml:"de.sorunome.msc2409.push_ephemeral,omitempty"`
	MSC3202          bool           `yaml:"org.matrix.msc3202,omitempty"`
	MSC4190          bool           `yaml:"io.element.msc4190,omitempty"`
	IPRangeWhitelist []string       `yaml:"ip_range_whitelist,omitempty"`
}

type fileNamespaces struct {
	Users   []fileNamespace `yaml:"users"`
	Aliases []fileNamespace `yaml:"aliases"`
	Rooms   []fileNamespace `yaml:"rooms"`
}

type fileNamespace struct {
	Regex     string `yaml:"regex"`
	Exclusive bool   `yaml:"exclusive"`
}

func toFile(nss []Namespace) []fileNamespace {
	out := make([]fileNamespace, len(nss))
	for i, n := range nss {
		out[i] = fileNamespace{Regex: n.Regex, Exclusive: n.Exclusive}
	}
	return out
}

// Marshal renders r as a registration file. Ephemeral delivery is written
// under both its stable and MSC2409 names, since appservices read either.
func (r *Registration) Marshal() ([]byte, error) {
	f := fileFormat{
		ID: r.ID, ASToken: r.ASToken, HSToken: r.HSToken, SenderLocalpart: r.SenderLocalpart,
		RateLimited: r.RateLimited, Protocols: r.Protocols,
		Namespaces: fileNamespaces{Users: toFile(r.Namespaces.Users), Aliases: toFile(r.Namespaces.Aliases),
			Rooms: toFile(r.Namespaces.Rooms)},
		ReceiveEphemeral: r.ReceiveEphemeral, PushEphemeral: r.ReceiveEphemeral,
		MSC3202: r.MSC3202, MSC4190: r.MSC4190,
	}
	if r.URL != "" {
		u := r.URL
		f.URL = &u
	}
	for _, p := range r.IPRangeWhitelist {
		f.IPRangeWhitelist = append(f.IPRangeWhitelist, p.String())
	}
	return yaml.Marshal(&f)
}

// Save writes r to path with owner-only permissions (it holds secrets),
// through a temporary file so a crash never leaves half a registration.
func (r *Registration) Save(path string) error {
	data, err := r.Marshal()
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".registration-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("save registration %s: %w", path, err)
	}
	return nil
}

// ToMautrix converts r for mautrix-go's appservice package (bridges).
func (r *Registration) ToMautrix() *appservice.Registration {
	conv := func(nss []Namespace) appservice.NamespaceList {
		out := make(appservice.NamespaceList, len(nss))
		for i, n := range nss {
			out[i] = appservice.Namespace{Regex: n.Regex, Exclusive: n.Exclusive}
		}
		return out
	}
	rateLimited := r.RateLimited
	return &appservice.Registration{
		ID: r.ID, URL: r.URL, AppToken: r.ASToken, ServerToken: r.HSToken, SenderLocalpart: r.SenderLocalpart,
		RateLimited: &rateLimited, Protocols: r.Protocols,
		Namespaces: appservice.Namespaces{UserIDs: conv(r.Namespaces.Users),
			RoomAliases: conv(r.Namespaces.Aliases), RoomIDs: conv(r.Namespaces.Rooms)},
		SoruEphemeralEvents: r.ReceiveEphemeral, EphemeralEvents: r.ReceiveEphemeral,
		MSC3202: r.MSC3202, MSC4190: r.MSC4190,
	}
}

// FromMautrix converts and validates a registration built by mautrix-go
// (bridgev2 generates one from its config).
func FromMautrix(m *appservice.Registration) (*Registration, error) {
	conv := func(l appservice.NamespaceList) []Namespace {
		out := make([]Namespace, len(l))
		for i, n := range l {
			out[i] = Namespace{Regex: n.Regex, Exclusive: n.Exclusive}
		}
		return out
	}
	r := &Registration{
		ID: m.ID, URL: m.URL, ASToken: m.AppToken, HSToken: m.ServerToken, SenderLocalpart: m.SenderLocalpart,
		RateLimited: m.RateLimited == nil || *m.RateLimited, Protocols: m.Protocols,
		Namespaces: Namespaces{Users: conv(m.Namespaces.UserIDs), Aliases: conv(m.Namespaces.RoomAliases),
			Rooms: conv(m.Namespaces.RoomIDs)},
		ReceiveEphemeral: m.EphemeralEvents || m.SoruEphemeralEvents, MSC3202: m.MSC3202, MSC4190: m.MSC4190,
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return r, nil
}
