// Package harness is what every `spacecast bench` scenario shares around
// its own measurement: the common flags (--scenario, --out, --html,
// --compare, --slo), the scenario file merged under the flags, the live
// progress display, and the finish (JSON result, HTML report, text
// summary, comparison, SLO verdict and exit status). A scenario plugs in by
// implementing Scenario, or by building a result.Result and calling Finish.
package harness
