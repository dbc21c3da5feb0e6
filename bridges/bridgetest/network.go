package bridgetest

import (
	"context"
	"fmt"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"maunium.net/go/mautrix/bridgev2"
	"maunium.net/go/mautrix/bridgev2/database"
	"maunium.net/go/mautrix/bridgev2/networkid"
	"maunium.net/go/mautrix/id"
)

// EchoUserID is the remote user who answers Matrix messages when echo
// replies are on. Nobody can log in under this name.
const EchoUserID networkid.UserID = "echo"

// receivedBuffer is how many Matrix messages may wait on [Network.Received]
// before the bridge's portal loop blocks on the next one.
const receivedBuffer = 1024

// validUserID is the shape of remote user IDs and usernames: characters that
// id.EncodeUserLocalpart leaves alone (no "_", no capitals), so
// ghost MXIDs are the plain "<template prefix><id>".
var validUserID = regexp.MustCompile(`^[a-z0-9.-]{1,64}$`)

// Network is the fake remote network and its bridgev2 connector. Create it
// with [New]; one Network serves one bridge at a time. Its chats outlive
// bridge restarts, like a real network's would.
type Network struct {
	// Config is decoded from the bridge section's `network:` key.
	Config Config

	received chan MatrixMessage
	epoch    int64
	seq      atomic.Uint64

	mu           sync.Mutex
	br           *bridgev2.Bridge
	clients      map[networkid.UserLoginID]*Client
	chats        map[networkid.PortalID]*chat
	changed      chan struct{} // closed and replaced when a client connects or goes away
	echoOverride *bool
}

var (
	_ bridgev2.NetworkConnector            = (*Network)(nil)
	_ bridgev2.StoppableNetwork            = (*Network)(nil)
	_ bridgev2.IdentifierValidatingNetwork = (*Network)(nil)
)

// New returns a Network with no logins and no chats.
func New() *Network {
	return &Network{
		received: make(chan MatrixMessage, receivedBuffer),
		epoch:    time.Now().UnixNano(),
		clients:  make(map[networkid.UserLoginID]*Client),
		chats:    make(map[networkid.PortalID]*chat),
		changed:  make(chan struct{}),
	}
}

// Init stores the bridge. A Network reused for a new bridge (the host
// retrying a start) disconnects the previous bridge's clients, which only
// takes stopping idle goroutines, and keeps its chats.
func (n *Network) Init(br *bridgev2.Bridge) {
	n.mu.Lock()
	old := n.clients
	n.br = br
	n.clients = make(map[networkid.UserLoginID]*Client)
	n.mu.Unlock()
	for _, c := range old {
		c.Disconnect()
	}
}

// Start has nothing to do: there is no remote service to reach.
func (n *Network) Start(context.Context) error { return nil }

// Stop disconnects every client still connected and waits for their
// delivery goroutines to end.
func (n *Network) Stop() {
	n.mu.Lock()
	clients := make([]*Client, 0, len(n.clients))
	for _, c := range n.clients {
		clients = append(clients, c)
	}
	n.mu.Unlock()
	for _, c := range clients {
		c.Disconnect()
	}
}

// GetName describes the network for `m.bridge` events and config defaults.
func (n *Network) GetName() bridgev2.BridgeName {
	return bridgev2.BridgeName{
		DisplayName:          "Test Network",
		NetworkURL:           "https://testnet.invalid",
		NetworkID:            "testnet",
		BeeperBridgeType:     "testnet",
		DefaultPort:          29999,
		DefaultCommandPrefix: "!testnet",
	}
}

// GetDBMetaTypes returns no metadata types: everything the connector needs
// is in the login ID itself.
func (n *Network) GetDBMetaTypes() database.MetaTypes { return database.MetaTypes{} }

// GetCapabilities returns the network-wide capabilities: none beyond the
// defaults.
func (n *Network) GetCapabilities() *bridgev2.NetworkGeneralCapabilities {
	return &bridgev2.NetworkGeneralCapabilities{}
}

// GetBridgeInfoVersion returns the versions of `m.bridge` content and room
// features; bumping them makes the bridge resend both to every portal.
func (n *Network) GetBridgeInfoVersion() (info, capabilities int) { return 1, 1 }

