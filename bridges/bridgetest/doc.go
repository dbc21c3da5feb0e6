// Package bridgetest is a bridgev2 network connector for tests: it plays a
// fake remote chat network ("Test Network", network ID "testnet") entirely in
// memory, so integration tests can run a real mautrix bridge inside
// Gatehouse and watch what crosses it in both directions.
//
// The remote side is driven from Go: [Network.SendRemote] makes a remote user
// speak in a chat (the bridge creates the portal room on the first message),
// and every message the bridge hands over from Matrix is published on
// [Network.Received], already decrypted and converted by bridgev2. An
// optional echo user answers each Matrix message in the same chat.
//
// The package owns no I/O: no sockets, no files, no database of its own (the
// bridge keeps its usual tables). It must never be compiled into the
// gatehouse binary; only tests import it.
//
// Files follow the bridges' layout by direction of travel: login.go (the
// login flow), client.go (one login's NetworkAPI and lifecycle),
// handlematrix.go (Matrix -> network), handleremote.go (network -> Matrix),
// chats.go (the remote network's state), config.go with example.yaml.
package bridgetest
