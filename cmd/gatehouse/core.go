package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/appservice"
	"github.com/gatehouse-chat/gatehouse/core/accountdata"
	"github.com/gatehouse-chat/gatehouse/core/accounts"
	"github.com/gatehouse-chat/gatehouse/core/api/admin"
	"github.com/gatehouse-chat/gatehouse/core/api/client"
	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	mediaapi "github.com/gatehouse-chat/gatehouse/core/api/media"
	"github.com/gatehouse-chat/gatehouse/core/backup"
	"github.com/gatehouse-chat/gatehouse/core/config"
	"github.com/gatehouse-chat/gatehouse/core/directory"
	"github.com/gatehouse-chat/gatehouse/core/events"
	"github.com/gatehouse-chat/gatehouse/core/jumptodate"
	"github.com/gatehouse-chat/gatehouse/core/keys"
	"github.com/gatehouse-chat/gatehouse/core/keys/syncext"
	"github.com/gatehouse-chat/gatehouse/core/media"
	"github.com/gatehouse-chat/gatehouse/core/presence"
	"github.com/gatehouse-chat/gatehouse/core/push"
	"github.com/gatehouse-chat/gatehouse/core/pushers"
	"github.com/gatehouse-chat/gatehouse/core/ratelimit"
	"github.com/gatehouse-chat/gatehouse/core/receipts"
	"github.com/gatehouse-chat/gatehouse/core/relations"
	"github.com/gatehouse-chat/gatehouse/core/rooms"
	"github.com/gatehouse-chat/gatehouse/core/search"
	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/stream"
	gsync "github.com/gatehouse-chat/gatehouse/core/sync"
	"github.com/gatehouse-chat/gatehouse/core/todevice"
	"github.com/gatehouse-chat/gatehouse/core/typing"
	"github.com/gatehouse-chat/gatehouse/registration"
)

// coreServer is the homeserver's services and its HTTP handler.
type coreServer struct {
	Handler  http.Handler
	writer   *stream.Writer
	Accounts *accounts.Service
	Rooms    *rooms.Service
	// AccountData backs double puppeting consent for the bridge host.
	AccountData *accountdata.Service
	closers     []func()
}

