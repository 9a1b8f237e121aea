package authn

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"
)

// Key is a verification key for tokens whose header names its ID as kid.
type Key struct {
	// ID is the key id (kid). A key with an empty ID verifies tokens that
	// have no kid.
	ID string
	// Algorithm is the one JWS algorithm the key verifies ("HS256", "RS256",
	// "PS256", "ES256", "EdDSA", ...): a key is never used with another, so
	// HMAC/RSA confusion cannot happen whatever the token claims.
	Algorithm string
	// Key is the key: []byte for HS256/384/512 (at least 32/48/64 bytes,
	// RFC 7518 §3.2), *rsa.PublicKey for RS* and PS* (at least 2048 bits),
	// *ecdsa.PublicKey for ES256/384/512 (P-256/384/521), ed25519.PublicKey
	// for EdDSA. A private key is accepted and its public half used.
	Key any
}

// Algorithms this package verifies and signs, one bit each.
var algorithms = [...]string{
	"HS256", "HS384", "HS512",
	"RS256", "RS384", "RS512",
	"PS256", "PS384", "PS512",
	"ES256", "ES384", "ES512",
	"EdDSA",
}

type algSet uint16

func algBit(alg string) algSet {
	for i, a := range algorithms {
		if a == alg {
			return 1 << i
		}
	}
	return 0
}

const (
	hmacAlgs  = algSet(0b111)
	rsaAlgs   = algSet(0b111111 << 3)
	es256     = algSet(1 << 9)
	es384     = algSet(1 << 10)
	es512     = algSet(1 << 11)
	eddsaAlgs = algSet(1 << 12)
)

// verifyKey is a key ready for golang-jwt, with the algorithms it may
// verify.
type verifyKey struct {
	algs algSet
	key  any
}

// keyAlgs returns the algorithms a key of this type can verify, with the
// key normalised to what golang-jwt expects.
func keyAlgs(k any) (algSet, any, error) {
	switch k := k.(type) {
	case []byte:
		if len(k) < 32 {
			return 0, nil, errors.New("authn: an HMAC key must be at least 32 bytes")
		}
		var algs algSet = 1 // HS256
		if len(k) >= 48 {
			algs |= 2
		}
		if len(k) >= 64 {
			algs |= 4
		}
		return algs, append([]byte(nil), k...), nil
	case *rsa.PrivateKey:
		return keyAlgs(&k.PublicKey)
	case *rsa.PublicKey:
		if k == nil || k.N == nil || k.N.BitLen() < 2048 {
			return 0, nil, errors.New("authn: an RSA key must be at least 2048 bits")
		}
		return rsaAlgs, k, nil
	case *ecdsa.PrivateKey:
		return keyAlgs(&k.PublicKey)
	case *ecdsa.PublicKey:
		if k == nil || k.Curve == nil {
			return 0, nil, errors.New("authn: nil ECDSA key")
		}
		switch k.Curve {
		case elliptic.P256():
			return es256, k, nil
		case elliptic.P384():
			return es384, k, nil
		case elliptic.P521():
			return es512, k, nil
		}
		return 0, nil, errors.New("authn: ECDSA keys must be on P-256, P-384 or P-521")
	case ed25519.PrivateKey:
		return keyAlgs(k.Public())
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return 0, nil, errors.New("authn: bad Ed25519 public key size")
		}
		return eddsaAlgs, k, nil
	case crypto.Signer:
		return keyAlgs(k.Public())
	}
	return 0, nil, fmt.Errorf("authn: unsupported key type %T", k)
}

// newKeyMap validates static keys.
func newKeyMap(keys []Key, allowed algSet) (map[string]verifyKey, error) {
	m := make(map[string]verifyKey, len(keys))
	for _, k := range keys {
		bit := algBit(k.Algorithm)
		if bit == 0 {
			return nil, fmt.Errorf("authn: key %q: unknown algorithm %q", k.ID, k.Algorithm)
		}
		if bit&allowed == 0 {
			return nil, fmt.Errorf("authn: key %q: algorithm %s is not in Algorithms", k.ID, k.Algorithm)
		}
		algs, key, err := keyAlgs(k.Key)
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", k.ID, err)
		}
		if algs&bit == 0 {
			return nil, fmt.Errorf("authn: key %q cannot verify %s", k.ID, k.Algorithm)
		}
		if _, dup := m[k.ID]; dup {
			return nil, fmt.Errorf("authn: two keys have the ID %q", k.ID)
		}
		m[k.ID] = verifyKey{algs: bit, key: key}
	}
	return m, nil
}
