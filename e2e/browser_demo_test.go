package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// screen is a window size the demo page must work at.
type screen struct {
	name          string
	width, height int64
}

var screens = []screen{{"desktop", 1024, 900}, {"phone", 320, 640}}

// postJSON publishes body to path on base and returns the id.
func postJSON(t *testing.T, base, path, body string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+path, strings.NewReader(body))
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out struct {
		ID    string `json:"id"`
		Error string `json:"error"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	require.Equal(t, http.StatusCreated, resp.StatusCode, "POST %s %s: %s", path, body, out.Error)
	return out.ID
}

// cardView is what the page shows for one event.
type cardView struct {
	ID     string   `json:"id"`
	Kind   string   `json:"kind"`
	Badge  string   `json:"badge"`
	Title  string   `json:"title"`
	Text   string   `json:"text"`
	Fields []string `json:"fields"`
}

const readCards = `Array.from(document.querySelectorAll("#notifications li"), (li) => ({
	id: li.dataset.id,
	kind: [...li.classList].find((c) => c.startsWith("type-")) || "",
	badge: li.querySelector(".badge")?.textContent ?? "",
	title: li.querySelector(".title")?.textContent ?? "",
	text: li.innerText,
	fields: Array.from(li.querySelectorAll("dt"), (dt) => dt.textContent + ": " + dt.nextElementSibling.textContent),
}))`

// overflow lists the elements that stick out of the viewport sideways.
const overflow = `(() => {
	const w = document.documentElement.clientWidth;
	const out = [];
	if (document.documentElement.scrollWidth > w) out.push("document " + document.documentElement.scrollWidth + " > " + w);
	for (const el of document.querySelectorAll("body *")) {
		const r = el.getBoundingClientRect();
		if (r.width > 0 && (r.right > w + 0.5 || r.left < -0.5)) out.push((el.id || el.tagName) + " " + Math.round(r.left) + ".." + Math.round(r.right));
	}
	return out;
})()`

// TestBrowserDemoPageScreens opens the demo page in real Chromium at
// desktop and phone (320 px) sizes, against the binary in open mode. A
// first visit shows the user's history, every README example shape as a
// readable card; nothing overflows sideways; when the server goes away a
// banner says so at the top of the screen and the publish form is
// disabled, and both recover when it is back. A screenshot is saved on
// failure.
func TestBrowserDemoPageScreens(t *testing.T) {
	data := filepath.Join(t.TempDir(), "sselog.db")
	args := []string{"--retry", "200ms", "--heartbeat", "2s"}
	srv := startServer(t, data, args...)
	addr := srv.URL
	var broadcasts []string // published so far: in every user's history

	for _, sc := range screens {
		t.Run(sc.name, func(t *testing.T) {
			ctx := newBrowser(t)
			shoot := screenshotOnFailure(t, ctx)
			logConsoleOnFailure(t, ctx)
			_, err := within(ctx, 5*time.Second, chromedp.EmulateViewport(sc.width, sc.height))
			require.NoError(t, err)
			pg := &demoPage{t: t, ctx: ctx, shoot: shoot}
			user := "alice-" + sc.name

			// The README's examples, published before the first visit.
			ids := []string{
				postJSON(t, addr, "/v1/users/"+user+"/events", `{"event":"notification","data":{"title":"Hello","body":"it works"}}`),
				postJSON(t, addr, "/v1/users/"+user+"/events", `{"event":"notification","data":{"text":"Your order shipped"}}`),
				postJSON(t, addr, "/v1/users/"+user+"/events", `{"event":"note","data":{"text":"hi"}}`),
				postJSON(t, addr, "/v1/users/"+user+"/events", `{"data":{"big":"json","n":2}}`),
				postJSON(t, addr, "/v1/users/"+user+"/events", `{"event":"news","data":"`+strings.Repeat("long-unbroken-word-", 12)+`"}`),
			}
			want := append(append([]string{}, broadcasts...), ids...)
			slices.Sort(want)
			slices.Reverse(want) // newest first
			pg.open(addr + "/?user=" + user)
			pg.waitStatus("connected")
			pg.waitCount(len(want))
			cards := pageEval[[]cardView](pg, readCards)
			byID := map[string]cardView{}
			for i, c := range cards {
				assert.Equal(t, want[i], c.ID, "history, newest first")
				assert.NotEqual(t, "type-raw", c.Kind, "card %d shown as raw JSON: %+v", i, c)
				byID[c.ID] = c
			}
			assert.Equal(t, "Hello", byID[ids[0]].Title)
			assert.Contains(t, byID[ids[0]].Text, "it works")
			assert.Equal(t, "Your order shipped", byID[ids[1]].Title)
			assert.Equal(t, "hi", byID[ids[2]].Title)
			assert.Equal(t, "note", byID[ids[2]].Badge)
			assert.Equal(t, []string{"big: json", "n: 2"}, byID[ids[3]].Fields)
			assert.Equal(t, "message", byID[ids[3]].Badge, "an unnamed event")
			assert.False(t, pageEval[bool](pg, `document.querySelector("#publish").hidden`), "open mode shows the form")
			assert.False(t, pageEval[bool](pg, `document.querySelector("#publish-fields").disabled`), "connected: the form works")
			assert.True(t, pageEval[bool](pg, `document.querySelector("#banner").hidden`), "no banner while connected")

			// Live events of other shapes, a broadcast among them.
			live := []string{
				postJSON(t, addr, "/v1/broadcast", `{"event":"maintenance","data":{"at":"22:00"}}`),
				postJSON(t, addr, "/v1/broadcast", `{"data":"maintenance at 22:00"}`),
			}
			broadcasts = append(broadcasts, live...)
			pg.waitCount(len(want) + len(live))
			cards = pageEval[[]cardView](pg, readCards)
			assert.Equal(t, []string{"at: 22:00"}, cards[1].Fields)
			assert.Equal(t, "maintenance", cards[1].Badge)
			assert.Equal(t, "maintenance at 22:00", cards[0].Title)
			assert.Empty(t, pageEval[[]string](pg, overflow), "elements wider than the screen")

			// The server goes away: a banner at the top of the screen, the
			// form disabled; both recover when it is back.
			if sc.name == "phone" {
				srv.Stop()
				pg.poll("the banner", `!document.querySelector("#banner").hidden`)
				assert.Contains(t, pageEval[string](pg, `document.querySelector("#banner").textContent`), "Reconnecting")
				box := pageEval[map[string]float64](pg, `(() => { const r = document.querySelector("#banner").getBoundingClientRect();
					return {top: r.top, bottom: r.bottom, width: r.width, screenW: document.documentElement.clientWidth, screenH: innerHeight}; })()`)
				assert.True(t, box["top"] >= 0 && box["bottom"]-box["top"] > 20 && box["bottom"] <= box["screenH"] && box["width"] >= box["screenW"]-1,
					"the banner is on screen, full width: %v", box)
				assert.True(t, pageEval[bool](pg, `document.querySelector("#publish-fields").disabled`), "the form is disabled while the server is away")
				assert.True(t, pageEval[bool](pg, `document.querySelector("#publish button").matches(":disabled")`))
				assert.Empty(t, pageEval[[]string](pg, overflow), "elements wider than the screen, banner up")
				srv = startServer(t, data, append(args, "--addr", strings.TrimPrefix(addr, "http://"))...)
				pg.waitStatus("connected")
				pg.poll("the banner to go", `document.querySelector("#banner").hidden`)
				assert.False(t, pageEval[bool](pg, `document.querySelector("#publish-fields").disabled`))
			}
			if t.Failed() {
				shoot()
			}
		})
	}
}

// TestBrowserDemoPageKeyed: with keys, a page without a publisher (no way
// to publish from a browser) hides the form, and a page refused for its
// token says so in a red banner.
func TestBrowserDemoPageKeyed(t *testing.T) {
	ctx := newBrowser(t)
	shoot := screenshotOnFailure(t, ctx)
	logConsoleOnFailure(t, ctx)
	const (
		pubKey = "browser-test-publisher-key-0123456789"
		secret = "browser-test-subscriber-secret-0123456789"
	)
	srv := startServer(t, filepath.Join(t.TempDir(), "sselog.db"), "--publisher-key", pubKey, "--subscriber-secret", secret)
	pg := &demoPage{t: t, ctx: ctx, shoot: shoot}
	id := publishNote(t, srv.URL, pubKey, "carol", false, "before the visit")

	pg.open(srv.URL + "/?user=carol") // no token
	pg.waitStatus("disconnected")
	assert.True(t, pageEval[bool](pg, `document.querySelector("#publish").hidden`), "the form cannot work here")
	assert.False(t, pageEval[bool](pg, `document.querySelector("#banner").hidden`), "a red banner")
	assert.Contains(t, pageEval[string](pg, `document.querySelector("#banner").textContent`), "Disconnected: not allowed")

	pg.open(srv.URL + "/?user=carol&token=" + subscriberToken(t, secret, "carol"))
	pg.waitStatus("connected")
	pg.waitCount(1) // the history, with the token
	assert.Equal(t, []string{id}, pg.shownIDs())
	assert.True(t, pageEval[bool](pg, `document.querySelector("#publish").hidden`))
	if t.Failed() {
		shoot()
	}
}
