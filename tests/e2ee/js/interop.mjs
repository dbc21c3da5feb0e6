// A matrix-js-sdk client with its Rust crypto (in memory), driven by
// tests/e2ee/jsinterop_test.go over stdin/stdout, one JSON object per line.
//
// Environment: HS_URL, USER (localpart), PASSWORD, ROOM_ID (the room it is
// invited to), PEER (the user whose messages it reports).
// Out: {"ready":{"device_id":...}}, {"got":{"body":...,"sender":...}},
//      {"sent":{"body":...,"event_id":...}}, {"error":...}.
// In:  {"send":"text"}, {"quit":true}.
import "fake-indexeddb/auto";
import * as readline from "node:readline";
import * as sdk from "matrix-js-sdk";
import { logger } from "matrix-js-sdk/lib/logger.js";

const env = (name) => {
    const v = process.env[name];
    if (!v) throw new Error(`missing ${name}`);
    return v;
};
const out = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
logger.setLevel(process.env.JS_LOG_LEVEL || "warn");

async function main() {
    const baseUrl = env("HS_URL");
    const roomId = env("ROOM_ID");
    const peer = env("PEER");
    const login = await sdk.createClient({ baseUrl }).loginRequest({
        type: "m.login.password",
        identifier: { type: "m.id.user", user: env("USER") },
        password: env("PASSWORD"),
        initial_device_display_name: "matrix-js-sdk interop",
    });
    const client = sdk.createClient({
        baseUrl, userId: login.user_id, accessToken: login.access_token, deviceId: login.device_id,
    });
    await client.initRustCrypto({ useIndexedDB: false });

    const reported = new Set();
    const report = (ev) => {
        if (ev.getSender() !== peer || ev.getRoomId() !== roomId || ev.getType() !== "m.room.message") return;
        if (reported.has(ev.getId())) return;
        reported.add(ev.getId());
        out({ got: { body: ev.getContent().body, sender: ev.getSender(), encrypted: ev.isEncrypted(), event_id: ev.getId() } });
    };
    client.on(sdk.MatrixEventEvent.Decrypted, (ev) => {
        if (!ev.isDecryptionFailure()) report(ev);
    });
    client.on(sdk.RoomEvent.Timeline, (ev) => {
        if (!ev.isEncrypted()) report(ev);
        else if (!ev.isBeingDecrypted() && !ev.isDecryptionFailure() && ev.getClearContent()) report(ev);
    });

    const synced = new Promise((resolve, reject) => {
        client.on(sdk.ClientEvent.Sync, (state) => {
            if (state === "PREPARED" || state === "SYNCING") resolve();
            if (state === "ERROR") reject(new Error("sync error"));
        });
    });
    await client.startClient({ initialSyncLimit: 20 });
    await synced;
    await client.joinRoom(roomId);
    for (let i = 0; i < 200 && !(await client.getCrypto().isEncryptionEnabledInRoom(roomId)); i++) {
        await new Promise((r) => setTimeout(r, 50));
    }
    if (!(await client.getCrypto().isEncryptionEnabledInRoom(roomId))) throw new Error("room never showed as encrypted");
    // Our keys must be on the server before the peer can encrypt to us.
    for (let i = 0; i < 200; i++) {
        const keys = await client.downloadKeysForUsers([login.user_id]);
        if (keys.device_keys?.[login.user_id]?.[login.device_id]) break;
        await new Promise((r) => setTimeout(r, 50));
    }
    out({ ready: { device_id: login.device_id } });

    const rl = readline.createInterface({ input: process.stdin });
    for await (const line of rl) {
        if (!line.trim()) continue;
        const cmd = JSON.parse(line);
        if (cmd.quit) break;
        if (cmd.send !== undefined) {
            const res = await client.sendMessage(roomId, { msgtype: "m.text", body: cmd.send });
            out({ sent: { body: cmd.send, event_id: res.event_id } });
        }
    }
    client.stopClient();
    process.exit(0);
}

main().catch((err) => {
    out({ error: String(err && err.stack ? err.stack : err) });
    process.exit(1);
});
