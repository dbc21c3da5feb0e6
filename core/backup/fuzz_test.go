package backup_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/backup"
)

// FuzzParseKeyData feeds arbitrary KeyBackupData to the parser: a key or a
// 4xx Matrix error, never a panic.
func FuzzParseKeyData(f *testing.F) {
	for _, s := range []string{
		`{"first_message_index":1,"forwarded_count":0,"is_verified":true,"session_data":{"ephemeral":"e","ciphertext":"c","mac":"m"}}`,
		`{"first_message_index":1e3,"forwarded_count":null,"is_verified":"yes","session_data":{}}`,
		`{}`, `[]`, `x`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := backup.ParseKeyData(json.RawMessage(data))
		if err != nil {
			var me *httpx.Error
			if !errors.As(err, &me) || me.Status != 400 {
				t.Fatalf("error %v is not a 400 Matrix error", err)
			}
			return
		}
		if !json.Valid(k.SessionData) || k.FirstMessageIndex < 0 || k.ForwardedCount < 0 {
			t.Fatalf("accepted bad key data %+v", k)
		}
	})
}
