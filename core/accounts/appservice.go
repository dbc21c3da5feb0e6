package accounts

import (
	"net/http"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
)

// AppServices is what accounts needs from an appservice registry. The
// appservice package implements it; serve.go passes it in Options (or
// SetAppServices). Its methods are called on hot paths and must answer from
// memory without blocking.
type AppServices interface {
	// AuthenticateAppService resolves token as an appservice's as_token.
	// It is called for every authenticated request before user tokens are
	// looked up; it returns (nil, nil) when token is not an as_token. For
	// an as_token it returns the caller with AppServiceID set and UserID
	// the asserted user (?user_id=, checked against the namespaces) or the
	// sender_localpart user, or an *httpx.Error such as M_FORBIDDEN.
	AuthenticateAppService(r *http.Request, token string) (*httpx.Caller, error)
	// ExclusiveOwner returns the ID of the appservice that claims userID in
	// an exclusive namespace, or "". Registration by anyone else is
	// refused with M_EXCLUSIVE.
	ExclusiveOwner(userID id.UserID) string
	// InNamespace reports whether userID is in one of appServiceID's user
	// namespaces (exclusive or not), which lets the appservice register
	// and log in as that user.
	InNamespace(appServiceID string, userID id.UserID) bool
}

// AppServiceOwns reports whether the appservice may act as userID (log in,
// register): userID lies in one of its namespaces.
func (s *Service) AppServiceOwns(appServiceID string, userID id.UserID) bool {
	return s.appsvc != nil && appServiceID != "" && s.appsvc.InNamespace(appServiceID, userID)
}
