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
	root   node
}

// node is one path segment of the routing tree: literal children first,
// then one parameter child.
type node struct {
	static map[string]*node
	param  *node
	routes []*Route // the routes ending here, one per method
}

func (rt *router) add(method, pattern, op string, h handler) {
	r := &Route{Method: method, Pattern: pattern, Operation: op, handle: h,
		segs: strings.Split(strings.Trim(pattern, "/"), "/"),
		// Moderation acts on edges, not on what the read cache holds.
		invalidates: method != "GET" && strings.HasPrefix(pattern, "/v1/spaces/{spaceId}") && !strings.Contains(pattern, "/participants")}
	rt.routes = append(rt.routes, r)
	n := &rt.root
	for _, s := range r.segs {
		if s[0] == '{' {
			if n.param == nil {
				n.param = &node{}
			}
			n = n.param
			continue
		}
		if n.static == nil {
			n.static = map[string]*node{}
		}
		next := n.static[s]
		if next == nil {
			next = &node{}
			n.static[s] = next
		}
		n = next
	}
	n.routes = append(n.routes, r)
}

// match finds the route for method and path. found reports whether the
// path matched some route (for 405 versus 404). A literal segment wins
// over a parameter; the tree backtracks to the parameter when the literal
// branch matches nothing.
func (rt *router) match(method, path string, p *params) (r *Route, pathFound bool) {
	path = strings.Trim(path, "/")
	p.n = 0
	n := rt.root.find(path, p)
	if n == nil {
		return nil, false
	}
	for _, r := range n.routes {
		if r.Method == method {
			return r, true
		}
	}
	return nil, true
}

// find walks path (without leading or trailing slashes) from n and
// returns the node holding routes, filling p with the parameters.
func (n *node) find(path string, p *params) *node {
	seg, rest, more := strings.Cut(path, "/")
	if seg == "" {
		return nil
	}
	if next := n.static[seg]; next != nil {
		if found := next.next(rest, more, p); found != nil {
			return found
		}
	}
	if n.param == nil || p.n == len(p.vals) {
		return nil
	}
	p.vals[p.n] = seg
	p.n++
	if found := n.param.next(rest, more, p); found != nil {
		return found
	}
	p.n--
	return nil
}

func (n *node) next(rest string, more bool, p *params) *node {
	if !more {
		if len(n.routes) == 0 {
			return nil
		}
		return n
	}
	return n.find(rest, p)
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
