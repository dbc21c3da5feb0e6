package bridgetest

import (
	"context"
	"fmt"
	"slices"

	"maunium.net/go/mautrix/bridgev2"
	"maunium.net/go/mautrix/bridgev2/database"
	"maunium.net/go/mautrix/bridgev2/networkid"
	"maunium.net/go/mautrix/event"
)

// chat is one remote group chat. Its participants are the logins that took
// part (received or sent a message there) and every remote user who spoke,
// in order of first appearance. Logins and users share one ID space, as on
// most real networks: login "alice" is remote user "alice".
type chat struct {
	participants []networkid.UserID
}

// join adds users to chatID's participants. It runs before the event that
// needs them is queued, so the member list the bridge fetches for a new
// portal already has the sender.
func (n *Network) join(chatID networkid.PortalID, users ...networkid.UserID) {
	n.mu.Lock()
	defer n.mu.Unlock()
	c := n.chats[chatID]
	if c == nil {
		c = &chat{}
		n.chats[chatID] = c
	}
	for _, u := range users {
		if !slices.Contains(c.participants, u) {
			c.participants = append(c.participants, u)
		}
	}
}

func (n *Network) participants(chatID networkid.PortalID) []networkid.UserID {
	n.mu.Lock()
	defer n.mu.Unlock()
	if c := n.chats[chatID]; c != nil {
		return append([]networkid.UserID(nil), c.participants...)
	}
	return nil
}

// GetChatInfo returns the chat's name and its full member list: this login
// (IsFromMe) and every other participant. Each other participant carries
// SenderLogin, so a participant who is also logged in to the bridge is
// bridged as their own Matrix user (or double puppet) rather than a ghost.
func (c *Client) GetChatInfo(_ context.Context, portal *bridgev2.Portal) (*bridgev2.ChatInfo, error) {
	members := bridgev2.ChatMemberMap{}
	members.Set(bridgev2.ChatMember{EventSender: c.sender(c.userID()), Membership: event.MembershipJoin})
	for _, u := range c.net.participants(portal.ID) {
		members.Set(bridgev2.ChatMember{EventSender: c.sender(u), Membership: event.MembershipJoin})
	}
	return &bridgev2.ChatInfo{
		Name: new(fmt.Sprintf("Test chat %s", portal.ID)),
		Type: new(database.RoomTypeDefault),
		Members: &bridgev2.ChatMemberList{
			IsFull:           true,
			TotalMemberCount: len(members),
			MemberMap:        members,
		},
	}, nil
}

// GetUserInfo names every remote user "Remote <id>".
func (c *Client) GetUserInfo(_ context.Context, ghost *bridgev2.Ghost) (*bridgev2.UserInfo, error) {
	return &bridgev2.UserInfo{
		Identifiers: []string{"testnet:" + string(ghost.ID)},
		Name:        new("Remote " + string(ghost.ID)),
		IsBot:       new(false),
	}, nil
}

// GetCapabilities allows plain text (and the formats bridgev2 never checks)
// in every chat.
func (c *Client) GetCapabilities(context.Context, *bridgev2.Portal) *event.RoomFeatures {
	return &event.RoomFeatures{ID: "testnet.v1", MaxTextLength: 65536}
}
