package sync

import (
	"context"
	"fmt"

	"github.com/gatehouse-chat/gatehouse/core/relations/bundle"
)

// Bundled aggregations (spec "Aggregations of child events"): events
// served by /sync, /messages, /context and /event carry unsigned
// "m.relations" with their latest edit, thread summary and references.
// core/relations/bundle computes them in a few batched queries per page;
// this file picks the events that get one and says, per room, which
// relations the viewer may see. The decorator splices the result in.

// relScope is what the viewer may see of one room's relations: nothing
// after upto, and of the rest what vis admits.
type relScope struct {
	upto int64
	// vis is nil for a /sync room whose timeline starts after the viewer
	// joined (its visibility was never loaded): relations after joined
	// count, older ones (which would predate their parent) do not.
	vis    *visibility
	joined int64
}

func (sc relScope) bundleScope() bundle.Scope {
	return bundle.Scope{Upto: sc.upto, Visible: func(c bundle.Child) bool {
		if sc.vis == nil {
			return c.Pos > sc.joined
		}
		return sc.vis.visible(&evRow{pos: c.Pos, id: c.EventID, room: c.RoomID, typ: c.Type, stateKey: c.StateKey, sender: c.Sender})
	}}
}

// bundleRelations loads the bundled aggregations of evs into d. State
// events get none: the spec leaves them out.
func (s *Service) bundleRelations(ctx context.Context, d *decorator, viewer string, evs []*evRow, scopes map[string]relScope) error {
	var parents []bundle.Parent
	for _, ev := range evs {
		if ev.isState() {
			continue
		}
		parents = append(parents, bundle.Parent{EventID: ev.id, RoomID: ev.room, Sender: ev.sender, Type: ev.typ,
			RelType: ev.relType, Redacted: ev.redactedBy != ""})
	}
	if len(parents) == 0 {
		return nil
	}
	bs := make(map[string]bundle.Scope, len(scopes))
	for room, sc := range scopes {
		bs[room] = sc.bundleScope()
	}
	rel, err := bundle.Load(ctx, s.db, &bundle.Request{Viewer: viewer, Now: d.now, Parents: parents, Scopes: bs})
	if err != nil {
		return fmt.Errorf("bundled aggregations: %w", err)
	}
	d.relations = rel
	return nil
}

// bundleRoom is bundleRelations for events of the one room a read
// endpoint (/messages, /context, /event) serves.
func (s *Service) bundleRoom(ctx context.Context, d *decorator, viewer string, a *access, evs []*evRow) error {
	return s.bundleRelations(ctx, d, viewer, evs, map[string]relScope{a.room: {upto: a.upto, vis: a.vis}})
}

// bundleTimelines loads the bundles of /sync timelines. As in Synapse, only
// limited timelines and rooms sent whole (initial sync, newly joined) get
// them: the spec asks for them "when the relevant section has a limited
// value of true", and otherwise the client already holds every relation of
// the events it is sent, so a long poll waking up costs no extra query.
func (c *computation) bundleTimelines(ctx context.Context, d *decorator) error {
	var evs []*evRow
	scopes := map[string]relScope{}
	for _, r := range c.res.rooms {
		if r.section == sectionInvite || len(r.timeline) == 0 || !(r.limited || r.full) {
			continue
		}
		evs = append(evs, r.timeline...)
		scopes[r.id] = relScope{upto: r.hi, vis: r.vis, joined: r.member.pos}
	}
	return c.s.bundleRelations(ctx, d, c.user, evs, scopes)
}
