package password_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/backstop-go/backstop/authn/password"
)

func ExampleHasher_Hash() {
	h, err := password.New(password.Options{}) // once, shared by the process
	if err != nil {
		panic(err)
	}
	hash, err := h.Hash(context.Background(), []byte("correct horse battery staple"))
	if err != nil {
		panic(err)
	}
	fmt.Println(strings.Join(strings.Split(hash, "$")[:4], "$"), "$<salt>$<key>")
	// Output: $argon2id$v=19$m=19456,t=2,p=1 $<salt>$<key>
}

func ExampleHasher_Verify() {
	h, err := password.New(password.Options{})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	// A hash stored with older, weaker parameters (made by the argon2 CLI).
	stored := "$argon2id$v=19$m=12288,t=3,p=1$c29tZXNhbHRzb21lc2FsdA$oe5MwnQ36TM8TFs+sMP2hpXaYpFw6K14HCuA9K4JvIc"

	ok, rehash, err := h.Verify(ctx, []byte("password"), stored)
	fmt.Println(ok, rehash, err)
	if ok && rehash {
		stored, _ = h.Hash(ctx, []byte("password")) // save the upgraded hash
	}
	ok, rehash, err = h.Verify(ctx, []byte("password"), stored)
	fmt.Println(ok, rehash, err)
	ok, rehash, err = h.Verify(ctx, []byte("wrong"), stored)
	fmt.Println(ok, rehash, err)
	// Output:
	// true true <nil>
	// true false <nil>
	// false false <nil>
}

func ExampleHasher_DummyVerify() {
	h, err := password.New(password.Options{})
	if err != nil {
		panic(err)
	}
	hashes := map[string]string{} // user name -> stored hash
	login := func(ctx context.Context, user string, pw []byte) (bool, error) {
		hash, found := hashes[user]
		if !found {
			// Spend the time of a real check, so the answer's timing does
			// not tell that the user does not exist.
			return false, h.DummyVerify(ctx, pw)
		}
		ok, _, err := h.Verify(ctx, pw, hash)
		return ok, err
	}
	fmt.Println(login(context.Background(), "mallory", []byte("guess")))
	// Output: false <nil>
}
