package loadgen

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// The Centrifugo client protocol (github.com/centrifugal/protocol,
// client.proto, as spoken by Centrifugo v6): the client sends Commands and
// the server answers with Replies; both travel batched in WebSocket frames.
// JSON frames hold one object per line ("\n"-separated); protobuf frames
// hold varint-length-prefixed messages. An empty Reply is the server's
// ping, answered with an empty Command (a pong) when the connect result
// said pong: true. A publication arrives as Reply{push: {channel, pub:
// {data, offset}}}. The viewer reads frames with these functions: the
// protobuf path allocates nothing.

// Field numbers of client.proto (centrifugal/protocol v0.19.2).
const (
	cfCmdID        = 1
	cfCmdConnect   = 4
	cfCmdSubscribe = 5

	cfConnectToken = 1
	cfConnectName  = 4

	cfSubscribeChannel = 1

	cfReplyID        = 1
	cfReplyError     = 2
	cfReplyPush      = 4
	cfReplyConnect   = 5
	cfReplySubscribe = 6

	cfErrorCode    = 1
	cfErrorMessage = 2

	cfPushChannel    = 2
	cfPushPub        = 4
	cfPushDisconnect = 11

	cfPubData = 4

	cfConnectResultPing = 7
	cfConnectResultPong = 8

	cfDisconnectCode   = 1
	cfDisconnectReason = 2
)

// CfReply is what a viewer needs of one Centrifugo reply. Byte slices
// alias the frame.
type CfReply struct {
	ID uint32
	// Ping is an empty reply: the server's ping.
	Ping bool
	// Error is set for an error reply (ErrCode, ErrMessage).
	Error      bool
	ErrCode    uint32
	ErrMessage string
	// Pub is a push with a publication on Channel; Data is its payload.
	Pub     bool
	Channel []byte
	Data    []byte
	// Disconnect is a disconnect push (DisconnectCode).
	Disconnect     bool
	DisconnectCode uint32
	// Connect is a connect result: the server's ping interval (seconds)
	// and whether it expects pongs.
	Connect     bool
	PingSeconds uint32
	Pong        bool
	// Subscribe is a subscribe result.
	Subscribe bool
}

// ErrCfFrame is returned for a frame that is not valid Centrifugo protocol.
var ErrCfFrame = errors.New("loadgen: malformed centrifugo frame")

// CfEachReplyProtobuf calls fn for every reply of a protobuf frame, in
// order, and stops at fn's first error. r is reused between calls.
func CfEachReplyProtobuf(frame []byte, fn func(r *CfReply) error) error {
	var r CfReply
	for len(frame) > 0 {
		l, n := binary.Uvarint(frame)
		if n <= 0 || l > uint64(len(frame)-n) {
			return ErrCfFrame
		}
		msg := frame[n : n+int(l)]
		frame = frame[n+int(l):]
		r = CfReply{}
		if err := cfScanReply(msg, &r); err != nil {
			return err
		}
		if err := fn(&r); err != nil {
			return err
		}
	}
	return nil
}

// cfScanReply reads one protobuf Reply. It walks the nested messages with
// plain loops, not callbacks: it runs on every viewer's reader goroutine,
// whose deepest stack every viewer pays for.
func cfScanReply(b []byte, r *CfReply) error {
	if len(b) == 0 {
		r.Ping = true
		return nil
	}
	for len(b) > 0 {
		num, typ, v, sub, rest, err := nextField(b)
		if err != nil {
			return err
		}
		b = rest
		switch {
		case num == cfReplyID && typ == protowire.VarintType:
			r.ID = uint32(v)
		case num == cfReplyError && typ == protowire.BytesType:
			r.Error = true
			for len(sub) > 0 {
				num, typ, v, s, rest, err := nextField(sub)
				if err != nil {
					return err
				}
				sub = rest
				switch {
				case num == cfErrorCode && typ == protowire.VarintType:
					r.ErrCode = uint32(v)
				case num == cfErrorMessage && typ == protowire.BytesType:
					r.ErrMessage = string(s)
				}
			}
		case num == cfReplyPush && typ == protowire.BytesType:
			if err := cfScanPush(sub, r); err != nil {
				return err
			}
		case num == cfReplyConnect && typ == protowire.BytesType:
			r.Connect = true
			for len(sub) > 0 {
				num, typ, v, _, rest, err := nextField(sub)
				if err != nil {
					return err
				}
				sub = rest
				switch {
				case num == cfConnectResultPing && typ == protowire.VarintType:
					r.PingSeconds = uint32(v)
				case num == cfConnectResultPong && typ == protowire.VarintType:
					r.Pong = v != 0
				}
			}
		case num == cfReplySubscribe && typ == protowire.BytesType:
			r.Subscribe = true
		}
	}
	return nil
}

