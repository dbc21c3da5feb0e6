package e2ee

import (
	"encoding/base64"
	"encoding/json"
	"testing"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/crypto/backup"
	"maunium.net/go/mautrix/crypto/ssss"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// TestRecoveryFromKeyBackup: alice sets up cross-signing and key backup
// with a recovery key (secret storage in account data, keys in
// /room_keys), exchanges encrypted messages, loses her device, logs in on a
// new one, restores everything from the recovery key alone and decrypts the
// old messages.
func TestRecoveryFromKeyBackup(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		s := startServer(t, backend)
		ctx := t.Context()
		alice, bob := newMXClient(t, s, "alice"), newMXClient(t, s, "bob")
		mach := alice.helper.Machine()

		recoveryKey, err := mach.GenerateAndVerifyWithRecoveryKey(ctx)
		if err != nil {
			t.Fatalf("set up cross-signing: %v", err)
		}
		key := ssssKey(t, alice, recoveryKey)
		backupKey, err := backup.NewMegolmBackupKey()
		if err != nil {
			t.Fatal(err)
		}
		if err := mach.SSSS.SetEncryptedAccountData(ctx, event.AccountDataMegolmBackupKey, backupKey.Bytes(), key); err != nil {
			t.Fatalf("store the backup key in secret storage: %v", err)
		}
		created, err := alice.CreateKeyBackupVersion(ctx, &mautrix.ReqRoomKeysVersionCreate[backup.MegolmAuthData]{
			Algorithm: id.KeyBackupAlgorithmMegolmBackupV1,
			AuthData:  backup.MegolmAuthData{PublicKey: id.Ed25519(base64.RawStdEncoding.EncodeToString(backupKey.PublicKey().Bytes()))},
		})
		if err != nil {
			t.Fatalf("create backup version: %v", err)
		}

		room := alice.encryptedRoom(bob.UserID)
		bob.join(room)
		alice.waitMember(room, bob.UserID)
		alice.send(room, "old secret from alice")
		bob.waitMessage(room, "old secret from alice")
		bob.send(room, "old secret from bob")
		alice.waitMessage(room, "old secret from bob")
		if n := backUpRoomKeys(t, alice, room, created.Version, backupKey); n != 2 {
			t.Fatalf("backed up %d sessions, want 2 (alice's and bob's)", n)
		}

		// alice loses her device.
		alice.stop()
		if _, err := alice.Logout(ctx); err != nil {
			t.Fatal(err)
		}

		alice2 := loginMXClient(t, s, alice)
		old := encryptedHistory(t, alice2, room)
		if len(old) != 2 {
			t.Fatalf("found %d encrypted events in history, want 2", len(old))
		}
		if _, err := alice2.helper.Decrypt(ctx, old[0]); err == nil {
			t.Fatal("the new device decrypts old messages before restoring the backup")
		}

		// Everything comes back from the recovery key.
		mach2 := alice2.helper.Machine()
		if err := mach2.VerifyWithRecoveryKey(ctx, recoveryKey); err != nil {
			t.Fatalf("restore cross-signing with the recovery key: %v", err)
		}
		raw, err := mach2.SSSS.GetDecryptedAccountData(ctx, event.AccountDataMegolmBackupKey, ssssKey(t, alice2, recoveryKey))
		if err != nil {
			t.Fatalf("read the backup key from secret storage: %v", err)
		}
		backupKey2, err := backup.MegolmBackupKeyFromBytes(raw)
		if err != nil {
			t.Fatal(err)
		}
		version, err := mach2.DownloadAndStoreLatestKeyBackup(ctx, backupKey2)
		if err != nil || version != created.Version {
			t.Fatalf("restore key backup: version %q, %v", version, err)
		}
		bodies := map[string]bool{}
		for _, evt := range old {
			dec, err := alice2.helper.Decrypt(ctx, evt)
			if err != nil {
				t.Fatalf("decrypt %s after restore: %v", evt.ID, err)
			}
			bodies[dec.Content.AsMessage().Body] = true
		}
		if !bodies["old secret from alice"] || !bodies["old secret from bob"] {
			t.Fatalf("decrypted %v", bodies)
		}
		// The new device is cross-signed by the restored keys.
		own, err := mach2.GetOwnCrossSigningPublicKeys(ctx)
		if err != nil || own == nil {
			t.Fatalf("own cross-signing keys after restore: %v %v", own, err)
		}
	})
}

