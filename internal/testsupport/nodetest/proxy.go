package nodetest

import "github.com/roomcast/roomcast/internal/testsupport/tcpproxy"

// Proxy and StartProxy are tcpproxy's (kept here for the fault suite).
type Proxy = tcpproxy.Proxy

// StartProxy starts a tcpproxy.Proxy in front of target.
var StartProxy = tcpproxy.Start
