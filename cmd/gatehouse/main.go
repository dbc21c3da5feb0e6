// Command gatehouse is the Gatehouse homeserver: one binary that serves the
// Matrix client-server API (and, as they land, federation and the in-tree
// bridges). This package is the only one that wires the others together.
package main

import (
	"fmt"
	"os"

	"github.com/gatehouse-chat/gatehouse/core/config"
)

// Version is set at build time with -ldflags "-X main.Version=...".
var Version = "0.1.0-dev"

const usage = `Usage: gatehouse [command] [flags]

Commands:
  serve            run the homeserver (the default)
  generate-config  print the commented example gatehouse.yaml
  register         create a user (like Synapse's register_new_matrix_user)
  registration     print a built-in bridge's appservice registration
  version          print the version

Run "gatehouse <command> -h" for a command's flags.
`

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	cmd := "serve"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return runServe(args)
	case "generate-config":
		_, _ = os.Stdout.Write(config.Example())
		return 0
	case "register":
		return runRegister(args)
	case "registration":
		return runRegistration(args, compiledBridges(), os.Stdout, os.Stderr)
	case "version":
		fmt.Println("gatehouse", Version)
		return 0
	case "help", "-h", "--help":
		fmt.Print(usage)
		return 0
	}
	fmt.Fprintf(os.Stderr, "gatehouse: unknown command %q\n\n%s", cmd, usage)
	return 2
}
