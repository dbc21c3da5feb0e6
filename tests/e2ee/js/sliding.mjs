// interop.mjs over simplified sliding sync (MSC4186) instead of /v3/sync:
// a matrix-js-sdk client with its Rust crypto (in memory) whose rooms,
// to-device messages and device lists all arrive through
// /_matrix/client/unstable/org.matrix.simplified_msc3575/sync, driven by
// tests/e2ee/sliding_interop_test.go over stdin/stdout, one JSON object a line.
//
// Environment: HS_URL, USER (localpart), PASSWORD, ROOM_ID (the room it is
// invited to), PEER (the user whose messages it reports).
// Out: {"ready":{"device_id":...}}, {"got":{"body":...,"sender":...}},
//      {"sent":{"body":...,"event_id":...}}, {"error":...}.
// In:  {"send":"text"}, {"quit":true}.
import "fake-indexeddb/auto";
import * as readline from "node:readline";
import * as sdk from "matrix-js-sdk";
import { SlidingSync } from "matrix-js-sdk/lib/sliding-sync.js";
import { logger } from "matrix-js-sdk/lib/logger.js";

const env = (name) => {
    const v = process.env[name];
    if (!v) throw new Error(`missing ${name}`);
    return v;
};
const out = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
logger.setLevel(process.env.JS_LOG_LEVEL || "warn");

async function main() {
    const baseUrl = env("HS_URL");
    const roomId = env("ROOM_ID");
    const peer = env("PEER");
    const versions = await (await fetch(baseUrl + "/_matrix/client/versions")).json();
    if (versions.unstable_features?.["org.matrix.simplified_msc3575"] !== true) {
        throw new Error("the server does not advertise org.matrix.simplified_msc3575");
    }
    const login = await sdk.createClient({ baseUrl }).loginRequest({
        type: "m.login.password",
        identifier: { type: "m.id.user", user: env("USER") },
        password: env("PASSWORD"),
        initial_device_display_name: "matrix-js-sdk sliding sync",
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

    // One list of every room, as Element Web's sliding sync does, with the
    // state a client needs to render and encrypt.
    const lists = new Map([["all", {
        ranges: [[0, 19]],
        timeline_limit: 10,
        required_state: [["*", "*"]],
    }]]);
    const slidingSync = new SlidingSync(baseUrl, lists, { timeline_limit: 10, required_state: [["*", "*"]] }, client, 10000);
    const synced = new Promise((resolve, reject) => {
        client.on(sdk.ClientEvent.Sync, (state) => {
            if (state === "PREPARED" || state === "SYNCING") resolve();
            if (state === "ERROR") reject(new Error("sync error"));
        });
    });
    await client.startClient({ slidingSync });
    await synced;
    // The invite must come through sliding sync before joining.
    for (let i = 0; i < 200 && client.getRoom(roomId)?.getMyMembership() !== "invite"; i++) {
        await sleep(50);
    }
    if (client.getRoom(roomId)?.getMyMembership() !== "invite") throw new Error("the invite never arrived");
    await client.joinRoom(roomId);
    for (let i = 0; i < 200 && !(await client.getCrypto().isEncryptionEnabledInRoom(roomId)); i++) {
        await sleep(50);
    }
    if (!(await client.getCrypto().isEncryptionEnabledInRoom(roomId))) throw new Error("room never showed as encrypted");
    for (let i = 0; i < 200; i++) {
        const keys = await client.downloadKeysForUsers([login.user_id]);
        if (keys.device_keys?.[login.user_id]?.[login.device_id]) break;
        await sleep(50);
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
