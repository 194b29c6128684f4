package request_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/internal/testrig/testkeys"
	"github.com/airlock-offline/airlock/licensekey"
	"github.com/airlock-offline/airlock/request"
	"github.com/airlock-offline/airlock/result"
)

func nodeRequest(t testing.TB) (*request.NodeRequest, []*crypto.Identity) {
	t.Helper()
	vendor := testkeys.Identity(crypto.RoleVendor, "nodes vendor")
	nodes := []*crypto.Identity{
		testkeys.Identity(crypto.RoleInstallation, "node 1"),
		testkeys.Identity(crypto.RoleInstallation, "node 2"),
		testkeys.Identity(crypto.RoleInstallation, "node 3"),
	}
	key, err := licensekey.New(testkeys.Rand("nodes key"))
	if err != nil {
		t.Fatal(err)
	}
	req, err := request.New(request.Params{Product: "acme-cad", LicenseKey: key, Fingerprint: bytes.Repeat([]byte{7}, request.FPSize),
		Vendor: vendor.Public(), Now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), Rand: testkeys.Rand("nodes nonce")}, nodes[0])
	if err != nil {
		t.Fatal(err)
	}
	n, err := request.NewNodeRequest(req, nodes[0], [][]byte{nodes[1].Public().Sign, nodes[2].Public().Sign})
	if err != nil {
		t.Fatal(err)
	}
	return n, nodes
}

// One request, every node's signature: the desk's check passes only when
// each named node has co-signed this very request.
func TestNodeRequest(t *testing.T) {
	n, nodes := nodeRequest(t)
	b, _ := n.Bytes()
	if !request.IsNodeRequest(b) {
		t.Fatal("not recognised as a node request")
	}
	if _, _, err := request.VerifyNodes(b); !errors.Is(err, result.ErrSignatureInvalid) {
		t.Fatalf("two co-signatures missing: %v", err)
	}
	if err := n.Cosign(testkeys.Identity(crypto.RoleInstallation, "stranger")); !errors.Is(err, result.ErrInstallationMismatch) {
		t.Fatalf("a stranger co-signs: %v", err)
	}
	for _, id := range nodes[1:] {
		b, _ := n.Bytes()
		m, _, err := request.ParseNodeRequest(b)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Cosign(id); err != nil {
			t.Fatal(err)
		}
		n = m
	}
	b, _ = n.Bytes()
	req, keys, err := request.VerifyNodes(b)
	if err != nil || len(keys) != 3 || !bytes.Equal(keys[0], req.Request.InstallSign) {
		t.Fatalf("all signed: %v", err)
	}
	// A co-signature moved to another request (another node set) is worthless.
	other, _ := nodeRequest(t)
	other.Nodes = other.Nodes[:2]
	other.Cosigns = [][]byte{n.Cosigns[0], n.Cosigns[1]}
	ob, _ := other.Bytes()
	if _, _, err := request.VerifyNodes(ob); !errors.Is(err, result.ErrSignatureInvalid) {
		t.Fatalf("co-signatures of another node set: %v", err)
	}
	// The request inside must be the first node's.
	swapped := *n
	swapped.Nodes = [][]byte{n.Nodes[1], n.Nodes[0], n.Nodes[2]}
	sb, _ := swapped.Bytes()
	if _, _, err := request.VerifyNodes(sb); !errors.Is(err, result.ErrMalformed) {
		t.Fatalf("requester not first: %v", err)
	}
	// A plain request still verifies, with no nodes.
	if _, keys, err := request.VerifyNodes(n.Request); err != nil || keys != nil {
		t.Fatalf("plain request: %v %d", err, len(keys))
	}
}

func FuzzParseNodeRequest(f *testing.F) {
	n, nodes := nodeRequest(f)
	b, _ := n.Bytes()
	f.Add(b)
	for _, id := range nodes[1:] {
		_ = n.Cosign(id)
	}
	b, _ = n.Bytes()
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		_, keys, err := request.VerifyNodes(data)
		if err != nil {
			var re *result.Error
			if !errors.As(err, &re) || (re.Code != result.Malformed && re.Code != result.SignatureInvalid) {
				t.Fatalf("untyped or unexpected error: %v", err)
			}
			return
		}
		if request.IsNodeRequest(data) && (len(keys) < request.MinNodes || len(keys) > request.MaxNodes) {
			t.Fatalf("%d nodes accepted", len(keys))
		}
	})
}
