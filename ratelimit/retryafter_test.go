package ratelimit_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/backstop-go/backstop/ratelimit"
	"github.com/backstop-go/backstop/ratelimit/limitertest"
)

// sfItem is one Item of a Structured Field List (RFC 9651 §3.1) whose bare
// value is a String and whose parameters are all Integers: the shape of
// every RateLimit and RateLimit-Policy item this package sends.
type sfItem struct {
	name   string
	params map[string]int64
}

// parseSFList parses such a List strictly: a receiver following RFC 9651
// would reject the whole field on any error reported here.
func parseSFList(s string) ([]sfItem, error) {
	var items []sfItem
	for {
		if !strings.HasPrefix(s, `"`) {
			return nil, fmt.Errorf("item does not start with a String: %q", s)
		}
		end := strings.IndexByte(s[1:], '"')
		if end < 0 {
			return nil, fmt.Errorf("unterminated String: %q", s)
		}
		it := sfItem{name: s[1 : 1+end], params: map[string]int64{}}
		for _, c := range []byte(it.name) {
			if c == '\\' || c < 0x20 || c > 0x7e {
				return nil, fmt.Errorf("String with %q", c)
			}
		}
		s = s[end+2:]
		for strings.HasPrefix(s, ";") {
			s = s[1:]
			k := 0
			for k < len(s) && (s[k] >= 'a' && s[k] <= 'z' || k > 0 && (s[k] >= '0' && s[k] <= '9' || strings.IndexByte("_-.*", s[k]) >= 0)) {
				k++
			}
			if k == 0 || k >= len(s) || s[k] != '=' {
				return nil, fmt.Errorf("bad parameter key at %q", s)
			}
			key := s[:k]
			s = s[k+1:]
			d := 0
			for d < len(s) && s[d] >= '0' && s[d] <= '9' {
				d++
			}
			if d == 0 || d > 15 {
				return nil, fmt.Errorf("parameter %s: not an Integer of 1-15 digits at %q", key, s)
			}
			v, _ := strconv.ParseInt(s[:d], 10, 64)
			if _, dup := it.params[key]; dup {
				return nil, fmt.Errorf("duplicate parameter %s", key)
			}
			it.params[key] = v
			s = s[d:]
		}
		items = append(items, it)
		if s == "" {
			return items, nil
		}
		s = strings.TrimLeft(s, " \t")
		if !strings.HasPrefix(s, ",") {
			return nil, fmt.Errorf("expected a comma at %q", s)
		}
		s = strings.TrimLeft(s[1:], " \t")
		if s == "" {
			return nil, fmt.Errorf("trailing comma")
		}
	}
}

// TestRetryAfterNeverEarly drives the middleware with two policies, random
// costs (some above a quota) and random pauses on a fake clock, and checks
// on every answer what draft-ietf-httpapi-ratelimit-headers-11 and the
// issue ask of the fields:
//   - RateLimit-Policy and RateLimit parse as Lists of Strings with Integer
//     parameters, one item per policy, q/w and r/t present;
//   - a 429 names the violated policies; its Retry-After is not earlier
//     than the end of any violated policy's effective window (t);
//   - Retry-After is not earlier than the real retry time: once it has
//     elapsed, the same request is admitted;
//   - a 429 without Retry-After is only for a request costing more than a
//     violated policy's quota.
func TestRetryAfterNeverEarly(t *testing.T) {
	policies := []ratelimit.Policy{
		{Name: "short", Limit: 5, Window: 3 * time.Second},
		{Name: "long", Limit: 23, Window: 70 * time.Second},
	}
	limiters := map[string]func(ratelimit.MemoryOptions) (ratelimit.Limiter, error){
		"sliding": func(o ratelimit.MemoryOptions) (ratelimit.Limiter, error) {
			return ratelimit.NewSlidingWindow(policies, o)
		},
		"bucket": func(o ratelimit.MemoryOptions) (ratelimit.Limiter, error) {
			return ratelimit.NewTokenBucket(policies, o)
		},
	}
	for name, newLimiter := range limiters {
		t.Run(name, func(t *testing.T) {
			clock := limitertest.NewClock()
			l, err := newLimiter(ratelimit.MemoryOptions{Clock: clock.Now})
			if err != nil {
				t.Fatal(err)
			}
			m := ratelimit.New(l, func(*http.Request) string { return "k" }, ratelimit.Options{
				Cost:         func(r *http.Request) int64 { n, _ := strconv.ParseInt(r.Header.Get("Cost"), 10, 64); return n },
				ErrorHandler: quietProblems,
			})
			h := m.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
			do := func(cost int64) *httptest.ResponseRecorder {
				req := httptest.NewRequest("GET", "/", nil)
				req.Header.Set("Cost", strconv.FormatInt(cost, 10))
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if got := rec.Header().Values("RateLimit-Policy"); len(got) != 1 || got[0] != `"short";q=5;w=3, "long";q=23;w=70` {
					t.Fatalf("RateLimit-Policy %q", got)
				}
				return rec
			}
			rng := rand.New(rand.NewPCG(1, 2))
			retried, never := 0, 0
			for step := 0; step < 1500; step++ {
				cost := int64(1 + rng.IntN(4))
				if rng.IntN(20) == 0 {
					cost = 6 // above short's quota: never admitted
				}
				rec := do(cost)
				items, err := parseSFList(rec.Header().Get("RateLimit"))
				if err != nil || len(items) != 2 || items[0].name != "short" || items[1].name != "long" {
					t.Fatalf("step %d: RateLimit %q: %v", step, rec.Header().Get("RateLimit"), err)
				}
				tOf := map[string]int64{}
				for _, it := range items {
					r, okR := it.params["r"]
					tt, okT := it.params["t"]
					if !okR || !okT || len(it.params) != 2 || r < 0 || tt < 0 {
						t.Fatalf("step %d: item %+v", step, it)
					}
					tOf[it.name] = tt
				}
				switch rec.Code {
				case 200:
					if ra := rec.Header().Get("Retry-After"); ra != "" {
						t.Fatalf("step %d: 200 with Retry-After %s", step, ra)
					}
				case 429:
					var body struct {
						Violated []string `json:"violated-policies"`
					}
					if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || len(body.Violated) == 0 {
						t.Fatalf("step %d: 429 body %s: %v", step, rec.Body, err)
					}
					ra := rec.Header().Get("Retry-After")
					if ra == "" {
						if cost <= 5 {
							t.Fatalf("step %d: 429 without Retry-After for cost %d, which fits every quota", step, cost)
						}
						never++
						break
					}
					secs, err := strconv.ParseInt(ra, 10, 64)
					if err != nil || secs < 1 || strconv.FormatInt(secs, 10) != ra {
						t.Fatalf("step %d: Retry-After %q is not delay-seconds", step, ra)
					}
					for _, v := range body.Violated {
						if tOf[v] > secs {
							t.Fatalf("step %d: Retry-After %d is earlier than the end of %s's effective window (t=%d)", step, secs, v, tOf[v])
						}
					}
					clock.Advance(time.Duration(secs) * time.Second)
					if again := do(cost); again.Code != 200 {
						t.Fatalf("step %d: cost %d denied again %ds later, as Retry-After said: %d %s",
							step, cost, secs, again.Code, again.Header().Get("RateLimit"))
					}
					retried++
				default:
					t.Fatalf("step %d: status %d", step, rec.Code)
				}
				clock.Advance(time.Duration(rng.IntN(700)) * time.Millisecond)
			}
			if retried < 100 || never < 10 {
				t.Fatalf("only %d retries and %d never-satisfiable denials checked", retried, never)
			}
		})
	}
}
