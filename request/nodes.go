package request

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"

	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/internal/armor"
	"github.com/airlock-offline/airlock/internal/wire"
	"github.com/airlock-offline/airlock/result"
)

// Several floating-server nodes that share one database are activated by
// one request: the first node makes an ordinary request (signed by its
// installation key) and names every node's key; each node, the first
// included, then co-signs the pair (request hash, node keys) under
// [TagNodeCosign]. The desk signs a pool license naming the node keys only
// when every named node has co-signed, so the vendor certifies the set.
//
// On the wire a node request is a CBOR map (a plain request is a
// COSE_Sign1), armored as a request.

// TagNodeCosign is the domain-separation tag of a node's co-signature.
const TagNodeCosign = "airlock/node-cosign-v1"

// Limits on node requests (the desk's pool licenses use the same).
const (
	MinNodes = 2
	MaxNodes = 5
)

// NodeRequest is a request for a pool license served by several nodes.
type NodeRequest struct {
	Request []byte   `cbor:"1,keyasint"`           // the first node's signed request
	Nodes   [][]byte `cbor:"2,keyasint"`           // every node's Ed25519 key, the requester's first
	Cosigns [][]byte `cbor:"3,keyasint,omitempty"` // COSE_Sign1 under TagNodeCosign, one per node
}

// cosign is what each node signs.
type cosign struct {
	Request []byte   `cbor:"1,keyasint"` // SHA-256 of the request's signed bytes
	Nodes   [][]byte `cbor:"2,keyasint"`
}

// NewNodeRequest wraps a request signed by the first node for the nodes
// named (the requester's key first or absent: it is put first), and
// co-signs it with the requester's key.
func NewNodeRequest(req *Signed, inst *crypto.Identity, others [][]byte) (*NodeRequest, error) {
	if !bytes.Equal(req.Request.InstallSign, inst.Public().Sign) {
		return nil, errors.New("the request is not this installation's")
	}
	nodes := [][]byte{slices.Clone(inst.Public().Sign)}
	for _, k := range others {
		if !slices.ContainsFunc(nodes, func(n []byte) bool { return bytes.Equal(n, k) }) {
			nodes = append(nodes, slices.Clone(k))
		}
	}
	n := &NodeRequest{Request: req.Bytes, Nodes: nodes}
	if err := n.validate(); err != nil {
		return nil, err
	}
	return n, n.Cosign(inst)
}

// ValidNodeKeys checks a set of node keys (the field's name for the
// error): MinNodes to MaxNodes Ed25519 keys, none twice.
func ValidNodeKeys(keys [][]byte, field string) error {
	if len(keys) < MinNodes || len(keys) > MaxNodes {
		return &FieldError{field, fmt.Sprintf("must be %d to %d keys", MinNodes, MaxNodes)}
	}
	for i, k := range keys {
		if len(k) != ed25519.PublicKeySize {
			return &FieldError{field, "a node key is not an Ed25519 public key"}
		}
		for _, o := range keys[:i] {
			if bytes.Equal(o, k) {
				return &FieldError{field, "a node key is named twice"}
			}
		}
	}
	return nil
}

func (n *NodeRequest) validate() error {
	if err := ValidNodeKeys(n.Nodes, "nodes"); err != nil {
		return err
	}
	if len(n.Cosigns) > len(n.Nodes) {
		return &FieldError{"cosigns", "more than the nodes"}
	}
	if len(n.Request) == 0 || len(n.Request) > crypto.MaxMessage {
		return &FieldError{"request", "missing or too large"}
	}
	return nil
}

func (n *NodeRequest) cosignPayload() ([]byte, error) {
	h := sha256.Sum256(n.Request)
	return wire.Marshal(&cosign{Request: h[:], Nodes: n.Nodes})
}

