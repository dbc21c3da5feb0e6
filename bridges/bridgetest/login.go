package bridgetest

import (
	"context"
	"fmt"

	"maunium.net/go/mautrix/bridgev2"
	"maunium.net/go/mautrix/bridgev2/database"
	"maunium.net/go/mautrix/bridgev2/networkid"
	"maunium.net/go/mautrix/bridgev2/status"
)

// LoginFlowID is the only login flow: pick a username, no password. With one
// flow the bot's `login` command needs no flow argument; `login username
// <name>` logs in with a single message.
const LoginFlowID = "username"

const (
	stepUsername = "testnet.username"
	stepComplete = "testnet.complete"
)

// GetLoginFlows lists the username flow.
func (n *Network) GetLoginFlows() []bridgev2.LoginFlow {
	return []bridgev2.LoginFlow{{
		Name:        "Username",
		Description: "Log in as any username; the fake network has no passwords",
		ID:          LoginFlowID,
	}}
}

// CreateLogin starts a login for user; only LoginFlowID exists.
func (n *Network) CreateLogin(_ context.Context, user *bridgev2.User, flowID string) (bridgev2.LoginProcess, error) {
	if flowID != LoginFlowID {
		return nil, fmt.Errorf("unknown login flow %q", flowID)
	}
	return &loginProcess{user: user}, nil
}

// loginProcess asks for a username and logs in as it.
type loginProcess struct {
	user *bridgev2.User
}

var _ bridgev2.LoginProcessUserInput = (*loginProcess)(nil)

// Start asks for the username. The bot's prompt is "Please enter your
// username" followed by the field's description.
func (lp *loginProcess) Start(context.Context) (*bridgev2.LoginStep, error) {
	return &bridgev2.LoginStep{
		Type:   bridgev2.LoginStepTypeUserInput,
		StepID: stepUsername,
		UserInputParams: &bridgev2.LoginUserInputParams{
			Fields: []bridgev2.LoginInputDataField{{
				Type:        bridgev2.LoginInputFieldTypeUsername,
				ID:          "username",
				Name:        "username",
				Description: "Lowercase letters, digits, dots or dashes; it becomes your remote user ID.",
				Pattern:     validUserID.String(),
			}},
		},
	}, nil
}

// SubmitUserInput creates (or reuses) the login named after the username
// and connects it, so the login is usable when the bot says it succeeded.
func (lp *loginProcess) SubmitUserInput(ctx context.Context, input map[string]string) (*bridgev2.LoginStep, error) {
	username := input["username"]
	if !validUserID.MatchString(username) {
		return nil, fmt.Errorf("invalid username %q: must match %s", username, validUserID)
	}
	if networkid.UserID(username) == EchoUserID {
		return nil, fmt.Errorf("username %q is reserved for the echo user", username)
	}
	ul, err := lp.user.NewLogin(ctx, &database.UserLogin{
		ID:            networkid.UserLoginID(username),
		RemoteName:    username,
		RemoteProfile: status.RemoteProfile{Username: username, Name: username},
	}, nil)
	if err != nil {
		return nil, fmt.Errorf("failed to save login: %w", err)
	}
	ul.Client.Connect(ul.Log.WithContext(context.Background()))
	return &bridgev2.LoginStep{
		Type:         bridgev2.LoginStepTypeComplete,
		StepID:       stepComplete,
		Instructions: fmt.Sprintf("Successfully logged in as %s", username),
		CompleteParams: &bridgev2.LoginCompleteParams{
			UserLoginID: ul.ID,
			UserLogin:   ul,
		},
	}, nil
}

// Cancel has nothing to clean up.
func (lp *loginProcess) Cancel() {}
