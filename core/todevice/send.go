package todevice

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"

	"github.com/tidwall/gjson"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/stream"
)

// SendRequest is one PUT /sendToDevice.
type SendRequest struct {
	Sender       id.UserID
	SenderDevice id.DeviceID
	Type         string
	TxnID        string
	// Messages maps target user -> device ID or "*" -> content.
	Messages map[id.UserID]map[string]json.RawMessage
}

// target is one queued copy of a message.
type target struct {
	user   id.UserID
	device id.DeviceID
	event  []byte
}

// Send queues the request's messages. It is idempotent per (sender, sender
// device, transaction ID). Messages for unknown devices are dropped, as are
// messages for remote users (there is no federation yet). NOTSPEC: a device
// whose queue is full silently misses the message, so one abandoned device
// cannot stop a user from sharing room keys with everyone else; only when
// every target is full does the request fail with M_LIMIT_EXCEEDED.
func (s *Service) Send(ctx context.Context, req SendRequest) error {
	if req.Type == "" || len(req.Type) > 255 {
		return httpx.InvalidParam("Event type must be 1 to 255 bytes long")
	}
	if req.TxnID == "" || len(req.TxnID) > 255 {
		return httpx.InvalidParam("Transaction ID must be 1 to 255 bytes long")
	}
	if dup, err := s.seenTxn(ctx, req); err != nil || dup {
		return err
	}
	targets, err := s.expand(ctx, req)
	if err != nil || len(targets) == 0 {
		return err
	}
	targets, err = s.dropFull(ctx, targets)
	if err != nil {
		return err
	}
	users := make([]string, 0, len(req.Messages))
	for _, t := range targets {
		if !slices.Contains(users, string(t.user)) {
			users = append(users, string(t.user))
		}
	}
	now := s.opts.Now().UnixMilli()
	_, err = s.w.Submit(ctx, stream.Change{Kind: stream.KindToDevice, UserIDs: users},
		func(ctx context.Context, tx *storage.Tx, pos int64) error {
			if err := s.insert(ctx, tx, req, targets, pos, now); err != nil {
				return err
			}
			if s.opts.OnQueue == nil {
				return nil
			}
			msgs := make([]Queued, len(targets))
			for i, t := range targets {
				msgs[i] = Queued{Sender: req.Sender, Type: req.Type, ToUser: t.user, ToDevice: t.device,
					Content: json.RawMessage(gjson.GetBytes(t.event, "content").Raw)}
			}
			return s.opts.OnQueue(ctx, tx, pos, msgs)
		})
	if errors.Is(err, errDuplicate) {
		return nil
	}
	return err
}

