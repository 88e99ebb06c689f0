package wire

import (
	"fmt"

	"github.com/gorilla/websocket"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/roomcast/roomcast/internal/errcode"
	pb "github.com/roomcast/roomcast/proto/roomcastpb"
)

// Encoding is how frames are written on one connection.
type Encoding uint8

const (
	// Binary frames carry the protobuf encoding (WebSocket binary messages).
	Binary Encoding = iota
	// JSON frames carry the protojson encoding (WebSocket text messages).
	JSON
	numEncodings
)

// String names the encoding ("binary", "json").
func (e Encoding) String() string {
	if e == JSON {
		return "json"
	}
	return "binary"
}

// MessageType is the WebSocket message type that carries this encoding.
func (e Encoding) MessageType() int {
	if e == JSON {
		return websocket.TextMessage
	}
	return websocket.BinaryMessage
}

// EncodingOf returns the encoding of a WebSocket message type and whether the
// type carries frames at all.
func EncodingOf(messageType int) (Encoding, bool) {
	switch messageType {
	case websocket.BinaryMessage:
		return Binary, true
	case websocket.TextMessage:
		return JSON, true
	}
	return Binary, false
}

// Decoding errors. Both wrap the underlying parser error.
var (
	// ErrBadFrame: the bytes are not a Frame in the message's encoding.
	ErrBadFrame = errcode.New(pb.Error_BAD_FRAME, "protocol_bad_frame", "protocol: bad frame")
	// ErrUnknownOp: the frame decoded but carries no operation this server knows.
	ErrUnknownOp = errcode.New(pb.Error_UNKNOWN_OP, "protocol_unknown_op", "protocol: unknown operation")
)

var (
	jsonIn  = protojson.UnmarshalOptions{DiscardUnknown: true}
	jsonOut = protojson.MarshalOptions{}
	binOut  = proto.MarshalOptions{}
)

// Decode parses one frame (a JSON Pull, Ping, Notify or PullResult without
// reflection, see json_decode.go). Unknown fields are ignored, so a frame whose only
// operation is unknown to this server decodes to ErrUnknownOp (with the frame,
// so its id can be echoed).
func Decode(enc Encoding, data []byte) (*pb.Frame, error) {
	if enc == JSON {
		if f, ok := decodeFrameJSON(data); ok {
			return f, nil
		}
	}
	f := new(pb.Frame)
	var err error
	if enc == JSON {
		err = jsonIn.Unmarshal(data, f)
	} else {
		err = proto.Unmarshal(data, f)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadFrame, err)
	}
	if f.Body == nil {
		return f, ErrUnknownOp
	}
	return f, nil
}

// Encode writes one frame in the given encoding. The JSON form of a Notify
// or PullResult is written without reflection (see json.go).
func Encode(enc Encoding, f *pb.Frame) ([]byte, error) {
	if enc == JSON {
		if data, ok := appendFrameJSON(make([]byte, 0, jsonSizeHint(f)), f); ok {
			return data, nil
		}
		return jsonOut.Marshal(f)
	}
	return binOut.Marshal(f)
}
