package authn

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
)

// NewJWKSHandler returns a handler that serves keys as a JWK set (RFC 7517)
// for other services' verifiers, e.g. at /.well-known/jwks.json. Pass the
// current signer's PublicKey and the previous ones still within their
// tokens' lifetime, so that rotation never breaks verification.
//
// Only public keys are published (private halves are dropped); HMAC keys
// are refused, as they are secrets, and so are two keys with one ID: a
// verifier finds a key by kid, so the second would never verify. Each key
// carries kid, alg and use "sig". The body is built once; responses carry
// Content-Type application/jwk-set+json and Cache-Control: public,
// max-age=300. Only GET and HEAD are answered (others get 405).
func NewJWKSHandler(keys ...Key) (http.Handler, error) {
	set := jwkSet{Keys: make([]jwk, 0, len(keys))}
	ids := make(map[string]bool, len(keys))
	for _, k := range keys {
		if ids[k.ID] {
			return nil, fmt.Errorf("authn: two keys have the ID %q", k.ID)
		}
		ids[k.ID] = true
		j, err := publicJWK(k)
		if err != nil {
			return nil, err
		}
		set.Keys = append(set.Keys, j)
	}
	body, err := json.Marshal(set)
	if err != nil {
		return nil, err
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "application/jwk-set+json")
		h.Set("Cache-Control", "public, max-age=300")
		if r.Method == http.MethodGet {
			_, _ = w.Write(body)
		}
	}), nil
}

func publicJWK(k Key) (jwk, error) {
	bit := algBit(k.Algorithm)
	if bit == 0 {
		return jwk{}, fmt.Errorf("authn: key %q: unknown algorithm %q", k.ID, k.Algorithm)
	}
	algs, key, err := keyAlgs(k.Key)
	if err != nil {
		return jwk{}, err
	}
	if algs&bit == 0 {
		return jwk{}, fmt.Errorf("authn: key %q cannot verify %s", k.ID, k.Algorithm)
	}
	j := jwk{Kid: k.ID, Alg: k.Algorithm, Use: "sig"}
	switch key := key.(type) {
	case *rsa.PublicKey:
		j.Kty = "RSA"
		j.N = b64url.EncodeToString(key.N.Bytes())
		j.E = b64url.EncodeToString(big.NewInt(int64(key.E)).Bytes())
	case *ecdsa.PublicKey:
		b, err := key.Bytes()
		if err != nil {
			return jwk{}, err
		}
		size := (len(b) - 1) / 2
		j.Kty, j.Crv = "EC", key.Curve.Params().Name
		j.X = b64url.EncodeToString(b[1 : 1+size])
		j.Y = b64url.EncodeToString(b[1+size:])
	case ed25519.PublicKey:
		j.Kty, j.Crv = "OKP", "Ed25519"
		j.X = b64url.EncodeToString(key)
	default:
		return jwk{}, errors.New("authn: HMAC keys are secrets and cannot be published")
	}
	return j, nil
}