// newCore builds the domain services in dependency order and registers
// every HTTP surface on one router.
func newCore(ctx context.Context, cfg *config.Config, db *storage.DB, key *events.SigningKey, log zerolog.Logger, ext coreExtras) (*coreServer, error) {
	writer, err := stream.NewWriter(ctx, db, log.With().Str("component", "stream").Logger())
	if err != nil {
		return nil, err
	}
	notifier := stream.NewNotifier(writer.Pos())
	writer.Subscribe(notifier.OnCommit)

	acc := accounts.New(db, cfg.ServerName, accounts.Options{})
	regs, err := registration.LoadFiles(cfg.AppServiceConfigFiles, cfg.ServerName)
	if err != nil {
		return nil, fmt.Errorf("app_service_config_files: %w", err)
	}
	regs = append(regs, ext.Bridges...)
	if err := registration.ValidateSet(regs, cfg.ServerName); err != nil {
		return nil, fmt.Errorf("appservice registrations (app_service_config_files and built-in bridges): %w", err)
	}
	asReg := appservice.NewRegistry(regs, cfg.ServerName, acc)
	acc.SetAppServices(asReg)
	var asTransport http.RoundTripper
	if ext.Transport != nil {
		asTransport = ext.Transport
	}
	asHTTP := appservice.NewHTTPClient(asTransport)
	lookup := queryingAccounts{Service: acc, as: appservice.NewClient(asReg, asHTTP)}
	accountData := accountdata.New(db, writer)
	grants, err := doublePuppetGrants(cfg, asReg, ext.DoublePuppet)
	if err != nil {
		return nil, err
	}
	asReg.SetDoublePuppet(grants, accountData)
	rs := rooms.New(db, writer, profilesOf{lookup}, rooms.Options{
		ServerName: cfg.ServerName, Key: key, DefaultVersion: id.RoomVersion(cfg.DefaultRoomVersion),
		EncryptByDefault: cfg.EncryptionEnabledByDefaultForRoomType,
	}, log.With().Str("component", "rooms").Logger())

	acc.OnDeactivate(func(ctx context.Context, u id.UserID) { rs.LeaveAll(context.WithoutCancel(ctx), u) })

	pushSvc := push.New(db, writer, cfg.ServerName, log.With().Str("component", "push").Logger())
	rs.AddPersistHook(pushSvc.PersistHook)
	pushersSvc, err := pushers.New(ctx, db, pushers.Options{Blacklist: cfg.IPRangeBlacklist, Whitelist: cfg.IPRangeWhitelist},
		log.With().Str("component", "pushers").Logger())
	if err != nil {
		return nil, err
	}
	pushSvc.OnNotify = pushersSvc.Notified
	writer.Subscribe(pushersSvc.OnCommit)
	acc.OnDeviceChange(pushersSvc.OnDeviceChange)
	acc.OnDeactivate(pushersSvc.OnDeactivate)
	pushersSvc.Start()
	rcpt := receipts.New(db, writer, rs)
	rcpt.OnRead(pushSvc.MarkRead)
	rcpt.OnRead(pushersSvc.Read) // after MarkRead: badge updates
	typ := typing.New(writer, rs, log)
	pres := presence.New(db, writer, log)
	keysSvc := keys.New(db, writer, cfg.ServerName, acc, log.With().Str("component", "keys").Logger())
	pusher, err := appservice.NewPusher(ctx, db, asReg, appservice.PusherOptions{Typing: typ, Receipts: rcpt, Presence: pres,
		Keys: asKeyCounts{acc: acc, keys: keysSvc}, HTTPClient: asHTTP},
		log.With().Str("component", "appservice").Logger())
	if err != nil {
		return nil, err
	}
	rs.AddPersistHook(pusher.PersistHook)
	writer.Subscribe(pusher.OnCommit)
	pusher.Start()
	syncSvc := gsync.New(db, writer, notifier, gsync.Sources{AccountData: accountData, Receipts: rcpt,
		Typing: typ, Presence: pres, Push: pushSvc}, log.With().Str("component", "sync").Logger())
	searchSvc := search.New(db, syncSvc, log.With().Str("component", "search").Logger())
	rs.AddPersistHook(searchSvc.PersistHook) // redactions leave the index
	writer.Subscribe(searchSvc.OnCommit)     // wakes the background indexer
	searchSvc.Start()

	mediaSvc, err := media.New(db, cfg.MediaStorePath, cfg.ServerName, int64(cfg.MaxUploadSize), log.With().Str("component", "media").Logger())
	if err != nil {
		return nil, err
	}
	var previewer *media.Previewer
	if cfg.URLPreviewEnabled {
		if previewer, err = media.NewPreviewer(mediaSvc, media.PreviewConfig{Blacklist: cfg.URLPreviewIPRangeBlacklist,
			Whitelist: cfg.URLPreviewIPRangeWhitelist}, log); err != nil {
			return nil, err
		}
	}

	rt := httpx.NewRouter(acc, log)
	sendLimit := ratelimit.New(cfg.RcMessage, ratelimit.Options{}).Middleware(ratelimit.ByUser)
	unstable := appservice.UnstableFeatures()
	unstable[client.DehydratedFeature] = true
	unstable[client.SlidingSyncFeature] = true
	client.RegisterServerInfo(rt, &client.ServerInfo{Config: cfg, Unstable: unstable})
	client.RegisterAppServices(rt, appservice.NewAPI(asReg, pusher.Client(), pusher))
	accCfg, err := accountsConfig(cfg, log)
	if err != nil {
		return nil, err
	}
	uia := client.RegisterAccounts(rt, acc, accCfg, client.NewAccountLimits(cfg))
	rel := relations.New(db, rs)
	admin.RegisterAdmin(rt, acc, admin.Options{SharedSecret: cfg.RegistrationSharedSecret, ServerVersion: Version,
		Rooms: rs, Reports: rel})
	client.RegisterRooms(rt, rs, sendLimit)
	client.RegisterProfile(rt, lookup, rs)
	client.RegisterDirectory(rt, directory.New(db, rs), cfg.ServerName, cfg.AllowPublicRoomsWithoutAuth)
	client.RegisterRelations(rt, rel)
	client.RegisterReports(rt, rel)
	client.RegisterVoIP(rt, client.TurnConfigFrom(cfg))
	mediaapi.Register(rt, mediaSvc, mediaapi.Options{Previewer: previewer})
	client.RegisterSync(rt, syncSvc)
	client.RegisterSearch(rt, searchSvc)
	client.RegisterPushers(rt, pushersSvc)
	client.RegisterNavigation(rt, accountData, directory.New(db, rs), jumptodate.New(db, syncSvc))

	toDevice := todevice.New(db, writer, cfg.ServerName, log.With().Str("component", "todevice").Logger(),
		todevice.Options{OnQueue: queueToDeviceForAppServices(pusher)})
	keysSvc.OnDeviceListChange(pusher.QueueDeviceListChange)
	acc.OnDeviceChange(keysSvc.OnDeviceChange)
	acc.OnDeviceChange(toDevice.OnDeviceChange)
	syncSvc.AddExtension(syncext.New(keysSvc, toDevice))
	client.RegisterKeys(rt, keysSvc, uia)
	client.RegisterToDevice(rt, toDevice)
	client.RegisterBackup(rt, backup.New(db))
	client.RegisterDehydrated(rt, keysSvc, toDevice)
	client.RegisterSlidingSync(rt, syncSvc, keysSvc, toDevice)

	return &coreServer{Handler: rt, writer: writer, Accounts: acc, Rooms: rs, AccountData: accountData,
		closers: []func(){pushersSvc.Close, pres.Close, typ.Close, pusher.Close, searchSvc.Close}}, nil
}