func (s *Service) seenTxn(ctx context.Context, req SendRequest) (bool, error) {
	var one int
	err := s.db.QueryRow(ctx, `SELECT 1 FROM to_device_txns WHERE user_id = $1 AND device_id = $2 AND txn_id = $3`,
		req.Sender, req.SenderDevice, req.TxnID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// expand validates the messages and turns them into one target per
// existing device, reading the targets' devices with one query.
func (s *Service) expand(ctx context.Context, req SendRequest) ([]target, error) {
	var local []id.UserID
	for user, byDevice := range req.Messages {
		_, server, err := user.Parse()
		if err != nil || user[0] != '@' {
			return nil, httpx.InvalidParam("Invalid user ID %q", user)
		}
		for device, content := range byDevice {
			if device == "" {
				return nil, httpx.InvalidParam("Empty device ID for %s", user)
			}
			if err := checkContent(content); err != nil {
				return nil, err
			}
		}
		if server == s.serverName {
			local = append(local, user)
		}
	}
	devices, err := s.devicesOf(ctx, local)
	if err != nil {
		return nil, err
	}
	var out []target
	for _, user := range local {
		byDevice := req.Messages[user]
		for _, device := range devices[user] {
			content, ok := byDevice[string(device)]
			if !ok {
				content, ok = byDevice["*"]
			}
			if !ok {
				continue
			}
			ev, err := renderEvent(req.Sender, req.Type, content)
			if err != nil {
				return nil, err
			}
			out = append(out, target{user: user, device: device, event: ev})
		}
	}
	return out, nil
}

func checkContent(content json.RawMessage) error {
	if len(content) > MaxMessageSize {
		return httpx.TooLarge("To-device message content is larger than %d bytes", MaxMessageSize)
	}
	trimmed := bytes.TrimSpace(content)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return httpx.BadJSON("To-device message content must be a JSON object")
	}
	return nil
}

func renderEvent(sender id.UserID, typ string, content json.RawMessage) ([]byte, error) {
	var compact bytes.Buffer
	if err := json.Compact(&compact, content); err != nil {
		return nil, httpx.BadJSON("To-device message content is not valid JSON")
	}
	return json.Marshal(struct {
		Content json.RawMessage `json:"content"`
		Sender  id.UserID       `json:"sender"`
		Type    string          `json:"type"`
	}{compact.Bytes(), sender, typ})
}

// devicesOf returns each user's device IDs.
func (s *Service) devicesOf(ctx context.Context, users []id.UserID) (map[id.UserID][]id.DeviceID, error) {
	out := make(map[id.UserID][]id.DeviceID, len(users))
	for start := 0; start < len(users); start += maxIn {
		chunk := users[start:min(start+maxIn, len(users))]
		args := make([]any, len(chunk))
		for i, u := range chunk {
			args[i] = u
		}
		rows, err := s.db.Query(ctx, `SELECT user_id, device_id FROM devices WHERE user_id IN (`+
			storage.Placeholders(1, len(chunk))+`) ORDER BY user_id, device_id`, args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var u id.UserID
			var d id.DeviceID
			if err := rows.Scan(&u, &d); err != nil {
				rows.Close()
				return nil, err
			}
			out[u] = append(out[u], d)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// dropFull removes targets whose queue is full.
func (s *Service) dropFull(ctx context.Context, targets []target) ([]target, error) {
	users := map[id.UserID]bool{}
	var args []any
	for _, t := range targets {
		if !users[t.user] {
			users[t.user] = true
			args = append(args, t.user)
		}
	}
	full := map[[2]string]bool{}
	for start := 0; start < len(args); start += maxIn {
		chunk := args[start:min(start+maxIn, len(args))]
		query := `SELECT user_id, device_id FROM to_device_messages WHERE user_id IN (` +
			storage.Placeholders(2, len(chunk)) + `) GROUP BY user_id, device_id HAVING COUNT(*) >= $1`
		rows, err := s.db.Query(ctx, query, append([]any{s.opts.MaxPerDevice}, chunk...)...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var u, d string
			if err := rows.Scan(&u, &d); err != nil {
				rows.Close()
				return nil, err
			}
			full[[2]string{u, d}] = true
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, err
		}
	}
	if len(full) == 0 {
		return targets, nil
	}
	kept := targets[:0]
	for _, t := range targets {
		if full[[2]string{string(t.user), string(t.device)}] {
			s.log.Warn().Stringer("user_id", t.user).Stringer("device_id", t.device).Msg("To-device queue full; dropping message")
			continue
		}
		kept = append(kept, t)
	}
	if len(kept) == 0 {
		return nil, httpx.NewError(http.StatusTooManyRequests, "M_LIMIT_EXCEEDED",
			"The target devices have too many undelivered to-device messages").With("retry_after_ms", int64(60000))
	}
	return kept, nil
}

// maxIn bounds IN lists; rowsPerInsert bounds multi-row inserts.
const (
	maxIn         = 500
	rowsPerInsert = 100
)

func (s *Service) insert(ctx context.Context, tx *storage.Tx, req SendRequest, targets []target, pos, now int64) error {
	rows, err := tx.Query(ctx, `INSERT INTO to_device_txns (user_id, device_id, txn_id, created_ts) VALUES ($1, $2, $3, $4)
		ON CONFLICT (user_id, device_id, txn_id) DO NOTHING RETURNING 1`, req.Sender, req.SenderDevice, req.TxnID, now)
	if err != nil {
		return err
	}
	inserted := rows.Next()
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if !inserted {
		return errDuplicate
	}
	for start := 0; start < len(targets); start += rowsPerInsert {
		chunk := targets[start:min(start+rowsPerInsert, len(targets))]
		args := make([]any, 0, len(chunk)*5+1)
		args = append(args, pos)
		var b bytes.Buffer
		b.WriteString(`INSERT INTO to_device_messages (user_id, device_id, stream_pos, seq, event) VALUES `)
		for i, t := range chunk {
			if i > 0 {
				b.WriteString(", ")
			}
			n := len(args)
			b.WriteString("($" + strconv.Itoa(n+1) + ", $" + strconv.Itoa(n+2) + ", $1, $" + strconv.Itoa(n+3) + ", $" + strconv.Itoa(n+4) + ")")
			args = append(args, t.user, t.device, start+i, string(t.event))
		}
		if _, err := tx.Exec(ctx, b.String(), args...); err != nil {
			return err
		}
	}
	// Forget old transaction IDs of this sender device while we are here.
	_, err = tx.Exec(ctx, `DELETE FROM to_device_txns WHERE user_id = $1 AND device_id = $2 AND created_ts < $3`,
		req.Sender, req.SenderDevice, now-txnLifetime.Milliseconds())
	return err
}
