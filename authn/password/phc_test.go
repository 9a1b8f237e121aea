package password

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// A valid hash of "password" from the argon2 CLI:
// echo -n password | argon2 somesaltsomesalt -id -t 2 -k 19456 -p 1 -l 32 -e
const cliHash = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$K13EBUiG7JV+9ZxztmHFTdb7J0WQsnj2V8bZaqyPptE"

func TestVerifiesReferenceHash(t *testing.T) {
	h := mustNew(t, Options{})
	ok, rehash, err := h.Verify(context.Background(), []byte("password"), cliHash)
	if !ok || rehash || err != nil {
		t.Fatalf("Verify(reference hash) = %v, %v, %v; want true, false, nil", ok, rehash, err)
	}
	ok, _, _ = h.Verify(context.Background(), []byte("passwore"), cliHash)
	if ok {
		t.Fatal("reference hash matched the wrong password")
	}
}

func TestHostileHashesAreTypedErrors(t *testing.T) {
	const salt, key = "c29tZXNhbHRzb21lc2FsdA", "K13EBUiG7JV+9ZxztmHFTdb7J0WQsnj2V8bZaqyPptE"
	ok := func(list string) string { return "$argon2id$v=19$" + list + "$" + salt + "$" + key }
	cases := []struct {
		name, hash string
		want       error
	}{
		{"empty", "", ErrMalformedHash},
		{"bcrypt", "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW", ErrUnsupportedVariant},
		{"argon2i", "$argon2i$v=19$m=19456,t=2,p=1$" + salt + "$" + key, ErrUnsupportedVariant},
		{"argon2d", "$argon2d$v=19$m=19456,t=2,p=1$" + salt + "$" + key, ErrUnsupportedVariant},
		{"version 16", "$argon2id$v=16$m=19456,t=2,p=1$" + salt + "$" + key, ErrUnsupportedVersion},
		{"no version", "$argon2id$m=19456,t=2,p=1$" + salt + "$" + key, ErrUnsupportedVersion},
		{"t=0 (x/crypto panics)", ok("m=19456,t=0,p=1"), ErrParamsOutOfBounds},
		{"p=0 (x/crypto panics)", ok("m=19456,t=2,p=0"), ErrParamsOutOfBounds},
		{"p=256", ok("m=19456,t=2,p=256"), ErrParamsOutOfBounds},
		{"p above MaxThreads", ok("m=19456,t=2,p=17"), ErrParamsOutOfBounds},
		{"m below 8p", ok("m=15,t=2,p=2"), ErrParamsOutOfBounds},
		{"m of 4 TiB", ok("m=4294967295,t=2,p=1"), ErrParamsOutOfBounds},
		{"m above MaxMemory", ok("m=77825,t=2,p=1"), ErrParamsOutOfBounds},
		{"t above MaxTime", ok("m=19456,t=11,p=1"), ErrParamsOutOfBounds},
		{"m overflows uint32", ok("m=4294967296,t=2,p=1"), ErrMalformedHash},
		{"negative", ok("m=-1,t=2,p=1"), ErrMalformedHash},
		{"plus sign", ok("m=+19456,t=2,p=1"), ErrMalformedHash},
		{"leading zero", ok("m=019456,t=2,p=1"), ErrMalformedHash},
		{"missing t", ok("m=19456,p=1"), ErrMalformedHash},
		{"duplicate m", ok("m=19456,m=19456,t=2,p=1"), ErrMalformedHash},
		{"unknown param", ok("m=19456,t=2,p=1,x=1"), ErrMalformedHash},
		{"data param", ok("m=19456,t=2,p=1,data=c29tZQ"), ErrMalformedHash},
		{"empty value", ok("m=,t=2,p=1"), ErrMalformedHash},
		{"trailing comma", ok("m=19456,t=2,p=1,"), ErrMalformedHash},
		{"padded salt", "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ=$" + key, ErrMalformedHash},
		{"short salt", "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$" + key, ErrMalformedHash},
		{"long salt", "$argon2id$v=19$m=19456,t=2,p=1$" + strings.Repeat("A", 66) + "$" + key, ErrMalformedHash},
		{"short key", "$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$AAAAAAAAAAAAAA", ErrMalformedHash},
		{"url alphabet", "$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$K13EBUiG7JV-9ZxztmHFTdb7J0WQsnj2V8bZaqyPptE", ErrMalformedHash},
		{"non-canonical trailing bits", "$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$K13EBUiG7JV+9ZxztmHFTdb7J0WQsnj2V8bZaqyPptF", ErrMalformedHash},
		{"newline in key", "$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$\r" + key[:15], ErrMalformedHash},
		{"extra field", cliHash + "$AAAA", ErrMalformedHash},
		{"no leading $", cliHash[1:], ErrMalformedHash},
		{"too long", cliHash + strings.Repeat("A", 300), ErrMalformedHash},
		{"keyid too long", ok("m=19456,t=2,p=1,keyid=" + strings.Repeat("A", 12)), ErrMalformedHash},
	}
	h := mustNew(t, Options{})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ok, rehash, err := h.Verify(context.Background(), []byte("password"), c.hash)
			if ok || rehash || !errors.Is(err, c.want) || !errors.Is(err, ErrMalformedHash) {
				t.Fatalf("Verify = %v, %v, %v; want false, false, %v (and ErrMalformedHash)", ok, rehash, err, c.want)
			}
			if strings.Contains(err.Error(), salt) || strings.Contains(err.Error(), key) {
				t.Fatalf("error %q quotes the hash", err)
			}
		})
	}
}

