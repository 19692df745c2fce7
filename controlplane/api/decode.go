package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/mail"
	"net/url"
	"reflect"
	"strings"
	"unicode/utf8"
)

// Request bodies are JSON objects. Unknown fields are accepted and ignored
// (integrators' code may send fields of the original API that we do not
// serve); a field of the wrong JSON type is a 400 naming the field, a
// missing or unacceptable value a 422 naming the field.
func decodeJSON(body []byte, dst any) error {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return badInput("invalid_json", "", "the request body is empty; send a JSON object")
	}
	if trimmed[0] != '{' {
		return badInput("invalid_json", "", "the request body must be a JSON object")
	}
	if err := json.Unmarshal(trimmed, dst); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			f := te.Field
			if f == "" {
				f = "body"
			}
			return badInput("invalid_type", f, fieldf(f, "must be %s", kindName(te.Type)))
		}
		return badInput("invalid_json", "", "malformed JSON: "+err.Error())
	}
	return nil
}

func kindName(t reflect.Type) string {
	if t == nil {
		return "of another type"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int64, reflect.Int32:
		return "an integer"
	case reflect.Slice:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "of another type"
}

// check collects the first validation error of a request.
type check struct{ err error }

func (c *check) fail(err error) {
	if c.err == nil {
		c.err = err
	}
}

// required returns *p, or records a missing-field error.
func (c *check) required(field string, p *string) string {
	if p == nil || strings.TrimSpace(*p) == "" {
		c.fail(invalid("missing_field", field, fieldf(field, "is required")))
		return ""
	}
	return *p
}

// length checks the length of s in characters.
func (c *check) length(field, s string, minLen, maxLen int) {
	n := utf8.RuneCountInString(s)
	switch {
	case n < minLen:
		c.fail(invalid("too_short", field, fieldf(field, "must be at least %d characters", minLen)))
	case n > maxLen:
		c.fail(invalid("too_long", field, fieldf(field, "must be at most %d characters", maxLen)))
	case strings.ContainsFunc(s, isControl):
		c.fail(invalid("invalid_value", field, fieldf(field, "must not contain control characters")))
	}
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// oneOf checks that s is one of the allowed values.
func (c *check) oneOf(field, s string, allowed ...string) {
	for _, a := range allowed {
		if s == a {
			return
		}
	}
	c.fail(invalid("invalid_enum", field, fieldf(field, "must be one of %s", strings.Join(allowed, ", "))))
}

// between checks an integer range.
func (c *check) between(field string, v, lo, hi int64) {
	if v < lo || v > hi {
		c.fail(invalid("out_of_range", field, fieldf(field, "must be between %d and %d", lo, hi)))
	}
}

func (c *check) email(field, s string) {
	c.length(field, s, 3, 254)
	if a, err := mail.ParseAddress(s); err != nil || a.Address != s {
		c.fail(invalid("invalid_value", field, fieldf(field, "must be an e-mail address")))
	}
}

// httpURL checks an absolute http(s) URL.
func (c *check) httpURL(field, s string) {
	c.length(field, s, 1, 2048)
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		c.fail(invalid("invalid_value", field, fieldf(field, "must be an absolute http or https URL")))
	}
}

// origin checks a CSP frame-ancestors source: scheme://host[:port], where
// host may start with "*." for any subdomain.
func (c *check) origin(field, s string) {
	c.length(field, s, 1, 300)
	u, err := url.Parse(strings.Replace(s, "://*.", "://wildcard.", 1))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		c.fail(invalid("invalid_value", field, fieldf(field, "must be an origin such as https://example.com or https://*.example.com")))
	}
}

// validID reports whether s has the shape of our ids (24 lowercase hex).
func validID(s string) bool {
	if len(s) != 24 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// validAlias reports whether s has the shape of a room alias.
func validAlias(s string) bool {
	if len(s) < 4 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && c != '-' && c != '_' {
			return false
		}
	}
	return true
}
