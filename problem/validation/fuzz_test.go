package validation

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/backstop-go/backstop/problem"
)

type fuzzBase struct {
	ID string `json:"id" validate:"omitempty,uuid"`
}

type fuzzItem struct {
	SKU   string            `json:"sku" validate:"required,max=8"`
	Qty   int8              `json:"qty" validate:"min=1"`
	Price float32           `json:"price" validate:"gte=0"`
	Attrs map[string]string `json:"attrs" validate:"omitempty,dive,keys,min=1,endkeys,max=4"`
	Ref   int64             `json:"ref,string"`
	Live  *bool             `json:"live,omitempty,string"`
}

type fuzzOrder struct {
	fuzzBase
	Email  string             `json:"email" validate:"omitempty,email"`
	Items  []fuzzItem         `json:"items" validate:"omitempty,dive"`
	ByID   map[int]*fuzzItem  `json:"by_id" validate:"omitempty,dive"`
	Flags  [2]bool            `json:"flags"`
	Data   []byte             `json:"data"`
	When   *time.Time         `json:"when"`
	Raw    json.RawMessage    `json:"raw"`
	Any    any                `json:"any"`
	Odd    uint16             `json:"a/b~c" validate:"omitempty,oneof=1 2 3"`
	Nested *fuzzOrder         `json:"nested"`
	Tags   map[string][]uint8 `json:"tags" validate:"omitempty,max=3"`
}

// FuzzDecode feeds arbitrary bodies and content types to Decode: it must
// never panic, never answer 500 (every failure here is the client's), and
// every pointer it returns must be well formed; pointers to values of the
// wrong type, unknown members and undecodable values must resolve in the
// body the client sent.
func FuzzDecode(f *testing.F) {
	for _, seed := range []string{
		`{"email":"a@example.com","items":[{"sku":"A","qty":1,"price":2.5,"attrs":{"c":"red"}}]}`,
		`{"items":[{"qty":"1"}]}`,
		`{"by_id":{"x":{}}}`,
		`{"by_id":{"7":{"qty":300}}}`,
		`{"when":"not a time","flags":[true,false,true]}`,
		`{"a/b~c":9,"nested":{"nested":{"unknown":1}}}`,
		`{"data":"!!","raw":{"x":[1,2]},"any":[{}]}`,
		`{"items":[{"sku":"toolongvalue","attrs":{"":"xxxxx"}}]}`,
		`{"id":"x"} trailing`,
		`{"email":`,
		"",
		"null",
		`[1,2,3]`,
		`{"items":{"0":{}}}`,
		"{\"k\xff\":1}",
		`{"tags":{"a":[1,2],"b":"AQI=","c":[256]}}`,
		`{"items":[{"sku":"A","qty":1,"ref":"12","live":"true"},{"ref":12},{"ref":"x"},{"live":"1"}]}`,
		`{"email":"a@example.com","EMAIL":"b@example.com"}`,
		`{"items":[{"sku":"A","qty":1,"qty":100}]}`,
		`{"by_id":{"1":{},"1":{}},"Items":[]}`,
		`{"nested":{"email":1,"email":2}}`,
	} {
		f.Add([]byte(seed), "application/json")
	}
	f.Add([]byte(`{}`), "text/plain; charset=x")
	f.Add([]byte(`{}`), "application/json; charset=latin1")

	v, err := New(Options{MaxBytes: 4 << 10})
	if err != nil {
		f.Fatal(err)
	}
	writer := problem.NewWriter(problem.Options{Logger: slog.New(slog.DiscardHandler)})
	f.Fuzz(func(t *testing.T, body []byte, contentType string) {
		for _, dst := range []any{new(fuzzOrder), new(*fuzzOrder), new([]*fuzzItem), new(map[string]fuzzItem)} {
			checkDecode(t, v, writer, body, contentType, dst)
		}
	})
}

