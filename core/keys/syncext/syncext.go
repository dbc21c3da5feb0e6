// Package syncext plugs the E2EE sections into /sync: to_device (from
// core/todevice), device_lists, device_one_time_keys_count and
// device_unused_fallback_key_types (from core/keys). It is a separate
// package so that core/keys and core/todevice do not depend on core/sync.
package syncext

import (
	"context"
	"encoding/json"

	"github.com/gatehouse-chat/gatehouse/core/keys"
	gsync "github.com/gatehouse-chat/gatehouse/core/sync"
	"github.com/gatehouse-chat/gatehouse/core/todevice"
)

// Extension is the gsync.Extension serving the E2EE sections.
type Extension struct {
	Keys     *keys.Service
	ToDevice *todevice.Service
}

var _ gsync.Extension = (*Extension)(nil)

// New returns the extension; register it with gsync.Service.AddExtension.
func New(k *keys.Service, td *todevice.Service) *Extension {
	return &Extension{Keys: k, ToDevice: td}
}

// Sync computes the sections for one /sync. To-device messages and device
// list changes are news that ends a long poll; key counts are not, as they
// only change through the device's own uploads and others' claims.
func (e *Extension) Sync(ctx context.Context, req *gsync.ExtensionRequest) (map[string]json.RawMessage, bool, error) {
	sec, err := keys.ComputeSync(ctx, e.Keys, e.ToDevice, keys.SyncRequest{
		UserID: req.UserID, DeviceID: req.DeviceID, Since: req.Since, Upto: req.Upto,
	})
	if err != nil {
		return nil, false, err
	}
	return sec.Fields(), sec.News(), nil
}
