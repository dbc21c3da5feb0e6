package main

import (
	"context"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/appservice"
	"github.com/gatehouse-chat/gatehouse/core/accounts"
	"github.com/gatehouse-chat/gatehouse/core/keys"
	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/todevice"
)

// asKeyCounts gives MSC3202 appservices the one-time key counts and unused
// fallback key types of their users' devices, from the keys domain.
type asKeyCounts struct {
	acc  *accounts.Service
	keys *keys.Service
}

var _ appservice.KeyCounts = asKeyCounts{}

func (a asKeyCounts) each(ctx context.Context, users []id.UserID, fn func(u id.UserID, d id.DeviceID, otks map[string]int, fallback []string)) error {
	for _, u := range users {
		devices, err := a.acc.Devices(ctx, u)
		if err != nil {
			return err
		}
		for _, d := range devices {
			otks, fallback, err := a.keys.DeviceKeyCounts(ctx, u, d.DeviceID)
			if err != nil {
				return err
			}
			fn(u, d.DeviceID, otks, fallback)
		}
	}
	return nil
}

func (a asKeyCounts) OneTimeKeyCounts(ctx context.Context, users []id.UserID) (map[id.UserID]map[id.DeviceID]map[id.KeyAlgorithm]int, error) {
	out := map[id.UserID]map[id.DeviceID]map[id.KeyAlgorithm]int{}
	err := a.each(ctx, users, func(u id.UserID, d id.DeviceID, otks map[string]int, _ []string) {
		counts := map[id.KeyAlgorithm]int{}
		for alg, n := range otks {
			counts[id.KeyAlgorithm(alg)] = n
		}
		if out[u] == nil {
			out[u] = map[id.DeviceID]map[id.KeyAlgorithm]int{}
		}
		out[u][d] = counts
	})
	return out, err
}

func (a asKeyCounts) UnusedFallbackKeyTypes(ctx context.Context, users []id.UserID) (map[id.UserID]map[id.DeviceID][]id.KeyAlgorithm, error) {
	out := map[id.UserID]map[id.DeviceID][]id.KeyAlgorithm{}
	err := a.each(ctx, users, func(u id.UserID, d id.DeviceID, _ map[string]int, fallback []string) {
		algs := make([]id.KeyAlgorithm, 0, len(fallback))
		for _, f := range fallback {
			algs = append(algs, id.KeyAlgorithm(f))
		}
		if out[u] == nil {
			out[u] = map[id.DeviceID][]id.KeyAlgorithm{}
		}
		out[u][d] = algs
	})
	return out, err
}

// queueToDeviceForAppServices hands queued to-device copies to the pusher
// inside the same transaction, so an offline appservice loses none.
func queueToDeviceForAppServices(p *appservice.Pusher) func(context.Context, *storage.Tx, int64, []todevice.Queued) error {
	return func(ctx context.Context, tx *storage.Tx, pos int64, msgs []todevice.Queued) error {
		out := make([]appservice.ToDeviceMessage, len(msgs))
		for i, m := range msgs {
			out[i] = appservice.ToDeviceMessage{Sender: m.Sender, Type: m.Type, Content: m.Content, ToUser: m.ToUser, ToDevice: m.ToDevice}
		}
		return p.QueueToDevice(ctx, tx, pos, out)
	}
}
