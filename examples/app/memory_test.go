package app

import (
	"errors"
	"slices"
	"testing"
	"time"
)

func TestMemoryUsersEmailIsCaseInsensitive(t *testing.T) {
	u := NewMemoryUsers()
	a, err := u.Create(t.Context(), User{Email: "Ann@Example.com", Name: "Ann"})
	if err != nil || a.ID != 1 {
		t.Fatalf("create: %+v %v", a, err)
	}
	if _, err := u.Create(t.Context(), User{Email: "ann@example.COM"}); !errors.Is(err, ErrEmailTaken) {
		t.Errorf("duplicate email: %v", err)
	}
	if got, err := u.ByEmail(t.Context(), "ANN@example.com"); err != nil || got.ID != a.ID {
		t.Errorf("ByEmail: %+v %v", got, err)
	}
	if _, err := u.ByEmail(t.Context(), "bob@example.com"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown email: %v", err)
	}
}

func TestMemoryOrdersKeyset(t *testing.T) {
	m := NewMemoryOrders()
	me, other := Owner{"iss", "1"}, Owner{"iss", "2"}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// Two orders share a timestamp: id breaks the tie.
	for i, at := range []time.Time{t0, t0.Add(time.Second), t0.Add(time.Second), t0.Add(2 * time.Second)} {
		if _, err := m.Create(t.Context(), Order{Owner: me, Item: "x", Quantity: i + 1, CreatedAt: at}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := m.Create(t.Context(), Order{Owner: other, CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	ids := func(os []Order) []int64 {
		var out []int64
		for _, o := range os {
			out = append(out, o.ID)
		}
		return out
	}
	all, _ := m.List(t.Context(), me, ListQuery{Limit: 10})
	if got := ids(all); !slices.Equal(got, []int64{4, 3, 2, 1}) {
		t.Fatalf("newest first: %v", got)
	}
	after, _ := m.List(t.Context(), me, ListQuery{HasCursor: true, CreatedAt: all[1].CreatedAt, ID: all[1].ID, Limit: 10})
	if got := ids(after); !slices.Equal(got, []int64{2, 1}) {
		t.Errorf("after order 3: %v", got)
	}
	before, _ := m.List(t.Context(), me, ListQuery{HasCursor: true, CreatedAt: all[2].CreatedAt, ID: all[2].ID, Backward: true, Limit: 10})
	if got := ids(before); !slices.Equal(got, []int64{3, 4}) {
		t.Errorf("before order 2, travelling backward: %v", got)
	}
	if got, _ := m.List(t.Context(), me, ListQuery{Limit: 2}); !slices.Equal(ids(got), []int64{4, 3}) {
		t.Errorf("limit 2: %v", ids(got))
	}
	if _, err := m.Get(t.Context(), other, 1); !errors.Is(err, ErrNotFound) {
		t.Errorf("another owner's order: %v", err)
	}
}
