package bridgetest

import (
	"context"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
	"maunium.net/go/mautrix/bridgev2"
	"maunium.net/go/mautrix/bridgev2/database"
	"maunium.net/go/mautrix/bridgev2/networkid"
	"maunium.net/go/mautrix/bridgev2/simplevent"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// newLogin loads a login the way the bridge does after NewLogin, without a
// bridge: the connector only needs the login's ID.
func newLogin(t *testing.T, n *Network, loginID string) *Client {
	t.Helper()
	ul := &bridgev2.UserLogin{UserLogin: &database.UserLogin{ID: networkid.UserLoginID(loginID)}}
	if err := n.LoadUserLogin(context.Background(), ul); err != nil {
		t.Fatalf("LoadUserLogin: %v", err)
	}
	return ul.Client.(*Client)
}

func portal(chatID string) *bridgev2.Portal {
	return &bridgev2.Portal{Portal: &database.Portal{
		PortalKey: networkid.PortalKey{ID: networkid.PortalID(chatID)},
		MXID:      id.RoomID("!" + chatID + ":example.org"),
	}}
}

func TestNetworkDescribesItself(t *testing.T) {
	n := New()
	name := n.GetName()
	if name.DisplayName != "Test Network" || name.NetworkID != "testnet" || name.BeeperBridgeType != "testnet" ||
		name.NetworkURL != "https://testnet.invalid" || name.DefaultCommandPrefix != "!testnet" {
		t.Errorf("GetName() = %+v", name)
	}
	example, data, upgrader := n.GetConfig()
	if upgrader == nil {
		t.Error("GetConfig returned no upgrader")
	}
	if err := yaml.Unmarshal([]byte(example), data); err != nil {
		t.Fatalf("example config does not decode: %v", err)
	}
	if n.Config.EchoPrefix != "echo: " || n.Config.EchoReplies {
		t.Errorf("example decoded to %+v, want prefix %q and echo off", n.Config, "echo: ")
	}
	if info, caps := n.GetBridgeInfoVersion(); info != 1 || caps != 1 {
		t.Errorf("GetBridgeInfoVersion() = %d, %d", info, caps)
	}
	if !n.ValidateUserID("carol.b-1") || n.ValidateUserID("Carol") || n.ValidateUserID("carol_b") || n.ValidateUserID("") {
		t.Error("ValidateUserID accepts the wrong shapes")
	}
	if key := n.PortalKey("alice", "room1"); key != (networkid.PortalKey{ID: "room1"}) {
		t.Errorf("PortalKey of a group chat = %+v, want no receiver", key)
	}
}

func TestLoginAsksForUsername(t *testing.T) {
	ctx := context.Background()
	n := New()
	flows := n.GetLoginFlows()
	if len(flows) != 1 || flows[0].ID != LoginFlowID {
		t.Fatalf("GetLoginFlows() = %+v", flows)
	}
	if _, err := n.CreateLogin(ctx, nil, "qr"); err == nil {
		t.Error("CreateLogin accepted an unknown flow")
	}
	lp, err := n.CreateLogin(ctx, nil, LoginFlowID)
	if err != nil {
		t.Fatal(err)
	}
	step, err := lp.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if step.Type != bridgev2.LoginStepTypeUserInput || len(step.UserInputParams.Fields) != 1 {
		t.Fatalf("first step = %+v", step)
	}
	field := step.UserInputParams.Fields[0]
	if field.ID != "username" || field.Name != "username" {
		t.Errorf("field = %+v, want id and name %q (the bot says \"Please enter your <name>\")", field, "username")
	}
	// The login command validates with the field before submitting.
	field.FillDefaultValidate()
	if _, err := field.Validate("alice"); err != nil {
		t.Errorf("field rejects alice: %v", err)
	}
	if _, err := field.Validate("Alice Smith"); err == nil {
		t.Error("field accepts \"Alice Smith\"")
	}
	// Inputs that reach SubmitUserInput anyway (provisioning API) are
	// refused before any login is created.
	ui := lp.(bridgev2.LoginProcessUserInput)
	for _, bad := range []string{"", "Alice Smith", string(EchoUserID)} {
		if _, err := ui.SubmitUserInput(ctx, map[string]string{"username": bad}); err == nil {
			t.Errorf("SubmitUserInput accepted %q", bad)
		}
	}
	lp.Cancel()
}

func TestChatInfoListsParticipants(t *testing.T) {
	ctx := context.Background()
	n := New()
	alice := newLogin(t, n, "alice")
	bob := newLogin(t, n, "bob")
	n.join("room1", "alice", "carol")
	n.join("room1", "bob", "carol")

	if !alice.IsThisUser(ctx, "alice") || alice.IsThisUser(ctx, "carol") || alice.IsThisUser(ctx, "bob") {
		t.Error("alice's IsThisUser is wrong")
	}
	if alice.GetUserID() != "alice" {
		t.Errorf("GetUserID() = %q", alice.GetUserID())
	}

	info, err := alice.GetChatInfo(ctx, portal("room1"))
	if err != nil {
		t.Fatal(err)
	}
	if info.Name == nil || *info.Name != "Test chat room1" {
		t.Errorf("name = %v", info.Name)
	}
	if info.Type == nil || *info.Type != database.RoomTypeDefault {
		t.Errorf("type = %v, want a group", info.Type)
	}
	m := info.Members
	if m == nil || !m.IsFull || len(m.MemberMap) != 3 || m.TotalMemberCount != 3 {
		t.Fatalf("members = %+v, want the full list of alice, carol, bob", m)
	}
	if me := m.MemberMap["alice"]; !me.IsFromMe || me.SenderLogin != "alice" || me.Membership != event.MembershipJoin {
		t.Errorf("alice = %+v, want IsFromMe", me)
	}
	for _, other := range []networkid.UserID{"carol", "bob"} {
		if mem, ok := m.MemberMap[other]; !ok || mem.IsFromMe || mem.SenderLogin != networkid.UserLoginID(other) {
			t.Errorf("%s = %+v (present %v), want a remote member with SenderLogin", other, mem, ok)
		}
	}

	// The same chat from bob's side: bob is "me", alice is a remote member.
	info, err = bob.GetChatInfo(ctx, portal("room1"))
	if err != nil {
		t.Fatal(err)
	}
	if !info.Members.MemberMap["bob"].IsFromMe || info.Members.MemberMap["alice"].IsFromMe {
		t.Errorf("bob's view = %+v", info.Members.MemberMap)
	}

	// A chat nobody spoke in yet still has the login itself.
	info, _ = alice.GetChatInfo(ctx, portal("empty"))
	if len(info.Members.MemberMap) != 1 || !info.Members.MemberMap["alice"].IsFromMe {
		t.Errorf("empty chat members = %+v", info.Members.MemberMap)
	}

	ui, err := alice.GetUserInfo(ctx, &bridgev2.Ghost{Ghost: &database.Ghost{ID: "carol"}})
	if err != nil || ui.Name == nil || *ui.Name != "Remote carol" {
		t.Errorf("GetUserInfo(carol) = %+v, %v", ui, err)
	}
}

func TestMatrixMessageIsReceivedAndEchoed(t *testing.T) {
	ctx := context.Background()
	n := New()
	n.Config.EchoPrefix = "echo: "
	alice := newLogin(t, n, "alice")
	p := portal("room1")
	send := func(eventID id.EventID, body string) *bridgev2.MatrixMessageResponse {
		t.Helper()
		resp, err := alice.HandleMatrixMessage(ctx, &bridgev2.MatrixMessage{
			MatrixEventBase: bridgev2.MatrixEventBase[*event.MessageEventContent]{
				Event:   &event.Event{ID: eventID, Sender: "@alice:example.org", RoomID: p.MXID},
				Content: &event.MessageEventContent{MsgType: event.MsgText, Body: body},
				Portal:  p,
			},
		})
		if err != nil {
			t.Fatalf("HandleMatrixMessage: %v", err)
		}
		return resp
	}

	first := send("$one", "hello")
	got := <-n.Received()
	want := MatrixMessage{
		LoginID: "alice", PortalID: "room1", RoomID: p.MXID, EventID: "$one",
		Sender: "@alice:example.org", MsgType: event.MsgText, Body: "hello", MessageID: first.DB.ID,
	}
	if got != want {
		t.Errorf("received %+v\nwant     %+v", got, want)
	}
	if len(alice.outbox) != 0 {
		t.Errorf("echo is off but %d replies were queued", len(alice.outbox))
	}

	n.SetEchoReplies(true)
	second := send("$two", "again")
	<-n.Received()
	if first.DB.ID == "" || first.DB.ID == second.DB.ID {
		t.Errorf("message IDs %q and %q are not unique", first.DB.ID, second.DB.ID)
	}
	if second.DB.SenderID != "alice" {
		t.Errorf("saved sender = %q, want alice", second.DB.SenderID)
	}
	if len(alice.outbox) != 1 {
		t.Fatalf("queued %d echo replies, want 1", len(alice.outbox))
	}
	reply := alice.outbox[0].(*simplevent.Message[string])
	if reply.GetPortalKey() != p.PortalKey || !reply.ShouldCreatePortal() || reply.GetType() != bridgev2.RemoteEventMessage {
		t.Errorf("reply meta = %+v", reply.EventMeta)
	}
	if s := reply.GetSender(); s.Sender != EchoUserID || s.IsFromMe {
		t.Errorf("reply sender = %+v, want the echo user", s)
	}
	conv, err := reply.ConvertMessage(ctx, p, nil)
	if err != nil || len(conv.Parts) != 1 || conv.Parts[0].Content.Body != "echo: again" || conv.Parts[0].Content.MsgType != event.MsgText {
		t.Errorf("reply converts to %+v, %v", conv, err)
	}
	// The echo user and alice now belong to the chat.
	info, _ := alice.GetChatInfo(ctx, p)
	if _, ok := info.Members.MemberMap[EchoUserID]; !ok {
		t.Errorf("echo user missing from members %+v", info.Members.MemberMap)
	}
}

func TestConnectLifecycle(t *testing.T) {
	n := New()
	alice := newLogin(t, n, "alice")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := n.WaitLogin(ctx, "alice"); err == nil {
		t.Fatal("WaitLogin returned before Connect")
	}
	if err := n.SendRemote(context.Background(), "alice", "room1", "carol", "hi"); err == nil {
		t.Error("SendRemote worked on a disconnected login")
	}

	alice.Connect(context.Background())
	alice.Connect(context.Background()) // a second Connect is a no-op
	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ul, err := n.WaitLogin(ctx, "alice")
	if err != nil || ul.ID != "alice" {
		t.Fatalf("WaitLogin = %v, %v", ul, err)
	}
	if err := n.SendRemote(ctx, "alice", "room1", "Not Valid", "hi"); err == nil {
		t.Error("SendRemote accepted an invalid sender")
	}
	done := alice.done
	n.Stop()
	select {
	case <-done:
	default:
		t.Error("delivery goroutine still running after Stop")
	}
	if alice.isConnected() {
		t.Error("still connected after Stop")
	}

	alice.Connect(context.Background())
	alice.LogoutRemote(context.Background())
	if alice.IsLoggedIn() || alice.isConnected() || n.client("alice") != nil {
		t.Error("login survived LogoutRemote")
	}
}
