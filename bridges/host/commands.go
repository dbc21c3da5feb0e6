package host

import (
	"maunium.net/go/mautrix/bridgev2/commands"
)

// doublePuppetCommand is `double-puppet on|off`: the user's own opt-in to
// native double puppeting for this bridge. Sending it proves who they are
// (it is their Matrix message), so no token changes hands.
func (b *hosted) doublePuppetCommand() *commands.FullHandler {
	return &commands.FullHandler{
		Name: "double-puppet",
		Help: commands.HelpMeta{
			Section:     commands.HelpSectionAuth,
			Description: "Let the bridge post what you send on the remote network as your own Matrix account (on), or stop it (off).",
			Args:        "<on|off>",
		},
		RequiresLoginPermission: true,
		Func: func(ce *commands.Event) {
			name := b.settings.Def.Name
			switch b.settings.DoublePuppet {
			case DoublePuppetOff:
				ce.Reply("Double puppeting is turned off for this bridge by the server admin.")
				return
			case DoublePuppetAll:
				ce.Reply("Double puppeting is on for every user of this server; there is nothing to opt into.")
				return
			}
			if len(ce.Args) != 1 || (ce.Args[0] != "on" && ce.Args[0] != "off") {
				ce.Reply("Usage: `$cmdprefix double-puppet on` or `$cmdprefix double-puppet off`")
				return
			}
			on := ce.Args[0] == "on"
			if b.host.opts.Consent == nil {
				ce.Reply("This server cannot record double puppeting consent.")
				return
			}
			if err := b.host.opts.Consent.SetDoublePuppet(ce.Ctx, ce.User.MXID, name, on); err != nil {
				ce.Log.Err(err).Msg("Failed to record double puppeting consent")
				ce.Reply("Failed to save that; try again later.")
				return
			}
			// Forget the cached (possibly failed) double puppet so the next
			// use sets it up again under the new consent.
			ce.User.LogoutDoublePuppet(ce.Ctx)
			if on {
				if ce.User.DoublePuppet(ce.Ctx) == nil {
					ce.Reply("Consent saved, but double puppeting could not be set up; ask the server admin to check the logs.")
					return
				}
				ce.Reply("Double puppeting is on: what you send on the remote network now appears as your own Matrix account.")
			} else {
				ce.Reply("Double puppeting is off.")
			}
		},
	}
}
