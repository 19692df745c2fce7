package slo

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"

	"github.com/spacecast/spacecast/bench/result"
)

// ErrSyntax marks an objective that cannot be parsed.
var ErrSyntax = errors.New("slo: syntax")

// ErrUnits marks an objective whose unit does not fit its metric.
var ErrUnits = errors.New("slo: unit mismatch")

// Op is a comparison.
type Op string

// Comparisons an objective may use.
const (
	Less      Op = "<"
	LessEq    Op = "<="
	Greater   Op = ">"
	GreaterEq Op = ">="
)

type dim int

const (
	dimNone     dim = iota
	dimTime         // base: ms
	dimPercent      // base: %
	dimRate         // base: per second
	dimBitrate      // base: bps
	dimBytes        // base: bytes
	dimByteRate     // base: bytes per second
)

func (d dim) String() string {
	return [...]string{"a plain number", "a time", "a percentage", "a rate", "a bitrate", "a size", "a byte rate"}[d]
}

// Rule is one objective: Metric Op Value (Value in the base unit of its
// dimension).
type Rule struct {
	Text   string
	Metric string
	Op     Op
	Value  float64
	dim    dim
}

var units = map[string]struct {
	d dim
	f float64
}{
	"":     {dimNone, 1},
	"x":    {dimNone, 1},
	"ns":   {dimTime, 1e-6},
	"us":   {dimTime, 1e-3},
	"µs":   {dimTime, 1e-3},
	"ms":   {dimTime, 1},
	"s":    {dimTime, 1e3},
	"%":    {dimPercent, 1},
	"/s":   {dimRate, 1},
	"k/s":  {dimRate, 1e3},
	"bps":  {dimBitrate, 1},
	"kbps": {dimBitrate, 1e3},
	"mbps": {dimBitrate, 1e6},
	"gbps": {dimBitrate, 1e9},
	"b":    {dimBytes, 1},
	"kb":   {dimBytes, 1e3},
	"mb":   {dimBytes, 1e6},
	"gb":   {dimBytes, 1e9},
	"kib":  {dimBytes, 1 << 10},
	"mib":  {dimBytes, 1 << 20},
	"gib":  {dimBytes, 1 << 30},
	// Byte rates (gossip traffic per node).
	"b/s":   {dimByteRate, 1},
	"kb/s":  {dimByteRate, 1e3},
	"mb/s":  {dimByteRate, 1e6},
	"kib/s": {dimByteRate, 1 << 10},
	"mib/s": {dimByteRate, 1 << 20},
}

// Parse reads a comma-separated list of objectives. An empty string is no
// objective.
func Parse(s string) ([]Rule, error) {
	var out []Rule
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	for i, part := range strings.Split(s, ",") {
		r, err := parseOne(strings.TrimSpace(part))
		if err != nil {
			return nil, fmt.Errorf("objective %d %q: %w", i+1, strings.TrimSpace(part), err)
		}
		out = append(out, r)
	}
	return out, nil
}

