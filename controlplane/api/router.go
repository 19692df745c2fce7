package api

import "strings"

// Route is one registered method and path pattern. Pattern segments in
// braces ({spaceId}) are parameters.
type Route struct {
	Method  string
	Pattern string
	// Operation is the OpenAPI operationId.
	Operation string
	handle    handler
	segs      []string
	// invalidates marks a write that can change what the read cache holds.
	invalidates bool
}

type handler func(r *request) error

// params holds the parameter values of one matched route, in order.
type params struct {
	n    int
	vals [4]string
}

func (p *params) get(i int) string { return p.vals[i] }

type router struct {
	routes []*Route
}

func (rt *router) add(method, pattern, op string, h handler) {
	rt.routes = append(rt.routes, &Route{Method: method, Pattern: pattern, Operation: op, handle: h,
		segs:        strings.Split(strings.Trim(pattern, "/"), "/"),
		invalidates: method != "GET" && strings.HasPrefix(pattern, "/v1/spaces/{spaceId}")})
}

// match finds the route for method and path. found reports whether the
// path matched some route (for 405 versus 404).
func (rt *router) match(method, path string, p *params) (r *Route, pathFound bool) {
	path = strings.Trim(path, "/")
	for _, r := range rt.routes {
		p.n = 0
		if !matchSegs(r.segs, path, p) {
			continue
		}
		pathFound = true
		if r.Method == method {
			return r, true
		}
	}
	return nil, pathFound
}

func matchSegs(segs []string, path string, p *params) bool {
	for i, s := range segs {
		var part string
		part, path, _ = strings.Cut(path, "/")
		if part == "" {
			return false
		}
		if s[0] == '{' {
			if p.n == len(p.vals) {
				return false
			}
			p.vals[p.n] = part
			p.n++
			continue
		}
		if s != part {
			return false
		}
		if i == len(segs)-1 && path != "" {
			return false
		}
	}
	return path == ""
}

// allowed lists the methods registered for a path (the Allow header of a 405).
func (rt *router) allowed(path string) string {
	var out []string
	var p params
	path = strings.Trim(path, "/")
	for _, r := range rt.routes {
		p.n = 0
		if matchSegs(r.segs, path, &p) {
			out = append(out, r.Method)
		}
	}
	return strings.Join(out, ", ")
}