// ValidateUserID reports whether id has the shape of a remote user ID.
func (n *Network) ValidateUserID(id networkid.UserID) bool {
	return validUserID.MatchString(string(id))
}

// LoadUserLogin attaches a fresh [Client] to login. It does not connect:
// the bridge (or the login flow) calls Connect afterwards.
func (n *Network) LoadUserLogin(_ context.Context, login *bridgev2.UserLogin) error {
	c := &Client{net: n, login: login, wake: make(chan struct{}, 1)}
	login.Client = c
	n.mu.Lock()
	n.clients[login.ID] = c
	n.mu.Unlock()
	return nil
}

// Received returns the messages the bridge handed to the network from
// Matrix, in the order it handed them over. Tests must drain it: once
// receivedBuffer messages wait, the portal sending the next one blocks.
func (n *Network) Received() <-chan MatrixMessage { return n.received }

// SetEchoReplies turns the echo user on or off while the bridge runs,
// overriding Config.EchoReplies.
func (n *Network) SetEchoReplies(on bool) {
	n.mu.Lock()
	n.echoOverride = &on
	n.mu.Unlock()
}

// echoSettings returns whether echo replies are on and their prefix.
func (n *Network) echoSettings() (bool, string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	on := n.Config.EchoReplies
	if n.echoOverride != nil {
		on = *n.echoOverride
	}
	return on, n.Config.EchoPrefix
}

// WaitLogin waits until the login loginID is loaded and connected, and
// returns it. The login command completes that before it answers.
func (n *Network) WaitLogin(ctx context.Context, loginID string) (*bridgev2.UserLogin, error) {
	for {
		n.mu.Lock()
		c := n.clients[networkid.UserLoginID(loginID)]
		changed := n.changed
		n.mu.Unlock()
		if c != nil && c.isConnected() {
			return c.login, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for login %q: %w", loginID, context.Cause(ctx))
		}
	}
}

// PortalKey returns the key of chatID's portal as seen from loginID: the
// receiver is empty for group chats unless the bridge splits portals.
func (n *Network) PortalKey(loginID, chatID string) networkid.PortalKey {
	key := networkid.PortalKey{ID: networkid.PortalID(chatID)}
	n.mu.Lock()
	split := n.br != nil && n.br.Config.SplitPortals
	n.mu.Unlock()
	if split {
		key.Receiver = networkid.UserLoginID(loginID)
	}
	return key
}

// PortalRoomID returns the Matrix room of chatID's portal as seen from
// loginID, or "" if the bridge has not created it yet.
func (n *Network) PortalRoomID(ctx context.Context, loginID, chatID string) (id.RoomID, error) {
	br := n.bridge()
	if br == nil {
		return "", fmt.Errorf("bridge not initialised")
	}
	portal, err := br.GetExistingPortalByKey(ctx, n.PortalKey(loginID, chatID))
	if err != nil || portal == nil {
		return "", err
	}
	return portal.MXID, nil
}

// GhostMXID returns the Matrix user that puppets remote user remoteID.
func (n *Network) GhostMXID(remoteID string) id.UserID {
	return n.bridge().Matrix.FormatGhostMXID(networkid.UserID(remoteID))
}

func (n *Network) bridge() *bridgev2.Bridge {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.br
}

func (n *Network) client(loginID networkid.UserLoginID) *Client {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.clients[loginID]
}

// forget removes c if it is still the client registered for its login.
func (n *Network) forget(c *Client) {
	n.mu.Lock()
	if n.clients[c.login.ID] == c {
		delete(n.clients, c.login.ID)
	}
	n.mu.Unlock()
	n.notify()
}

// notify wakes every WaitLogin.
func (n *Network) notify() {
	n.mu.Lock()
	close(n.changed)
	n.changed = make(chan struct{})
	n.mu.Unlock()
}

// newMessageID returns a message ID unique across bridge restarts: the
// epoch is taken when the Network is created.
func (n *Network) newMessageID(prefix string) networkid.MessageID {
	return networkid.MessageID(fmt.Sprintf("%s-%d-%d", prefix, n.epoch, n.seq.Add(1)))
}
