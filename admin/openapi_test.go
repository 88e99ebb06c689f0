package admin_test

import (
	"os"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/roomcast/roomcast/admin"
)

// TestOpenAPIDocumentsEveryRoute parses docs/admin-api.yaml and checks that
// it documents exactly the routes the API serves, and every error code.
func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	data, err := os.ReadFile("../docs/admin-api.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		OpenAPI string                    `yaml:"openapi"`
		Servers []struct{ URL string }    `yaml:"servers"`
		Paths   map[string]map[string]any `yaml:"paths"`
		Comps   struct {
			Schemas map[string]struct {
				Properties map[string]struct {
					Enum []string `yaml:"enum"`
				} `yaml:"properties"`
			} `yaml:"schemas"`
		} `yaml:"components"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("docs/admin-api.yaml does not parse: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") || len(doc.Servers) == 0 || !strings.HasSuffix(doc.Servers[0].URL, "/api/v1") {
		t.Fatalf("not an OpenAPI 3 document for /api/v1: openapi %q servers %v", doc.OpenAPI, doc.Servers)
	}
	h := newHandler(t, fakeDeps())
	served := map[string]bool{}
	for _, route := range h.Routes() {
		method, path, _ := strings.Cut(route, " ")
		path = strings.TrimPrefix(path, "/api/v1")
		served[strings.ToLower(method)+" "+path] = true
		op, ok := doc.Paths[path][strings.ToLower(method)].(map[string]any)
		if !ok {
			t.Errorf("%s is served but not documented", route)
			continue
		}
		if _, ok := op["responses"]; !ok {
			t.Errorf("%s: no responses documented", route)
		}
	}
	for path, item := range doc.Paths {
		for method := range item {
			if method == "parameters" {
				continue
			}
			if !served[method+" "+path] {
				t.Errorf("%s %s is documented but not served", strings.ToUpper(method), path)
			}
		}
	}
	enum := doc.Comps.Schemas["Error"].Properties["code"].Enum
	for code := range admin.Codes {
		if !slices.Contains(enum, code) {
			t.Errorf("error code %s is not in the Error schema", code)
		}
	}
	if len(enum) != len(admin.Codes) {
		t.Errorf("the Error schema lists %d codes, the API has %d", len(enum), len(admin.Codes))
	}
}