func parseOne(s string) (Rule, error) {
	if s == "" {
		return Rule{}, fmt.Errorf("%w: empty objective (stray comma?)", ErrSyntax)
	}
	i := strings.IndexAny(s, "<>=")
	if i < 0 {
		return Rule{}, fmt.Errorf("%w: no comparison; write name<value, name<=value, name>value or name>=value", ErrSyntax)
	}
	name := strings.TrimSpace(s[:i])
	rest := s[i:]
	var op Op
	switch {
	case strings.HasPrefix(rest, "<="):
		op = LessEq
	case strings.HasPrefix(rest, ">="):
		op = GreaterEq
	case strings.HasPrefix(rest, "<"):
		op = Less
	case strings.HasPrefix(rest, ">"):
		op = Greater
	default:
		return Rule{}, fmt.Errorf("%w: %q is not a comparison (use <, <=, > or >=)", ErrSyntax, rest[:1])
	}
	if name == "" {
		return Rule{}, fmt.Errorf("%w: missing metric name before %s", ErrSyntax, op)
	}
	for _, c := range name {
		if !(c == '_' || c == '.' || unicode.IsLetter(c) || unicode.IsDigit(c)) {
			return Rule{}, fmt.Errorf("%w: metric name %q may hold only letters, digits, '_' and '.'", ErrSyntax, name)
		}
	}
	val := strings.TrimSpace(rest[len(op):])
	if val == "" {
		return Rule{}, fmt.Errorf("%w: missing value after %s", ErrSyntax, op)
	}
	j := 0
	for j < len(val) && (val[j] == '.' || val[j] == '-' || val[j] == '+' || val[j] == 'e' && j > 0 || (val[j] >= '0' && val[j] <= '9')) {
		j++
	}
	num, unit := val[:j], strings.TrimSpace(val[j:])
	// "5e" followed by a unit letter: the 'e' belonged to no exponent.
	v, err := strconv.ParseFloat(num, 64)
	if err != nil && strings.HasSuffix(num, "e") {
		num, unit = num[:len(num)-1], "e"+unit
		v, err = strconv.ParseFloat(num, 64)
	}
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return Rule{}, fmt.Errorf("%w: %q is not a number", ErrSyntax, num)
	}
	u, ok := units[strings.ToLower(unit)]
	if !ok {
		return Rule{}, fmt.Errorf("%w: unknown unit %q (use ns, us, ms, s, %%, /s, bps, kbps, Mbps, B, KB, MB, MiB, B/s, KB/s, KiB/s, or none)", ErrSyntax, unit)
	}
	return Rule{Text: s, Metric: name, Op: op, Value: v * u.f, dim: u.d}, nil
}

func dimOf(unit string) (dim, float64) {
	switch unit {
	case result.UnitMs:
		return dimTime, 1
	case result.UnitUs:
		return dimTime, 1e-3
	case result.UnitPercent:
		return dimPercent, 1
	case result.UnitPerSec:
		return dimRate, 1
	case result.UnitBps:
		return dimBitrate, 1
	case result.UnitBytes:
		return dimBytes, 1
	case result.UnitBytesPerSec:
		return dimByteRate, 1
	case result.UnitRatio:
		return dimNone, 1
	}
	return dimNone, 1
}

// Outcome is a rule checked against a result.
type Outcome struct {
	Rule  Rule
	Value float64 // the metric, in the rule's base unit
	OK    bool
}

func (o Outcome) String() string {
	verdict := "ok"
	if !o.OK {
		verdict = "BROKEN"
	}
	return fmt.Sprintf("%-6s %s (measured %.4g%s)", verdict, o.Rule.Text, o.Value, baseUnit(o.Rule.dim))
}

func baseUnit(d dim) string {
	return [...]string{"", "ms", "%", "/s", "bps", "B", "B/s"}[d]
}

// Check evaluates rules against r. An unknown metric or a unit that does
// not fit is an error (a typo must not pass silently).
func Check(r *result.Result, rules []Rule) ([]Outcome, error) {
	var out []Outcome
	for _, rule := range rules {
		v, unit, err := r.Lookup(rule.Metric)
		if err != nil {
			return nil, fmt.Errorf("slo: %s: %w", rule.Text, err)
		}
		md, f := dimOf(unit)
		v *= f // to the dimension's base unit
		switch {
		case md == rule.dim:
		case unit == result.UnitRatio && rule.dim == dimPercent:
			v *= 100 // a ratio compared with a percentage
		case rule.dim == dimNone && md != dimNone:
			return nil, fmt.Errorf("%w: %s: %s is in %s; give the threshold a unit", ErrUnits, rule.Text, rule.Metric, unit)
		default:
			return nil, fmt.Errorf("%w: %s: %s is in %s, the threshold is %s", ErrUnits, rule.Text, rule.Metric, unit, rule.dim)
		}
		ok := false
		switch rule.Op {
		case Less:
			ok = v < rule.Value
		case LessEq:
			ok = v <= rule.Value
		case Greater:
			ok = v > rule.Value
		case GreaterEq:
			ok = v >= rule.Value
		}
		out = append(out, Outcome{Rule: rule, Value: v, OK: ok})
	}
	return out, nil
}
