package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/airlock-offline/airlock/floating"
	"github.com/airlock-offline/airlock/internal/cli"
)

// admin returns an admin client for the running server, with the local
// admin token.
func (a *app) admin(s *server) (*floating.Admin, error) {
	b, err := cli.ReadFileLimited(s.path("serve.json"), "the server's address file", 4096)
	if err != nil {
		return nil, cli.WithHint(errors.New("the server is not running (no serve.json in its state)"), "start it with `airlock-server serve`")
	}
	var info serveInfo
	if err := json.Unmarshal(b, &info); err != nil || info.Address == "" {
		return nil, errors.New("the server's address file is damaged")
	}
	tok, err := cli.ReadFileLimited(s.path("admin.token"), "the admin token", 4096)
	if err != nil {
		return nil, err
	}
	pub, err := s.st.InstallationPublic()
	if err != nil {
		return nil, err
	}
	return floating.NewAdmin(info.Address, pub.Sign, strings.TrimSpace(string(tok))), nil
}

func (a *app) cmdStatus(args []string) error {
	fs := a.newFlags("status")
	asJSON := fs.Bool("json", false, "")
	if done, err := a.parse(fs, args); done || err != nil {
		return err
	}
	s, _, err := a.open(false)
	if err != nil {
		return err
	}
	pub, err := s.st.InstallationPublic()
	if err != nil {
		return err
	}
	out := map[string]any{"server_key": pub.String(), "server_key_id": pub.ID().String(), "state": cli.Abs(s.dir), "running": false}
	var pools []floating.PoolStatus
	var hw floating.HardwareKeyInfo
	if ad, err := a.admin(s); err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := ad.Do(ctx, http.MethodGet, "/status", nil, &pools); err == nil {
			out["running"] = true
			out["address"] = strings.TrimPrefix(ad.Base, "https://")
			out["pools"] = pools
			if err := ad.Do(ctx, http.MethodGet, "/hardware-key", nil, &hw); err == nil {
				out["hardware_id"] = hw.HardwareID
				if hw.HardwareKey.Required {
					out["hardware_key"] = hw.HardwareKey
				}
			}
		} else {
			out["error"] = err.Error()
		}
	}
	if *asJSON {
		return a.ui.PrintJSON(out)
	}
	w := a.ui.Stdout
	fmt.Fprintf(w, "server key:  %s\n", pub.ID())
	fmt.Fprintf(w, "public key:  %s\n", pub)
	fmt.Fprintf(w, "state:       %s\n", cli.Abs(s.dir))
	if out["running"] != true {
		fmt.Fprintln(w, "running:     no")
		products, _ := s.st.Products()
		fmt.Fprintf(w, "licenses:    %s\n", orNone(strings.Join(append(products, s.nodeProducts()...), ", ")))
		return nil
	}
	fmt.Fprintf(w, "listening:   https://%s\n", out["address"])
	printHardwareKey(w, hw)
	if len(pools) == 0 {
		fmt.Fprintln(w, "pools:       none (install a pool license: airlock-server request, then activate)")
	}
	for _, p := range pools {
		fmt.Fprintf(w, "%s (license %s, %s)\n", p.Product, p.LicenseKey, p.Licensee)
		fmt.Fprintf(w, "  pool:      %s\n", p.Pool)
		fmt.Fprintf(w, "  seats:     %d of %d held, %d borrowed\n", p.Held, p.Seats, p.Borrowed)
		if p.Nodes > 0 {
			fmt.Fprintf(w, "  nodes:     %d, sharing the database (the counts are every node's)\n", p.Nodes)
		}
		if p.Error != "" {
			fmt.Fprintf(w, "  error:     %s\n", p.Error)
		}
		for f, n := range p.FeatureSeats {
			fmt.Fprintf(w, "  feature %s: %d seats held\n", f, n)
		}
		for f, n := range p.Counters {
			if f == "" {
				f = "(license)"
			}
			fmt.Fprintf(w, "  consumed %s: %d\n", f, n)
		}
		if p.ReportDue != nil {
			fmt.Fprintf(w, "  report:    due %s; without one answered, no new seats from %s (airlock-server report)\n",
				p.ReportDue.UTC().Format(time.RFC3339), p.GrantsStop.UTC().Format(time.RFC3339))
		}
	}
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func (a *app) cmdLeases(args []string) error {
	fs := a.newFlags("leases")
	asJSON := fs.Bool("json", false, "")
	if done, err := a.parse(fs, args); done || err != nil {
		return err
	}
	s, _, err := a.open(false)
	if err != nil {
		return err
	}
	ad, err := a.admin(s)
	if err != nil {
		return err
	}
	var leases []floating.LeaseInfo
	if err := ad.Do(context.Background(), http.MethodGet, "/leases", nil, &leases); err != nil {
		return err
	}
	if *asJSON {
		return a.ui.PrintJSON(leases)
	}
	tw := tabwriter.NewWriter(a.ui.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "LEASE\tPRODUCT\tCLIENT\tHOST\tEXPIRES\tBORROWED\tFEATURES")
	for _, l := range leases {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%t\t%s\n", l.ID, l.Product, l.Client, l.Host, l.Expires.Format(time.RFC3339), l.Borrowed, strings.Join(l.Features, ","))
	}
	return tw.Flush()
}

func (a *app) cmdRelease(args []string) error {
	fs := a.newFlags("release")
	if done, err := a.parse(fs, args); done || err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return cli.Usagef("release takes one lease id (see `airlock-server leases`)")
	}
	id := fs.Arg(0)
	if b, err := hex.DecodeString(id); err != nil || len(b) != floating.LeaseIDLen {
		return cli.Usagef("a lease id is %d hex digits", 2*floating.LeaseIDLen)
	}
	s, _, err := a.open(false)
	if err != nil {
		return err
	}
	ad, err := a.admin(s)
	if err != nil {
		return err
	}
	if err := ad.Do(context.Background(), http.MethodDelete, "/leases/"+id, nil, nil); err != nil {
		return err
	}
	a.ui.Infof("lease %s released: its seat is free (the client's token stays valid until it expires, but is not renewed)", id)
	return nil
}

func (a *app) cmdUser(args []string) error {
	if len(args) == 0 || args[0] != "add" {
		return cli.Usagef("user takes a subcommand: add")
	}
	fs := a.newFlags("user add")
	role := fs.String("role", floating.RoleUser, "")
	passFile := fs.String("password-file", "", "")
	if done, err := a.parse(fs, args[1:]); done || err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return cli.Usagef("user add takes one user name")
	}
	var pass []byte
	var err error
	if *passFile != "" {
		pass, err = a.ui.ReadLimited(*passFile, "the password file", 1024)
	} else {
		pass, err = a.ui.Secret("password for " + fs.Arg(0) + ": ")
	}
	if err != nil {
		return err
	}
	s, _, err := a.open(false)
	if err != nil {
		return err
	}
	ad, err := a.admin(s)
	if err != nil {
		return err
	}
	req := floating.UserRequest{Username: fs.Arg(0), Password: strings.TrimRight(string(pass), "\r\n"), Role: *role}
	if err := ad.Do(context.Background(), http.MethodPost, "/users", req, nil); err != nil {
		return err
	}
	a.ui.Infof("user %q (%s) saved", req.Username, req.Role)
	return nil
}
