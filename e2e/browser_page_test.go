package e2e

import (
	"bytes"
	"encoding/json"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// noteView is what the page shows for one notification.
type noteView struct {
	ID    string `json:"id"`
	Class string `json:"class"`
	Title string `json:"title"`
	Body  string `json:"body"`
	Raw   string `json:"raw"`
}

const readNotes = `Array.from(document.querySelectorAll("#notifications li"), (li) => ({
	id: li.dataset.id, class: li.className,
	title: li.querySelector(".title")?.textContent ?? "",
	body: li.querySelector("p")?.textContent ?? "",
	raw: li.querySelector("pre")?.textContent ?? "",
}))`

// TestBrowserDemoPage drives the demo page's publish form with the keyboard
// only, against the real binary in open mode: a notification to the user,
// then a broadcast, each shown with its type's styling and with markup in
// the title shown as text; a payload of another shape is shown as raw JSON;
// and a page given a token hides the form (publishing then needs the
// publisher key).
func TestBrowserDemoPage(t *testing.T) {
	ctx := newBrowser(t)
	shoot := screenshotOnFailure(t, ctx)
	logConsoleOnFailure(t, ctx)
	srv := startServer(t, filepath.Join(t.TempDir(), "sselog.db"))
	pg := &demoPage{t: t, ctx: ctx, shoot: shoot}

	pg.open(srv.URL + "/?user=bob")
	pg.waitStatus("connected")
	assert.Equal(t, "Connected", pageEval[string](pg, `document.querySelector("#status-label").textContent`))
	assert.Equal(t, "bob", pageEval[string](pg, `document.querySelector("#user").textContent`))

	// Title, Tab, type (a letter picks the option), Tab, body, Tab, the
	// target radio group (an arrow changes it), Tab, Enter on the button.
	xss := `<img src=x onerror="window.__xss=1">`
	type keys struct{ target, kind string }
	for i, k := range []keys{{"", "w"}, {kb.ArrowDown, "e"}} {
		_, err := within(ctx, 10*time.Second, chromedp.Steps(
			chromedp.Focus("#f-title"),
			chromedp.KeyEvent(xss+" "+string(rune('a'+i))+kb.Tab+k.kind+kb.Tab+"line one"+kb.Tab+k.target+kb.Tab+kb.Enter),
		))
		require.NoError(t, err, "type into the form")
		pg.poll("the publish to be acknowledged", `/^Published [0-9A-Z]{26}$/.test(document.querySelector("#publish-result").textContent)`)
		pg.waitCount(i + 1)
		published := pageEval[string](pg, `document.querySelector("#publish-result").textContent.slice(10)`)
		assert.Equal(t, published, pageEval[string](pg, `document.querySelector("#notifications li").dataset.id`), "the acknowledged id is the one shown")
		assert.Empty(t, pageEval[string](pg, `document.querySelector("#f-title").value`), "form reset after publishing")
	}

	// Another shape of data: raw JSON.
	resp, err := http.Post(srv.URL+"/v1/users/bob/events", "application/json",
		bytes.NewReader([]byte(`{"event":"notification","data":[1,{"k":"v"}]}`)))
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	pg.waitCount(3)

	notes := pageEval[[]noteView](pg, readNotes)
	require.Len(t, notes, 3)
	assert.Contains(t, notes[0].Class, "type-raw")
	assert.JSONEq(t, `[1,{"k":"v"}]`, notes[0].Raw)
	assert.Contains(t, notes[1].Class, "type-error")
	assert.Equal(t, xss+" b", notes[1].Title, "the broadcast, markup shown as text")
	assert.Contains(t, notes[2].Class, "type-warning")
	assert.Equal(t, xss+" a", notes[2].Title)
	assert.Equal(t, "line one", notes[2].Body)
	assert.Zero(t, pageEval[int](pg, `document.querySelectorAll("#notifications img").length`), "markup was parsed")
	assert.False(t, pageEval[bool](pg, `Boolean(window.__xss)`), "a title ran script")

	// The broadcast went to everyone: alice's history has it, not bob's own.
	hist := browserGetJSON[struct {
		Events []struct {
			ID string `json:"id"`
		} `json:"events"`
	}](t, srv.URL+"/v1/users/alice/events")
	require.Len(t, hist.Events, 1, "alice sees the broadcast only")
	assert.Equal(t, notes[1].ID, hist.Events[0].ID)

	pg.open(srv.URL + "/?user=bob&token=abc")
	pg.poll("the page to load", `document.readyState === "complete" && window.__statusLog !== undefined`)
	assert.True(t, pageEval[bool](pg, `document.querySelector("#publish").hidden`), "form shown to a page with a token")
	if t.Failed() {
		shoot()
	}
}

// browserGetJSON decodes the JSON answer to a GET of url, requiring a 200.
func browserGetJSON[T any](t *testing.T, url string) T {
	t.Helper()
	var v T
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "GET %s", url)
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&v), "GET %s", url)
	return v
}
