// Package lossy is test support: a dialer whose connections can lose one
// reply after the server acted on the request, as when the network or a
// proxy fails between the two. It imports nothing of roomcast, so any
// test package can use it (the Redis stores' lost-reply tests do).
package lossy
