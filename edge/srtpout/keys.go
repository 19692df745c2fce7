package srtpout

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"

	"github.com/pion/dtls/v3"
	"github.com/pion/dtls/v3/pkg/crypto/prf"
	"github.com/pion/dtls/v3/pkg/protocol/extension"
	"github.com/pion/dtls/v3/pkg/protocol/handshake"
	"github.com/pion/srtp/v3"
	"github.com/pion/webrtc/v4"
)

// ErrNotReady is returned until the handshake has shown both halves of
// what the keys are derived from.
var ErrNotReady = errors.New("srtpout: DTLS handshake not seen (or the edge was not its server)")

// Keys collects what one DTLS handshake shows the server's hooks: the
// ServerHello (server random, cipher suite, SRTP profile) and the key log
// line (client random, master secret). Safe for concurrent use.
type Keys struct {
	mu           sync.Mutex
	hello        bool
	serverRandom [handshake.RandomLength]byte
	suite        dtls.CipherSuiteID
	profile      srtp.ProtectionProfile
	clientRandom []byte
	master       []byte
}

// Configure makes s report its handshakes to k. s must serve one peer
// connection only: k holds one handshake.
func (k *Keys) Configure(s *webrtc.SettingEngine) {
	s.SetDTLSKeyLogWriter(k)
	s.SetDTLSServerHelloMessageHook(k.ServerHello)
}

// ServerHello records the server random, the cipher suite and the SRTP
// protection profile the server chose, and returns m unchanged (it is a
// pion/dtls ServerHello hook).
func (k *Keys) ServerHello(m handshake.MessageServerHello) handshake.Message {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.hello = false
	if m.CipherSuiteID == nil {
		return &m
	}
	var profile srtp.ProtectionProfile
	for _, e := range m.Extensions {
		if u, ok := e.(*extension.UseSRTP); ok && len(u.ProtectionProfiles) == 1 {
			p, ok := srtpProfile(u.ProtectionProfiles[0])
			if !ok {
				return &m
			}
			profile = p
		}
	}
	if profile == 0 {
		return &m
	}
	k.serverRandom = m.Random.MarshalFixed()
	k.suite = dtls.CipherSuiteID(*m.CipherSuiteID)
	k.profile = profile
	k.hello = true
	return &m
}

// keyLogLabel is the NSS key log label of a TLS 1.2 master secret.
const keyLogLabel = "CLIENT_RANDOM"

// Write takes key log lines ("CLIENT_RANDOM <client random> <master
// secret>", hex) and keeps the last one; other lines are ignored. It is
// the handshake's io.Writer for its key log, and never fails.
func (k *Keys) Write(p []byte) (int, error) {
	for line := range bytes.Lines(p) {
		f := bytes.Fields(line)
		if len(f) != 3 || string(f[0]) != keyLogLabel {
			continue
		}
		random, err1 := hex.DecodeString(string(f[1]))
		master, err2 := hex.DecodeString(string(f[2]))
		if err1 != nil || err2 != nil || len(random) != handshake.RandomLength || len(master) == 0 {
			continue
		}
		k.mu.Lock()
		k.clientRandom, k.master = random, master
		k.mu.Unlock()
	}
	return len(p), nil
}

// Profile is the SRTP protection profile the handshake chose, or 0.
func (k *Keys) Profile() srtp.ProtectionProfile {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.hello {
		return 0
	}
	return k.profile
}

// ExportKeyingMaterial is RFC 5705's exporter over what k saw, as the
// server computes it: the TLS 1.2 PRF of the master secret, keyed with the
// label and the client and server randoms, using the cipher suite's hash.
// It implements srtp.KeyingMaterialExporter.
func (k *Keys) ExportKeyingMaterial(label string, context []byte, length int) ([]byte, error) {
	if len(context) != 0 {
		return nil, errors.New("srtpout: exporter context is not supported")
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.hello || k.master == nil {
		return nil, ErrNotReady
	}
	h, err := prfHash(k.suite)
	if err != nil {
		return nil, err
	}
	seed := make([]byte, 0, len(label)+2*handshake.RandomLength)
	seed = append(append(append(seed, label...), k.clientRandom...), k.serverRandom[:]...)
	return prf.PHash(k.master, seed, length, h)
}

// Context returns a new SRTP context that encrypts what the server sends
// (RFC 5764 §4.2: the server write key and salt).
func (k *Keys) Context() (*srtp.Context, error) {
	profile := k.Profile()
	if profile == 0 {
		return nil, ErrNotReady
	}
	cfg := srtp.Config{Profile: profile}
	if err := cfg.ExtractSessionKeysFromDTLS(k, false); err != nil {
		return nil, fmt.Errorf("srtpout: keys: %w", err)
	}
	c, err := srtp.CreateContext(cfg.Keys.LocalMasterKey, cfg.Keys.LocalMasterSalt, profile)
	if err != nil {
		return nil, fmt.Errorf("srtpout: context: %w", err)
	}
	return c, nil
}

// prfHash is the PRF hash of a TLS 1.2 cipher suite: SHA-384 for the
// *_SHA384 suites, SHA-256 for every other one pion negotiates.
func prfHash(id dtls.CipherSuiteID) (prf.HashFunc, error) {
	switch id {
	case dtls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, dtls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384:
		return sha512.New384, nil
	case dtls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, dtls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
		dtls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA, dtls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
		dtls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, dtls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		dtls.TLS_ECDHE_ECDSA_WITH_AES_128_CCM, dtls.TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8:
		return sha256.New, nil
	}
	return nil, fmt.Errorf("srtpout: cipher suite %s: PRF hash unknown", dtls.CipherSuiteName(id))
}

// srtpProfile maps the profile DTLS negotiated to pion/srtp's.
func srtpProfile(p extension.SRTPProtectionProfile) (srtp.ProtectionProfile, bool) {
	switch p {
	case extension.SRTP_AEAD_AES_128_GCM:
		return srtp.ProtectionProfileAeadAes128Gcm, true
	case extension.SRTP_AEAD_AES_256_GCM:
		return srtp.ProtectionProfileAeadAes256Gcm, true
	case extension.SRTP_AES128_CM_HMAC_SHA1_80:
		return srtp.ProtectionProfileAes128CmHmacSha1_80, true
	case extension.SRTP_AES128_CM_HMAC_SHA1_32:
		return srtp.ProtectionProfileAes128CmHmacSha1_32, true
	}
	return 0, false
}
