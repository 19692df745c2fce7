// Package browser holds end-to-end tests of the room page in headless
// Chromium: `spacecast dev` runs on a network namespace's gateway and each
// browser runs inside the namespace, so no traffic leaves the machine.
// TestRoomPageOverHTTPS runs `spacecast controlplane` (HTTPS) and
// `spacecast edge` (WSS) with a test CA's certificate in a namespace of
// their own instead, and follows each join's request id from the control
// plane's access log into the edge's log. TestRoomAcrossRegionsInBrowsers
// runs a control plane and an edge per region (startRegions), each in a
// namespace of its own, and has two pages join through different regions.
package browser
