package bridgetest

import (
	"context"
	"sync"

	"maunium.net/go/mautrix/bridgev2"
	"maunium.net/go/mautrix/bridgev2/networkid"
	"maunium.net/go/mautrix/bridgev2/status"
)

// Client is one login's connection to the fake network. While connected it
// runs one goroutine that delivers queued remote events (echo replies) to
// the bridge; Disconnect ends it and waits for it.
type Client struct {
	net   *Network
	login *bridgev2.UserLogin

	mu        sync.Mutex
	connected bool
	loggedOut bool
	cancel    context.CancelFunc
	done      chan struct{} // closed when the delivery goroutine returns
	outbox    []bridgev2.RemoteEvent
	wake      chan struct{} // capacity 1: "outbox may be non-empty"
}

var (
	_ bridgev2.NetworkAPI           = (*Client)(nil)
	_ bridgev2.NetworkAPIWithUserID = (*Client)(nil)
)

// Connect starts delivering queued remote events and reports CONNECTED.
// Events queued while disconnected are delivered now.
func (c *Client) Connect(context.Context) {
	c.mu.Lock()
	if c.loggedOut {
		c.mu.Unlock()
		c.login.BridgeState.Send(status.BridgeState{StateEvent: status.StateBadCredentials, Error: "testnet-logged-out"})
		return
	}
	if c.connected {
		c.mu.Unlock()
		return
	}
	// The delivery goroutine must outlive Connect's context, which the
	// bridge may cancel once Connect returns.
	ctx, cancel := context.WithCancel(context.Background())
	c.connected, c.cancel, c.done = true, cancel, make(chan struct{})
	go c.deliver(ctx, c.done)
	c.mu.Unlock()
	c.poke()
	c.login.BridgeState.Send(status.BridgeState{StateEvent: status.StateConnected})
	c.net.notify()
}

// Disconnect stops delivery and waits for the delivery goroutine, which
// may be finishing one event the bridge is handling synchronously.
func (c *Client) Disconnect() {
	c.mu.Lock()
	if !c.connected {
		c.mu.Unlock()
		return
	}
	cancel, done := c.cancel, c.done
	c.connected, c.cancel, c.done = false, nil, nil
	c.mu.Unlock()
	cancel()
	<-done
	c.net.notify()
}

// IsLoggedIn is true until LogoutRemote.
func (c *Client) IsLoggedIn() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.loggedOut
}

// LogoutRemote disconnects and forgets the login; the fake network has no
// session to invalidate.
func (c *Client) LogoutRemote(context.Context) {
	c.Disconnect()
	c.mu.Lock()
	c.loggedOut = true
	c.outbox = nil
	c.mu.Unlock()
	c.net.forget(c)
}

// IsThisUser reports whether userID is this login's own remote user. The
// bridge uses it to recognise the login's messages from the remote side
// and send them through the user's double puppet.
func (c *Client) IsThisUser(_ context.Context, userID networkid.UserID) bool {
	return userID == c.userID()
}

// GetUserID returns the login's own remote user ID, which is its login ID.
func (c *Client) GetUserID() networkid.UserID { return c.userID() }

func (c *Client) userID() networkid.UserID { return networkid.UserID(c.login.ID) }

// sender describes remote user u as an event sender seen from this login.
func (c *Client) sender(u networkid.UserID) bridgev2.EventSender {
	return bridgev2.EventSender{
		IsFromMe:    u == c.userID(),
		Sender:      u,
		SenderLogin: networkid.UserLoginID(u),
	}
}

func (c *Client) isConnected() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.connected
}

// enqueue hands evt to the delivery goroutine. It never blocks, so it is
// safe inside a portal's event loop, where queueing straight into the same
// portal would deadlock when the bridge handles events synchronously.
func (c *Client) enqueue(evt bridgev2.RemoteEvent) {
	c.mu.Lock()
	c.outbox = append(c.outbox, evt)
	c.mu.Unlock()
	c.poke()
}

func (c *Client) poke() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *Client) deliver(ctx context.Context, done chan struct{}) {
	defer close(done)
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.wake:
		}
		for ctx.Err() == nil {
			evt := c.pop()
			if evt == nil {
				break
			}
			if res := c.login.QueueRemoteEvent(evt); !res.Success {
				c.login.Log.Warn().Err(res.Error).Msg("testnet: bridge failed to handle queued remote event")
			}
		}
	}
}

func (c *Client) pop() bridgev2.RemoteEvent {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.outbox) == 0 {
		return nil
	}
	evt := c.outbox[0]
	c.outbox = c.outbox[1:]
	return evt
}
