package api

import (
	"net/http"

	"github.com/julienschmidt/httprouter"
)

// presenceBody answers GET /v1/users/:user/presence.
type presenceBody struct {
	Streams int `json:"streams"`
}

// handlePresence answers how many streams are open for the user on this
// server, so an app can fall back to e-mail or push when nobody listens
// (the recipe's sendToUser returned false). It is a hint, not a delivery
// guarantee: a stream may open or drop the next moment, and a published
// event is stored either way. Publisher key only: presence is the app's
// business, not a subscriber's.
func (s *Server) handlePresence(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
	if err := s.requirePublisher(r); err != nil {
		s.fail(w, r, err)
		return
	}
	user := ps.ByName("user")
	if err := checkUser(user); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, presenceBody{Streams: s.hub.Streams(user)})
}
