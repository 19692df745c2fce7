// Package report renders a bench result for people: a readable text
// summary for the terminal, and a self-contained HTML page (no script, no
// external resource) whose charts are inline SVG: latency distributions,
// time series such as loss and bitrate, and throughput against load.
package report
