package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// CfPublisher publishes through Centrifugo's server HTTP API (POST
// <api>/publish with the X-API-Key header), the way a backend does: one
// request at a time per publisher, on a kept-alive connection. Send blocks
// until the answer. Safe for concurrent use; a publisher is normally used
// by one goroutine.
type CfPublisher struct {
	url    string
	key    string
	client *http.Client
	stats  *PublishStats
}

// NewCfPublisher returns a publisher posting to apiURL
// (http://127.0.0.1:8000/api) with key. client carries the connections
// (nil: one of its own with a connection per publisher); answers are
// counted in stats.
func NewCfPublisher(apiURL, key string, client *http.Client, stats *PublishStats) *CfPublisher {
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	return &CfPublisher{url: apiURL + "/publish", key: key, client: client, stats: stats}
}

// ErrCfPublish is a refused publish request (the wrapped text says why).
var ErrCfPublish = errors.New("loadgen: centrifugo publish")

// Send publishes payload (a JSON value, e.g. CfPayload) to channel; room
// is the room id the stats count it under. The error, if any, is also
// counted in stats by kind (http_<status>, api_<code>, transport).
func (p *CfPublisher) Send(ctx context.Context, room, channel string, payload []byte) error {
	body, err := json.Marshal(struct {
		Channel string          `json:"channel"`
		Data    json.RawMessage `json:"data"`
	}{channel, payload})
	if err != nil {
		return err
	}
	p.stats.CountSent(false)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-API-Key", p.key)
	resp, err := p.client.Do(req)
	if err != nil {
		p.stats.unsent.Add(1)
		return fmt.Errorf("%w: %w", ErrCfPublish, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		p.stats.unsent.Add(1)
		return fmt.Errorf("%w: %w", ErrCfPublish, err)
	}
	if resp.StatusCode != http.StatusOK {
		p.stats.RefuseNamed(fmt.Sprintf("http_%d", resp.StatusCode))
		return fmt.Errorf("%w: HTTP %d: %s", ErrCfPublish, resp.StatusCode, bytes.TrimSpace(data))
	}
	var ans struct {
		Error *struct {
			Code    uint32 `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(data, &ans); err != nil {
		p.stats.RefuseNamed("bad_answer")
		return fmt.Errorf("%w: answer: %w", ErrCfPublish, err)
	}
	if ans.Error != nil {
		p.stats.RefuseNamed(fmt.Sprintf("api_%d", ans.Error.Code))
		return fmt.Errorf("%w: %d %s", ErrCfPublish, ans.Error.Code, ans.Error.Message)
	}
	p.stats.Accept(room, false)
	return nil
}

// CfToken mints a Centrifugo connection JWT (HS256, claim sub = user)
// signed with the server's client.token.hmac_secret_key.
func CfToken(secret []byte, user string, ttl time.Duration, now time.Time) (string, error) {
	claims := jwt.MapClaims{"sub": user, "iat": now.Unix(), "exp": now.Add(ttl).Unix()}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
}
