// Package configs loads roomcast's configuration: defaults, then a YAML file
// (configs/roomcast.yaml documents every setting with its default), then
// ROOMCAST_* environment variables, then the command line's flags; then it
// validates and names the first bad field. The example files in this
// directory are the configs the README and the local cluster use.
//
// The package has no state beyond what Load returns and starts no goroutines.
package configs
