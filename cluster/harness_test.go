package cluster_test

import (
	"os"
	"testing"

	"github.com/roomcast/roomcast/internal/testsupport/nodetest"
)

// TestMain doubles as a roomcast node process (nodetest.EnvNodeConfig
// set): the process tests start nodes as real processes they can kill and
// pause.
func TestMain(m *testing.M) {
	nodetest.RunNodeIfChild()
	os.Exit(m.Run())
}

// The harness lives in internal/testsupport/nodetest (the fault suite uses it too).
type (
	env    = nodetest.Env
	proc   = nodetest.Proc
	viewer = nodetest.Viewer
)

var (
	startEnv    = nodetest.StartEnv
	freePorts   = nodetest.FreePorts
	startInProc = nodetest.StartInProc
	startProc   = nodetest.StartProc
	scrape      = nodetest.Scrape
	eventually  = nodetest.Eventually
	dial        = nodetest.Dial
	usersOn     = nodetest.UsersOn
	roomOwnedBy = nodetest.RoomOwnedBy
)
