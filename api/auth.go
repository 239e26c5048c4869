package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Auth rules (RFC 6750 for tokens). Missing credentials answer 401 (with
// WWW-Authenticate); an expired, forged or malformed subscriber token
// answers 401 with error="invalid_token", so a client fetches a new token
// and retries; a wrong publisher key or a valid token for another user
// answers 403.
const (
	// TokenCookie is the cookie a browser may carry its subscriber token in.
	TokenCookie = "sselog_token"
	// tokenLeeway is how far past exp a token is still accepted, for
	// clock skew between the issuer and us.
	tokenLeeway = 60 * time.Second
	// maxTokenLen bounds what the JWT parser is handed.
	maxTokenLen = 4096
)

// errInvalidToken is a subscriber token that was sent but not accepted
// (expired, forged, malformed): 401 with error="invalid_token".
var errInvalidToken = errors.New("invalid token")

// IssueToken returns a subscriber token for user: an HS256 JWT signed with
// secret, with sub = user and exp = now + ttl.
func IssueToken(secret, user string, ttl time.Duration, now time.Time) (string, error) {
	if secret == "" {
		return "", errors.New("issue token: subscriber secret is empty")
	}
	if err := checkUser(user); err != nil {
		return "", fmt.Errorf("issue token: %w", err)
	}
	if ttl <= 0 {
		return "", fmt.Errorf("issue token: ttl %s must be positive", ttl)
	}
	claims := jwt.RegisteredClaims{
		Subject:   user,
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
	if err != nil {
		return "", fmt.Errorf("issue token: %w", err)
	}
	return tok, nil
}

// parseToken verifies a subscriber token and returns its user. Only HS256
// is accepted (no "none", no algorithm confusion), exp is required and
// checked against now with tokenLeeway, and sub must be a valid user id.
func parseToken(secret []byte, tok string, now time.Time) (string, error) {
	if len(tok) > maxTokenLen {
		return "", fmt.Errorf("%w: token longer than %d bytes", errInvalidToken, maxTokenLen)
	}
	p := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(tokenLeeway),
		jwt.WithTimeFunc(func() time.Time { return now }),
	)
	var claims jwt.RegisteredClaims
	_, err := p.ParseWithClaims(tok, &claims, func(*jwt.Token) (any, error) { return secret, nil })
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return "", fmt.Errorf("%w: token expired", errInvalidToken)
	case err != nil:
		return "", fmt.Errorf("%w: not a valid subscriber token", errInvalidToken)
	}
	if err := checkUser(claims.Subject); err != nil {
		return "", fmt.Errorf("%w: token subject is not a valid user id", errInvalidToken)
	}
	return claims.Subject, nil
}

// bearer returns the credentials of an "Authorization: Bearer X" header,
// or "" when there is none.
func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	const prefix = "bearer "
	if len(h) > len(prefix) && strings.EqualFold(h[:len(prefix)], prefix) {
		return strings.TrimSpace(h[len(prefix):])
	}
	return ""
}

// openMode reports whether the server runs without keys, trusting the
// user in the path as the recipe does. Config validation allows it only
// on loopback addresses.
func (s *Server) openMode() bool { return s.cfg.PublisherKey == "" }

// requirePublisher checks the publisher key on publish and admin routes.
func (s *Server) requirePublisher(r *http.Request) error {
	if s.openMode() {
		return nil
	}
	got := bearer(r)
	if got == "" {
		return fmt.Errorf("%w: publisher key required (Authorization: Bearer <key>)", errUnauthenticated)
	}
	// Comparing digests keeps the comparison constant-time in the length too.
	a, b := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(s.cfg.PublisherKey))
	if subtle.ConstantTimeCompare(a[:], b[:]) != 1 {
		return fmt.Errorf("%w: wrong publisher key", errForbidden)
	}
	return nil
}

// requireSubscriber checks that r may read user's events. The token comes
// from the Authorization header, else ?token=, else the sselog_token
// cookie: the most explicit source wins over a cookie left behind.
func (s *Server) requireSubscriber(r *http.Request, user string) error {
	if s.openMode() {
		return nil
	}
	tok := bearer(r)
	if tok == "" {
		tok = r.URL.Query().Get("token")
	}
	if tok == "" {
		if c, err := r.Cookie(TokenCookie); err == nil {
			tok = c.Value
		}
	}
	if tok == "" {
		return fmt.Errorf("%w: subscriber token required (?token=, cookie %s or Authorization: Bearer)", errUnauthenticated, TokenCookie)
	}
	sub, err := parseToken([]byte(s.cfg.SubscriberSecret), tok, s.now())
	if err != nil {
		return err
	}
	if sub != user {
		return fmt.Errorf("%w: token is not valid for this user", errForbidden)
	}
	return nil
}
