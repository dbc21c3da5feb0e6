package keys

import (
	"context"
	"database/sql"
	"encoding/json"
	"slices"
	"sort"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/storage"
)

// maxIn bounds IN lists so no query exceeds a driver's parameter limit.
const maxIn = 500

// Query answers POST /keys/query for viewer: the requested users' device
// keys (all devices for an empty list) with display names, their master and
// self-signing keys, viewer's own user-signing key, and failures for remote
// servers (there is no federation yet). The response is built as JSON
// directly, splicing the stored key objects.
func (s *Service) Query(ctx context.Context, viewer id.UserID, req map[id.UserID][]id.DeviceID) (json.RawMessage, error) {
	var local []id.UserID
	failures := map[string]bool{}
	for u := range req {
		if s.isLocal(u) {
			local = append(local, u)
		} else if _, server, err := u.Parse(); err == nil && server != "" {
			failures[server] = true
		}
	}
	slices.Sort(local)
	devices, err := s.queryDevices(ctx, local, req)
	if err != nil {
		return nil, err
	}
	cross, err := s.queryCrossSigning(ctx, viewer, local)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, 1024+len(local)*1500)
	b = append(b, `{"device_keys":{`...)
	for i, u := range local {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, string(u))
		b = append(b, ":{"...)
		for j, d := range devices[u] {
			if j > 0 {
				b = append(b, ',')
			}
			b = appendString(b, d.id)
			b = append(b, ':')
			b = appendWithUnsigned(b, d.json, d.name)
		}
		b = append(b, '}')
	}
	b = append(b, '}')
	for _, section := range []struct{ name, usage string }{
		{"master_keys", UsageMaster}, {"self_signing_keys", UsageSelfSigning}, {"user_signing_keys", UsageUserSigning},
	} {
		b = append(b, ',')
		b = appendString(b, section.name)
		b = append(b, ":{"...)
		first := true
		for _, u := range local {
			data, ok := cross[crossKey{u, section.usage}]
			if !ok {
				continue
			}
			if !first {
				b = append(b, ',')
			}
			first = false
			b = appendString(b, string(u))
			b = append(b, ':')
			b = append(b, data...)
		}
		b = append(b, '}')
	}
	b = append(b, `,"failures":{`...)
	servers := make([]string, 0, len(failures))
	for srv := range failures {
		servers = append(servers, srv)
	}
	sort.Strings(servers)
	for i, srv := range servers {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, srv)
		b = append(b, `:{"errcode":"M_UNRECOGNIZED","error":"Federation is not supported by this server"}`...)
	}
	b = append(b, "}}"...)
	return b, nil
}

type queriedDevice struct {
	id, json, name string
}

// queryDevices returns the stored device keys of users, restricted to the
// requested device IDs, ordered by device ID.
func (s *Service) queryDevices(ctx context.Context, users []id.UserID, req map[id.UserID][]id.DeviceID) (map[id.UserID][]queriedDevice, error) {
	out := make(map[id.UserID][]queriedDevice, len(users))
	for start := 0; start < len(users); start += maxIn {
		chunk := users[start:min(start+maxIn, len(users))]
		args := make([]any, len(chunk))
		for i, u := range chunk {
			args[i] = u
		}
		rows, err := s.db.Query(ctx, `SELECT k.user_id, k.device_id, k.key_json, d.display_name
			FROM e2e_device_keys k JOIN devices d ON d.user_id = k.user_id AND d.device_id = k.device_id
			WHERE k.user_id IN (`+storage.Placeholders(1, len(chunk))+`) ORDER BY k.user_id, k.device_id`, args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var u id.UserID
			var d queriedDevice
			var name sql.NullString
			if err := rows.Scan(&u, &d.id, &d.json, &name); err != nil {
				rows.Close()
				return nil, err
			}
			if want := req[u]; len(want) > 0 && !slices.Contains(want, id.DeviceID(d.id)) {
				continue
			}
			d.name = name.String
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

type crossKey struct {
	user  id.UserID
	usage string
}

// queryCrossSigning returns the users' cross-signing keys as viewer may see
// them: user-signing keys only viewer's own, and master keys carrying the
// signatures viewer's user-signing key made over them.
func (s *Service) queryCrossSigning(ctx context.Context, viewer id.UserID, users []id.UserID) (map[crossKey][]byte, error) {
	out := map[crossKey][]byte{}
	for start := 0; start < len(users); start += maxIn {
		chunk := users[start:min(start+maxIn, len(users))]
		args := make([]any, 0, len(chunk)+1)
		args = append(args, viewer)
		for _, u := range chunk {
			args = append(args, u)
		}
		in := storage.Placeholders(2, len(chunk))
		rows, err := s.db.Query(ctx, `SELECT user_id, key_type, key_json, public_key FROM e2e_cross_signing_keys
			WHERE user_id IN (`+in+`) AND (key_type <> 'user_signing' OR user_id = $1)`, args...)
		if err != nil {
			return nil, err
		}
		masters := map[id.UserID]string{}
		for rows.Next() {
			var k crossKey
			var data, pub string
			if err := rows.Scan(&k.user, &k.usage, &data, &pub); err != nil {
				rows.Close()
				return nil, err
			}
			out[k] = []byte(data)
			if k.usage == UsageMaster {
				masters[k.user] = pub
			}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, err
		}
		if err := s.addViewerSignatures(ctx, viewer, chunk, masters, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// addViewerSignatures merges the signatures viewer made over the users'
// current master keys.
func (s *Service) addViewerSignatures(ctx context.Context, viewer id.UserID, users []id.UserID, masters map[id.UserID]string, out map[crossKey][]byte) error {
	if len(masters) == 0 {
		return nil
	}
	args := make([]any, 0, len(users)+1)
	args = append(args, viewer)
	for _, u := range users {
		args = append(args, u)
	}
	rows, err := s.db.Query(ctx, `SELECT target_user, target_key, signer_key, signature FROM e2e_signatures
		WHERE signer_user = $1 AND target_user IN (`+storage.Placeholders(2, len(users))+`)`, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	extra := map[id.UserID]Signatures{}
	for rows.Next() {
		var target id.UserID
		var targetKey, signerKey, sig string
		if err := rows.Scan(&target, &targetKey, &signerKey, &sig); err != nil {
			return err
		}
		if masters[target] != targetKey {
			continue
		}
		if extra[target] == nil {
			extra[target] = Signatures{string(viewer): {}}
		}
		extra[target][string(viewer)][signerKey] = sig
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for target, sigs := range extra {
		k := crossKey{target, UsageMaster}
		obj, err := splitSigned(out[k])
		if err != nil {
			return err
		}
		merged, _ := mergeSignatures(obj.Signatures, sigs)
		if out[k], err = obj.withSignatures(merged); err != nil {
			return err
		}
	}
	return nil
}