// cfScanPush reads a Push: its channel, publication data or disconnect.
func cfScanPush(b []byte, r *CfReply) error {
	for len(b) > 0 {
		num, typ, _, sub, rest, err := nextField(b)
		if err != nil {
			return err
		}
		b = rest
		if typ != protowire.BytesType {
			continue
		}
		switch num {
		case cfPushChannel:
			r.Channel = sub
		case cfPushPub:
			r.Pub = true
			for len(sub) > 0 {
				num, typ, _, d, rest, err := nextField(sub)
				if err != nil {
					return err
				}
				sub = rest
				if num == cfPubData && typ == protowire.BytesType {
					r.Data = d
				}
			}
		case cfPushDisconnect:
			r.Disconnect = true
			for len(sub) > 0 {
				num, typ, v, _, rest, err := nextField(sub)
				if err != nil {
					return err
				}
				sub = rest
				if num == cfDisconnectCode && typ == protowire.VarintType {
					r.DisconnectCode = uint32(v)
				}
			}
		}
	}
	return nil
}

// nextField reads the first field of b: v is a varint's value, sub a
// length-delimited field's bytes (other wire types are skipped), rest what
// follows.
func nextField(b []byte) (num protowire.Number, typ protowire.Type, v uint64, sub, rest []byte, err error) {
	num, typ, n := protowire.ConsumeTag(b)
	if n < 0 {
		return 0, 0, 0, nil, nil, ErrCfFrame
	}
	b = b[n:]
	switch typ {
	case protowire.VarintType:
		v, n = protowire.ConsumeVarint(b)
	case protowire.BytesType:
		sub, n = protowire.ConsumeBytes(b)
	default:
		n = protowire.ConsumeFieldValue(num, typ, b)
	}
	if n < 0 {
		return 0, 0, 0, nil, nil, ErrCfFrame
	}
	return num, typ, v, sub, b[n:], nil
}

