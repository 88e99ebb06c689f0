// Entry of the browser bundle web/static/vendor/roomcast-pb.min.js (see
// build.sh): protobufjs's minimal runtime, long.js for exact 64-bit
// integers, and the code pbjs generated from proto/roomcastpb/roomcast.proto.
import $protobuf from "protobufjs/minimal.js";
import Long from "long";
import { roomcast } from "./gen/roomcast.pb.js";

// 64-bit fields decode to Long (exact), never to a lossy Number.
$protobuf.util.Long = Long;
$protobuf.configure();

export const Frame = roomcast.v1.Frame;
