package main

// Several nodes, one pool: request --nodes, cosign, and the node licenses
// that activate on the nodes other than the requester.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/internal/armor"
	"github.com/airlock-offline/airlock/internal/atomicfile"
	"github.com/airlock-offline/airlock/internal/cli"
	"github.com/airlock-offline/airlock/request"
	"github.com/airlock-offline/airlock/response"
	"github.com/airlock-offline/airlock/result"
)

// parseNodeKeys reads --nodes: the other nodes' server keys (AI1…, as
// `airlock-server status` shows them, or @FILE: a node's
// installation.pub).
func (a *app) parseNodeKeys(vals []string) ([][]byte, error) {
	var out [][]byte
	for _, v := range vals {
		if file, ok := strings.CutPrefix(v, "@"); ok {
			b, err := a.ui.ReadLimited(file, "the node key file", cli.MaxKeyFile)
			if err != nil {
				return nil, err
			}
			v = string(b)
		}
		p, err := crypto.ParsePublic(strings.TrimSpace(v))
		if err != nil || p.Role != crypto.RoleInstallation {
			return nil, cli.Usagef("--nodes: %q is not a server key (AI1…, shown by `airlock-server status` on the node)", short(v))
		}
		out = append(out, p.Sign)
	}
	if len(out)+1 < request.MinNodes || len(out)+1 > request.MaxNodes {
		return nil, cli.Usagef("--nodes names the other %d to %d nodes' keys", request.MinNodes-1, request.MaxNodes-1)
	}
	return out, nil
}

func short(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 12 {
		return s[:12] + "…"
	}
	return s
}

// nodeRequest wraps this server's request for the nodes named and
// co-signs it.
func (s *server) nodeRequest(req *request.Signed, others [][]byte) ([]byte, error) {
	inst, err := s.st.Installation(nil)
	if err != nil {
		return nil, err
	}
	n, err := request.NewNodeRequest(req, inst, others)
	if err != nil {
		return nil, err
	}
	return n.Text()
}

func (a *app) cmdCosign(args []string) error {
	fs := a.newFlags("cosign")
	out := fs.StringP("output", "o", "", "")
	var input cli.InputFlags
	input.Register(fs)
	var q cli.QRFlags
	q.Register(fs)
	if done, err := a.parse(fs, args); done || err != nil {
		return err
	}
	if err := q.Check(); err != nil {
		return err
	}
	s, _, err := a.open(true)
	if err != nil {
		return err
	}
	keys, err := s.needVendorKeys()
	if err != nil {
		return err
	}
	text, err := a.ui.Read(&input, fs.Args(), armor.Request)
	if err != nil {
		return err
	}
	data, err := armor.DecodeKind(text, armor.Request)
	if err != nil {
		return result.Wrap(result.Malformed, "not a valid request", err)
	}
	if !request.IsNodeRequest(data) {
		return cli.WithHint(errors.New("this is a request of one server, not of several nodes"), "the first node makes it with `airlock-server request --nodes KEY,KEY …`")
	}
	n, req, err := request.ParseNodeRequest(data)
	if err != nil {
		return err
	}
	known := false
	for _, k := range keys {
		if id := k.ID(); bytes.Equal(req.Request.VendorKeyID, id[:]) {
			known = true
		}
	}
	if !known {
		return result.New(result.UnknownVendorKey, "the request is made for a vendor key this node does not hold")
	}
	inst, err := s.st.Installation(nil)
	if err != nil {
		return err
	}
	if err := n.Cosign(inst); err != nil {
		return err
	}
	missing, err := n.Missing()
	if err != nil {
		return err
	}
	res, err := n.Text()
	if err != nil {
		return err
	}
	dest := *out
	if dest == "" {
		dest = "-"
		if args := fs.Args(); len(args) == 1 && args[0] != "-" {
			dest = args[0] // co-signed in place
		}
	}
	if err := a.ui.WriteOutput(dest, res); err != nil {
		return err
	}
	b, _ := n.Bytes()
	if err := a.ui.WriteQR(&q, armor.Request, b, dest != "-"); err != nil {
		return err
	}
	a.ui.Infof("co-signed the request for a pool license of %q as node %s: %d of %d nodes have signed", req.Request.Product, inst.ID(), len(n.Nodes)-len(missing), len(n.Nodes))
	if len(missing) > 0 {
		ids := make([]string, len(missing))
		for i, k := range missing {
			ids[i] = crypto.KeyIDOf(k).String()
		}
		a.ui.Infof("next: `airlock-server cosign` on node(s) %s", strings.Join(ids, ", "))
	} else {
		a.ui.Infof("next: take it to the vendor; then `airlock-server activate LICENSE` on every node")
	}
	return nil
}

