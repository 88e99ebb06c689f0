package web

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"

	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

// TestProtobufBundleMatchesProto fails when roomcast.proto gained a
// message, field or enum value that the browser SDK's protobuf module
// (static/vendor/roomcast-pb.min.js) does not know: the module is stale and
// the SDK would drop the field in protobuf mode. Fix: make web-proto.
func TestProtobufBundleMatchesProto(t *testing.T) {
	b, err := files.ReadFile("static/vendor/roomcast-pb.min.js")
	if err != nil {
		t.Fatal(err)
	}
	bundle := string(b)
	var missing []string
	need := func(what, name string) {
		if !strings.Contains(bundle, name) {
			missing = append(missing, what)
		}
	}
	var enums func(es protoreflect.EnumDescriptors)
	enums = func(es protoreflect.EnumDescriptors) {
		for i := 0; i < es.Len(); i++ {
			e := es.Get(i)
			vs := e.Values()
			for j := 0; j < vs.Len(); j++ {
				need(string(e.FullName())+"."+string(vs.Get(j).Name()), `"`+string(vs.Get(j).Name())+`"`)
			}
		}
	}
	var messages func(ms protoreflect.MessageDescriptors)
	messages = func(ms protoreflect.MessageDescriptors) {
		for i := 0; i < ms.Len(); i++ {
			m := ms.Get(i)
			if m.IsMapEntry() {
				continue // a map field's entry: no type of its own in the static code
			}
			need(string(m.FullName()), "."+string(m.Name())+"=")
			fs := m.Fields()
			for j := 0; j < fs.Len(); j++ {
				need(string(fs.Get(j).FullName()), "."+fs.Get(j).JSONName())
			}
			enums(m.Enums())
			messages(m.Messages())
		}
	}
	fd := pb.File_roomcast_proto
	messages(fd.Messages())
	enums(fd.Enums())
	if len(missing) > 0 {
		t.Fatalf("static/vendor/roomcast-pb.min.js is older than roomcast.proto (run make web-proto and commit): it lacks %s", strings.Join(missing, ", "))
	}
}
