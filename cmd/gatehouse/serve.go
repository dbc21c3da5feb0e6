package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/gatehouse-chat/gatehouse/appservice"
	"github.com/gatehouse-chat/gatehouse/bridges/host"
	"github.com/gatehouse-chat/gatehouse/core/config"
	"github.com/gatehouse-chat/gatehouse/core/events"
	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/storage/postgres"
	"github.com/gatehouse-chat/gatehouse/core/storage/sqlite"
	"github.com/gatehouse-chat/gatehouse/internal/inproc"
	"github.com/gatehouse-chat/gatehouse/internal/memtune"
)

// runServe parses flags, starts the server and waits for SIGINT/SIGTERM.
func runServe(args []string) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	dataDir := fs.String("data-dir", "gatehouse-data", "directory for the generated config, signing key, SQLite database and media")
	cfgPath := fs.String("config", "", "path to gatehouse.yaml (default: <data-dir>/gatehouse.yaml, written on first start)")
	fs.StringVar(cfgPath, "c", "", "shorthand for --config")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	path, created, err := ensureConfig(*cfgPath, *dataDir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gatehouse:", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv, code := startServer(ctx, path, created, compiledBridges(), os.Stderr)
	if srv == nil {
		return code
	}
	defer srv.Close()
	memtune.SetGC()
	go memtune.Run(ctx)
	printWelcome(srv.cfg, path)
	<-ctx.Done()
	srv.log.Info().Msg("Shutting down")
	return 0
}

// server is a running Gatehouse: what Close must stop, in reverse order.
type server struct {
	cfg     *config.Config
	log     zerolog.Logger
	core    *coreServer
	bridges *host.Host
	// addrs are the bound listener addresses (port 0 in tests picks one).
	addrs   []net.Addr
	closers []func()
}

// Close stops listeners, bridges, the core and the database, in that order.
func (s *server) Close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
}

// startServer is the recipe: config -> signing key -> storage -> bridge
// registrations -> core services -> bridges -> HTTP listeners. On failure
// it logs what to do, undoes what it started and returns the exit code.
func startServer(ctx context.Context, path string, created bool, defs []host.Definition, stderr io.Writer) (*server, int) {
	var bridgeSettings []*host.Settings
	cfg, err := config.Load(path, bridgeCheck(defs, &bridgeSettings))
	if err != nil {
		fmt.Fprintf(stderr, "gatehouse: %s has problems:\n%v\n", path, err)
		return nil, 1
	}
	log := newLogger(cfg.Log, stderr)
	if created {
		log.Info().Str("path", path).Msg("Wrote a new commented config; edit it and restart to change settings")
	}
	s := &server{cfg: cfg, log: log}
	fail := func(err error, msg string) (*server, int) {
		log.Error().Err(err).Msg(msg)
		s.Close()
		return nil, 1
	}

	key, err := events.LoadOrCreateSigningKey(cfg.SigningKeyPath)
	if err != nil {
		return fail(err, "Cannot load the signing key; check signing_key_path")
	}
	db, err := openDatabase(ctx, cfg)
	if err != nil {
		return fail(err, "Cannot open the database; check the database section of the config")
	}
	s.closers = append(s.closers, func() { db.Close() })

	// Built-in bridges reach the core, and the core reaches them, through
	// one in-process transport (no socket); their registrations join the
	// appservice registry like any registration file.
	transport := &inproc.Transport{Next: appservice.NewTransport()}
	bridges, bridgeRegs, err := host.New(host.Options{ServerName: cfg.ServerName, Files: bridgeFiles(path, cfg),
		PostgresDSN: postgresDSN(cfg), Transport: transport, Log: log.With().Str("component", "bridges").Logger()}, bridgeSettings)
	if err != nil {
		return fail(err, "Cannot prepare the built-in bridges; check the bridges section of the config")
	}
	s.bridges = bridges
	core, err := newCore(ctx, cfg, db, key, log, coreExtras{Bridges: bridgeRegs, Transport: transport,
		DoublePuppet: bridgeGrants(bridgeSettings)})
	if err != nil {
		return fail(err, "Cannot start the homeserver")
	}
	s.core = core
	s.closers = append(s.closers, core.Close)
	transport.Handle(host.HomeserverName, core.Handler)
	bridges.SetConsent(puppetConsent{ad: core.AccountData})
	bridges.Start(ctx)
	s.closers = append(s.closers, bridges.Stop)

	handler := core.Handler
	if os.Getenv("GATEHOUSE_PPROF") == "1" {
		// A debugging aid for `make bench -cpuprofile`: never on by default,
		// since profiles reveal memory contents.
		handler = withPprof(handler)
		log.Warn().Msg("GATEHOUSE_PPROF=1: serving /debug/pprof on the client listener")
	}
	servers, addrs, err := listen(cfg, handler, log)
	if err != nil {
		return fail(err, "Cannot listen; check listeners in the config")
	}
	s.addrs = addrs
	s.closers = append(s.closers, func() {
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, srv := range servers {
			_ = srv.Shutdown(shutdownCtx)
		}
	})
	return s, 0
}

