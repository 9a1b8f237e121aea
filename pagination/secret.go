package pagination

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"hash"
	"sync"
)

// Secret is a key of a [Codec], with the id that cursors carry so that a
// codec holding several keys knows which one verifies a cursor.
type Secret struct {
	// ID names the key inside cursors. IDs must be distinct within a codec;
	// give every new key a fresh one (a counter that wraps at 255 is fine
	// once the old key is long retired).
	ID uint8
	// Key is the secret: at least MinSecretLength bytes from a
	// cryptographically secure source, such as the output of
	// `openssl rand -base64 32` decoded. Keys for MACs and encryption are
	// derived from it, so it may serve both modes.
	Key []byte
}

// MinSecretLength is the shortest Secret.Key a codec accepts, in bytes.
const MinSecretLength = 32

type codecKey struct {
	id   uint8
	macs sync.Pool // of hash.Hash: HMAC-SHA256 keyed with the MAC key
	aead cipher.AEAD
}

func newCodecKey(s Secret) (*codecKey, error) {
	macKey := derive(s.Key, "backstop/pagination/v1/hmac-sha256")
	encKey := derive(s.Key, "backstop/pagination/v1/aes-256-gcm")
	block, err := aes.NewCipher(encKey)
	if err != nil {
		return nil, fmt.Errorf("pagination: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("pagination: %w", err)
	}
	k := &codecKey{id: s.ID, aead: aead}
	k.macs.New = func() any { return hmac.New(sha256.New, macKey) }
	return k, nil
}

// derive returns an independent 32-byte key for one purpose, so the MAC and
// the cipher never share a key and a secret reused elsewhere yields nothing
// usable here.
func derive(secret []byte, purpose string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(purpose))
	return m.Sum(nil)
}

func (k *codecKey) mac(dst, msg []byte) []byte {
	m := k.macs.Get().(hash.Hash)
	m.Reset()
	m.Write(msg)
	dst = m.Sum(dst)
	k.macs.Put(m)
	return dst
}
