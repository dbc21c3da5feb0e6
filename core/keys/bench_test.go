package keys_test

import (
	"fmt"
	"testing"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/keys"
	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/storage/storagetest"
)

// forEachBenchDB runs a benchmark on SQLite and, when configured, PostgreSQL.
func forEachBenchDB(b *testing.B, fn func(b *testing.B, db *storage.DB)) {
	b.Run("sqlite", func(b *testing.B) { fn(b, storagetest.NewSQLite(b)) })
	b.Run("postgres", func(b *testing.B) { fn(b, storagetest.NewPostgres(b)) })
}

// BenchmarkQuery100Users3Devices is /keys/query for 100 users with 3
// devices each, all cross-signed (target: 20 ms).
func BenchmarkQuery100Users3Devices(b *testing.B) {
	forEachBenchDB(b, func(b *testing.B, db *storage.DB) {
		e := newEnv(b, db)
		req := map[id.UserID][]id.DeviceID{}
		for i := 0; i < 100; i++ {
			u := e.user(fmt.Sprintf("user%03d", i))
			req[u] = nil
			for j := 0; j < 3; j++ {
				d := e.device(u, fmt.Sprintf("DEV%d", j))
				if _, err := e.keys.Upload(e.ctx, u, d.id, keys.UploadRequest{DeviceKeys: d.deviceKeys()}); err != nil {
					b.Fatal(err)
				}
			}
			if err := e.keys.UploadCrossSigning(e.ctx, u, newCrossKeys(u).request()); err != nil {
				b.Fatal(err)
			}
		}
		viewer := id.UserID("@user000:test.local")
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			raw, err := e.keys.Query(e.ctx, viewer, req)
			if err != nil || len(raw) < 100*3*300 {
				b.Fatalf("%d bytes, %v", len(raw), err)
			}
		}
	})
}

// BenchmarkClaim100Devices is /keys/claim for one key each of 100 devices
// (target: 20 ms).
func BenchmarkClaim100Devices(b *testing.B) {
	forEachBenchDB(b, func(b *testing.B, db *storage.DB) {
		e := newEnv(b, db)
		req := map[id.UserID]map[id.DeviceID]string{}
		var devs []*device
		for i := 0; i < 50; i++ {
			u := e.user(fmt.Sprintf("user%03d", i))
			req[u] = map[id.DeviceID]string{}
			for j := 0; j < 2; j++ {
				d := e.device(u, fmt.Sprintf("DEV%d", j))
				req[u][d.id] = "signed_curve25519"
				devs = append(devs, d)
			}
		}
		// Enough one-time keys for every iteration, inserted directly.
		n := b.N + 1
		for _, d := range devs {
			for start := 0; start < n; start += 200 {
				err := db.InTx(e.ctx, func(tx *storage.Tx) error {
					for k := start; k < min(start+200, n); k++ {
						if _, err := tx.Exec(e.ctx, `INSERT INTO e2e_one_time_keys (user_id, device_id, algorithm, key_id, key_json)
							VALUES ($1, $2, 'signed_curve25519', $3, $4)`, d.user, d.id, fmt.Sprintf("K%08d", k),
							`{"key":"zKbLg+NrIjpnagy+pIY6uPL4ZwEG2v+8F9lmgsnlZzs","signatures":{}}`); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			raw, err := e.keys.Claim(e.ctx, req)
			if err != nil || len(raw) < 100*100 {
				b.Fatalf("%s, %v", raw, err)
			}
		}
	})
}