// Cosign adds id's co-signature; id must be one of the nodes. Signing
// twice replaces the node's earlier co-signature.
func (n *NodeRequest) Cosign(id *crypto.Identity) error {
	me := id.Public().Sign
	if !slices.ContainsFunc(n.Nodes, func(k []byte) bool { return bytes.Equal(k, me) }) {
		return result.New(result.InstallationMismatch, fmt.Sprintf("installation %s is not one of the nodes this request names", id.ID()))
	}
	payload, err := n.cosignPayload()
	if err != nil {
		return err
	}
	sig, err := crypto.Sign(id, TagNodeCosign, payload)
	if err != nil {
		return err
	}
	kid := id.ID()
	n.Cosigns = slices.DeleteFunc(n.Cosigns, func(c []byte) bool {
		s, err := crypto.ParseSigned(c)
		return err == nil && s.KeyID == kid
	})
	n.Cosigns = append(n.Cosigns, sig)
	return nil
}

// Bytes is the node request's encoding.
func (n *NodeRequest) Bytes() ([]byte, error) { return wire.Marshal(n) }

// Text is the armored form (a request).
func (n *NodeRequest) Text() ([]byte, error) {
	b, err := n.Bytes()
	if err != nil {
		return nil, err
	}
	return armor.Encode(armor.Request, b), nil
}

// IsNodeRequest reports whether data (a request's bytes) is a node request
// rather than a plain request.
func IsNodeRequest(data []byte) bool { return len(data) > 0 && data[0]>>5 == 5 } // a CBOR map

// ParseNodeRequest decodes a node request and verifies the request inside
// (its signature, the requester being the first node). The co-signatures
// are checked by Missing and VerifyNodes.
func ParseNodeRequest(data []byte) (*NodeRequest, *Signed, error) {
	if len(data) > crypto.MaxMessage*(MaxNodes+2) {
		return nil, nil, result.New(result.Malformed, "not a valid node request: too large")
	}
	n := new(NodeRequest)
	if err := wire.Unmarshal(data, n); err != nil {
		return nil, nil, result.Wrap(result.Malformed, "not a valid node request", err)
	}
	if err := n.validate(); err != nil {
		return nil, nil, result.Wrap(result.Malformed, "not a valid node request", err)
	}
	req, err := Verify(n.Request)
	if err != nil {
		return nil, nil, err
	}
	if !bytes.Equal(req.Request.InstallSign, n.Nodes[0]) {
		return nil, nil, result.New(result.Malformed, "not a valid node request: the request is not the first node's")
	}
	return n, req, nil
}

// Missing returns the nodes whose valid co-signature the request lacks.
func (n *NodeRequest) Missing() ([][]byte, error) {
	payload, err := n.cosignPayload()
	if err != nil {
		return nil, err
	}
	var missing [][]byte
	for _, k := range n.Nodes {
		ok := false
		for _, c := range n.Cosigns {
			s, err := crypto.ParseSigned(c)
			if err != nil || s.KeyID != crypto.KeyIDOf(k) {
				continue
			}
			if _, err := s.Verify(TagNodeCosign, ed25519.PublicKey(k)); err == nil && bytes.Equal(s.Payload, payload) {
				ok = true
				break
			}
		}
		if !ok {
			missing = append(missing, k)
		}
	}
	return missing, nil
}

// VerifyNodes parses a request's bytes, plain or node request. For a node
// request it returns the node keys, and fails with SIGNATURE_INVALID unless
// every node has co-signed it.
func VerifyNodes(data []byte) (*Signed, [][]byte, error) {
	if !IsNodeRequest(data) {
		s, err := Verify(data)
		return s, nil, err
	}
	n, req, err := ParseNodeRequest(data)
	if err != nil {
		return nil, nil, err
	}
	missing, err := n.Missing()
	if err != nil {
		return nil, nil, result.Wrap(result.Malformed, "not a valid node request", err)
	}
	if len(missing) > 0 {
		return nil, nil, result.New(result.SignatureInvalid, fmt.Sprintf("%d of the %d nodes have not co-signed the request (first missing: %s)", len(missing), len(n.Nodes), crypto.KeyIDOf(missing[0])))
	}
	return req, n.Nodes, nil
}