// ensureConfig returns the config path, writing a generated config (with a
// random registration_shared_secret) into dataDir when none exists.
func ensureConfig(explicit, dataDir string) (string, bool, error) {
	if explicit != "" {
		if _, err := os.Stat(explicit); err != nil {
			return "", false, fmt.Errorf("config %s: %w (run `gatehouse generate-config > %s` to create one)", explicit, err, explicit)
		}
		return explicit, false, nil
	}
	path := filepath.Join(dataDir, "gatehouse.yaml")
	if _, err := os.Stat(path); err == nil {
		return path, false, nil
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", false, fmt.Errorf("create data directory: %w", err)
	}
	secret := make([]byte, 24)
	_, _ = rand.Read(secret)
	if err := os.WriteFile(path, config.Generate(base64.RawURLEncoding.EncodeToString(secret)), 0o600); err != nil {
		return "", false, fmt.Errorf("write %s: %w", path, err)
	}
	return path, true, nil
}

func openDatabase(ctx context.Context, cfg *config.Config) (*storage.DB, error) {
	if cfg.IsPostgres() {
		return postgres.Open(ctx, cfg.PostgresDSN(), cfg.Database.Args.CPMin, cfg.Database.Args.CPMax)
	}
	return sqlite.Open(ctx, cfg.Database.Args.Database)
}

func postgresDSN(cfg *config.Config) string {
	if cfg.IsPostgres() {
		return cfg.PostgresDSN()
	}
	return ""
}

func newLogger(c config.Log, out io.Writer) zerolog.Logger {
	level, err := zerolog.ParseLevel(c.Level)
	if err != nil || c.Level == "" {
		level = zerolog.InfoLevel
	}
	var log zerolog.Logger
	if c.Format == "json" {
		log = zerolog.New(out)
	} else {
		log = zerolog.New(zerolog.ConsoleWriter{Out: out, TimeFormat: time.DateTime})
	}
	return log.Level(level).With().Timestamp().Logger()
}

// listen starts one HTTP server per listener address.
func listen(cfg *config.Config, h http.Handler, log zerolog.Logger) ([]*http.Server, []net.Addr, error) {
	var servers []*http.Server
	var addrs []net.Addr
	for _, l := range cfg.Listeners {
		for _, addr := range l.BindAddresses {
			hostPort := net.JoinHostPort(addr, strconv.Itoa(l.Port))
			ln, err := net.Listen("tcp", hostPort)
			if err != nil {
				for _, s := range servers {
					_ = s.Close()
				}
				return nil, nil, fmt.Errorf("listen on %s: %w", hostPort, err)
			}
			handler := h
			if l.XForwarded {
				handler = forwardedFor(h)
			}
			srv := &http.Server{Handler: handler, ReadHeaderTimeout: 30 * time.Second, IdleTimeout: 120 * time.Second}
			servers = append(servers, srv)
			addrs = append(addrs, ln.Addr())
			go func(l config.Listener) {
				var err error
				if l.TLS {
					err = srv.ServeTLS(ln, l.TLSCertPath, l.TLSKeyPath)
				} else {
					err = srv.Serve(ln)
				}
				if err != nil && !errors.Is(err, http.ErrServerClosed) {
					log.Error().Err(err).Str("address", hostPort).Msg("Listener stopped")
				}
			}(l)
			log.Info().Str("address", ln.Addr().String()).Msg("Listening")
		}
	}
	return servers, addrs, nil
}

func printWelcome(cfg *config.Config, path string) {
	fmt.Printf("Gatehouse %s is running for server_name %q at %s\n", Version, cfg.ServerName, cfg.BaseURL())
	fmt.Printf("Config: %s\n", path)
	fmt.Printf("Create the first admin with:\n  gatehouse register -c %s -a -u admin %s\n", path, cfg.BaseURL())
}

// forwardedFor trusts the reverse proxy's X-Forwarded-For (x_forwarded: true
// on the listener) so rate limits and last-seen IPs see the real client.
func forwardedFor(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if xff := r.Header.Get("X-Forwarded-For"); xff != "" {
			parts := strings.Split(xff, ",")
			if ip := net.ParseIP(strings.TrimSpace(parts[len(parts)-1])); ip != nil {
				r.RemoteAddr = net.JoinHostPort(ip.String(), "0")
			}
		}
		h.ServeHTTP(w, r)
	})
}

func withPprof(h http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.Handle("/", h)
	return mux
}
