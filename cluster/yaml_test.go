package cluster_test

import (
	"go.yaml.in/yaml/v3"

	"github.com/roomcast/roomcast/auth"
	"github.com/roomcast/roomcast/configs"
)

func yamlOf(c configs.Config) string {
	b, err := yaml.Marshal(c)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func newKeyring(c configs.Config) (*auth.Keyring, error) { return auth.NewKeyring(c.Keys()...) }
