package app

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"sync"
)

// MemoryUsers keeps users in memory. The zero value is not usable; create
// one with [NewMemoryUsers]. It is safe for concurrent use.
type MemoryUsers struct {
	mu      sync.Mutex
	byEmail map[string]User
	nextID  int64
}

// NewMemoryUsers returns an empty user store.
func NewMemoryUsers() *MemoryUsers {
	return &MemoryUsers{byEmail: map[string]User{}, nextID: 1}
}

// Create implements [Users].
func (m *MemoryUsers) Create(_ context.Context, u User) (User, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := strings.ToLower(u.Email)
	if _, ok := m.byEmail[k]; ok {
		return User{}, ErrEmailTaken
	}
	u.ID = m.nextID
	m.nextID++
	m.byEmail[k] = u
	return u, nil
}

// ByEmail implements [Users].
func (m *MemoryUsers) ByEmail(_ context.Context, email string) (User, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	u, ok := m.byEmail[strings.ToLower(email)]
	if !ok {
		return User{}, ErrNotFound
	}
	return u, nil
}

// SetPasswordHash implements [Users].
func (m *MemoryUsers) SetPasswordHash(_ context.Context, id int64, hash string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, u := range m.byEmail {
		if u.ID == id {
			u.PasswordHash = hash
			m.byEmail[k] = u
			return nil
		}
	}
	return ErrNotFound
}

// MemoryOrders keeps orders in memory, per owner in creation order. The
// zero value is not usable; create one with [NewMemoryOrders]. It is safe
// for concurrent use.
type MemoryOrders struct {
	mu      sync.Mutex
	byOwner map[Owner][]Order // ascending (created_at, id)
	nextID  int64
}

// NewMemoryOrders returns an empty order store.
func NewMemoryOrders() *MemoryOrders {
	return &MemoryOrders{byOwner: map[Owner][]Order{}, nextID: 1}
}

// Create implements [Orders].
func (m *MemoryOrders) Create(_ context.Context, o Order) (Order, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o.ID = m.nextID
	m.nextID++
	list := m.byOwner[o.Owner]
	i, _ := slices.BinarySearchFunc(list, o, compareOrders)
	m.byOwner[o.Owner] = slices.Insert(list, i, o)
	return o, nil
}

// Get implements [Orders].
func (m *MemoryOrders) Get(_ context.Context, owner Owner, id int64) (Order, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, o := range m.byOwner[owner] {
		if o.ID == id {
			return o, nil
		}
	}
	return Order{}, ErrNotFound
}

// List implements [Orders].
func (m *MemoryOrders) List(_ context.Context, owner Owner, q ListQuery) ([]Order, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	list := m.byOwner[owner] // ascending; the sort order is descending
	out := make([]Order, 0, max(0, min(q.Limit, len(list))))
	if !q.Backward {
		// Newest first, strictly older than the cursor.
		for i := len(list) - 1; i >= 0 && len(out) < q.Limit; i-- {
			o := list[i]
			if q.HasCursor && compareOrders(o, Order{CreatedAt: q.CreatedAt, ID: q.ID}) >= 0 {
				continue
			}
			out = append(out, o)
		}
		return out, nil
	}
	// Oldest first, strictly newer than the cursor.
	for _, o := range list {
		if len(out) == q.Limit {
			break
		}
		if q.HasCursor && compareOrders(o, Order{CreatedAt: q.CreatedAt, ID: q.ID}) <= 0 {
			continue
		}
		out = append(out, o)
	}
	return out, nil
}

// compareOrders orders by (created_at, id) ascending.
func compareOrders(a, b Order) int {
	if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
		return c
	}
	return cmp.Compare(a.ID, b.ID)
}
