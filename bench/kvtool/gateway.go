package main

// The gateway ops of kvtool -mode kv: the same put and get loads sent as
// JSON to etcd's grpc-gateway (/v3/kv/put, /v3/kv/range), the way curl
// scripts and gateway clients (etcd3gw, Patroni) talk to a member: HTTP/1.1
// with keep-alive, one connection per concurrent client.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// gatewayClient makes HTTP/1.1 requests with a pool of keep-alive
// connections big enough for every concurrent client.
func gatewayClient(clients int) *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			MaxIdleConns:        clients,
			MaxIdleConnsPerHost: clients,
			IdleConnTimeout:     90 * time.Second,
		},
	}
}

// gatewayDo sends one JSON request: "gwput" puts key=val, "gwget" is a
// linearizable range of the key. Anything but 200 with a header is an error.
func gatewayDo(ctx context.Context, c *http.Client, endpoint, op, key, val string) error {
	b64 := base64.StdEncoding.EncodeToString
	var path string
	var body map[string]string
	switch op {
	case "gwput":
		path, body = "/v3/kv/put", map[string]string{"key": b64([]byte(key)), "value": b64([]byte(val))}
	case "gwget":
		path, body = "/v3/kv/range", map[string]string{"key": b64([]byte(key))}
	default:
		return fmt.Errorf("unknown gateway op %q", op)
	}
	payload, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, "POST", "http://"+endpoint+path, bytes.NewReader(payload))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, out)
	}
	var answer struct {
		Header *struct{} `json:"header"`
	}
	if err := json.Unmarshal(out, &answer); err != nil || answer.Header == nil {
		return fmt.Errorf("unexpected answer: %s", out)
	}
	return nil
}
