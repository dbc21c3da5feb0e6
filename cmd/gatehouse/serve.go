package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
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

	"github.com/gatehouse-chat/gatehouse/core/config"
	"github.com/gatehouse-chat/gatehouse/core/events"
	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/storage/postgres"
	"github.com/gatehouse-chat/gatehouse/core/storage/sqlite"
)

// runServe is the recipe: config -> storage -> core services -> HTTP
// listeners; shutdown runs in reverse.
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
	cfg, err := config.Load(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "gatehouse: %s has problems:\n%v\n", path, err)
		return 1
	}
	log := newLogger(cfg.Log)
	if created {
		log.Info().Str("path", path).Msg("Wrote a new commented config; edit it and restart to change settings")
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	key, err := events.LoadOrCreateSigningKey(cfg.SigningKeyPath)
	if err != nil {
		log.Error().Err(err).Msg("Cannot load the signing key; check signing_key_path")
		return 1
	}
	db, err := openDatabase(ctx, cfg)
	if err != nil {
		log.Error().Err(err).Msg("Cannot open the database; check the database section of the config")
		return 1
	}
	defer db.Close()

	core, err := newCore(ctx, cfg, db, key, log)
	if err != nil {
		log.Error().Err(err).Msg("Cannot start the homeserver")
		return 1
	}
	defer core.Close()

	handler := core.Handler
	if os.Getenv("GATEHOUSE_PPROF") == "1" {
		// A debugging aid for `make bench -cpuprofile`: never on by default,
		// since profiles reveal memory contents.
		handler = withPprof(handler)
		log.Warn().Msg("GATEHOUSE_PPROF=1: serving /debug/pprof on the client listener")
	}
	servers, err := listen(cfg, handler, log)
	if err != nil {
		log.Error().Err(err).Msg("Cannot listen; check listeners in the config")
		return 1
	}
	printWelcome(cfg, path)
	<-ctx.Done()
	log.Info().Msg("Shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, srv := range servers {
		_ = srv.Shutdown(shutdownCtx)
	}
	return 0
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

func newLogger(c config.Log) zerolog.Logger {
	level, err := zerolog.ParseLevel(c.Level)
	if err != nil || c.Level == "" {
		level = zerolog.InfoLevel
	}
	var log zerolog.Logger
	if c.Format == "json" {
		log = zerolog.New(os.Stderr)
	} else {
		log = zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr, TimeFormat: time.DateTime})
	}
	return log.Level(level).With().Timestamp().Logger()
}

// listen starts one HTTP server per listener address.
func listen(cfg *config.Config, h http.Handler, log zerolog.Logger) ([]*http.Server, error) {
	var servers []*http.Server
	for _, l := range cfg.Listeners {
		for _, addr := range l.BindAddresses {
			hostPort := net.JoinHostPort(addr, strconv.Itoa(l.Port))
			ln, err := net.Listen("tcp", hostPort)
			if err != nil {
				for _, s := range servers {
					_ = s.Close()
				}
				return nil, fmt.Errorf("listen on %s: %w", hostPort, err)
			}
			handler := h
			if l.XForwarded {
				handler = forwardedFor(h)
			}
			srv := &http.Server{Handler: handler, ReadHeaderTimeout: 30 * time.Second, IdleTimeout: 120 * time.Second}
			servers = append(servers, srv)
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
			log.Info().Str("address", hostPort).Msg("Listening")
		}
	}
	return servers, nil
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
