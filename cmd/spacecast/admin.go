package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"text/tabwriter"
	"time"

	"github.com/spacecast/spacecast/controlplane"
	"github.com/spacecast/spacecast/controlplane/auth"
	"github.com/spacecast/spacecast/controlplane/store"
)

const adminUsage = `usage: spacecast admin <command> [flags]

  client create --name NAME [--json]     make an API client; prints clientId and clientSecret (shown once)
  client list [--json]                   list API clients
  client rotate-secret --id ID [--json]  draw a new secret (the old one stops working)
  client delete --id ID                  delete a client and everything it owns
  user delete --client ID (--id USER | --email EMAIL)
                                         delete a user of a client; its tokens and sessions stop on every replica
  key rotate [--grace DURATION]          new REST token signing key; the old one verifies for --grace

Every command takes --data DIR (an SQLite data folder) or --config FILE (its store section:
SQLite or PostgreSQL, with SPACECAST_STORE_PASSWORD and SPACECAST_STORE_DSN from the environment).`

// runAdmin runs an operator task against the store.
func runAdmin(ctx context.Context, e env, args []string) error {
	if len(args) < 2 || (args[0] != "client" && args[0] != "key" && args[0] != "user") {
		fmt.Fprintln(e.stderr, adminUsage)
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			return flag.ErrHelp
		}
		return errUsage
	}
	verb := args[0] + " " + args[1]
	fs := newFlagSet(e, "admin "+verb)
	data := fs.String("data", "", "data folder (holds spacecast.db)")
	cfgPath := fs.String("config", "", "config file whose store section names the data folder")
	asJSON := fs.Bool("json", false, "print JSON")
	name := fs.String("name", "", "client name (client create)")
	id := fs.String("id", "", "client id (client rotate-secret, client delete), user id (user delete)")
	clientID := fs.String("client", "", "the user's client id (user delete)")
	email := fs.String("email", "", "the user's e-mail, instead of --id (user delete)")
	grace := fs.Duration("grace", 30*24*time.Hour, "how long the retired key keeps verifying (key rotate); at least the refresh token TTL")
	if err := parseFlags(fs, args[2:]); err != nil {
		return err
	}
	open := func() (store.Store, error) {
		switch {
		case *data != "" && *cfgPath != "":
			return nil, errors.New("give --data or --config, not both")
		case *data != "":
			return storeSection{Driver: "sqlite", DataDir: *data}.open(ctx, slog.New(slog.DiscardHandler))
		case *cfgPath != "":
			cfg, err := loadControlplaneFile(*cfgPath, e.getenv)
			if err != nil {
				return nil, err
			}
			return cfg.Store.open(ctx, slog.New(slog.DiscardHandler))
		}
		return nil, errors.New("--data DIR or --config FILE is required")
	}
	needs := func(flagName, v string) error {
		if v == "" {
			fmt.Fprintf(e.stderr, "spacecast admin %s: --%s is required\n", verb, flagName)
			return errUsage
		}
		return nil
	}
	switch verb {
	case "client create":
		if err := needs("name", *name); err != nil {
			return err
		}
	case "client rotate-secret", "client delete":
		if err := needs("id", *id); err != nil {
			return err
		}
	case "user delete":
		if err := needs("client", *clientID); err != nil {
			return err
		}
		if (*id == "") == (*email == "") {
			fmt.Fprintln(e.stderr, "spacecast admin user delete: give --id or --email")
			return errUsage
		}
	case "client list", "key rotate":
	default:
		fmt.Fprintln(e.stderr, adminUsage)
		return errUsage
	}
	st, err := open()
	if err != nil {
		return err
	}
	defer st.Close()

	type secretOut struct {
		ClientID     string `json:"clientId"`
		ClientSecret string `json:"clientSecret"`
	}
	printSecret := func(o secretOut) error {
		if *asJSON {
			return json.NewEncoder(e.stdout).Encode(o)
		}
		fmt.Fprintf(e.stdout, "clientId:     %s\nclientSecret: %s\n(the secret is shown only now; it is stored as a hash)\n", o.ClientID, o.ClientSecret)
		return nil
	}
	switch verb {
	case "client create":
		cid, secret, err := controlplane.CreateClient(ctx, st, *name, time.Now())
		if err != nil {
			return err
		}
		return printSecret(secretOut{string(cid), secret})
	case "client rotate-secret":
		secret, err := controlplane.RotateClientSecret(ctx, st, store.ClientID(*id))
		if err != nil {
			return err
		}
		return printSecret(secretOut{*id, secret})
	case "client delete":
		if err := st.DeleteClient(ctx, store.ClientID(*id)); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "deleted client %s\n", *id)
		return nil
	case "client list":
		cs, err := st.ListClients(ctx)
		if err != nil {
			return err
		}
		type row struct {
			ClientID  string    `json:"clientId"`
			Name      string    `json:"name"`
			CreatedAt time.Time `json:"createdAt"`
		}
		rows := make([]row, 0, len(cs))
		for _, c := range cs {
			rows = append(rows, row{string(c.ID), c.Name, c.CreatedAt})
		}
		if *asJSON {
			return json.NewEncoder(e.stdout).Encode(rows)
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "CLIENT ID\tNAME\tCREATED")
		for _, r := range rows {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", r.ClientID, r.Name, r.CreatedAt.Format(time.RFC3339))
		}
		return tw.Flush()
	case "user delete":
		uid := store.UserID(*id)
		if *email != "" {
			u, err := st.GetUserByEmail(ctx, store.ClientID(*clientID), *email)
			if err != nil {
				return fmt.Errorf("user %s of client %s: %w", *email, *clientID, err)
			}
			uid = u.ID
		}
		if err := st.DeleteUser(ctx, store.ClientID(*clientID), uid); err != nil {
			return fmt.Errorf("delete user %s of client %s: %w", uid, *clientID, err)
		}
		fmt.Fprintf(e.stdout, "deleted user %s of client %s; its tokens and sessions are revoked\n", uid, *clientID)
		return nil
	case "key rotate":
		kr := auth.NewKeyring(st, nil, 0)
		kid, err := kr.Rotate(ctx, *grace)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "new signing key %s; older keys verify for %s more\n", kid, *grace)
		return nil
	}
	return errUsage
}
