package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/appservice"
	"github.com/gatehouse-chat/gatehouse/bridges/host"
	"github.com/gatehouse-chat/gatehouse/core/accountdata"
	"github.com/gatehouse-chat/gatehouse/core/config"
	"github.com/gatehouse-chat/gatehouse/internal/inproc"
	"github.com/gatehouse-chat/gatehouse/registration"
)

// compiledBridges is the explicit list of bridges built into this binary.
// The Discord, Telegram and IRC connectors join it as they land; until
// then a bridges.<name> section names a bridge this build lacks, which
// config loading reports.
func compiledBridges() []host.Definition {
	return nil
}

// coreExtras is what the bridge host hands the core: the built-in bridges'
// registrations, the in-process transport that reaches them, and their
// double puppeting grants (by registration id).
type coreExtras struct {
	Bridges      []*registration.Registration
	Transport    *inproc.Transport
	DoublePuppet map[string]appservice.DoublePuppetMode
}

// bridgeCheck validates the bridges section during config loading, so its
// problems print with every other config problem, and keeps the result.
func bridgeCheck(defs []host.Definition, out *[]*host.Settings) config.Check {
	return func(c *config.Config) []config.Problem {
		s, probs := host.Parse(defs, c.Bridges, c.ServerName)
		*out = s
		return probs
	}
}

// bridgeFiles places bridge registrations and pickle keys in
// <config dir>/bridges and SQLite bridge databases beside the core's.
func bridgeFiles(cfgPath string, cfg *config.Config) host.Files {
	return host.Files{Dir: filepath.Join(filepath.Dir(cfgPath), "bridges"), DBDir: filepath.Dir(cfg.Database.Args.Database)}
}

// bridgeGrants maps the enabled built-in bridges to their double
// puppeting mode.
func bridgeGrants(settings []*host.Settings) map[string]appservice.DoublePuppetMode {
	out := map[string]appservice.DoublePuppetMode{}
	for _, s := range settings {
		if s.Enabled {
			out[s.Def.Name] = appservice.DoublePuppetMode(s.DoublePuppet)
		}
	}
	return out
}

// doublePuppetGrants merges the built-in bridges' grants with
// app_service_double_puppet, whose ids must name loaded registrations.
func doublePuppetGrants(cfg *config.Config, reg *appservice.Registry, builtIn map[string]appservice.DoublePuppetMode) (map[string]appservice.DoublePuppetMode, error) {
	out := map[string]appservice.DoublePuppetMode{}
	for asID, mode := range builtIn {
		out[asID] = mode
	}
	for i, asID := range cfg.AppServiceDoublePuppet {
		if reg.Get(asID) == nil {
			return nil, fmt.Errorf("app_service_double_puppet[%d]: no appservice registration has id %q", i, asID)
		}
		out[asID] = appservice.DoublePuppetOptIn
	}
	return out, nil
}

// puppetConsent keeps a user's double puppeting opt-ins in their
// io.gatehouse.double_puppet account data, where the appservice registry
// reads them and the user (or any client) can see and change them.
type puppetConsent struct{ ad *accountdata.Service }

var _ host.Consent = puppetConsent{}

func (c puppetConsent) SetDoublePuppet(ctx context.Context, user id.UserID, bridgeID string, on bool) error {
	var content map[string]any
	raw, err := c.ad.Get(ctx, user, "", appservice.DoublePuppetAccountData)
	if err != nil && !appservice.IsNotFound(err) {
		return err
	}
	if raw == nil || json.Unmarshal(raw, &content) != nil || content == nil {
		content = map[string]any{}
	}
	var allow []string
	if list, ok := content["allow"].([]any); ok {
		for _, v := range list {
			if s, ok := v.(string); ok && s != bridgeID {
				allow = append(allow, s)
			}
		}
	}
	if on {
		allow = append(allow, bridgeID)
	}
	slices.Sort(allow)
	content["allow"] = append([]string{}, allow...)
	body, err := json.Marshal(content)
	if err != nil {
		return err
	}
	return c.ad.Set(ctx, user, "", appservice.DoublePuppetAccountData, body)
}

// runRegistration is `gatehouse registration <bridge>`: it prints the
// built-in bridge's appservice registration, generating it (with fresh
// tokens, saved in the data directory) if the bridge never started.
func runRegistration(args []string, defs []host.Definition, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("registration", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "gatehouse-data/gatehouse.yaml", "path to gatehouse.yaml")
	fs.StringVar(cfgPath, "c", "gatehouse-data/gatehouse.yaml", "shorthand for --config")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: gatehouse registration [-c gatehouse.yaml] <bridge>")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var names []string
	for _, d := range defs {
		names = append(names, d.Name)
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	name := fs.Arg(0)
	if !slices.Contains(names, name) {
		fmt.Fprintf(stderr, "gatehouse: this build has no %q bridge (built in: %s)\n", name, builtIn(names))
		return 1
	}
	var settings []*host.Settings
	cfg, err := config.Load(*cfgPath, bridgeCheck(defs, &settings))
	if err != nil {
		fmt.Fprintf(stderr, "gatehouse: %s has problems:\n%v\n", *cfgPath, err)
		return 1
	}
	reg, err := host.EnsureRegistration(bridgeFiles(*cfgPath, cfg), name, cfg.ServerName)
	if err != nil {
		fmt.Fprintln(stderr, "gatehouse:", err)
		return 1
	}
	data, err := reg.Marshal()
	if err != nil {
		fmt.Fprintln(stderr, "gatehouse:", err)
		return 1
	}
	fmt.Fprintf(stderr, "# %s (the %s bridge runs inside Gatehouse; this is for inspection or for running it elsewhere)\n", reg.File, name)
	_, _ = stdout.Write(data)
	return 0
}

func builtIn(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}
