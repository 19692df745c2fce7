package relay

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"time"
)

// ALPN is the application protocol both ends of a relay connection name.
const ALPN = "spacecast-relay/1"

// Identity errors.
var (
	// ErrNoKeys: the relay needs the cluster keyring to derive its CA.
	ErrNoKeys = errors.New("relay: no cluster keys (cluster.gossipKeys) to derive the relay CA from")
	// ErrNotMember: the peer's certificate was not issued by the cluster's
	// CA, or names another node.
	ErrNotMember = errors.New("relay: peer is not a member of this cluster")
)

// Certificate lifetimes. A leaf is renewed when less than leafRenew of it
// is left; NotBefore is backdated to tolerate clock skew between edges.
const (
	leafLifetime = 7 * 24 * time.Hour
	leafRenew    = 24 * time.Hour
	leafSkew     = time.Hour
)

// The CA certificate is the same bytes on every node: a fixed serial and
// validity, and Ed25519 signatures are deterministic.
var (
	caNotBefore = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	caNotAfter  = time.Date(2120, 1, 1, 0, 0, 0, 0, time.UTC)
)

// hkdf labels: one per derived secret, so no two uses share a key.
const (
	labelCA    = "spacecast relay CA v1"
	labelReset = "spacecast relay stateless reset v1"
)

type clusterCA struct {
	key  ed25519.PrivateKey
	cert *x509.Certificate
	der  []byte
}

// Identity is an edge's credentials on the relay: the cluster CAs derived
// from the keyring (all trusted, the first one issues) and the edge's own
// leaf certificate, issued on demand and renewed before it expires. Its
// methods are safe for concurrent use.
type Identity struct {
	node string
	now  func() time.Time

	mu    sync.Mutex
	cas   []clusterCA // primary first
	pool  *x509.CertPool
	leaf  *tls.Certificate
	until time.Time // leaf's NotAfter
	reset [32]byte  // stateless reset key (from the primary key)
}

// NewIdentity derives the relay CAs from keys (the cluster's gossip
// keyring, primary first: clusterkey.Config.GossipKeyring) for the edge node.
// now is the clock (nil: time.Now).
func NewIdentity(node string, keys [][]byte, now func() time.Time) (*Identity, error) {
	if node == "" {
		return nil, fmt.Errorf("%w: empty node id", ErrConfig)
	}
	if now == nil {
		now = time.Now
	}
	id := &Identity{node: node, now: now}
	if err := id.SetKeys(keys); err != nil {
		return nil, err
	}
	return id, nil
}

// Node is the node id the identity's certificates name.
func (id *Identity) Node() string { return id.node }

// SetKeys replaces the keyring (rotation, as gossip.Node.SetKeys): every
// key's CA is trusted from now on, and the next leaf is issued by the first
// one's (the current leaf is reissued at once when the primary changed).
func (id *Identity) SetKeys(keys [][]byte) error {
	if len(keys) == 0 {
		return ErrNoKeys
	}
	cas := make([]clusterCA, 0, len(keys))
	pool := x509.NewCertPool()
	for i, k := range keys {
		if len(k) < 16 {
			return fmt.Errorf("%w: key %d is %d bytes, want at least 16", ErrConfig, i, len(k))
		}
		ca, err := deriveCA(k)
		if err != nil {
			return err
		}
		cas = append(cas, ca)
		pool.AddCert(ca.cert)
	}
	reset, err := hkdf.Key(sha256.New, keys[0], []byte(id.node), labelReset, 32)
	if err != nil {
		return fmt.Errorf("relay: derive reset key: %w", err)
	}
	id.mu.Lock()
	defer id.mu.Unlock()
	if len(id.cas) == 0 || !id.cas[0].key.Equal(cas[0].key) {
		id.leaf = nil
	}
	id.cas, id.pool = cas, pool
	copy(id.reset[:], reset)
	return nil
}

