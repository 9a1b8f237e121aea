package password

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"runtime"
	"time"

	"golang.org/x/crypto/argon2"
)

// Defaults: OWASP's recommended Argon2id configuration (Password Storage
// Cheat Sheet: 19 MiB, 2 passes, 1 lane), RFC 9106's 16-byte salt and
// 32-byte key.
const (
	DefaultMemory     = 19456 // KiB
	DefaultTime       = 2
	DefaultThreads    = 1
	DefaultSaltLength = 16
	DefaultKeyLength  = 32
	// DefaultMaxPasswordBytes caps passwords: far above any human password
	// or passphrase, far below what could tie up a server.
	DefaultMaxPasswordBytes = 1024
	// DefaultMaxWait is how long a caller waits for a hashing slot before
	// ErrBusy.
	DefaultMaxWait = 5 * time.Second
)

// Options configure a [Hasher]. The zero value of every field is its
// documented default, so Options{} is OWASP's recommendation with a
// concurrency limit of GOMAXPROCS.
type Options struct {
	// Memory is the Argon2 memory cost of new hashes, in KiB. Default 19456
	// (19 MiB).
	Memory uint32
	// Time is the number of passes over the memory. Default 2.
	Time uint32
	// Threads is the number of lanes (and goroutines) per hash. Default 1.
	Threads uint8
	// SaltLength is the length of the random salt, in bytes. Default 16;
	// 8 to 48.
	SaltLength uint32
	// KeyLength is the length of the derived key, in bytes. Default 32;
	// 12 to 64.
	KeyLength uint32

	// AllowWeak permits parameters below the OWASP floor (any of m=47104
	// t=1, m=19456 t=2, m=12288 t=3, m=9216 t=4, m=7168 t=5) and salts or
	// keys shorter than 16 bytes. It is for tests that must hash quickly;
	// New refuses such parameters without it.
	AllowWeak bool

	// MaxMemory, MaxTime and MaxThreads bound the parameters a stored hash
	// may ask for: a hash above them is refused with ErrParamsOutOfBounds
	// before anything is allocated, so a corrupted or planted hash cannot
	// make a login allocate gigabytes. Defaults: 4 × Memory, max(4 × Time,
	// 10) and max(Threads, 16); raise them before lowering the parameters of
	// a service whose stored hashes are stronger.
	MaxMemory  uint32
	MaxTime    uint32
	MaxThreads uint8

	// MaxPasswordBytes is the longest password accepted, in bytes. Default
	// 1024.
	MaxPasswordBytes int

	// Concurrency is how many hashes run at once; callers beyond it wait
	// for a slot. The memory that hashes in progress hold is then at most
	// Concurrency × Memory KiB (for the Hasher's own parameters). Default
	// runtime.GOMAXPROCS(0) at the time New is called.
	//
	// Each hash allocates its memory afresh (golang.org/x/crypto/argon2
	// takes no buffer), and a finished hash's memory is garbage until the
	// collector's next cycle: with GOGC=100 and no memory limit the heap
	// can reach about (2 × Concurrency + 1) × Memory before a cycle frees
	// it. A memory limit of about 2 × Concurrency × Memory plus the rest
	// of the process's heap (GOMEMLIMIT, or debug.SetMemoryLimit) keeps
	// the peak there; bench/cmd/argon2rss measures both.
	Concurrency int
	// MaxWait is how long a caller waits for a slot before ErrBusy. Default
	// 5s. A context that ends first ends the wait with its error.
	MaxWait time.Duration
	// MaxWaiting is how many callers may wait at once; the next one gets
	// ErrBusy at once. Default 64 × Concurrency.
	MaxWaiting int

	// Peppers are secret keys mixed into every hash (HMAC-SHA256 of the
	// password, keyed by the pepper, is what Argon2id hashes). The first is
	// used for new hashes, whose PHC string names it in the keyid
	// parameter; the others still verify the hashes made with them, which
	// Verify reports as needing a rehash. Keep peppers out of the database
	// (a vault, the environment). Default none.
	Peppers []Pepper
}

// Pepper is a secret key for Options.Peppers.
type Pepper struct {
	// ID names the pepper in the hashes made with it: 1 to 8 bytes. It is
	// stored in the clear.
	ID string
	// Key is the secret: at least 32 bytes. New copies it.
	Key []byte
}

// owaspFloor lists OWASP's equivalent minimum configurations (p=1).
var owaspFloor = [...]struct{ memory, time uint32 }{
	{47104, 1}, {19456, 2}, {12288, 3}, {9216, 4}, {7168, 5},
}

// Hasher hashes and verifies passwords with Argon2id. Create it with [New];
// the zero value is not usable. It is safe for concurrent use, and meant to
// be shared by the whole process: its concurrency limit bounds the memory
// that all hashing takes together.
type Hasher struct {
	memory, time uint32
	threads      uint8
	saltLen      uint32
	keyLen       uint32
	max          bounds
	maxPassword  int
	peppers      []pepper // [0] is current
	slots        limiter
	dummySalt    [maxSalt]byte

	onDerive func(memory, time uint32, threads uint8, keyLen uint32) // tests: called in the slot
}

