package wire

import (
	"testing"

	"google.golang.org/protobuf/proto"

	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

// checkFastDecode fails when the fast JSON decoder accepts data but
// protojson (as Decode configures it) rejects it or reads something else.
func checkFastDecode(t *testing.T, data []byte) (accepted bool) {
	t.Helper()
	fast, ok := decodeFrameJSON(data)
	if !ok {
		return false
	}
	var want pb.Frame
	if err := jsonIn.Unmarshal(data, &want); err != nil {
		t.Fatalf("fast decoder accepted what protojson rejects (%v): %s", err, data)
	}
	if !proto.Equal(fast, &want) {
		t.Fatalf("fast decoder read %s as\n%v\nprotojson as\n%v", data, fast, &want)
	}
	return true
}

func TestJSONFastDecoderMatchesProtojson(t *testing.T) {
	// What the SDKs and the server write is taken by the fast path.
	taken := []string{
		`{"pull":{"room":"r","afterSeq":"5","afterPseq":"1","limit":100,"ack":true}}`,
		`{"id":7,"pull":{"room":"lobby","afterSeq":0}}`,
		`{"pull":{"room":"r","afterSeq":18446744073709551615}}`,
		`{"id":4294967295,"ping":{}}`,
		` { "ping" : { } } ` + "\n",
		`{"pull":{"room":"é ✓ 😀"}}`,
		`{"notify":{"room":"r","seq":"3","messages":[{"seq":"3","msgId":"1152921504606846976","from":"u","ts":"-5","body":"b","priority":true,"system":false}],"missed":"1"}}`,
		`{"id":2,"pullResult":{"room":"r","messages":[],"seq":"1","pseq":"0","missed":"0","missedPriority":"4","more":true}}`,
	}
	for _, s := range taken {
		if !checkFastDecode(t, []byte(s)) {
			t.Errorf("not taken by the fast path: %s", s)
		}
	}
	// What the fast path leaves to protojson (which may accept it).
	left := []string{
		`{"pull":{"room":"r","after_seq":"5"}}`,                  // proto name
		`{"pull":{"room":"r\n"}}`,                                // escape
		`{"pull":{"room":"r","room":"s"}}`,                       // duplicate
		`{"pull":{"room":"r"},"ping":{}}`,                        // two operations
		`{"pull":{"room":"r","afterSeq":"05"}}`,                  // leading zero
		`{"pull":{"room":"r","afterSeq":1e2}}`,                   // exponent
		`{"pull":{"room":"r","afterSeq":-1}}`,                    // sign
		`{"pull":{"room":"r","limit":4294967296}}`,               // out of range
		`{"pull":{"room":"r","afterSeq":18446744073709551616}}`,  // out of range
		`{"pull":{"room":"r","ack":null}}`,                       // null
		`{"pull":{"room":"r","unknown":1}}`,                      // unknown
		`{"send":{"room":"r","body":"x"}}`,                       // cold operation
		`{"id":1}`,                                               // no operation
		`{"pull":{"room":"\xff"}}`,                               // invalid UTF-8
		`{"pull":{}} x`,                                          // trailing data
		`{"notify":{"messages":[{"ts":"9223372036854775808"}]}}`, // int64 overflow
	}
	for _, s := range left {
		if checkFastDecode(t, []byte(s)) {
			t.Errorf("taken by the fast path: %s", s)
		}
	}
	// Every hot frame the encoder writes, with every field set, decodes to
	// itself (strings with escapes go to protojson).
	for _, f := range hotFrames() {
		data, err := Encode(JSON, f)
		if err != nil {
			t.Fatal(err)
		}
		checkFastDecode(t, data)
		got, err := Decode(JSON, data)
		if err != nil || !proto.Equal(got, f) {
			t.Fatalf("round trip: %v %v", got, err)
		}
	}
}

// FuzzJSONDecodeFast: whatever the fast decoder accepts, protojson accepts
// and reads the same way.
func FuzzJSONDecodeFast(f *testing.F) {
	f.Add([]byte(`{"pull":{"room":"r","afterSeq":"5","afterPseq":"1","limit":100,"ack":true}}`))
	f.Add([]byte(`{"id":3,"ping":{}}`))
	f.Add([]byte(`{"notify":{"room":"r","seq":"3","messages":[{"seq":"3","msgId":"12","from":"u","ts":"-5","body":"b","kind":"k","priority":true,"system":false}],"missed":"1"}}`))
	f.Add([]byte(`{"id":2,"pullResult":{"room":"r","messages":[{}],"seq":1,"pseq":"0","missedPriority":"4","more":false}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkFastDecode(t, data)
	})
}

// BenchmarkDecodeAck is the server's cost of reading one viewer's
// acknowledgement (Pull{ack}), in each encoding.
func BenchmarkDecodeAck(b *testing.B) {
	f := &pb.Frame{Body: &pb.Frame_Pull{Pull: &pb.Pull{Room: "bench", AfterSeq: 123456, AfterPseq: 12, Ack: true}}}
	for _, enc := range []Encoding{Binary, JSON} {
		data, err := Encode(enc, f)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(enc.String(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Decode(enc, data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	data, _ := Encode(JSON, f)
	b.Run("protojson", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := jsonIn.Unmarshal(data, new(pb.Frame)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
