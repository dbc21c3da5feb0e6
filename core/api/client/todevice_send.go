package client

import (
	"encoding/json"
	"io"
	"net/http"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/todevice"
)

// maxToDeviceBody bounds a /sendToDevice body. Sharing a room key with a
// large room sends one encrypted message per device in one request, which
// outgrows the usual 1 MiB; each message is still limited to 64 KiB.
const maxToDeviceBody = 16 << 20

type toDeviceAPI struct {
	td *todevice.Service
}

// RegisterToDevice adds PUT /sendToDevice.
func RegisterToDevice(rt *httpx.Router, td *todevice.Service) {
	h := &toDeviceAPI{td: td}
	rt.Authed("PUT /_matrix/client/v3/sendToDevice/{eventType}/{txnId}", h.send)
}

// PUT /_matrix/client/v3/sendToDevice/{eventType}/{txnId} queues messages
// for other devices; retrying with the same txnId queues nothing more.
func (h *toDeviceAPI) send(r *http.Request) (any, error) {
	data, err := io.ReadAll(io.LimitReader(r.Body, maxToDeviceBody+1))
	if err != nil {
		return nil, httpx.BadRequest("Failed to read request body: %v", err)
	}
	if len(data) > maxToDeviceBody {
		return nil, httpx.TooLarge("Request body is larger than %d bytes", maxToDeviceBody)
	}
	var body struct {
		Messages map[id.UserID]map[string]json.RawMessage `json:"messages"`
	}
	if err := httpx.DecodeBytes(data, &body); err != nil {
		return nil, err
	}
	if body.Messages == nil {
		return nil, httpx.MissingParam("Missing messages")
	}
	c := httpx.CallerFrom(r)
	err = h.td.Send(r.Context(), todevice.SendRequest{
		Sender: c.UserID, SenderDevice: c.DeviceID, Type: r.PathValue("eventType"), TxnID: r.PathValue("txnId"),
		Messages: body.Messages,
	})
	if err != nil {
		return nil, err
	}
	return httpx.Empty, nil
}