type pepper struct {
	keyID string // base64 of ID, as in the PHC string
	key   []byte
}

// New returns a Hasher configured by o. It fails when a parameter is out of
// range, below the OWASP floor without AllowWeak, above the maximums, or a
// pepper is too short or duplicated.
func New(o Options) (*Hasher, error) {
	o = o.withDefaults()
	switch {
	case o.Time < 1:
		return nil, errors.New("password: Options.Time must be at least 1")
	case o.Threads < 1:
		return nil, errors.New("password: Options.Threads must be at least 1")
	case uint64(o.Memory) < 8*uint64(o.Threads):
		return nil, errors.New("password: Options.Memory must be at least 8 KiB per thread")
	case o.SaltLength < minSalt || o.SaltLength > maxSalt:
		return nil, errors.New("password: Options.SaltLength must be 8 to 48")
	case o.KeyLength < minKey || o.KeyLength > maxKey:
		return nil, errors.New("password: Options.KeyLength must be 12 to 64")
	case o.Memory > o.MaxMemory || o.Time > o.MaxTime || o.Threads > o.MaxThreads:
		return nil, errors.New("password: Options.MaxMemory, MaxTime and MaxThreads must not be below Memory, Time and Threads")
	case o.MaxPasswordBytes < 1:
		return nil, errors.New("password: Options.MaxPasswordBytes must be positive")
	case o.Concurrency < 1 || o.MaxWaiting < 0 || o.MaxWait < 0:
		return nil, errors.New("password: Options.Concurrency must be positive; MaxWait and MaxWaiting not negative")
	}
	if !o.AllowWeak {
		strong := false
		for _, f := range owaspFloor {
			strong = strong || (o.Memory >= f.memory && o.Time >= f.time)
		}
		if !strong || o.SaltLength < 16 || o.KeyLength < 16 {
			return nil, fmt.Errorf("password: m=%d t=%d (salt %d, key %d bytes) is below the OWASP floor; set Options.AllowWeak to allow it",
				o.Memory, o.Time, o.SaltLength, o.KeyLength)
		}
	}
	h := &Hasher{
		memory: o.Memory, time: o.Time, threads: o.Threads,
		saltLen: o.SaltLength, keyLen: o.KeyLength,
		max:         bounds{memory: o.MaxMemory, time: o.MaxTime, threads: o.MaxThreads},
		maxPassword: o.MaxPasswordBytes,
		slots:       newLimiter(o.Concurrency, o.MaxWaiting, o.MaxWait),
	}
	for _, p := range o.Peppers {
		if len(p.ID) < 1 || len(p.ID) > 8 {
			return nil, errors.New("password: a Pepper.ID must be 1 to 8 bytes")
		}
		if len(p.Key) < 32 {
			return nil, errors.New("password: a Pepper.Key must be at least 32 bytes")
		}
		id := b64.EncodeToString([]byte(p.ID))
		for _, q := range h.peppers {
			if q.keyID == id {
				return nil, errors.New("password: two peppers have the ID " + p.ID)
			}
		}
		h.peppers = append(h.peppers, pepper{keyID: id, key: append([]byte(nil), p.Key...)})
	}
	if _, err := rand.Read(h.dummySalt[:]); err != nil {
		return nil, err
	}
	return h, nil
}

func (o Options) withDefaults() Options {
	if o.Memory == 0 {
		o.Memory = DefaultMemory
	}
	if o.Time == 0 {
		o.Time = DefaultTime
	}
	if o.Threads == 0 {
		o.Threads = DefaultThreads
	}
	if o.SaltLength == 0 {
		o.SaltLength = DefaultSaltLength
	}
	if o.KeyLength == 0 {
		o.KeyLength = DefaultKeyLength
	}
	if o.MaxMemory == 0 {
		o.MaxMemory = uint32(min(4*uint64(o.Memory), 1<<32-1))
	}
	if o.MaxTime == 0 {
		o.MaxTime = max(4*o.Time, 10)
	}
	if o.MaxThreads == 0 {
		o.MaxThreads = max(o.Threads, 16)
	}
	if o.MaxPasswordBytes == 0 {
		o.MaxPasswordBytes = DefaultMaxPasswordBytes
	}
	if o.Concurrency == 0 {
		o.Concurrency = runtime.GOMAXPROCS(0)
	}
	if o.MaxWait == 0 {
		o.MaxWait = DefaultMaxWait
	}
	if o.MaxWaiting == 0 {
		o.MaxWaiting = 64 * o.Concurrency
	}
	return o
}

