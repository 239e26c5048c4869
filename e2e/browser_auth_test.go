package e2e

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBrowserAuth runs the demo page against the binary with keys: a token
// for the user opens the stream (and hides the publish form), and a token
// for another user is refused with a status EventSource cannot show, which
// sselog.js learns by its probe: the dot goes red and stays red, with no
// reconnect of its own.
func TestBrowserAuth(t *testing.T) {
	ctx := newBrowser(t)
	shoot := screenshotOnFailure(t, ctx)
	logConsoleOnFailure(t, ctx)
	const (
		pubKey = "browser-test-publisher-key-0123456789"
		secret = "browser-test-subscriber-secret-0123456789"
	)
	srv := startServer(t, filepath.Join(t.TempDir(), "sselog.db"),
		"--publisher-key", pubKey, "--subscriber-secret", secret)
	pg := &demoPage{t: t, ctx: ctx, shoot: shoot}

	pg.open(srv.URL + "/?user=alice&token=" + subscriberToken(t, secret, "alice"))
	pg.waitStatus("connected")
	assert.True(t, pageEval[bool](pg, `document.querySelector("#publish").hidden`), "publish form shown in keyed mode")
	id := publishNote(t, srv.URL, pubKey, "alice", false, "for alice")
	pg.waitCount(1)
	assert.Equal(t, []string{id}, pg.shownIDs())

	pg.open(srv.URL + "/?user=alice&token=" + subscriberToken(t, secret, "bob"))
	pg.waitStatus("disconnected")
	assert.Equal(t, "rgb(207, 34, 46)", pageEval[string](pg,
		`getComputedStyle(document.querySelector("#status .dot")).backgroundColor`), "the dot is red")
	assert.Equal(t, "Disconnected", pageEval[string](pg, `document.querySelector("#status-label").textContent`))
	assert.Contains(t, pageEval[string](pg, `document.querySelector("#notice").textContent`), "Not allowed")
	assert.Equal(t, []string{"reconnecting", "disconnected"}, pageEval[[]string](pg, "window.__statusLog"))
	assert.Zero(t, pageEval[int](pg, "window.__retries.length"), "reconnected after a refusal")
	if t.Failed() {
		shoot()
	}
}

// subscriberToken mints a subscriber token for user with the binary's own
// token command, as an operator would.
func subscriberToken(t *testing.T, secret, user string) string {
	t.Helper()
	cmd := exec.Command(sselogBinary(t), "token", "--subscriber-secret", secret, "--user", user)
	cmd.Env = cleanEnv()
	out, err := cmd.Output()
	require.NoError(t, err, "sselog token")
	tok := strings.TrimSpace(string(out))
	require.Equal(t, 2, strings.Count(tok, "."), "a JWT: %q", tok)
	return tok
}
