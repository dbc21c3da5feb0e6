package host

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx" for bridges on PostgreSQL
	"github.com/rs/zerolog"
	"go.mau.fi/util/dbutil"
	"gopkg.in/yaml.v3"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/bridgev2"
	"maunium.net/go/mautrix/bridgev2/commands"
	"maunium.net/go/mautrix/bridgev2/matrix"
	"maunium.net/go/mautrix/bridgev2/networkid"
	"maunium.net/go/mautrix/crypto/sql_store_upgrade"

	"github.com/gatehouse-chat/gatehouse/internal/inproc"
	"github.com/gatehouse-chat/gatehouse/registration"
)

// hosted is one bridge and its lifecycle.
type hosted struct {
	settings *Settings
	reg      *registration.Registration
	host     *Host
	log      zerolog.Logger

	mu      sync.RWMutex
	handler http.Handler // the running bridge's appservice router; nil while down
	ready   chan struct{}
	once    sync.Once
}

// run starts the bridge, retrying with exponential backoff until it
// starts or ctx ends, then keeps it running until ctx ends.
func (b *hosted) run(ctx context.Context) {
	wait := b.host.opts.MinBackoff
	for {
		br, err := b.start(ctx)
		if err == nil {
			b.log.Info().Msg("Bridge started")
			b.once.Do(func() { close(b.ready) })
			<-ctx.Done()
			b.stop(br)
			return
		}
		if ctx.Err() != nil {
			return
		}
		b.log.Error().Err(err).Dur("retry_in", wait).Msg(advice(err))
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return
		}
		wait = min(wait*2, b.host.opts.MaxBackoff)
	}
}

// advice turns a start failure into what the admin should do.
func advice(err error) string {
	var dbErr bridgev2.DBUpgradeError
	switch {
	case errors.As(err, &dbErr):
		return "Bridge database upgrade failed; check the database and free disk space. Retrying"
	case errors.Is(err, mautrix.MUnknownToken):
		return "The homeserver refused the bridge's as_token; delete its registration file in the data directory's bridges/ folder and restart to generate a new one. Retrying"
	default:
		return "Bridge failed to start; check its section of gatehouse.yaml (bridges.<name>) and the network's credentials. Retrying"
	}
}

// start assembles and starts one bridge. On error everything it opened is
// closed again, so the next attempt starts clean.
func (b *hosted) start(ctx context.Context) (br *bridgev2.Bridge, err error) {
	opts := b.host.opts
	name := b.settings.Def.Name
	network := b.settings.Def.New()
	if err := decodeNetwork(network, b.settings.network); err != nil {
		return nil, fmt.Errorf("bridges.%s.network: %w", name, err)
	}
	cfg := *b.settings.Config // a copy: the connector keeps pointers into it
	cfg.Homeserver.Address = inproc.URL(HomeserverName)
	cfg.AppService.Address = b.reg.URL
	cfg.AppService.NoServer = true
	cfg.AppService.ASToken, cfg.AppService.HSToken = b.reg.ASToken, b.reg.HSToken
	cfg.AppService.Bot.Username = botLocalpart(name)
	cfg.AppService.UsernameTemplate = ghostPrefix(name) + "{{.}}"
	cfg.AppService.EphemeralEvents = true
	if b.settings.DoublePuppet != DoublePuppetOff {
		// Native double puppeting: the bridge's own as_token, which the
		// homeserver honours for users who opted in (appservice package).
		cfg.DoublePuppet.Secrets = map[string]string{opts.ServerName: "as_token:" + b.reg.ASToken}
	} else {
		cfg.DoublePuppet.Secrets = nil
	}
	if cfg.Encryption.Allow {
		if cfg.Encryption.PickleKey, err = pickleKey(opts.Files, name); err != nil {
			return nil, err
		}
	}
	db, err := b.openDB()
	if err != nil {
		return nil, fmt.Errorf("open bridge database: %w", err)
	}
	conn := matrix.NewConnector(&cfg)
	br = bridgev2.NewBridge(networkid.BridgeID(name), db, b.log, &cfg.Bridge, conn, network, commands.NewProcessor)
	// NewBridge's Init made the appservice client; route it in-process.
	conn.AS.HTTPClient.Transport = opts.Transport
	guardEncryption(conn)
	br.Commands.(*commands.Processor).AddHandler(b.doublePuppetCommand())
	b.mu.Lock()
	b.handler = conn.AS.Router
	b.mu.Unlock()
	defer func() {
		if err != nil {
			b.mu.Lock()
			b.handler = nil
			b.mu.Unlock()
			b.stop(br)
			br = nil
		}
	}()
	if err = b.upgradeSchemas(ctx, br, conn); err != nil {
		return br, err
	}
	if err = br.StartConnectors(ctx); err != nil {
		return br, err
	}
	if err = br.StartLogins(ctx); err != nil {
		return br, err
	}
	go br.PostStart(ctx)
	return br, nil
}

