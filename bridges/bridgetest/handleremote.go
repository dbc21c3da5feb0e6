package bridgetest

import (
	"context"
	"fmt"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/bridgev2"
	"maunium.net/go/mautrix/bridgev2/networkid"
	"maunium.net/go/mautrix/bridgev2/simplevent"
	"maunium.net/go/mautrix/event"
)

// SendRemote makes remote user senderRemoteID say text in chat chatID, and
// delivers it to the login loginID, which must be connected. The sender and
// the login become participants of the chat first, so when the bridge
// creates the portal room for the first message, the login's Matrix user is
// invited and the sender's ghost joins. When senderRemoteID is loginID the
// message is the login's own, sent from another device: the bridge posts it
// as the user's double puppet, or as the user's own ghost without one.
//
// SendRemote returns once the bridge has queued the message; with
// bridge.portal_event_buffer 0 it returns after the bridge handled it, and
// reports a failure or a dropped message as an error.
func (n *Network) SendRemote(ctx context.Context, loginID, chatID, senderRemoteID, text string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !validUserID.MatchString(senderRemoteID) {
		return fmt.Errorf("sender %q is not a valid remote user ID", senderRemoteID)
	}
	if chatID == "" {
		return fmt.Errorf("empty chat ID")
	}
	c := n.client(networkid.UserLoginID(loginID))
	if c == nil || !c.isConnected() {
		return fmt.Errorf("login %q is not connected", loginID)
	}
	sender := networkid.UserID(senderRemoteID)
	n.join(networkid.PortalID(chatID), c.userID(), sender)
	res := c.login.QueueRemoteEvent(c.newRemoteMessage(n.PortalKey(loginID, chatID), sender, text))
	switch {
	case res.Error != nil:
		return fmt.Errorf("bridge failed to handle remote message: %w", res.Error)
	case !res.Success:
		return fmt.Errorf("bridge failed to handle remote message")
	case res.Ignored:
		return fmt.Errorf("bridge dropped remote message")
	}
	return nil
}

// newRemoteMessage builds a text message from remote user from, received
// through this login, that creates its portal if needed.
func (c *Client) newRemoteMessage(key networkid.PortalKey, from networkid.UserID, text string) *simplevent.Message[string] {
	msgID := c.net.newMessageID("r")
	return &simplevent.Message[string]{
		EventMeta: simplevent.EventMeta{
			Type:         bridgev2.RemoteEventMessage,
			PortalKey:    key,
			Sender:       c.sender(from),
			CreatePortal: true,
			Timestamp:    time.Now(),
			LogContext: func(lc zerolog.Context) zerolog.Context {
				return lc.Str("testnet_chat", string(key.ID))
			},
		},
		Data:               text,
		ID:                 msgID,
		ConvertMessageFunc: convertText,
	}
}

// convertText turns a remote text message into one m.text part.
func convertText(_ context.Context, _ *bridgev2.Portal, _ bridgev2.MatrixAPI, text string) (*bridgev2.ConvertedMessage, error) {
	return &bridgev2.ConvertedMessage{
		Parts: []*bridgev2.ConvertedMessagePart{{
			Type:    event.EventMessage,
			Content: &event.MessageEventContent{MsgType: event.MsgText, Body: text},
		}},
	}, nil
}
