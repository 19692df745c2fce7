// Package browser holds end-to-end tests of the room page in headless
// Chromium: `spacecast dev` runs on a network namespace's gateway and each
// browser runs inside the namespace, so no traffic leaves the machine.
package browser