// stop shuts the bridge down; bridgev2 closes its database.
func (b *hosted) stop(br *bridgev2.Bridge) {
	if br == nil {
		return
	}
	b.mu.Lock()
	b.handler = nil
	b.mu.Unlock()
	if conn, ok := br.Matrix.(*matrix.Connector); ok && conn.Crypto != nil && conn.Crypto.Client() == nil {
		// A start that failed before encryption was set up (database,
		// homeserver unreachable): mautrix's Crypto.Stop would dereference
		// the bot client Init never made and take the process down.
		conn.Crypto = nil
	}
	br.StopWithTimeout(5 * time.Second)
}

// openDB opens the bridge's SQLite file, or the core's PostgreSQL database
// which all bridges share.
func (b *hosted) openDB() (*dbutil.Database, error) {
	opts := b.host.opts
	var db *dbutil.Database
	var err error
	if opts.PostgresDSN != "" {
		db, err = dbutil.NewWithDialect(opts.PostgresDSN, "pgx")
		if err == nil {
			err = db.Configure(dbutil.Config{PoolConfig: dbutil.PoolConfig{MaxOpenConns: 5, MaxIdleConns: 2}})
		}
	} else {
		uri := "file:" + opts.Files.SQLitePath(b.settings.Def.Name) + "?_txlock=immediate"
		db, err = dbutil.NewWithDialect(uri, "sqlite3-fk-wal")
		if err == nil {
			err = db.Configure(dbutil.Config{PoolConfig: dbutil.PoolConfig{MaxOpenConns: 5, MaxIdleConns: 1}})
		}
	}
	if err != nil {
		return nil, err
	}
	// One owner for every bridge, so they can share one PostgreSQL database.
	db.Owner = "gatehouse-bridges"
	// The database is Gatehouse's own (the core's, or the bridge's file):
	// dbutil's guard against a Synapse or Dendrite database only looks for
	// their tables in any schema, so it would refuse one that merely
	// shares the PostgreSQL database.
	db.IgnoreForeignTables = true
	db.Log = dbutil.ZeroLogger(b.log.With().Str("db_section", "main").Logger())
	return db, nil
}

// upgradeSchemas brings the bridge's schema sections (bridgev2's tables,
// the Matrix state store, the crypto store) up to date before the bridge
// starts, one bridge at a time. On PostgreSQL the bridges share one
// database, and dbutil upgrades are not safe to run at once: two bridges
// creating the same table on first start fail on pg_type's unique index.
// StartConnectors then finds every section current.
func (b *hosted) upgradeSchemas(ctx context.Context, br *bridgev2.Bridge, conn *matrix.Connector) error {
	b.host.schemaMu.Lock()
	defer b.host.schemaMu.Unlock()
	type section struct {
		name string
		db   *dbutil.Database
	}
	sections := []section{{"main", br.DB.Database}, {"matrix_state", conn.StateStore.Database}}
	if conn.Config.Encryption.Allow {
		log := dbutil.ZeroLogger(b.log.With().Str("db_section", "crypto").Logger())
		sections = append(sections, section{"crypto", br.DB.Child(sql_store_upgrade.VersionTableName, sql_store_upgrade.Table, log)})
	}
	for _, s := range sections {
		if s.db.Dialect == dbutil.Postgres {
			// dbutil looks for the version table in information_schema
			// without naming the schema: a mautrix bridge in another
			// schema of the same database would make it skip creating
			// ours, then fail reading it. Create it in ours first.
			if _, err := s.db.Exec(ctx, "CREATE TABLE IF NOT EXISTS "+s.db.VersionTable+" (version INTEGER, compat INTEGER)"); err != nil {
				return bridgev2.DBUpgradeError{Section: s.name, Err: err}
			}
		}
		if err := s.db.Upgrade(ctx); err != nil {
			return bridgev2.DBUpgradeError{Section: s.name, Err: err}
		}
	}
	return nil
}

// decodeNetwork fills the connector's config struct: its example first
// (the defaults), then the section's network settings.
func decodeNetwork(network bridgev2.NetworkConnector, n *yaml.Node) error {
	example, data, _ := network.GetConfig()
	if data == nil {
		return nil
	}
	if example != "" {
		if err := yaml.Unmarshal([]byte(example), data); err != nil {
			return fmt.Errorf("the bridge's example config does not parse: %w", err)
		}
	}
	if n != nil && n.ShortTag() != "!!null" {
		var probs []string
		decodeStrict(n, "", data, func(_ *yaml.Node, _ string, format string, args ...any) {
			probs = append(probs, fmt.Sprintf(format, args...))
		})
		if len(probs) > 0 {
			return errors.New(probs[0])
		}
	}
	if v, ok := network.(bridgev2.ConfigValidatingNetwork); ok {
		return v.ValidateConfig()
	}
	return nil
}
