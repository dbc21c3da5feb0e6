// Package pindeps keeps modules in go.mod while the packages that use them are
// being written in parallel. Delete once every import below has a real user.
package pindeps

import (
	_ "golang.org/x/crypto/bcrypt"
	_ "golang.org/x/image/draw"
	_ "gopkg.in/yaml.v3"
	_ "maunium.net/go/mautrix"
	_ "maunium.net/go/mautrix/appservice"
	_ "maunium.net/go/mautrix/crypto/cryptohelper"
	_ "maunium.net/go/mautrix/federation/eventauth"
	_ "maunium.net/go/mautrix/federation/pdu"
	_ "maunium.net/go/mautrix/pushrules"
	_ "golang.org/x/image/webp"
	_ "github.com/tidwall/gjson"
	_ "github.com/tidwall/sjson"
)