// ssssKey opens the default secret storage key with the recovery key.
func ssssKey(t *testing.T, c *mxClient, recoveryKey string) *ssss.Key {
	t.Helper()
	mach := c.helper.Machine()
	keyID, keyData, err := mach.SSSS.GetDefaultKeyData(t.Context())
	if err != nil {
		t.Fatalf("default secret storage key: %v", err)
	}
	key, err := keyData.VerifyRecoveryKey(keyID, recoveryKey)
	if err != nil {
		t.Fatalf("recovery key: %v", err)
	}
	return key
}

// backUpRoomKeys uploads every megolm session c holds for room to the
// backup, encrypted to the backup key, as a client does.
func backUpRoomKeys(t *testing.T, c *mxClient, room id.RoomID, version id.KeyBackupVersion, key *backup.MegolmBackupKey) int {
	t.Helper()
	sessions, err := c.helper.Machine().CryptoStore.GetGroupSessionsForRoom(t.Context(), room).AsList()
	if err != nil {
		t.Fatal(err)
	}
	req := &mautrix.ReqKeyBackup{Rooms: map[id.RoomID]mautrix.ReqRoomKeyBackup{room: {Sessions: map[id.SessionID]mautrix.ReqKeyBackupData{}}}}
	for _, igs := range sessions {
		first := igs.Internal.FirstKnownIndex()
		exported, err := igs.Internal.Export(first)
		if err != nil {
			t.Fatal(err)
		}
		enc, err := backup.EncryptSessionData(key, backup.MegolmSessionData{
			Algorithm: id.AlgorithmMegolmV1, ForwardingKeyChain: igs.ForwardingChains,
			SenderClaimedKeys: backup.SenderClaimedKeys{Ed25519: igs.SigningKey},
			SenderKey:         igs.SenderKey, SessionKey: string(exported),
		})
		if err != nil {
			t.Fatal(err)
		}
		data, _ := json.Marshal(enc)
		req.Rooms[room].Sessions[igs.ID()] = mautrix.ReqKeyBackupData{
			FirstMessageIndex: int(first), ForwardedCount: len(igs.ForwardingChains), IsVerified: true, SessionData: data,
		}
	}
	resp, err := c.PutKeysInBackup(t.Context(), version, req)
	if err != nil {
		t.Fatalf("upload keys to backup: %v", err)
	}
	if resp.Count != len(sessions) || resp.ETag == "" {
		t.Fatalf("backup answered count %d etag %q for %d sessions", resp.Count, resp.ETag, len(sessions))
	}
	return len(sessions)
}

// encryptedHistory returns the room's m.room.encrypted events, oldest first.
func encryptedHistory(t *testing.T, c *mxClient, room id.RoomID) []*event.Event {
	t.Helper()
	resp, err := c.Messages(t.Context(), room, "", "", mautrix.DirectionBackward, nil, 100)
	if err != nil {
		t.Fatalf("/messages: %v", err)
	}
	var out []*event.Event
	for i := len(resp.Chunk) - 1; i >= 0; i-- {
		evt := resp.Chunk[i]
		if evt.Type != event.EventEncrypted {
			continue
		}
		if err := evt.Content.ParseRaw(evt.Type); err != nil && !isAlreadyParsed(err) {
			t.Fatal(err)
		}
		out = append(out, evt)
	}
	return out
}

func isAlreadyParsed(err error) bool { return err == event.ErrContentAlreadyParsed }
