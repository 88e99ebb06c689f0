package admin

import "fmt"

// Config is the `admin:` section. The zero value is usable: every zero
// field takes the default documented next to it.
type Config struct {
	// APIKeys are accepted in the X-API-Key header, each as good as an
	// admin token (for backends that hold no signing key). Each is at least
	// MinAPIKeyBytes long. Default empty: admin tokens only.
	APIKeys []string `yaml:"api_keys"`
	// MaxBodyBytes bounds a request body; larger bodies are refused with
	// 413 BODY_TOO_LARGE. Default 65536.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
}

// MinAPIKeyBytes is the shortest API key Validate accepts.
const MinAPIKeyBytes = 16

const defaultMaxBody = 64 << 10

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = defaultMaxBody
	}
	return c
}

// Validate reports the first invalid field, by its YAML path.
func (c Config) Validate() error {
	if c.MaxBodyBytes < 0 {
		return fmt.Errorf("admin.max_body_bytes: must not be negative, got %d", c.MaxBodyBytes)
	}
	for i, k := range c.APIKeys {
		if len(k) < MinAPIKeyBytes {
			return fmt.Errorf("admin.api_keys[%d]: must be at least %d bytes", i, MinAPIKeyBytes)
		}
	}
	return nil
}
