package slack

import (
	"io"
	"net/http"
	"sync"
	"time"
)

// webClient is the client usher calls the Web API and response_urls with:
// c (the Config's HTTPClient), or defaultHTTP when there is none, either
// way with a transport that reads what is left of an answer before closing
// it. slack-go decodes answers with a json.Decoder, which stops at the end
// of the JSON value: of an answer sent chunked, the body's end (its last,
// empty chunk) stays unread, and net/http reuses a connection only when
// its body was read to the end (net/http's Client.Do; google/go-github#317
// drains for the same reason). Each such call closed its connection, and
// the next opened another (against slack.com, a TLS handshake).
//
// In BenchmarkBulkDelivery/cpu (conns/inv), 1,000 invitations opened 71
// connections with net/http's default transport, 54 with defaultHTTP's
// idle limit alone, 4 with both.
func webClient(c *http.Client) *http.Client {
	if c == nil {
		return defaultHTTP()
	}
	if _, ok := c.Transport.(drainingTransport); ok {
		return c
	}
	own := *c
	base := own.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	own.Transport = drainingTransport{base}
	return &own
}

// defaultHTTP keeps more idle connections than net/http's default (2 a
// host): the outbox's turns, progress updates and senders' notices put
// more calls than that in flight, and each past the idle limit would
// close its connection when done.
var defaultHTTP = sync.OnceValue(func() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 64
	return &http.Client{Timeout: 10 * time.Second, Transport: drainingTransport{t}}
})

type drainingTransport struct{ base http.RoundTripper }

func (t drainingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(r)
	if err == nil && resp.Body != nil {
		resp.Body = drainingBody{resp.Body}
	}
	return resp, err
}

// drainingBody reads up to maxDrain of what is left when closed: more
// than that is not worth the connection.
type drainingBody struct{ io.ReadCloser }

const maxDrain = 64 << 10

func (b drainingBody) Close() error {
	io.Copy(io.Discard, io.LimitReader(b.ReadCloser, maxDrain))
	return b.ReadCloser.Close()
}
