package bridgetest

import (
	"context"
	"time"

	"maunium.net/go/mautrix/bridgev2"
	"maunium.net/go/mautrix/bridgev2/database"
	"maunium.net/go/mautrix/bridgev2/networkid"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// MatrixMessage is one message the bridge handed to the network from Matrix,
// as the connector received it: decrypted and, in relay mode, already
// formatted with the original sender's name.
type MatrixMessage struct {
	// LoginID is the login the bridge sent the message through.
	LoginID networkid.UserLoginID
	// PortalID is the remote chat.
	PortalID networkid.PortalID
	// RoomID and EventID identify the Matrix event.
	RoomID  id.RoomID
	EventID id.EventID
	// Sender is the Matrix user who sent the event.
	Sender  id.UserID
	MsgType event.MessageType
	Body    string
	// MessageID is the remote ID the network gave the message.
	MessageID networkid.MessageID
}

// HandleMatrixMessage delivers a Matrix message to the remote chat: it is
// published on [Network.Received], the login becomes a participant of the
// chat, and, with echo replies on, the echo user answers. It blocks while
// Received is full, and gives up when ctx ends.
func (c *Client) HandleMatrixMessage(ctx context.Context, msg *bridgev2.MatrixMessage) (*bridgev2.MatrixMessageResponse, error) {
	now := time.Now()
	msgID := c.net.newMessageID("mx")
	c.net.join(msg.Portal.ID, c.userID())
	out := MatrixMessage{
		LoginID:   c.login.ID,
		PortalID:  msg.Portal.ID,
		RoomID:    msg.Portal.MXID,
		EventID:   msg.Event.ID,
		Sender:    msg.Event.Sender,
		MsgType:   msg.Content.MsgType,
		Body:      msg.Content.Body,
		MessageID: msgID,
	}
	select {
	case c.net.received <- out:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if on, prefix := c.net.echoSettings(); on {
		c.net.join(msg.Portal.ID, EchoUserID)
		c.enqueue(c.newRemoteMessage(msg.Portal.PortalKey, EchoUserID, prefix+msg.Content.Body))
	}
	return &bridgev2.MatrixMessageResponse{
		DB: &database.Message{
			ID:        msgID,
			SenderID:  c.userID(),
			Timestamp: now,
		},
	}, nil
}
