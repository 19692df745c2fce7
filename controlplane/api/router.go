package api

import (
	"fmt"
	"strings"

	"github.com/spacecast/spacecast/controlplane/openapi"
)

// params holds the parameter values of one matched route, in order.
type params struct {
	n    int
	vals [4]string
}

func (p *params) get(i int) string { return p.vals[i] }

// router matches a method and a path to a route of the table. Pattern
// segments in braces ({spaceId}) are parameters.
type router struct {
	routes []*entry
	root   node
}

// entry is a route in the router, with its path split into segments.
type entry struct {
	route
	segs []string
}

// node is one path segment of the routing tree: literal children first,
// then one parameter child.
type node struct {
	static map[string]*node
	param  *node
	routes []*entry // the routes ending here, one per method
}

// add registers r. A second route with r's method and path, or with its
// operation id, is an error, and so is a route that names no handler or
// an unknown Auth.
func (rt *router) add(r route) error {
	e := &entry{route: r, segs: strings.Split(strings.Trim(r.Path, "/"), "/")}
	if r.handle == nil || r.Method == "" || r.ID == "" {
		return fmt.Errorf("api: route %s %s: method, operation id and handler are required", r.Method, r.Path)
	}
	switch r.Auth {
	case openapi.AuthNone, openapi.AuthOptionalUser, openapi.AuthClient, openapi.AuthUser, openapi.AuthAny, openapi.AuthAnyOrSession:
	default:
		return fmt.Errorf("api: route %s: unknown auth %q", r.ID, r.Auth)
	}
	for _, o := range rt.routes {
		if o.ID == r.ID || (o.Method == r.Method && o.Path == r.Path) {
			return fmt.Errorf("api: route %s %s (%s) is registered twice", r.Method, r.Path, r.ID)
		}
	}
	rt.routes = append(rt.routes, e)
	n := &rt.root
	for _, s := range e.segs {
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
	n.routes = append(n.routes, e)
	return nil
}

// match finds the route for method and path. found reports whether the
// path matched some route (for 405 versus 404). A literal segment wins
// over a parameter; the tree backtracks to the parameter when the literal
// branch matches nothing.
func (rt *router) match(method, path string, p *params) (r *entry, pathFound bool) {
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
