package validation

import (
	"bytes"
	"reflect"

	json "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// unknownMembers lists the members of body that root's structs have no
// field for (at most MaxViolations of them, and their total), so that a
// client learns of every misspelt member at once, not one per request.
// The decoder reports only the first; this walks the tokens of the body
// alongside the Go type, without decoding values. body must be well formed.
func unknownMembers(body []byte, root reflect.Type, opts json.Options) ([]Violation, int) {
	fold, _ := json.GetOption(opts, json.MatchCaseInsensitiveNames)
	w := unknownWalker{dec: jsontext.NewDecoder(bytes.NewBuffer(body), opts), fold: fold}
	_ = w.value(root)
	return w.out, w.total
}

type unknownWalker struct {
	dec   *jsontext.Decoder
	fold  bool
	name  []byte // scratch for the unquoted member name
	out   []Violation
	total int
}

// value walks one value that decodes into t.
func (w *unknownWalker) value(t reflect.Type) error {
	t = deref(t)
	if t == nil || t.Kind() == reflect.Interface || hasMethods(t) {
		return w.dec.SkipValue()
	}
	switch w.dec.PeekKind() {
	case '{':
		switch {
		case t.Kind() == reflect.Struct && !fieldsOf(t).opaque:
			return w.object(fieldsOf(t), nil)
		case t.Kind() == reflect.Map:
			return w.object(nil, t.Elem())
		}
	case '[':
		if t.Kind() == reflect.Slice || t.Kind() == reflect.Array {
			return w.array(t.Elem())
		}
	}
	return w.dec.SkipValue()
}

// object walks an object into the struct fields fs, or into a map whose
// values are of type elem.
func (w *unknownWalker) object(fs *fieldSet, elem reflect.Type) error {
	if _, err := w.dec.ReadToken(); err != nil {
		return err
	}
	for w.dec.PeekKind() != '}' {
		raw, err := w.dec.ReadValue()
		if err != nil {
			return err
		}
		t := elem
		if fs != nil {
			w.name, err = jsontext.AppendUnquote(w.name[:0], raw)
			if err != nil {
				return err
			}
			f, known := fs.lookup(string(w.name), w.fold)
			if !known {
				w.total++
				if len(w.out) < MaxViolations {
					w.out = append(w.out, Violation{Pointer: jsonPointer(w.dec.StackPointer()), Detail: "is not a known member", Rule: "unknown"})
				}
			}
			t = f.typ
		}
		if err := w.value(t); err != nil {
			return err
		}
	}
	_, err := w.dec.ReadToken()
	return err
}

// array walks an array whose elements are of type elem.
func (w *unknownWalker) array(elem reflect.Type) error {
	if _, err := w.dec.ReadToken(); err != nil {
		return err
	}
	for w.dec.PeekKind() != ']' {
		if err := w.value(elem); err != nil {
			return err
		}
	}
	_, err := w.dec.ReadToken()
	return err
}
