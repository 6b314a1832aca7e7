package slack

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	jsonv1 "github.com/go-json-experiment/json/v1"
	gojson "github.com/goccy/go-json"
	"github.com/slack-go/slack"
)

// webAPI is a workspace's Web API client: slack-go's, and the token and
// endpoint it was made with, for the one method usher calls itself
// (postMessage).
type webAPI struct {
	*slack.Client
	token    string
	endpoint string // ends in "/"
	hc       *http.Client
}

// postBody is chat.postMessage's JSON body.
type postBody struct {
	Channel  string              `json:"channel"`
	Text     string              `json:"text"`
	Blocks   []slack.Block       `json:"blocks,omitempty"`
	Metadata slack.SlackMetadata `json:"metadata"`
}

// postAnswer is what usher reads of chat.postMessage's answer: Slack
// echoes the whole message back, which is skipped, not decoded.
type postAnswer struct {
	OK               bool                   `json:"ok"`
	Error            string                 `json:"error"`
	Channel          string                 `json:"channel"`
	TS               string                 `json:"ts"`
	ResponseMetadata slack.ResponseMetadata `json:"response_metadata"`
}

// readPostAnswer reads chat.postMessage's answer with encoding/json's
// semantics on the v2 engine (go-json-experiment/json's v1), which skips
// the echoed message in half encoding/json's time (BenchmarkPostAnswer;
// FuzzPostAnswer holds it to encoding/json's reading).
func readPostAnswer(r io.Reader) (postAnswer, error) {
	var ans postAnswer
	err := jsonv1.NewDecoder(r).Decode(&ans)
	return ans, err
}

// postMessage is chat.postMessage with a JSON body, the token in the
// Authorization header (https://docs.slack.dev/reference/methods/chat.postMessage:
// content types application/x-www-form-urlencoded and application/json;
// "Tokens should be passed as an HTTP Authorization header"). slack-go
// posts a form, its blocks' JSON escaped into it, and decodes the echoed
// message whole: for the outbox's one call per invitation, that cost a
// delivery 12-25% more CPU (README, "Delivery at Slack's rate limits").
// Its errors are slack-go's (slack.RateLimitedError, slack.StatusCodeError,
// slack.SlackErrorResponse), so that classify reads them alike.
//
// The body is written with goccy/go-json, the same bytes in half the time
// of encoding/json (the Block Kit golden tests read them). Slack's answer,
// input from outside, is read with encoding/json's own semantics, by
// go-json-experiment/json's v1 package (encoding/json as Go 1.25's jsonv2
// experiment builds it, and Go 1.27 by default): it skips the echoed message
// in less than half the time (BenchmarkPostAnswer), and reads what
// encoding/json reads (FuzzPostAnswer).
func (a *webAPI) postMessage(ctx context.Context, b postBody) (channel, ts string, err error) {
	body, err := gojson.Marshal(b)
	if err != nil {
		return "", "", fmt.Errorf("encode chat.postMessage: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.endpoint+postMethod, bytes.NewReader(body))
	if err != nil {
		return "", "", err
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("Authorization", "Bearer "+a.token)
	resp, err := a.hc.Do(req)
	if err != nil {
		return "", "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusTooManyRequests {
		secs, err := strconv.Atoi(resp.Header.Get("Retry-After"))
		if err != nil {
			secs = 1 // a 429 without a usable Retry-After: the least wait
		}
		return "", "", &slack.RateLimitedError{RetryAfter: time.Duration(secs) * time.Second}
	}
	// What is left of an answer is read when it is closed, which keeps the
	// connection (webClient).
	if resp.StatusCode != http.StatusOK {
		return "", "", slack.StatusCodeError{Code: resp.StatusCode, Status: resp.Status}
	}
	ans, err := readPostAnswer(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return "", "", fmt.Errorf("read chat.postMessage's answer: %w", err)
	}
	if !ans.OK {
		return "", "", slack.SlackErrorResponse{Err: ans.Error, ResponseMetadata: ans.ResponseMetadata}
	}
	return ans.Channel, ans.TS, nil
}
