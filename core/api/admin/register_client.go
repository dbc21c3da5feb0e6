package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// RemoteError is a Matrix error returned by the server.
type RemoteError struct {
	Status  int
	ErrCode string `json:"errcode"`
	Message string `json:"error"`
}

func (e *RemoteError) Error() string {
	return fmt.Sprintf("%s (HTTP %d): %s", e.ErrCode, e.Status, e.Message)
}

// RegisterResult is the server's answer to a shared-secret registration.
type RegisterResult struct {
	UserID      string `json:"user_id"`
	AccessToken string `json:"access_token"`
	DeviceID    string `json:"device_id"`
	HomeServer  string `json:"home_server"`
}

// RegisterWithSharedSecret is the client side of shared-secret
// registration, as Synapse's register_new_matrix_user performs it: fetch a
// nonce, sign the request with the secret, post it. `gatehouse register`
// uses it; req.Nonce and req.MAC are filled in here.
func RegisterWithSharedSecret(ctx context.Context, hc *http.Client, baseURL, secret string, req SharedSecretRequest) (*RegisterResult, error) {
	url := strings.TrimSuffix(baseURL, "/") + "/_synapse/admin/v1/register"
	var nonce struct {
		Nonce string `json:"nonce"`
	}
	if err := call(ctx, hc, http.MethodGet, url, nil, &nonce); err != nil {
		return nil, err
	}
	req.Nonce = nonce.Nonce
	req.MAC = SharedSecretMAC(secret, req.Nonce, req.Username, req.Password, req.Admin, req.UserType)
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	var res RegisterResult
	if err := call(ctx, hc, http.MethodPost, url, body, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

func call(ctx context.Context, hc *http.Client, method, url string, body []byte, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		re := &RemoteError{Status: resp.StatusCode}
		if json.Unmarshal(data, re) != nil || re.ErrCode == "" {
			re.ErrCode, re.Message = "M_UNKNOWN", strings.TrimSpace(string(data))
		}
		return re
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: unexpected response: %w", method, url, err)
	}
	return nil
}
