// Package scenario loads scenario files: YAML that fixes every knob of a
// bench run (target, sizes, durations, outputs, SLOs) so a run can be
// repeated exactly. Loading is strict (internal/config): an unknown key is
// an error. Each scenario's config struct embeds Common inline.
package scenario