// CfEachReplyJSON calls fn for every reply of a JSON frame (one object a
// line), in order, and stops at fn's first error. It reads the lines with
// the allocation-free JSON walker (jsonscan.go); byte slices alias the
// frame, and string escapes are kept.
func CfEachReplyJSON(frame []byte, fn func(r *CfReply) error) error {
	var r CfReply
	for len(frame) > 0 {
		line := frame
		if i := bytes.IndexByte(frame, '\n'); i >= 0 {
			line, frame = frame[:i], frame[i+1:]
		} else {
			frame = nil
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		r = CfReply{}
		if err := cfScanReplyJSON(line, &r); err != nil {
			return fmt.Errorf("%w: %w", ErrCfFrame, err)
		}
		if err := fn(&r); err != nil {
			return err
		}
	}
	return nil
}

// cfScanReplyJSON reads one JSON reply.
func cfScanReplyJSON(line []byte, r *CfReply) error {
	keys := 0
	err := jsonObject(line, func(key, val []byte) error {
		keys++
		var err error
		switch string(key) {
		case "id":
			var id uint64
			id, err = jsonUint(val)
			r.ID = uint32(id)
		case "error":
			r.Error = true
			err = jsonObject(val, func(k, v []byte) error {
				switch string(k) {
				case "code":
					c, err := jsonUint(v)
					r.ErrCode = uint32(c)
					return err
				case "message":
					m, err := jsonString(v)
					r.ErrMessage = string(m)
					return err
				}
				return nil
			})
		case "push":
			err = jsonObject(val, func(k, v []byte) error {
				switch string(k) {
				case "channel":
					var err error
					r.Channel, err = jsonString(v)
					return err
				case "pub":
					r.Pub = true
					return jsonObject(v, func(k, d []byte) error {
						if string(k) == "data" {
							r.Data = d
						}
						return nil
					})
				case "disconnect":
					r.Disconnect = true
					return jsonObject(v, func(k, c []byte) error {
						if string(k) == "code" {
							code, err := jsonUint(c)
							r.DisconnectCode = uint32(code)
							return err
						}
						return nil
					})
				}
				return nil
			})
		case "connect":
			r.Connect = true
			err = jsonObject(val, func(k, v []byte) error {
				switch string(k) {
				case "ping":
					p, err := jsonUint(v)
					r.PingSeconds = uint32(p)
					return err
				case "pong":
					r.Pong = jsonTrue(v)
				}
				return nil
			})
		case "subscribe":
			r.Subscribe = true
		}
		return err
	})
	r.Ping = err == nil && keys == 0 // {}: the server's ping
	return err
}

// CfConnectCommand encodes Command{id, connect: {token, name}} as one
// frame's content.
func CfConnectCommand(protobuf bool, id uint32, token, name string) []byte {
	if !protobuf {
		b, _ := json.Marshal(map[string]any{"id": id, "connect": map[string]string{"token": token, "name": name}})
		return b
	}
	var req []byte
	req = protowire.AppendTag(req, cfConnectToken, protowire.BytesType)
	req = protowire.AppendString(req, token)
	req = protowire.AppendTag(req, cfConnectName, protowire.BytesType)
	req = protowire.AppendString(req, name)
	return cfCommand(id, cfCmdConnect, req)
}

// CfSubscribeCommand encodes Command{id, subscribe: {channel}}.
func CfSubscribeCommand(protobuf bool, id uint32, channel string) []byte {
	if !protobuf {
		b, _ := json.Marshal(map[string]any{"id": id, "subscribe": map[string]string{"channel": channel}})
		return b
	}
	var req []byte
	req = protowire.AppendTag(req, cfSubscribeChannel, protowire.BytesType)
	req = protowire.AppendString(req, channel)
	return cfCommand(id, cfCmdSubscribe, req)
}

// cfCommand wraps a request as field num of a Command with an id, length
// prefixed.
func cfCommand(id uint32, num protowire.Number, req []byte) []byte {
	var cmd []byte
	cmd = protowire.AppendTag(cmd, cfCmdID, protowire.VarintType)
	cmd = protowire.AppendVarint(cmd, uint64(id))
	cmd = protowire.AppendTag(cmd, num, protowire.BytesType)
	cmd = protowire.AppendBytes(cmd, req)
	return protowire.AppendBytes(nil, cmd) // varint length + message
}

// The pong: an empty command.
var (
	cfPongJSON     = []byte("{}")
	cfPongProtobuf = []byte{0}
)

// CfData returns the body a publisher put in a publication: the payload is
// a JSON string (CfPayload), so its quotes are dropped.
func CfData(data []byte) []byte {
	if len(data) >= 2 && data[0] == '"' && data[len(data)-1] == '"' {
		return data[1 : len(data)-1]
	}
	return data
}

// CfPayload makes a publication payload of exactly size bytes: a JSON
// string holding a body made by Body(size-2) ("<unix-nanos>|xxxx").
func CfPayload(size int) []byte {
	b := make([]byte, 0, size)
	b = append(b, '"')
	b = append(b, Body(max(size-2, 21))...)
	return append(b, '"')
}