// deriveCA makes the cluster CA of one key.
func deriveCA(key []byte) (clusterCA, error) {
	seed, err := hkdf.Key(sha256.New, key, nil, labelCA, ed25519.SeedSize)
	if err != nil {
		return clusterCA{}, fmt.Errorf("relay: derive CA: %w", err)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	pub := priv.Public().(ed25519.PublicKey)
	sum := sha256.Sum256(pub)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "spacecast relay CA " + hex.EncodeToString(sum[:6])},
		NotBefore:             caNotBefore,
		NotAfter:              caNotAfter,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
		SubjectKeyId:          sum[:20],
	}
	der, err := x509.CreateCertificate(nil, tmpl, tmpl, pub, priv)
	if err != nil {
		return clusterCA{}, fmt.Errorf("relay: CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return clusterCA{}, fmt.Errorf("relay: CA certificate: %w", err)
	}
	return clusterCA{key: priv, cert: cert, der: der}, nil
}

// certificate returns the current leaf, issuing a new one when there is
// none or it is close to expiring.
func (id *Identity) certificate() (*tls.Certificate, error) {
	id.mu.Lock()
	defer id.mu.Unlock()
	now := id.now()
	if id.leaf != nil && id.until.Sub(now) > leafRenew {
		return id.leaf, nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("relay: leaf key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("relay: serial: %w", err)
	}
	ca := id.cas[0]
	until := now.Add(leafLifetime)
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: id.node},
		NotBefore:    now.Add(-leafSkew),
		NotAfter:     until,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, fmt.Errorf("relay: leaf certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("relay: leaf certificate: %w", err)
	}
	id.leaf = &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
	id.until = until
	return id.leaf, nil
}

// verify checks a peer's certificate chain against the cluster CAs and
// returns the node id it names; want, when not empty, is the node the
// caller meant to reach.
func (id *Identity) verify(raw [][]byte, want string) (string, error) {
	if len(raw) == 0 {
		return "", fmt.Errorf("%w: no certificate", ErrNotMember)
	}
	leaf, err := x509.ParseCertificate(raw[0])
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrNotMember, err)
	}
	id.mu.Lock()
	pool := id.pool
	id.mu.Unlock()
	_, err = leaf.Verify(x509.VerifyOptions{
		Roots:       pool,
		CurrentTime: id.now(),
		KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrNotMember, err)
	}
	node := leaf.Subject.CommonName
	if node == "" || want != "" && node != want {
		return "", fmt.Errorf("%w: certificate names node %q, want %q", ErrNotMember, node, want)
	}
	return node, nil
}

// ServerTLS is the TLS configuration of the accepting side: TLS 1.3, the
// relay's ALPN, a client certificate from the cluster CA required.
func (id *Identity) ServerTLS() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		NextProtos: []string{ALPN},
		ClientAuth: tls.RequireAnyClientCert, // verified below, against the cluster CAs
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return id.certificate()
		},
		VerifyConnection: func(cs tls.ConnectionState) error {
			raw := make([][]byte, len(cs.PeerCertificates))
			for i, c := range cs.PeerCertificates {
				raw[i] = c.Raw
			}
			_, err := id.verify(raw, "")
			return err
		},
	}
}

// ClientTLS is the TLS configuration for dialing node: the server's
// certificate must come from the cluster CA and name node.
func (id *Identity) ClientTLS(node string) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		NextProtos: []string{ALPN},
		ServerName: "spacecast-relay",
		// The chain is checked against the cluster CAs, and the name
		// against node, in VerifyConnection: certificates name nodes, not
		// hosts.
		InsecureSkipVerify: true,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return id.certificate()
		},
		VerifyConnection: func(cs tls.ConnectionState) error {
			raw := make([][]byte, len(cs.PeerCertificates))
			for i, c := range cs.PeerCertificates {
				raw[i] = c.Raw
			}
			_, err := id.verify(raw, node)
			return err
		},
	}
}

// resetKey is the QUIC stateless reset key: derived from the primary key
// and the node id, so a restarted edge resets its peers' connections to its
// previous incarnation at once instead of letting them time out.
func (id *Identity) resetKey() [32]byte {
	id.mu.Lock()
	defer id.mu.Unlock()
	return id.reset
}

// peerNode is the node id the verified peer certificate of cs names.
func peerNode(cs tls.ConnectionState) string {
	if len(cs.PeerCertificates) == 0 {
		return ""
	}
	return cs.PeerCertificates[0].Subject.CommonName
}
