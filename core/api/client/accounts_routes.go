package client

import (
	"github.com/gatehouse-chat/gatehouse/core/accounts"
	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/config"
	"github.com/gatehouse-chat/gatehouse/core/ratelimit"
)

// AccountsConfig holds the settings the account endpoints read.
type AccountsConfig struct {
	EnableRegistration        bool
	RegistrationRequiresToken bool
	// PublicBaseURL, when set, is returned as well_known in /login.
	PublicBaseURL string
	// BaseURL starts the links in validation emails (config BaseURL()).
	BaseURL string
	// Mailer, when set (email.smtp_host), turns on email addresses and
	// password resets by email; nil answers that they are not supported.
	Mailer Mailer
}

// AccountsConfigFrom picks the account settings out of the config.
func AccountsConfigFrom(c *config.Config) AccountsConfig {
	return AccountsConfig{
		EnableRegistration:        c.EnableRegistration,
		RegistrationRequiresToken: c.RegistrationRequiresToken,
		PublicBaseURL:             c.PublicBaseURL,
		BaseURL:                   c.BaseURL(),
	}
}

// AccountLimits are the rate limiters of the account endpoints; a nil
// limiter allows everything.
type AccountLimits struct {
	// Registration (rc_registration, per IP) is checked on every
	// /register and taken from only when an account is created, as in
	// Synapse, so the extra round trips of UIA don't count.
	Registration *ratelimit.Limiter
	// Available (rc_registration's rate, per IP, its own buckets) limits
	// username and token probing.
	Available *ratelimit.Limiter
	// LoginAddress (rc_login.address) limits login requests per IP.
	LoginAddress *ratelimit.Limiter
	// LoginAccount (rc_login.account) limits successful logins per account.
	LoginAccount *ratelimit.Limiter
	// LoginFailed (rc_login.failed_attempts) limits wrong passwords per
	// account, at login and in UIA password stages.
	LoginFailed *ratelimit.Limiter
	// EmailSend limits validation emails per address (Synapse's
	// rc_3pid_validation defaults), so nobody can flood a mailbox.
	EmailSend *ratelimit.Limiter
}

// NewAccountLimits builds the limiters from the config's rc_* settings.
func NewAccountLimits(c *config.Config) AccountLimits {
	return AccountLimits{
		Registration: ratelimit.New(c.RcRegistration, ratelimit.Options{}),
		Available:    ratelimit.New(c.RcRegistration, ratelimit.Options{}),
		LoginAddress: ratelimit.New(c.RcLogin.Address, ratelimit.Options{}),
		LoginAccount: ratelimit.New(c.RcLogin.Account, ratelimit.Options{}),
		LoginFailed:  ratelimit.New(c.RcLogin.FailedAttempts, ratelimit.Options{}),
		EmailSend:    ratelimit.New(config.RateLimit{PerSecond: 0.003, BurstCount: 5}, ratelimit.Options{}),
	}
}

type accountsAPI struct {
	acc *accounts.Service
	cfg AccountsConfig
	lim AccountLimits
	uia *UIA
}

// RegisterAccounts registers login, registration, account management,
// device and user directory endpoints. It returns the UIA it uses, so other
// endpoints needing the caller's password (cross-signing key upload) can
// share its sessions.
func RegisterAccounts(rt *httpx.Router, acc *accounts.Service, cfg AccountsConfig, limits AccountLimits) *UIA {
	uia := NewUIA(acc)
	uia.Failed = limits.LoginFailed
	h := &accountsAPI{acc: acc, cfg: cfg, lim: limits, uia: uia}
	perIP := limits.LoginAddress.Middleware(ratelimit.ByIP)
	probe := limits.Available.Middleware(ratelimit.ByIP)

	rt.Public("GET /_matrix/client/v3/login", h.getLogin)
	rt.Public("POST /_matrix/client/v3/login", h.postLogin, perIP)
	rt.Authed("POST /_matrix/client/v3/logout", h.logout)
	rt.Authed("POST /_matrix/client/v3/logout/all", h.logoutAll)
	rt.Authed("GET /_matrix/client/v3/account/whoami", h.whoami)

	rt.OptionalAuth("POST /_matrix/client/v3/register", h.register)
	rt.Public("GET /_matrix/client/v3/register/available", h.registerAvailable, probe)
	rt.Public("GET /_matrix/client/v1/register/m.login.registration_token/validity", h.registrationTokenValidity, probe)

	rt.OptionalAuth("POST /_matrix/client/v3/account/password", h.changePassword)
	rt.Authed("POST /_matrix/client/v3/account/deactivate", h.deactivate)

	rt.Authed("GET /_matrix/client/v3/devices", h.listDevices)
	rt.Authed("GET /_matrix/client/v3/devices/{deviceId}", h.getDevice)
	rt.Authed("PUT /_matrix/client/v3/devices/{deviceId}", h.putDevice)
	rt.Authed("DELETE /_matrix/client/v3/devices/{deviceId}", h.deleteDevice)
	rt.Authed("POST /_matrix/client/v3/delete_devices", h.deleteDevices)

	rt.Authed("POST /_matrix/client/v3/user_directory/search", h.searchUserDirectory)

	register3PID(rt, h)
	return uia
}
