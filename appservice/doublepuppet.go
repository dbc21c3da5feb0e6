package appservice

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/storage"
)

// DoublePuppetAccountData is the global account data event in which a user
// lists the appservices (by registration id) allowed to act as them:
// {"allow": ["discord", "whatsapp"]}.
const DoublePuppetAccountData = "io.gatehouse.double_puppet"

// DoublePuppetMode is how far an appservice's double puppeting grant goes.
type DoublePuppetMode string

// The grants an admin can give an appservice.
const (
	DoublePuppetOff   DoublePuppetMode = "off"
	DoublePuppetOptIn DoublePuppetMode = "opt_in" // users who listed it in DoublePuppetAccountData
	DoublePuppetAll   DoublePuppetMode = "all"    // every local user no other appservice owns
)

// AccountDataReader reads a user's global account data; nil content and a
// nil error mean the user has none of that type.
type AccountDataReader interface {
	Get(ctx context.Context, user id.UserID, room id.RoomID, typ string) (json.RawMessage, error)
}

// SetDoublePuppet grants appservices (by registration id) the right to
// assert local users outside their namespaces with ?user_id=, the native
// form of double puppeting: no extra registration file with an @.*
// namespace, and, in opt_in mode, only for users who asked for it.
func (r *Registry) SetDoublePuppet(grants map[string]DoublePuppetMode, consent AccountDataReader) {
	r.puppetGrants, r.puppetConsent = grants, consent
}

// mayDoublePuppet reports whether as may act as userID, a user outside its
// namespaces. Remote users, users in another appservice's exclusive
// namespace and unknown users are never granted.
func (r *Registry) mayDoublePuppet(ctx context.Context, as *AppService, userID id.UserID) (bool, error) {
	mode := r.puppetGrants[as.ID]
	if mode == "" || mode == DoublePuppetOff {
		return false, nil
	}
	if _, server, err := userID.Parse(); err != nil || server != r.serverName {
		return false, nil
	}
	if owner := r.ExclusiveOwner(userID); owner != "" {
		return false, nil
	}
	if exists, err := r.userExists(ctx, userID); err != nil || !exists {
		return false, err
	}
	if mode == DoublePuppetAll {
		return true, nil
	}
	if r.puppetConsent == nil {
		return false, nil
	}
	raw, err := r.puppetConsent.Get(ctx, userID, "", DoublePuppetAccountData)
	if IsNotFound(err) || (err == nil && raw == nil) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	var c struct {
		Allow []string `json:"allow"`
	}
	if json.Unmarshal(raw, &c) != nil {
		return false, nil // a malformed opt-in is no opt-in
	}
	return slices.Contains(c.Allow, as.ID), nil
}

// IsNotFound reports whether err says a thing does not exist, in either
// form the domains use: storage.ErrNotFound or a Matrix 404.
func IsNotFound(err error) bool {
	var he *httpx.Error
	return errors.Is(err, storage.ErrNotFound) || (errors.As(err, &he) && he.Status == http.StatusNotFound)
}