func TestParamsAcceptedInAnyOrder(t *testing.T) {
	h := mustNew(t, Options{})
	for _, list := range []string{"t=2,m=19456,p=1", "p=1,t=2,m=19456", "m=19456,p=1,t=2"} {
		s := strings.Replace(cliHash, "m=19456,t=2,p=1", list, 1)
		if ok, _, err := h.Verify(context.Background(), []byte("password"), s); !ok || err != nil {
			t.Errorf("%s: Verify = %v, %v", list, ok, err)
		}
	}
}

func TestParsingAllocatesNothing(t *testing.T) {
	hostile := "$argon2id$v=19$m=4294967295,t=4294967295,p=255$c29tZXNhbHRzb21lc2FsdA$K13EBUiG7JV+9ZxztmHFTdb7J0WQsnj2V8bZaqyPptE"
	max := bounds{memory: 1 << 20, time: 10, threads: 16}
	for _, s := range []string{cliHash, hostile} {
		var p params
		if n := testing.AllocsPerRun(100, func() { _ = parse(s, max, &p) }); n != 0 {
			t.Errorf("parse(%.30q...) allocates %v times", s, n)
		}
	}
}

func TestHashRoundTripsThroughParse(t *testing.T) {
	var salt [16]byte
	var key [32]byte
	for i := range salt {
		salt[i] = byte(i * 7)
	}
	s := string(appendPHC(nil, 19456, 2, 1, "djE", salt[:], key[:]))
	var p params
	if err := parse(s, bounds{1 << 20, 10, 16}, &p); err != nil {
		t.Fatal(err)
	}
	if got := string(appendPHC(nil, p.memory, p.time, p.threads, p.keyID, p.salt(), p.key())); got != s {
		t.Fatalf("re-encoded %q, want %q", got, s)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(cliHash)
	f.Add("$argon2id$v=19$m=64,t=1,p=1,keyid=djE$c29tZXNhbHQ$c29tZWhhc2hzb21laGFzaA")
	f.Add("$argon2id$v=19$p=4,t=3,m=65536$c29tZXNhbHQ$c29tZWhhc2hzb21laGFzaA")
	f.Add("$argon2i$v=19$m=19456,t=0,p=1$c29tZXNhbHRzb21lc2FsdA$")
	f.Fuzz(func(t *testing.T, s string) {
		max := bounds{memory: 1 << 16, time: 10, threads: 16}
		var p params
		if err := parse(s, max, &p); err != nil {
			if !errors.Is(err, ErrMalformedHash) {
				t.Fatalf("error %v does not wrap ErrMalformedHash", err)
			}
			return
		}
		if p.time < 1 || p.time > max.time || p.threads < 1 || p.threads > max.threads ||
			p.memory < 8*uint32(p.threads) || p.memory > max.memory ||
			p.saltLen < minSalt || p.saltLen > maxSalt || p.keyLen < minKey || p.keyLen > maxKey {
			t.Fatalf("parse accepted out-of-bounds %+v", p)
		}
		again := string(appendPHC(nil, p.memory, p.time, p.threads, p.keyID, p.salt(), p.key()))
		var q params
		if err := parse(again, max, &q); err != nil || q != p {
			t.Fatalf("re-encoded %q does not parse back: %v", again, err)
		}
	})
}

// argon2CLI returns the path of the reference argon2 command, skipping the
// test without it, or failing it when CI is set: CI installs it.
func argon2CLI(t *testing.T) string {
	path, err := exec.LookPath("argon2")
	if err != nil {
		msg := "argon2 reference CLI not on PATH (Debian: apt-get install argon2)"
		if os.Getenv("CI") != "" {
			t.Fatal(msg + " [failing rather than skipping because CI is set]")
		}
		t.Skip(msg)
	}
	return path
}

func runCLI(t *testing.T, cli, password, salt string, args ...string) string {
	t.Helper()
	cmd := exec.Command(cli, append([]string{salt, "-id", "-e"}, args...)...)
	cmd.Stdin = strings.NewReader(password)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("argon2 %v: %v", args, err)
	}
	return strings.TrimSpace(string(out))
}

