package floating

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Admin calls a server's admin API. It trusts the server by its key (the
// admin knows it: it is the server's own installation key), with a bearer
// token.
type Admin struct {
	Base  string            // "https://host:port"
	Key   ed25519.PublicKey // the server key its certificate must carry
	Token string
	http  *http.Client
}

// NewAdmin returns an admin client for addr ("host:port" or a URL).
func NewAdmin(addr string, key ed25519.PublicKey, token string) *Admin {
	base := addr
	if !strings.Contains(base, "://") {
		base = "https://" + base
	}
	a := &Admin{Base: strings.TrimSuffix(base, "/"), Key: key, Token: token}
	tcfg := &tls.Config{MinVersion: tls.VersionTLS13, InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("the server sent no certificate")
			}
			if pub, ok := cs.PeerCertificates[0].PublicKey.(ed25519.PublicKey); !ok || !pub.Equal(key) {
				return errors.New("the server's certificate does not carry this server's key")
			}
			return nil
		}}
	a.http = &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{TLSClientConfig: tcfg}}
	return a
}

// Do calls method path (under APIPrefix) with body (nil: none) and decodes
// the answer into out; a refusal is an *Error.
func (a *Admin) Do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.Base+APIPrefix+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if a.Token != "" {
		req.Header.Set("Authorization", "Bearer "+a.Token)
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		e := new(Error)
		if json.Unmarshal(data, e) != nil || e.Code == "" {
			return fmt.Errorf("unexpected answer %s", resp.Status)
		}
		return e
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(data, out)
}