// nodePath is where a node keeps a pool license another node requested
// (its binding is the requester's; this node is one of its nodes).
func (s *server) nodePath(product string) string {
	h := sha256.Sum256([]byte(product))
	return s.path(filepath.Join("nodes", hex.EncodeToString(h[:8])+".lic"))
}

// installNode installs a pool license that names this server as one of
// its nodes but is bound to another (the node that made the request).
func (s *server) installNode(lic *response.License, text []byte) error {
	pub, err := s.st.InstallationPublic()
	if err != nil {
		return err
	}
	if !lic.IsServerKey(pub.Sign) {
		return result.New(result.InstallationMismatch, fmt.Sprintf("the pool license of %q does not name this server (key %s) among its nodes", lic.Product, pub.ID()))
	}
	if err := os.MkdirAll(s.path("nodes"), 0o700); err != nil {
		return err
	}
	return atomicfile.Write(s.nodePath(lic.Product), text, 0o600)
}

// nodeLicenses returns the node licenses installed here that verify now.
func (a *app) nodeLicenses(s *server, keys []*crypto.Public) ([][]byte, error) {
	ents, err := os.ReadDir(s.path("nodes"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	pub, err := s.st.InstallationPublic()
	if err != nil {
		return nil, err
	}
	now := cli.Now()
	var out [][]byte
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".lic") {
			continue
		}
		text, err := cli.ReadFileLimited(filepath.Join(s.path("nodes"), e.Name()), "a node license", armor.MaxText)
		if err != nil {
			return nil, err
		}
		b, err := armor.DecodeKind(text, armor.License)
		if err != nil {
			a.ui.Warnf("the node license %s is damaged and is not served", e.Name())
			continue
		}
		lic, _, err := response.Parse(b, keys...)
		if err == nil && (lic.Pool == nil || !lic.IsServerKey(pub.Sign)) {
			err = errors.New("not a pool license naming this node")
		}
		if err == nil && lic.Expires != 0 && now.Unix() >= lic.Expires {
			err = fmt.Errorf("expired on %s", lic.ExpiresTime().Format(time.RFC3339))
		}
		if err == nil && lic.LeaseUntil != 0 && now.Unix() >= lic.LeaseUntil {
			err = fmt.Errorf("its lease with the desk ended on %s: renew it", lic.LeaseUntilTime().Format(time.RFC3339))
		}
		if err != nil {
			a.ui.Warnf("the node license %s is not valid here and is not served: %v", e.Name(), err)
			continue
		}
		out = append(out, b)
	}
	return out, nil
}

// nodeProducts names the products of the node licenses installed here
// (unverified: for display).
func (s *server) nodeProducts() []string {
	ents, _ := os.ReadDir(s.path("nodes"))
	var out []string
	for _, e := range ents {
		text, err := cli.ReadFileLimited(filepath.Join(s.path("nodes"), e.Name()), "a node license", armor.MaxText)
		if err != nil {
			continue
		}
		if b, err := armor.DecodeKind(text, armor.License); err == nil {
			if lic, _, err := response.ParseUnverified(b); err == nil {
				out = append(out, lic.Product+" (one of its nodes)")
			}
		}
	}
	return out
}
