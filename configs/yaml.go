package configs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// decodeYAML fills c from a YAML document. It walks the document beside
// the Config's fields, so every error names the setting by its full path
// (fanout.pull_window), whatever is wrong: an unknown key, a key set
// twice, or a value of the wrong type. A syntax error keeps the YAML
// library's message (it names the line).
func decodeYAML(data []byte, c *Config) error {
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // an empty file
		}
		return err
	}
	if len(doc.Content) == 0 {
		return nil
	}
	return decodeNode(doc.Content[0], reflect.ValueOf(c).Elem(), "")
}

var durationType = reflect.TypeFor[time.Duration]()

func decodeNode(n *yaml.Node, v reflect.Value, path string) error {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil // "key:" with nothing: the default stays
	}
	switch {
	case v.Kind() == reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		return decodeNode(n, v.Elem(), path)
	case v.Kind() == reflect.Struct && n.Kind == yaml.MappingNode:
		return decodeStruct(n, v, path)
	case v.Kind() == reflect.Slice && n.Kind == yaml.SequenceNode:
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			if err := decodeNode(item, s.Index(i), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		v.Set(s)
		return nil
	}
	// The YAML library truncates a float into an integer setting (1.5
	// becomes 1): refuse it instead.
	isInt := v.Kind() >= reflect.Int && v.Kind() <= reflect.Uint64 && v.Type() != durationType
	if err := n.Decode(v.Addr().Interface()); err != nil || (isInt && n.ShortTag() == "!!float") {
		return fmt.Errorf("%s: cannot use %s (line %d): want %s", setting(path), shown(n), n.Line, want(v.Type()))
	}
	return nil
}

func decodeStruct(n *yaml.Node, v reflect.Value, path string) error {
	fields := map[string]int{}
	for i := range v.NumField() {
		f := v.Type().Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		fields[name] = i
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		p := k.Value
		if path != "" {
			p = path + "." + k.Value
		}
		idx, ok := fields[k.Value]
		if !ok {
			return fmt.Errorf("%s: unknown setting (line %d)", p, k.Line)
		}
		if line, dup := seen[k.Value]; dup {
			return fmt.Errorf("%s: set twice (lines %d and %d)", p, line, k.Line)
		}
		seen[k.Value] = k.Line
		if err := decodeNode(val, v.Field(idx), p); err != nil {
			return err
		}
	}
	return nil
}

func setting(path string) string {
	if path == "" {
		return "the document"
	}
	return path
}

// shown is a node's value as an error shows it.
func shown(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return fmt.Sprintf("%q", n.Value)
}

// want names what a setting of type t takes.
func want(t reflect.Type) string {
	if t == durationType {
		return "a duration such as 250ms, 2s or 1m30s"
	}
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return fmt.Sprintf("an integer that fits %d bits", t.Bits())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return fmt.Sprintf("a non-negative integer that fits %d bits", t.Bits())
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Slice:
		return "a list"
	case reflect.Struct, reflect.Map:
		return "a mapping"
	}
	return t.String()
}
