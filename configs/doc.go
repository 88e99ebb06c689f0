// Package configs loads roomcast's configuration: defaults, then a YAML file
// (configs/roomcast.yaml documents every setting with its default), then
// ROOMCAST_* environment variables, then the command line's flags; then it
// validates and names the first bad field. Every error names the setting
// by its YAML path (fanout.pull_window): the YAML document is walked beside
// the Config's fields (yaml.go), so a wrong type, an unknown or repeated
// key is reported like a value out of range. The example files in this
// directory are the configs the README and the local cluster use.
//
// The package has no state beyond what Load returns and starts no goroutines.
package configs