func checkDecode(t *testing.T, v *Validator, writer *problem.Writer, body []byte, contentType string, dst any) {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	r.Header.Set("Content-Type", contentType)
	err := v.Decode(r, dst)
	// The reference: one JSON value without a repeated member name, in
	// which invalid UTF-8 is replaced as encoding/json does.
	wellFormed := jsontext.Value(body).IsValid(jsontext.AllowInvalidUTF8(true))
	if err == nil {
		if !wellFormed {
			t.Fatalf("accepted malformed JSON %q", body)
		}
		return
	}
	if errors.Is(err, ErrMalformed) == wellFormed && (errors.Is(err, ErrMalformed) || errors.Is(err, ErrInvalid)) {
		t.Fatalf("%v for %q, which is well formed: %v", err, body, wellFormed)
	}
	p, ok := problem.From(err)
	if !ok {
		t.Fatalf("Decode returned %T %v, not a problem", err, err)
	}
	switch p.Status {
	case 400, 413, 415, 422:
	default:
		t.Fatalf("status %d for %q into %T: %v (cause %v)", p.Status, body, dst, p, errors.Unwrap(err))
	}

	w := httptest.NewRecorder()
	writer.Write(w, r, err)
	if w.Code != p.Status || !json.Valid(w.Body.Bytes()) {
		t.Fatalf("written %d %q", w.Code, w.Body)
	}
	if ptr, ok := p.Extensions["pointer"].(string); ok {
		// The repeated name may come before the error that ends the body.
		root, err := parseNode(json.NewDecoder(bytes.NewReader(body)))
		if err == nil && !root.resolves(parsePointer(t, ptr)) {
			t.Errorf("repeated member %s does not resolve in %q", ptr, body)
		}
	}
	if p.Status != 422 {
		return
	}
	vs := Violations(err)
	if len(vs) == 0 {
		t.Fatalf("422 without violations: %v", p)
	}
	var root *jsonNode
	for _, vi := range vs {
		tokens := parsePointer(t, vi.Pointer)
		if vi.Detail == "" || vi.Rule == "" {
			t.Errorf("incomplete violation %+v", vi)
		}
		if vi.Rule == "format" && len(tokens) == 0 {
			// The fallback for an error nobody located: the fuzzed types
			// have no custom decoder at the root.
			t.Errorf("unlocated %+v for %q into %T (cause %v)", vi, body, dst, errors.Unwrap(err))
		}
		switch vi.Rule {
		case "type", "unknown", "format":
			if root == nil {
				if root, err = parseNode(json.NewDecoder(bytes.NewReader(body))); err != nil {
					t.Fatalf("422 for a body that does not parse: %v", err)
				}
			}
			if !root.resolves(tokens) {
				t.Errorf("pointer %s (%s) into %T does not resolve in %q", vi.Pointer, vi.Rule, dst, body)
			}
		}
	}
}

// jsonNode keeps every member of a JSON object, duplicates included, so a
// pointer can be checked against what the client sent.
type jsonNode struct {
	keys   []string
	values []*jsonNode
	array  bool
	object bool
}

func parseNode(dec *json.Decoder) (*jsonNode, error) {
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	n := &jsonNode{}
	switch tok {
	case json.Delim('{'):
		n.object = true
		for dec.More() {
			key, err := dec.Token()
			if err != nil {
				return nil, err
			}
			child, err := parseNode(dec)
			if err != nil {
				return nil, err
			}
			n.keys = append(n.keys, key.(string))
			n.values = append(n.values, child)
		}
		_, err = dec.Token()
	case json.Delim('['):
		n.array = true
		for dec.More() {
			child, err := parseNode(dec)
			if err != nil {
				return nil, err
			}
			n.values = append(n.values, child)
		}
		_, err = dec.Token()
	}
	return n, err
}

func (n *jsonNode) resolves(tokens []string) bool {
	if len(tokens) == 0 {
		return true
	}
	switch {
	case n.object:
		for i, k := range n.keys {
			if k == tokens[0] && n.values[i].resolves(tokens[1:]) {
				return true
			}
		}
	case n.array:
		i, err := strconv.Atoi(tokens[0])
		return err == nil && i >= 0 && i < len(n.values) && n.values[i].resolves(tokens[1:])
	}
	return false
}
