package validation

import (
	"reflect"
	"strings"
	"sync"
	"unicode"
)

// JSONFieldName returns the member name encoding/json uses for the struct
// field f, or "" when f has no member of its own: a field tagged `json:"-"`,
// an unexported field, or an embedded struct without a name in its tag,
// whose fields are promoted into the enclosing object.
//
// The default validator of [New] uses it as its tag name function, so that
// FieldError.Field and FieldError.Namespace hold JSON names (useful in
// translated messages). To do the same with your own *validator.Validate:
//
//	v := validator.New(validator.WithRequiredStructEnabled(), validator.WithTagNameFuncBlankOmit())
//	v.RegisterTagNameFunc(validation.JSONFieldName)
//
// The pointers of a [Validator] do not depend on it: they are built from the
// Go types.
func JSONFieldName(f reflect.StructField) string {
	name, _, ok := jsonName(f)
	if !ok {
		return ""
	}
	return name
}

// jsonName reports how encoding/json treats the struct field f: its member
// name, whether it is an embedded struct whose fields are promoted (then
// name is ""), and whether it takes part in JSON at all.
func jsonName(f reflect.StructField) (name string, promoted, ok bool) {
	tag := f.Tag.Get("json")
	if tag == "-" {
		return "", false, false
	}
	name, _, _ = strings.Cut(tag, ",")
	if !isValidTag(name) {
		name = ""
	}
	if f.Anonymous {
		t := f.Type
		if t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if !f.IsExported() && t.Kind() != reflect.Struct {
			return "", false, false
		}
		if name == "" && t.Kind() == reflect.Struct {
			return "", true, true
		}
	} else if !f.IsExported() {
		return "", false, false
	}
	if name == "" {
		name = f.Name
	}
	return name, false, true
}

// isValidTag reports whether encoding/json accepts s as a member name in a
// struct tag; it falls back to the Go field name otherwise.
func isValidTag(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		switch {
		case strings.ContainsRune("!#$%&()*+-./:;<=>?@[]^_{|}~ ", c):
		case !unicode.IsLetter(c) && !unicode.IsDigit(c):
			return false
		}
	}
	return true
}

// jsonField is one member of a struct's JSON object.
type jsonField struct {
	name   string
	typ    reflect.Type
	depth  int
	tagged bool
	quoted bool // the ",string" option applies: the value is a JSON string holding the literal
}

// fieldSet is the set of members encoding/json decodes into a struct type.
type fieldSet struct {
	byName map[string]int // index into list
	list   []jsonField
	// opaque marks a struct whose members are matched by rules of the
	// JSON v2 tag options (inline, unknown, case:...) that fieldsOf does
	// not follow.
	opaque bool
}

// lookup finds the member for an object key: the field of exactly that
// name or, when fold is set, as encoding/json does, one whose name matches
// in any case.
func (fs *fieldSet) lookup(key string, fold bool) (jsonField, bool) {
	if i, ok := fs.byName[key]; ok {
		return fs.list[i], true
	}
	if fold {
		for _, f := range fs.list {
			if strings.EqualFold(f.name, key) {
				return f, true
			}
		}
	}
	return jsonField{}, false
}

// quotedOption reports whether encoding/json applies the ",string" option
// of the field sf: only to a bool, number or string (or a pointer to one),
// ignoring it elsewhere.
func quotedOption(sf reflect.StructField) bool {
	_, opts, _ := strings.Cut(sf.Tag.Get("json"), ",")
	found := false
	for opts != "" && !found {
		var opt string
		opt, opts, _ = strings.Cut(opts, ",")
		found = opt == "string"
	}
	if !found {
		return false
	}
	t := sf.Type
	if t.Name() == "" && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.String:
		return true
	}
	return false
}

// hasV2Option reports whether the json tag of sf has an option that only
// JSON v2 knows and that changes how members match fields.
func hasV2Option(sf reflect.StructField) bool {
	name, opts, _ := strings.Cut(sf.Tag.Get("json"), ",")
	if strings.HasPrefix(name, "'") {
		return true // a quoted name, such as '-'
	}
	for opts != "" {
		var opt string
		opt, opts, _ = strings.Cut(opts, ",")
		if opt == "inline" || opt == "unknown" || strings.HasPrefix(opt, "case:") {
			return true
		}
	}
	return false
}

var fieldCache sync.Map // reflect.Type -> *fieldSet

// fieldsOf returns the JSON members of the struct type t, with promoted
// fields of embedded structs and the dominance rules of encoding/json: the
// shallowest name wins, and of several at that depth the single tagged one,
// or none.
func fieldsOf(t reflect.Type) *fieldSet {
	if fs, ok := fieldCache.Load(t); ok {
		return fs.(*fieldSet)
	}
	type level struct {
		t     reflect.Type
		depth int
	}
	var all []jsonField
	opaque := false
	visited := map[reflect.Type]bool{}
	queue := []level{{t, 0}}
	for len(queue) > 0 {
		l := queue[0]
		queue = queue[1:]
		if visited[l.t] {
			continue
		}
		visited[l.t] = true
		for i := range l.t.NumField() {
			sf := l.t.Field(i)
			opaque = opaque || hasV2Option(sf)
			name, promoted, ok := jsonName(sf)
			switch {
			case !ok:
			case promoted:
				queue = append(queue, level{deref(sf.Type), l.depth + 1})
			default:
				tagName, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
				all = append(all, jsonField{name: name, typ: sf.Type, depth: l.depth, tagged: isValidTag(tagName), quoted: quotedOption(sf)})
			}
		}
	}
	fs := &fieldSet{byName: make(map[string]int, len(all)), opaque: opaque}
	byName := map[string][]jsonField{}
	var order []string
	for _, f := range all {
		if _, seen := byName[f.name]; !seen {
			order = append(order, f.name)
		}
		byName[f.name] = append(byName[f.name], f)
	}
	for _, name := range order {
		fields := byName[name]
		minDepth := fields[0].depth
		for _, f := range fields {
			minDepth = min(minDepth, f.depth)
		}
		var winner *jsonField
		var shallow, tagged int
		for i, f := range fields {
			if f.depth != minDepth {
				continue
			}
			shallow++
			if f.tagged {
				tagged++
				winner = &fields[i]
			}
		}
		if shallow == 1 {
			for i, f := range fields {
				if f.depth == minDepth {
					winner = &fields[i]
				}
			}
		} else if tagged != 1 {
			continue // ambiguous: encoding/json drops the name
		}
		fs.byName[name] = len(fs.list)
		fs.list = append(fs.list, *winner)
	}
	actual, _ := fieldCache.LoadOrStore(t, fs)
	return actual.(*fieldSet)
}

// deref strips pointer types.
func deref(t reflect.Type) reflect.Type {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}
