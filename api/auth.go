package api

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Auth rules follow RFC 6750. No credentials at all answer 401 with
// WWW-Authenticate: Bearer; credentials that are sent but not accepted (a
// wrong publisher key, a forged, expired, malformed or alg:none token)
// answer 401 with error="invalid_token", so a client knows a fresh
// credential may help; a valid token for another user answers 403.
const (
	// TokenCookie is the cookie a browser may carry its subscriber token in.
	TokenCookie = "sselog_token"
	// tokenLeeway is how far past exp (and before iat) a token is still
	// accepted, for clock skew between the issuer and us.
	tokenLeeway = 60 * time.Second
	// maxTokenLen bounds what the JWT parser is handed.
	maxTokenLen = 4096
)

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

// tokenRules are what a subscriber token is checked against.
type tokenRules struct {
	secret   []byte
	audience string // "" = aud not checked
	issuer   string // "" = iss not checked
}

// parseToken verifies a subscriber token and returns its user and expiry.
// Only HS256 is accepted (no "none", no algorithm confusion); a crit
// header is refused (we understand no extension, RFC 7515 4.1.11); exp is
// required, must be a number and is checked against now with
// tokenLeeway; an iat beyond the leeway in the future is refused; aud and
// iss are required and checked when the rules name them; sub must be a
// valid user id.
func parseToken(rules tokenRules, tok string, now time.Time) (string, time.Time, error) {
	if len(tok) > maxTokenLen {
		return "", time.Time{}, fmt.Errorf("%w: token longer than %d bytes", errInvalidToken, maxTokenLen)
	}
	if err := checkTokenShape(tok); err != nil {
		return "", time.Time{}, err
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(tokenLeeway),
		jwt.WithTimeFunc(func() time.Time { return now }),
	}
	if rules.audience != "" {
		opts = append(opts, jwt.WithAudience(rules.audience))
	}
	if rules.issuer != "" {
		opts = append(opts, jwt.WithIssuer(rules.issuer))
	}
	var claims jwt.RegisteredClaims
	_, err := jwt.NewParser(opts...).ParseWithClaims(tok, &claims, func(*jwt.Token) (any, error) { return rules.secret, nil })
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return "", time.Time{}, fmt.Errorf("%w: token expired", errInvalidToken)
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return "", time.Time{}, fmt.Errorf("%w: token issued in the future", errInvalidToken)
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return "", time.Time{}, fmt.Errorf("%w: token audience is not %q", errInvalidToken, rules.audience)
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return "", time.Time{}, fmt.Errorf("%w: token lacks a required claim (exp; aud and iss when the server names them)", errInvalidToken)
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return "", time.Time{}, fmt.Errorf("%w: token issuer is not %q", errInvalidToken, rules.issuer)
	case err != nil:
		return "", time.Time{}, fmt.Errorf("%w: invalid token", errInvalidToken)
	}
	if err := checkUser(claims.Subject); err != nil {
		return "", time.Time{}, fmt.Errorf("%w: token subject is not a valid user id", errInvalidToken)
	}
	return claims.Subject, claims.ExpiresAt.Time, nil
}

// checkTokenShape refuses what the JWT library would let through: a crit
// header (whatever it names, we implement no extension, so RFC 7515 says
// refuse), and an exp that is not a JSON number (the library's
// NumericDate also takes "1800000000" as a string).
func checkTokenShape(tok string) error {
	head, rest, ok := strings.Cut(tok, ".")
	payload, _, ok2 := strings.Cut(rest, ".")
	if !ok || !ok2 {
		return fmt.Errorf("%w: invalid token", errInvalidToken)
	}
	var h map[string]json.RawMessage
	if b, err := base64.RawURLEncoding.DecodeString(head); err != nil || json.Unmarshal(b, &h) != nil {
		return fmt.Errorf("%w: invalid token", errInvalidToken)
	}
	if _, ok := h["crit"]; ok {
		return fmt.Errorf("%w: token has a crit header this server does not understand", errInvalidToken)
	}
	var c map[string]json.RawMessage
	if b, err := base64.RawURLEncoding.DecodeString(payload); err != nil || json.Unmarshal(b, &c) != nil {
		return fmt.Errorf("%w: invalid token", errInvalidToken)
	}
	for _, k := range []string{"exp", "iat", "nbf"} {
		if v, ok := c[k]; ok && !isJSONNumber(v) {
			return fmt.Errorf("%w: token %s must be a number", errInvalidToken, k)
		}
	}
	return nil
}

func isJSONNumber(v json.RawMessage) bool {
	v = bytes.TrimSpace(v)
	return len(v) > 0 && (v[0] == '-' || '0' <= v[0] && v[0] <= '9')
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
		return fmt.Errorf("%w: wrong publisher key", errInvalidToken)
	}
	return nil
}

// requireSubscriber checks that r may read user's events and returns when
// the token stops being accepted (zero in open mode). The token comes
// from the Authorization header, else ?token=, else the sselog_token
// cookie: the most explicit source wins over a cookie left behind.
func (s *Server) requireSubscriber(r *http.Request, user string) (time.Time, error) {
	if s.openMode() {
		return time.Time{}, nil
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
		return time.Time{}, fmt.Errorf("%w: subscriber token required (?token=, cookie %s or Authorization: Bearer)", errUnauthenticated, TokenCookie)
	}
	sub, exp, err := parseToken(s.tokenRules(), tok, s.now())
	if err != nil {
		return time.Time{}, err
	}
	if sub != user {
		return time.Time{}, fmt.Errorf("%w: token is not valid for this user", errForbidden)
	}
	return exp.Add(tokenLeeway), nil
}

func (s *Server) tokenRules() tokenRules {
	return tokenRules{secret: []byte(s.cfg.SubscriberSecret), audience: s.cfg.TokenAudience, issuer: s.cfg.TokenIssuer}
}
