package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/user"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/gatehouse-chat/gatehouse/core/api/admin"
	"github.com/gatehouse-chat/gatehouse/core/config"
)

const registerUsage = `Usage: gatehouse register [flags] [server_url]

Creates a user through the shared-secret admin API, like Synapse's
register_new_matrix_user. server_url defaults to the config's client
listener on localhost, or http://localhost:8008.

Flags:
  -u, --user NAME            localpart of the new user (prompted if missing)
  -p, --password PASSWORD    password (prompted twice if missing)
      --password-file FILE   read the password from FILE
      --exists-ok            succeed if the user already exists
  -a, --admin                make the user a server admin
      --no-admin             do not make the user an admin (no prompt)
  -t, --user_type TYPE       "bot" or "support"
  -c, --config FILE          read registration_shared_secret from FILE
  -k, --shared-secret SECRET the shared secret (instead of -c)
`

// registerOpts are the parsed flags of `gatehouse register`.
type registerOpts struct {
	user, password, passwordFile, userType, configPath, secret, serverURL string
	admin, noAdmin, existsOK                                              bool
}

// runRegister implements `gatehouse register`.
func runRegister(args []string) int {
	return registerCommand(args, os.Stdin, os.Stdout, os.Stderr)
}

func registerCommand(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	opts, err := parseRegisterFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	} else if err != nil {
		fmt.Fprintln(stderr, "gatehouse register:", err)
		return 2
	}
	if err := opts.fromConfig(); err != nil {
		fmt.Fprintln(stderr, "gatehouse register:", err)
		return 1
	}
	p := &prompter{in: bufio.NewReader(stdin), file: stdinFile(stdin), out: stdout}
	if err := opts.prompt(p); err != nil {
		fmt.Fprintln(stderr, "gatehouse register:", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	fmt.Fprintln(stdout, "Sending registration request...")
	res, err := admin.RegisterWithSharedSecret(ctx, &http.Client{Timeout: time.Minute}, opts.serverURL, opts.secret,
		admin.SharedSecretRequest{Username: opts.user, Password: opts.password, Admin: opts.admin, UserType: opts.userType})
	var re *admin.RemoteError
	if opts.existsOK && errors.As(err, &re) && re.ErrCode == "M_USER_IN_USE" {
		fmt.Fprintln(stdout, "User already exists. Skipping.")
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "gatehouse register:", err)
		return 1
	}
	fmt.Fprintln(stdout, "Success! Created", res.UserID)
	return 0
}

func parseRegisterFlags(args []string, stderr io.Writer) (*registerOpts, error) {
	o := &registerOpts{}
	fs := flag.NewFlagSet("register", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, registerUsage) }
	for _, name := range []string{"u", "user"} {
		fs.StringVar(&o.user, name, "", "")
	}
	for _, name := range []string{"p", "password"} {
		fs.StringVar(&o.password, name, "", "")
	}
	for _, name := range []string{"t", "user_type"} {
		fs.StringVar(&o.userType, name, "", "")
	}
	for _, name := range []string{"c", "config"} {
		fs.StringVar(&o.configPath, name, "", "")
	}
	for _, name := range []string{"k", "shared-secret"} {
		fs.StringVar(&o.secret, name, "", "")
	}
	for _, name := range []string{"a", "admin"} {
		fs.BoolVar(&o.admin, name, false, "")
	}
	fs.BoolVar(&o.noAdmin, "no-admin", false, "")
	fs.StringVar(&o.passwordFile, "password-file", "", "")
	fs.BoolVar(&o.existsOK, "exists-ok", false, "")
	// Flags may follow the server URL, as with Synapse's argparse.
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(positional) > 1 {
		return nil, fmt.Errorf("expected at most one server URL, got %q", positional)
	}
	if len(positional) == 1 {
		o.serverURL = positional[0]
	}
	if o.password != "" && o.passwordFile != "" {
		return nil, errors.New("-p/--password and --password-file contradict each other")
	}
	if o.admin && o.noAdmin {
		return nil, errors.New("-a/--admin and --no-admin contradict each other")
	}
	if o.secret == "" && o.configPath == "" {
		return nil, errors.New("give the config file (-c) or the shared secret (-k)")
	}
	return o, nil
}

// fromConfig fills the secret and the server URL from the config file,
// and the password from --password-file.
func (o *registerOpts) fromConfig() error {
	if o.passwordFile != "" {
		data, err := os.ReadFile(o.passwordFile)
		if err != nil {
			return err
		}
		o.password = strings.TrimSpace(string(data))
	}
	if o.configPath != "" {
		cfg, err := config.Load(o.configPath)
		if err != nil {
			return err
		}
		if o.secret == "" {
			o.secret = cfg.RegistrationSharedSecret
		}
		if o.secret == "" {
			return fmt.Errorf("no registration_shared_secret in %s", o.configPath)
		}
		if o.serverURL == "" {
			o.serverURL = clientListenerURL(cfg)
		}
	}
	if o.serverURL == "" {
		o.serverURL = "http://localhost:8008"
	}
	return nil
}

// clientListenerURL is the loopback URL of the first plain-HTTP listener
// serving the client API, or "" when there is none. Like Synapse's script it
// skips TLS listeners, whose certificate would not name localhost.
func clientListenerURL(cfg *config.Config) string {
	for _, l := range cfg.Listeners {
		if l.TLS {
			continue
		}
		for _, res := range l.Resources {
			if slices.Contains(res.Names, "client") {
				return "http://localhost:" + strconv.Itoa(l.Port)
			}
		}
	}
	return ""
}

// prompt asks for whatever the flags left out.
func (o *registerOpts) prompt(p *prompter) error {
	var err error
	if o.user == "" {
		def := ""
		if u, uerr := user.Current(); uerr == nil {
			def = strings.ToLower(u.Username)
		}
		if o.user, err = p.line(fmt.Sprintf("New user localpart [%s]: ", def)); err != nil {
			return err
		}
		if o.user == "" {
			o.user = def
		}
		if o.user == "" {
			return errors.New("a localpart is required")
		}
	}
	if o.password == "" {
		if o.password, err = p.secret("Password: "); err != nil {
			return err
		}
		if o.password == "" {
			return errors.New("password cannot be blank")
		}
		again, err := p.secret("Confirm password: ")
		if err != nil {
			return err
		}
		if again != o.password {
			return errors.New("passwords do not match")
		}
	}
	if !o.admin && !o.noAdmin {
		ans, err := p.line("Make admin [no]: ")
		if err != nil {
			return err
		}
		switch strings.ToLower(strings.TrimSpace(ans)) {
		case "y", "yes", "true":
			o.admin = true
		}
	}
	return nil
}

// prompter reads answers from stdin, without echo when it is a terminal.
type prompter struct {
	in   *bufio.Reader
	file *os.File // stdin when it is a terminal, else nil
	out  io.Writer
}

func stdinFile(r io.Reader) *os.File {
	if f, ok := r.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return f
	}
	return nil
}

func (p *prompter) line(question string) (string, error) {
	fmt.Fprint(p.out, question)
	s, err := p.in.ReadString('\n')
	switch {
	case errors.Is(err, io.EOF) && s == "":
		return "", errors.New("no answer on standard input")
	case err != nil && !errors.Is(err, io.EOF):
		return "", err
	}
	return strings.TrimRight(s, "\r\n"), nil
}

func (p *prompter) secret(question string) (string, error) {
	if p.file == nil {
		return p.line(question)
	}
	fmt.Fprint(p.out, question)
	b, err := term.ReadPassword(int(p.file.Fd()))
	fmt.Fprintln(p.out)
	return string(b), err
}
