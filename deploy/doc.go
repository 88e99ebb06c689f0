// Package deploy holds what an operator ships and watches roomcast with,
// and the tests that check it: the container build (../Dockerfile,
// configs/container.yaml), the systemd unit (systemd/), the Prometheus
// alerting rules (prometheus/) and the Grafana dashboard (grafana/).
// docs/operations.md is the runbook that goes with them.
//
// It has no Go code of its own beyond its tests.
package deploy