func TestInteropWithReferenceCLI(t *testing.T) {
	cli := argon2CLI(t)
	ctx := context.Background()
	for _, o := range []Options{
		{},
		{Memory: 65536, Time: 3, Threads: 4},
		{Memory: 47104, Time: 1, KeyLength: 64, SaltLength: 24},
		{Memory: 64, Time: 1, Threads: 2, KeyLength: 12, SaltLength: 8, AllowWeak: true},
	} {
		h := mustNew(t, o)
		o = o.withDefaults()
		args := []string{"-t", strconv.Itoa(int(o.Time)), "-k", strconv.Itoa(int(o.Memory)),
			"-p", strconv.Itoa(int(o.Threads)), "-l", strconv.Itoa(int(o.KeyLength))}
		salt := strings.Repeat("s4lt-", 10)[:o.SaltLength] // the CLI takes the salt as text

		// Theirs verifies here.
		theirs := runCLI(t, cli, "hunter2 ünïcode", salt, args...)
		if ok, rehash, err := h.Verify(ctx, []byte("hunter2 ünïcode"), theirs); !ok || rehash || err != nil {
			t.Errorf("%v: Verify(%s) = %v, %v, %v", args, theirs, ok, rehash, err)
		}
		// Ours is what the CLI computes: same parameters, salt and key,
		// byte for byte.
		key, err := h.derive(ctx, []byte("hunter2 ünïcode"), nil, []byte(salt), o.Memory, o.Time, o.Threads, o.KeyLength)
		if err != nil {
			t.Fatal(err)
		}
		ours := string(appendPHC(nil, o.Memory, o.Time, o.Threads, "", []byte(salt), key))
		if ours != theirs {
			t.Errorf("%v: we encode %s, the CLI %s", args, ours, theirs)
		}
	}
}

func TestInteropCLIVerifiesOurHash(t *testing.T) {
	cli := argon2CLI(t)
	h := mustNew(t, Options{})
	for range 3 {
		s, err := h.Hash(context.Background(), []byte("pw"))
		if err != nil {
			t.Fatal(err)
		}
		var p params
		if err := parse(s, h.max, &p); err != nil {
			t.Fatal(err)
		}
		if strings.IndexByte(string(p.salt()), 0) >= 0 {
			continue // an argument cannot hold a NUL byte; the next salt will do
		}
		// The CLI takes the salt as an argument: give it our random bytes.
		theirs := runCLI(t, cli, "pw", string(p.salt()), "-t", "2", "-k", "19456", "-p", "1", "-l", "32")
		if theirs != s {
			t.Fatalf("the CLI computes %s for our hash %s", theirs, s)
		}
		return
	}
	t.Skip("three salts in a row held a NUL byte")
}