// Hash returns the PHC string of password under a new random salt, with the
// Hasher's parameters and current pepper:
//
//	$argon2id$v=19$m=19456,t=2,p=1$<salt>$<key>
//
// It waits for a hashing slot first (see Options.Concurrency): the error is
// then ErrBusy or ctx's error. An empty password is ErrEmptyPassword, one
// above Options.MaxPasswordBytes ErrPasswordTooLong. Password is not
// retained.
func (h *Hasher) Hash(ctx context.Context, password []byte) (string, error) {
	if len(password) == 0 {
		return "", ErrEmptyPassword
	}
	if len(password) > h.maxPassword {
		return "", ErrPasswordTooLong
	}
	var salt [maxSalt]byte
	if _, err := rand.Read(salt[:h.saltLen]); err != nil {
		return "", err
	}
	var keyID string
	var mac []byte
	if len(h.peppers) > 0 {
		keyID = h.peppers[0].keyID
		mac = h.peppers[0].key
	}
	key, err := h.derive(ctx, password, mac, salt[:h.saltLen], h.memory, h.time, h.threads, h.keyLen)
	if err != nil {
		return "", err
	}
	var buf [200]byte
	s := string(appendPHC(buf[:0], h.memory, h.time, h.threads, keyID, salt[:h.saltLen], key))
	clear(key)
	return s, nil
}

// Verify reports whether password matches the PHC string encoded, and
// whether the hash should be replaced: needsRehash is true after a match
// when the hash's parameters, salt or key length, or pepper differ from the
// Hasher's, so the caller can store h.Hash(password) while it still holds
// the password. The comparison takes constant time.
//
// The hash is parsed strictly and bounded before anything is allocated for
// it: a string that is not an Argon2id v19 PHC string, or whose parameters
// are out of bounds, returns an error wrapping ErrMalformedHash (and
// ErrUnsupportedVariant, ErrUnsupportedVersion or ErrParamsOutOfBounds
// when that is the reason); a keyid not among the peppers returns
// ErrUnknownPepper. A hash with parameters below the Hasher's own still
// verifies (and needs a rehash). Verify waits for a hashing slot as Hash
// does. An empty password never matches and costs no hashing; one above
// Options.MaxPasswordBytes is ErrPasswordTooLong.
func (h *Hasher) Verify(ctx context.Context, password []byte, encoded string) (match, needsRehash bool, err error) {
	if len(password) > h.maxPassword {
		return false, false, ErrPasswordTooLong
	}
	var p params
	if err := parse(encoded, h.max, &p); err != nil {
		return false, false, err
	}
	var mac []byte
	current := len(h.peppers) == 0
	if p.keyID != "" {
		i := h.pepperIndex(p.keyID)
		if i < 0 {
			return false, false, ErrUnknownPepper
		}
		mac = h.peppers[i].key
		current = i == 0
	}
	if len(password) == 0 {
		return false, false, nil
	}
	key, err := h.derive(ctx, password, mac, p.salt(), p.memory, p.time, p.threads, uint32(p.keyLen))
	if err != nil {
		return false, false, err
	}
	match = subtle.ConstantTimeCompare(key, p.key()) == 1
	clear(key)
	if !match {
		return false, false, nil
	}
	needsRehash = !current || p.memory != h.memory || p.time != h.time || p.threads != h.threads ||
		uint32(p.saltLen) != h.saltLen || uint32(p.keyLen) != h.keyLen
	return true, needsRehash, nil
}

// DummyVerify spends the time and memory of a Verify of a hash made by h,
// and matches nothing. Call it when a login names an unknown user, so that
// the response time does not tell which users exist:
//
//	hash, found := users.PasswordHash(name)
//	if !found {
//		return false, h.DummyVerify(ctx, pw)
//	}
//	ok, rehash, err := h.Verify(ctx, pw, hash)
//
// It waits for a hashing slot as Verify does and returns the same ErrBusy,
// ctx and ErrPasswordTooLong errors; otherwise nil.
func (h *Hasher) DummyVerify(ctx context.Context, password []byte) error {
	if len(password) > h.maxPassword {
		return ErrPasswordTooLong
	}
	if len(password) == 0 {
		return nil // as Verify: an empty password is not hashed
	}
	var mac []byte
	if len(h.peppers) > 0 {
		mac = h.peppers[0].key
	}
	key, err := h.derive(ctx, password, mac, h.dummySalt[:h.saltLen], h.memory, h.time, h.threads, h.keyLen)
	if err != nil {
		return err
	}
	var stored [maxKey]byte
	subtle.ConstantTimeCompare(key, stored[:len(key)]) // as Verify does
	clear(key)
	return nil
}

func (h *Hasher) pepperIndex(keyID string) int {
	for i := range h.peppers {
		if h.peppers[i].keyID == keyID {
			return i
		}
	}
	return -1
}

// derive runs Argon2id in a hashing slot. With a pepper, the password is
// first replaced by HMAC-SHA256(pepper, password).
func (h *Hasher) derive(ctx context.Context, password, pepper, salt []byte, memory, time uint32, threads uint8, keyLen uint32) ([]byte, error) {
	if err := h.slots.acquire(ctx); err != nil {
		return nil, err
	}
	defer h.slots.release()
	if h.onDerive != nil {
		h.onDerive(memory, time, threads, keyLen)
	}
	if pepper != nil {
		m := hmac.New(sha256.New, pepper)
		m.Write(password)
		var sum [sha256.Size]byte
		peppered := m.Sum(sum[:0])
		defer clear(peppered)
		password = peppered
	}
	return argon2.IDKey(password, salt, time, memory, threads, keyLen), nil
}