// Close stops the services in reverse order of creation.
func (c *coreServer) Close() {
	for i := len(c.closers) - 1; i >= 0; i-- {
		c.closers[i]()
	}
	c.writer.Close()
}

// queryingAccounts is accounts that, when a local user is unknown, first
// asks the appservice whose namespace holds the user (GET
// /_matrix/app/v1/users/{userId}), as the appservice API requires; a bridge
// then creates its ghost on demand.
type queryingAccounts struct {
	*accounts.Service
	as *appservice.Client
}

// UserExists reports whether u exists, asking appservices when not yet.
func (q queryingAccounts) UserExists(ctx context.Context, u id.UserID) (bool, error) {
	ok, err := q.Service.UserExists(ctx, u)
	if err != nil || ok || !q.IsLocal(u) || !q.as.QueryUser(ctx, u) {
		return ok, err
	}
	return q.Service.UserExists(ctx, u)
}

// Profile returns u's profile, asking appservices when u is unknown.
func (q queryingAccounts) Profile(ctx context.Context, u id.UserID) (accounts.Profile, error) {
	prof, err := q.Service.Profile(ctx, u)
	if errors.Is(err, storage.ErrNotFound) && q.IsLocal(u) && q.as.QueryUser(ctx, u) {
		return q.Service.Profile(ctx, u)
	}
	return prof, err
}

// profilesOf adapts accounts to the Profiles interface rooms declares.
type profilesOf struct{ acc queryingAccounts }

func (p profilesOf) UserExists(ctx context.Context, u id.UserID) (bool, error) {
	return p.acc.UserExists(ctx, u)
}

func (p profilesOf) Profile(ctx context.Context, u id.UserID) (string, string, error) {
	prof, err := p.acc.Profile(ctx, u)
	if errors.Is(err, storage.ErrNotFound) {
		return "", "", nil
	} else if err != nil {
		return "", "", err
	}
	return prof.DisplayName, prof.AvatarURL, nil
}
